"""Peak memory and time of reading a whole file with ``read_audio``, against the samples it holds.

Each format's file (10 minutes of 44.1 kHz stereo by default, written 10 s at a time; the
lossy ones transcoded from the WAV file block by block) is read
in a child process that reports the growth of its resident high-water mark (``VmHWM``) over
its size after the imports, beside the size of the float32 result: a ratio of 1.0 means the
samples were never held twice.

    .venv/bin/python benchmarks/bench_whole_read_memory.py
    .venv/bin/python benchmarks/bench_whole_read_memory.py --minutes 2 --formats wav mp3
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile as sf
from bench_cli_memory import write_signal

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
LOSSY = {"ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}

CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from resident_size import reset_peak, status_bytes
from model.audio_io import read_audio
reset_peak()
before = status_bytes("VmHWM")
started = time.perf_counter()
audio = read_audio(sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"peak": status_bytes("VmHWM") - before, "result": audio.samples.nbytes, "seconds": seconds}))
"""


def measure(path: Path) -> dict:
    support = str(ROOT / "tests" / "support")
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), support], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    return json.loads(out.stdout.splitlines()[-1])


def transcode(source: Path, target: Path, container: str, subtype: str) -> None:
    with sf.SoundFile(str(source)) as f, sf.SoundFile(str(target), "w", f.samplerate, f.channels, subtype,
                                                      format=container) as out:
        for block in f.blocks(blocksize=1 << 16, dtype="float32"):
            out.write(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--formats", nargs="+", default=["wav", "flac", "ogg", "mp3"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "long.wav"
        write_signal(wav, args.minutes, 44100, 2)
        for suffix in args.formats:
            path = Path(folder) / f"long.{suffix}"
            if suffix in LOSSY:
                transcode(wav, path, *LOSSY[suffix])
            elif suffix != "wav":
                write_signal(path, args.minutes, 44100, 2)
            result = measure(path)
            print(f"{suffix:5s} {args.minutes:g} min stereo: result {result['result'] / MIB:6.0f} MiB, "
                  f"peak growth {result['peak'] / MIB:6.0f} MiB ({result['peak'] / result['result']:.2f}x), "
                  f"{result['seconds']:.2f} s")


if __name__ == "__main__":
    main()
