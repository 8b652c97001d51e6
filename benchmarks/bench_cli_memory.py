"""Peak memory of ``rvq-studio encode`` and ``decode`` against the duration of the input.

Each command runs as its own child process, exactly as a user runs it, and its peak
resident set size is the kernel's ``ru_maxrss`` for that child (``os.wait4``), so nothing of
this script is counted. The inputs are generated block by block: band-limited noise under
a slow loudness envelope with a few tones (so the loudness gate has something to gate),
8 kHz mono at several durations, plus one 44.1 kHz stereo file. Memory is flat when the
peak does not grow with the duration.

    .venv/bin/python benchmarks/bench_cli_memory.py                  # 1, 10, 40, 120 min
    .venv/bin/python benchmarks/bench_cli_memory.py --minutes 1 10   # a quicker look
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
BLOCK_SECONDS = 10


def write_signal(path: Path, minutes: float, rate: int, channels: int, seed: int = 0) -> None:
    """``minutes`` of deterministic test audio, written 10 s at a time (never held whole)."""
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * rate)
    with sf.SoundFile(str(path), "w", rate, channels, "PCM_16") as out:
        for start in range(0, total, BLOCK_SECONDS * rate):
            n = min(BLOCK_SECONDS * rate, total - start)
            t = (start + np.arange(n)) / rate
            envelope = 0.05 + 0.2 * (1 + np.sin(2 * np.pi * t / 7.0)) / 2
            noise = np.cumsum(rng.standard_normal((n, channels)), axis=0)
            noise -= noise.mean(axis=0)
            noise /= np.abs(noise).max(axis=0) + 1e-9
            tones = np.stack([np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)], axis=1)
            out.write((envelope[:, None] * (0.6 * noise + 0.4 * tones)).astype(np.float32))


# The child reports its own high-water mark (VmHWM) as it exits. ``ru_maxrss`` of a child
# would not do: Linux carries the parent's peak across fork and exec into it, so a child of a
# large process (a test runner after a long test) would report the parent's size.
CHILD = """
import atexit, os, runpy, sys
def report():
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:")).split()[1]
    with open(os.environ["RVQ_PEAK_FILE"], "w") as out:
        out.write(peak)
atexit.register(report)
sys.argv = ["rvq-studio", *sys.argv[1:]]
runpy.run_module("app.cli", run_name="__main__", alter_sys=True)
"""


def peak_of(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``rvq-studio ARGS`` run as a child process."""
    with tempfile.TemporaryDirectory() as folder:
        peak_file, errors_path = Path(folder) / "peak", Path(folder) / "errors"
        start = time.perf_counter()
        with open(errors_path, "wb") as errors:
            done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=errors, env=dict(os.environ, RVQ_PEAK_FILE=str(peak_file)))
        seconds = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"{' '.join(args)} failed: {errors_path.read_text(errors='replace').strip()}")
        return int(peak_file.read_text()) / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 40, 120],
                        help="durations of 8 kHz mono input (default: 1 10 40 120)")
    parser.add_argument("--stereo-minutes", type=float, default=10,
                        help="duration of the 44.1 kHz stereo input (0: none; default 10)")
    args = parser.parse_args()
    cases = [(m, 8000, 1) for m in args.minutes]
    if args.stereo_minutes:
        cases.append((args.stereo_minutes, 44100, 2))
    print(f"{'input':<24} {'encode MB':>10} {'(s)':>6} {'decode MB':>10} {'(s)':>6} {'.rvq bytes':>11}")
    with tempfile.TemporaryDirectory() as folder:
        for minutes, rate, channels in cases:
            source, coded, decoded = (Path(folder) / f"in.{ext}" for ext in ("wav", "rvq", "out.wav"))
            write_signal(source, minutes, rate, channels)
            encode_mb, encode_s = peak_of(["encode", str(source), "-o", str(coded)])
            decode_mb, decode_s = peak_of(["decode", str(coded), "-o", str(decoded)])
            if sf.info(str(decoded)).frames != sf.info(str(source)).frames:
                raise SystemExit(f"{minutes} min: the decoded file has another length than the input")
            label = f"{minutes:g} min {rate / 1000:g} kHz {'mono' if channels == 1 else f'{channels} ch'}"
            print(f"{label:<24} {encode_mb:>10.0f} {encode_s:>6.0f} {decode_mb:>10.0f} {decode_s:>6.0f} "
                  f"{coded.stat().st_size:>11}", flush=True)
            for path in (source, coded, decoded):
                path.unlink()


if __name__ == "__main__":
    main()
