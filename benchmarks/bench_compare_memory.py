"""Memory of the Compare tab with eight contestants on a long clip: renderings held as arrays
(the earlier design) beside renderings kept in a temporary folder and read through file mappings.

Each design runs in a child process of its own (a fresh process: its peak is its own), headless
(a :class:`~app.playback.audio_output.ManualOutputStream`): the clip -- generated stereo 48 kHz
music of ``--seconds`` -- is opened in a :class:`~app.compare.studio_comparison.StudioComparison`,
eight contestants (the original, both anchors, Opus at 12/24/48 kbps, MP3 at 64/128 kbps) are
added and rendered. A sampling thread reads ``/proc/self/status`` every 5 ms: the peak of the
resident size, of its anonymous part (the process's own memory) and of its file-backed part
(pages of mapped files, which the kernel may drop and read again).

Then, the chart's measurements dropped (their thread would take the GIL from the callback), it
plays ``--play`` seconds at the device's pace, switching to the next contestant every
half second, and times every audio callback (512 frames, 10.7 ms at 48 kHz): once with the
renderings' pages evicted from the page cache beforehand (``posix_fadvise(DONTNEED)``: what a
long-idle session or a busy machine leaves) and without read-ahead, then evicted again and with
:meth:`StudioComparison.prefetch` called every 50 ms, as the tab's frame timer does (and once,
0.2 s, before play is pressed: the timer runs while the tab is open). Linux only.

    .venv/bin/python benchmarks/bench_compare_memory.py [--seconds 300] [--play 10]

``--render`` measures instead the rendering of one contestant at a time, each in a fresh process,
whole (the clip read whole and each contestant computed on whole arrays, as the tab rendered
before it streamed: :mod:`whole_renderings`) beside streamed (the clip written to the folder as
it is read, the contestant made from it block by block and written as it comes), for two clip
lengths: the peak resident size over the process after loading the model, and its anonymous part.

    .venv/bin/python benchmarks/bench_compare_memory.py --render [--seconds 60 300] [--model default]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))  # synthetic audio, resident size

from rendering_peak import DESIGNS as RENDER_DESIGNS, specs as render_specs  # noqa: E402
from resident_size import PeakSampler, reset_peak, status_bytes  # noqa: E402

MIB = 1 << 20
RATE, BLOCK = 48000, 512
DESIGNS = ("memory", "folder")


class HeldInMemory:
    """The earlier design, for comparison: a "folder" that keeps every rendering as the array it is."""

    def keep(self, samples):
        return samples

    def prefetch(self, samples, start, frames):
        pass

    def release(self, samples, start, frames):
        pass

    def remove(self, samples):
        pass

    def close(self):
        pass


def contestant_specs():
    from app.compare import contestants

    return [contestants.original(), contestants.anchor(3500.0), contestants.anchor(7000.0), contestants.opus(12),
            contestants.opus(24), contestants.opus(48), contestants.mp3(64), contestants.mp3(128)]


def evict(folder) -> None:
    """Drop the renderings' pages from the page cache (those no process has mapped in)."""
    for path in folder.files:
        with open(path, "rb") as stream:
            os.fsync(stream.fileno())
            os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def play(app, comparison, seconds: float, prefetch: bool) -> list[float]:
    """Callback times (ms) over ``seconds`` played at the device's pace, a switch every half second."""
    stream, specs = comparison.player.output_stream, comparison.specs
    comparison.player.seek(0)
    comparison.select(specs[0])
    if prefetch:  # the tab's frame timer reads ahead while the tab is open, before play is pressed too
        comparison.prefetch()
        time.sleep(0.2)
    comparison.player.play()
    times, block_s = [], BLOCK / RATE
    start = time.perf_counter()
    for k in range(int(seconds / block_s)):
        if k % round(0.5 / block_s) == 0:
            comparison.select(specs[(k // round(0.5 / block_s)) % len(specs)])
        if prefetch and k % round(0.05 / block_s) == 0:
            comparison.prefetch()
        app.processEvents()
        wait = start + k * block_s - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        began = time.perf_counter()
        stream.pull(BLOCK)
        times.append((time.perf_counter() - began) * 1000)
    comparison.player.pause()
    return times


def child(design: str, clip: Path, play_seconds: float) -> None:
    from PySide6.QtWidgets import QApplication

    from app.compare.rendering_folder import RenderingFolder
    from app.compare.studio_comparison import StudioComparison
    from app.playback.audio_output import ManualOutputStream

    app = QApplication.instance() or QApplication([])
    comparison = StudioComparison(ManualOutputStream,
                                  folder_factory=HeldInMemory if design == "memory" else RenderingFolder)
    result = {"design": design, "start_mib": status_bytes("VmRSS") / MIB}
    reset_peak()
    sampler = PeakSampler()
    sampler.start()
    began = time.perf_counter()
    comparison.open_clip(clip)
    for spec in contestant_specs():
        comparison.add(spec)
    while not (comparison.audio is not None and comparison.rendered()):
        app.processEvents()
        time.sleep(0.01)
    result["render_s"] = time.perf_counter() - began
    result["errors"] = {spec.name: message for spec, message in comparison.errors.items()}
    result.update({f"peak_{k}": v / MIB for k, v in sampler.stop().items()})
    result["peak_hwm"] = status_bytes("VmHWM") / MIB
    result["settled"] = {field: status_bytes(field) / MIB for field in PeakSampler.FIELDS}
    comparison.worker.discard()  # the chart's points: the callback is timed without them taking the GIL
    while not comparison.worker.idle():
        time.sleep(0.05)
    for prefetch in (False, True):
        if design == "folder":
            evict(comparison.folder)
        times = sorted(play(app, comparison, play_seconds, prefetch))
        result[f"callback_ms_{'prefetch' if prefetch else 'cold'}"] = {
            "median": times[len(times) // 2], "p99": times[int(len(times) * 0.99)], "max": times[-1],
            "over_5ms": sum(t > 5.0 for t in times), "blocks": len(times)}
    result["played"] = {field: status_bytes(field) / MIB for field in PeakSampler.FIELDS}
    folder = comparison.folder
    comparison.close()
    result["files_left"] = len(getattr(folder, "files", []))
    print(json.dumps(result))


def rendering_peak(design: str, clip: Path, index: int, model: str) -> dict:
    """One contestant rendered by ``design`` in a fresh process (``tests/support/rendering_peak.py``)."""
    script = ROOT / "tests" / "support" / "rendering_peak.py"
    out = subprocess.run([sys.executable, str(script), design, str(clip), str(index), "--model", model],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def render_main(lengths: list[float], model: str) -> None:
    from synthetic_audio import write_music_clip

    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for seconds in lengths:
            clip = write_music_clip(Path(folder) / f"{seconds:g}.wav", seconds, RATE, channels=2)
            for index in range(len(render_specs(model))):
                for design in RENDER_DESIGNS:
                    result = rendering_peak(design, clip, index, model)
                    rows.setdefault((result["name"], seconds), {})[design] = result
                    print(f"{result['name']:>12s} {seconds:5g} s {design:>8s}: peak {result['VmRSS']:6.0f} MiB "
                          f"(anonymous {result['RssAnon']:6.0f}), {result['seconds']:.1f} s",
                          file=sys.stderr, flush=True)
    print(f"\nStereo {RATE} Hz; a rendering of {lengths[0]:g} s is {lengths[0] * RATE * 8 / MIB:.0f} MiB of float32, "
          f"of {lengths[-1]:g} s {lengths[-1] * RATE * 8 / MIB:.0f} MiB. Peaks over the process with the model "
          "loaded, MiB: resident (anonymous)")
    print(f"{'contestant':>14s} {'clip':>6s} {'whole (before)':>18s} {'streamed (now)':>18s}")
    for (name, seconds), designs in rows.items():
        cells = [f"{designs[d]['VmRSS']:.0f} ({designs[d]['RssAnon']:.0f})" for d in RENDER_DESIGNS]
        print(f"{name:>14s} {seconds:5g}s {cells[0]:>18s} {cells[1]:>18s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=None,
                        help="clip length (default 300; with --render, lengths: default 60 300)")
    parser.add_argument("--play", type=float, default=10.0, help="seconds played per read-ahead setting")
    parser.add_argument("--render", action="store_true", help="rendering peaks, whole against streamed")
    parser.add_argument("--model", default="default", help="the codec contestant's model (with --render)")
    parser.add_argument("--child", choices=DESIGNS, help=argparse.SUPPRESS)
    parser.add_argument("--clip", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        render_main(args.seconds or [60.0, 300.0], args.model)
        return
    args.seconds = (args.seconds or [300.0])[0]
    if args.child:
        child(args.child, Path(args.clip), args.play)
        return
    from synthetic_audio import write_music_clip

    with tempfile.TemporaryDirectory() as folder:
        clip = write_music_clip(Path(folder) / "long.wav", args.seconds, RATE, channels=2)
        print(f"{args.seconds:g} s stereo {RATE} Hz, 8 contestants (original, 2 anchors, 3 Opus, 2 MP3); "
              f"a rendering is {args.seconds * RATE * 2 * 4 / MIB:.0f} MiB of float32", flush=True)
        results = []
        for design in DESIGNS:
            out = subprocess.run([sys.executable, __file__, "--child", design, "--clip", str(clip),
                                  "--play", str(args.play)], check=True, stdout=subprocess.PIPE, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    rows = [("rendered in (s)", lambda r: f"{r['render_s']:.0f}"),
            ("peak resident (MiB)", lambda r: f"{r['peak_hwm']:.0f}"),
            ("  peak anonymous", lambda r: f"{r['peak_RssAnon']:.0f}"),
            ("  peak file-backed", lambda r: f"{r['peak_RssFile']:.0f}"),
            ("settled resident", lambda r: f"{r['settled']['VmRSS']:.0f}"),
            ("  settled anonymous", lambda r: f"{r['settled']['RssAnon']:.0f}"),
            ("process at start", lambda r: f"{r['start_mib']:.0f}"),
            ("resident after playing", lambda r: f"{r['played']['VmRSS']:.0f}"),
            ("  file-backed after playing", lambda r: f"{r['played']['RssFile']:.0f}"),
            ("callback ms, evicted, no read-ahead (median/p99/max)",
             lambda r: "{median:.2f}/{p99:.2f}/{max:.2f}".format(**r["callback_ms_cold"])),
            ("  callbacks over 5 ms", lambda r: "{over_5ms} of {blocks}".format(**r["callback_ms_cold"])),
            ("callback ms, evicted, read-ahead (median/p99/max)",
             lambda r: "{median:.2f}/{p99:.2f}/{max:.2f}".format(**r["callback_ms_prefetch"])),
            ("  callbacks over 5 ms", lambda r: "{over_5ms} of {blocks}".format(**r["callback_ms_prefetch"])),
            ("files left after close", lambda r: str(r["files_left"]))]
    print(f"\n{'':52s} {'arrays (before)':>18s} {'folder (after)':>18s}")
    for label, cell in rows:
        print(f"{label:52s} {cell(results[0]):>18s} {cell(results[1]):>18s}")
    for result in results:
        if result["errors"]:
            print(f"{result['design']}: failed contestants: {result['errors']}")


if __name__ == "__main__":
    main()
