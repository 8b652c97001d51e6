"""Memory of the studio: peak and settled resident size on long clips, and growth over reopenings.

Opens a studio session headless (a :class:`~app.playback.audio_output.ManualOutputStream`, no
sound device, no window) with the bundled default model on generated stereo 44.1 kHz music
(:mod:`synthetic_audio`) of 30 s, 3 min and 10 min, one after another in one process, and for
each waits until everything the studio does for a clip is done: encoded, every count rendered
(as far as the render cache's budget holds) and measured, Opus beside it, every view computed.
It prints, per clip, the peak resident size while that happened and the resident size once it
settled, beside the targets; then it opens the 10-minute clip three more times -- each time
until it is encoded and its selected count rendered whole, as after listening to it once --
and closes it by opening a 3 s clip in its place (the studio shows one clip at a time), and
prints how the resident size after each closing grew.

The clips are written by a child process, so making them costs the measured process nothing.
Figures are read from ``/proc/self/status`` (``VmRSS``, and ``VmHWM`` reset through
``/proc/self/clear_refs`` before each clip): Linux only.

    .venv/bin/python benchmarks/bench_studio_memory.py [--seconds 30 180 600] [--reopen 3] [--timeline]

``--timeline`` also prints the resident size at each step of each clip (open, encoded, each
quality row and Opus point, views, settled), to see where memory goes.
"""
from __future__ import annotations

import argparse
import gc
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

from resident_size import reset_peak, status_bytes  # noqa: E402

MIB = 1 << 20
TARGETS_MIB = {30.0: 954, 600.0: 2384}  # clip seconds -> 1 GB and 2.5 GB, the resident size to stay within
CLOSING_SECONDS = 3.0  # the clip opened in place of the long one to close it
SETTLE_S = 2.0  # after the last result: late deliveries and freed buffers


def status_mib(field: str) -> float:
    """``field`` (``VmRSS``, ``VmHWM``) of this process in MiB."""
    return status_bytes(field) / MIB


def write_clips(folder: Path, seconds: list[float]) -> dict[float, Path]:
    """Stereo 44.1 kHz music clips of each length, written by a child process."""
    paths = {s: folder / f"music{s:g}s.wav" for s in seconds}
    code = ("import sys; from synthetic_audio import write_music_clip\n"
            "for s, p in zip(sys.argv[1::2], sys.argv[2::2]): write_music_clip(p, float(s), 44100, 2)")
    args = [str(a) for s, p in paths.items() for a in (s, p)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "support"), str(ROOT)])}
    subprocess.run([sys.executable, "-c", code, *args], check=True, env=env)
    return paths


def pump_until(app, condition, timeout: float, step=None) -> None:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("benchmark step timed out")
        app.processEvents()
        if step is not None:
            step()
        time.sleep(0.01)


def ready(session) -> bool:
    """Everything the studio does for a clip unasked is done (:meth:`StudioSession.all_ready`)."""
    return session.all_ready()


class Timeline:
    """Resident size at each step the session announces (``--timeline``)."""

    def __init__(self, session, enabled: bool) -> None:
        self.session, self.enabled, self.start = session, enabled, time.perf_counter()
        self.seen: set[str] = set()
        self.path: Path | None = None

    def restart(self, path: Path) -> None:
        self.start, self.seen, self.path = time.perf_counter(), set(), path

    def step(self) -> None:
        s, clip = self.session, self.session.clip
        if not self.enabled or clip is None or clip.path != self.path:
            return
        events = {"clip open": True, "encoded": clip.encoding.complete,
                  "codebook statistics": s.stats is not None, "envelope": s.envelope is not None}
        events.update({f"view {v}": True for v in s.spectrograms})
        events.update({f"quality n={n}": True for n in s.quality})
        events.update({f"opus n={n}": True for n in s.opus})
        for name, happened in events.items():
            if happened and name not in self.seen:
                self.seen.add(name)
                cache = clip.cache.used_bytes / MIB
                print(f"    {time.perf_counter() - self.start:7.1f} s  {name:22s} RSS {status_mib('VmRSS'):7.0f} MiB"
                      f"  peak {status_mib('VmHWM'):7.0f} MiB  render cache {cache:6.0f} MiB", flush=True)


def open_and_wait(app, session, path: Path, timeline: Timeline, done) -> tuple[float, float, float]:
    """Open ``path``, wait until ``done(session)``: (peak MiB, settled MiB, seconds taken)."""
    gc.collect()
    reset_peak()
    timeline.restart(path)
    start = time.perf_counter()
    session.open_file(path)
    pump_until(app, lambda: session.clip is not None and session.clip.path == path and done(session), 7200,
               timeline.step)
    took = time.perf_counter() - start
    deadline = time.perf_counter() + SETTLE_S
    pump_until(app, lambda: time.perf_counter() > deadline, SETTLE_S + 1)
    gc.collect()
    return status_mib("VmHWM"), status_mib("VmRSS"), took


def trim_heap() -> float:
    """RSS in MiB once the heap memory freed but kept by malloc has gone back to the system."""
    from app.runtime.freed_memory import return_freed_memory

    return_freed_memory()
    return status_mib("VmRSS")


def heard_whole(session) -> bool:
    """Encoded and the selected count rendered from start to end (as after listening to it once)."""
    clip = session.clip
    return clip.encoding.complete and clip.cache.is_complete(session.n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[30.0, 180.0, 600.0])
    parser.add_argument("--reopen", type=int, default=3, help="open and close the longest clip this many times more")
    parser.add_argument("--trim", action="store_true",
                        help="also print the settled size after glibc's malloc_trim(0): memory freed but kept by malloc")
    parser.add_argument("--timeline", action="store_true", help="resident size at each step of each clip")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp())
    paths = write_clips(folder, sorted(set(args.seconds) | {CLOSING_SECONDS}))
    from PySide6.QtWidgets import QApplication

    from app.playback.audio_output import ManualOutputStream
    from app.runtime.process_setup import configure_process
    from app.studio.render_cache import DEFAULT_BUDGET_BYTES
    from app.studio.session import StudioSession

    configure_process()
    app = QApplication.instance() or QApplication([])
    print(f"imports done:          RSS {status_mib('VmRSS'):6.0f} MiB")
    session = StudioSession(ManualOutputStream)
    session.load_model("default")
    pump_until(app, lambda: session.model is not None, 300)
    print(f"default model loaded:  RSS {status_mib('VmRSS'):6.0f} MiB   render cache budget "
          f"{DEFAULT_BUDGET_BYTES / MIB:.0f} MiB", flush=True)
    timeline = Timeline(session, args.timeline)
    rows = []
    for seconds in sorted(set(args.seconds)):
        print(f"  {seconds:g} s stereo 44.1 kHz ...", flush=True)
        peak, rss, took = open_and_wait(app, session, paths[seconds], timeline, ready)
        trimmed = f"{trim_heap():7.0f} MiB" if args.trim else ""
        rows.append((seconds, peak, rss, trimmed, took))
        print(f"  {seconds:g} s: peak {peak:.0f} MiB, settled {rss:.0f} MiB {trimmed}", flush=True)
    print(f"\n{'clip':>8}  {'peak RSS':>10}  {'settled RSS':>11}  {'target (peak)':>13}  {'everything done in':>18}"
          + ("  after malloc_trim" if args.trim else ""))
    for seconds, peak, rss, trimmed, took in rows:
        target = f"<= {TARGETS_MIB[seconds]} MiB" if seconds in TARGETS_MIB else ""
        print(f"{seconds:7g}s  {peak:6.0f} MiB  {rss:7.0f} MiB  {target:>13}  {took:16.0f} s  {trimmed:>17}")
    if args.reopen:
        longest = max(args.seconds)
        print(f"\nthe {longest:g} s clip opened {args.reopen} times more, each time heard whole once, then closed "
              f"by opening a {CLOSING_SECONDS:g} s clip in its place")
        first = None
        for k in range(1, args.reopen + 1):
            peak, _, _ = open_and_wait(app, session, paths[longest], timeline, heard_whole)
            _, closed, _ = open_and_wait(app, session, paths[CLOSING_SECONDS], timeline, ready)
            first = closed if first is None else first
            print(f"  opening {k}: peak {peak:.0f} MiB; closed: {closed:.0f} MiB ({closed - first:+.0f} MiB since "
                  "the first closing)", flush=True)
    session.close()


if __name__ == "__main__":
    main()
