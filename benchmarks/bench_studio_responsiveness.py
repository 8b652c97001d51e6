"""Responsiveness of the studio window.

Drives the real window offscreen on a procedurally generated music clip, with an output
stream that runs at real-time pace (like a sound card) but discards the sound, and reports:

* time to hear: from asking to open the clip to the first block of the reconstruction
  leaving the player (play is pressed as soon as the clip is open; it is encoded piece by
  piece while the start already plays);
* slider switch latency when the new count is cached (target: one audio block, < 30 ms)
  and when it is not rendered at the playhead yet (target < 150 ms): from the slider's
  value change on the GUI thread to the audio callback that starts the crossfade;
* the longest GUI event-loop stall while everything encodes and renders (target < 50 ms),
  measured by a 5 ms GUI timer's worst gap -- over the whole time, and leaving out the
  first half second after the clip appears, when every view is laid out once for it.

Run it as the studio is run, without ``OMP_NUM_THREADS``: the studio's threads choose their
own torch thread counts, and that choice is part of what is measured. A variable set in the
environment is printed with the figures.

    .venv/bin/python benchmarks/bench_studio_responsiveness.py [--seconds 30] [--busy-cpu] [--trace-stalls 30]

``--seconds 180`` measures a three-minute clip. ``--busy-cpu`` keeps one core busy with
another process from before the clip is opened to the last figure (as a training run or a
build beside the studio would), killed however the run ends (:mod:`busy_core`).

``--listening on|off`` (default on, as in a fresh installation) says whether the slow listening
metrics are measured; with them on the run goes on after everything else is measured until every
count's listening metrics are in (or ``--listening-seconds`` have passed), and reports the longest
stall of that phase apart. They run in a helper process, so the stall figures of a run with them on
and one with them off should agree.

``--trace-stalls MS`` also explains every stall longer than MS: a watchdog thread samples
the GUI thread's Python stack every 2 ms while it is stalled, and garbage collections are
timed on whichever thread runs them (a collection holds the GIL, so it stalls the GUI thread
too). Sampling costs a little GIL time itself, so take the figures from a run without it.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))  # synthetic audio

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.playback import audio_output  # noqa: E402
from app.playback.audio_output import SilentClockStream  # noqa: E402
from busy_core import one_core_busy  # noqa: E402
from synthetic_audio import write_music_clip  # noqa: E402


class TimedStream(SilentClockStream):
    """Real-time paced callbacks; records when each block was produced and what it held."""

    latest: "TimedStream | None" = None

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.blocks: list[tuple[float, float, int]] = []  # (time, peak, switches so far)
        self.count_switches = lambda: 0
        TimedStream.latest = self
        inner = self.callback

        def callback(out, frames, time_info, status):
            inner(out, frames, time_info, status)
            self.blocks.append((time.perf_counter(), float(abs(out).max()), self.count_switches()))

        self.callback = callback


class StallMeter:
    """Worst gap between ticks of a 5 ms GUI timer."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.gaps: list[tuple[float, float]] = []  # (when the gap started, its length)

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((self.last, now - self.last))
        self.last = now

    def worst(self, after: float = 0.0, before: float = float("inf")) -> float:
        """The longest gap that started in [after, before)."""
        return max((gap for start, gap in self.gaps if after <= start < before), default=0.0)

    def stop(self) -> None:
        self.timer.stop()


class StallTracer:
    """Samples the GUI thread's stack while the stall meter has not ticked for a while."""

    def __init__(self, meter: StallMeter, threshold_s: float) -> None:
        self.meter, self.threshold = meter, threshold_s
        self.gui = threading.get_ident()
        self.samples: dict[float, collections.Counter] = collections.defaultdict(collections.Counter)
        self.collections: list[tuple[float, float, int, str]] = []  # (start, length, generation, thread)
        self._gc_started: dict[int, float] = {}
        self._running = True
        self._thread = threading.Thread(target=self._watch, name="stall-tracer", daemon=True)

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        self._thread.join()
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        ident, now = threading.get_ident(), time.perf_counter()
        if phase == "start":
            self._gc_started[ident] = now
        elif ident in self._gc_started:
            start = self._gc_started.pop(ident)
            self.collections.append((start, now - start, info["generation"], threading.current_thread().name))

    def _watch(self) -> None:
        while self._running:
            time.sleep(0.002)
            last = self.meter.last
            if last is None or time.perf_counter() - last < self.threshold:
                continue
            frames = sys._current_frames()
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in frames.items():
                if ident == threading.get_ident():
                    continue
                stack = traceback.extract_stack(frame)[-5:]
                text = " < ".join(f"{Path(f.filename).stem}:{f.lineno} {f.name}" for f in reversed(stack))
                self.samples[last][("GUI: " if ident == self.gui else f"{names.get(ident, ident)}: ") + text] += 1

    def report(self, after: float) -> None:
        stalls = sorted(((gap, start) for start, gap in self.meter.gaps if start >= after and gap >= self.threshold),
                        reverse=True)
        print(f"\nstalls of {1000 * self.threshold:.0f} ms or more after the first 0.5 s: {len(stalls)}")
        for gap, start in stalls[:12]:
            print(f"  {1000 * gap:6.1f} ms at t={start - after + 0.5:6.2f} s")
            for begun, length, generation, thread in self.collections:
                if start <= begun <= start + gap:
                    print(f"      gc generation {generation} on {thread}: {1000 * length:.1f} ms")
            for stack, count in self.samples.get(start, collections.Counter()).most_common(8):
                print(f"      {2 * count:3d} ms  {stack}")
        full = [length for _, length, generation, _ in self.collections if generation == 2]
        print(f"full collections: {len(full)}, longest {1000 * max(full, default=0):.1f} ms")


def pump_until(app: QApplication, condition, timeout: float) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("benchmark step timed out")
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter()


def switch_latency(app, window, n: int) -> float:
    """Slider move on the GUI thread -> the audio block in which the player switched."""
    player, stream = window.session.player, TimedStream.latest
    before = len(player.switch_log)
    start = time.perf_counter()
    window.transport.slider.setValue(n)
    pump_until(app, lambda: any(t >= start and k > before for t, _, k in stream.blocks[-50:]), 60)
    return next(t for t, _, k in stream.blocks if t >= start and k > before) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--model", default="default")
    parser.add_argument("--trace-stalls", type=float, metavar="MS", help="explain every stall longer than MS")
    parser.add_argument("--busy-cpu", action="store_true", help="keep one core busy with another process meanwhile")
    parser.add_argument("--listening", choices=("on", "off"), default="on", help="measure the listening metrics")
    parser.add_argument("--listening-seconds", type=float, default=900.0,
                        help="with --listening on: the longest wait for them after everything else is measured")
    args = parser.parse_args()
    with one_core_busy() if args.busy_cpu else contextlib.nullcontext():
        measure(args)


def measure(args: argparse.Namespace) -> None:
    """Open the clip in the window, play it, and print the figures."""
    audio_output.open_device_stream = TimedStream
    from app.studio.inference_worker import Abandoned, InferenceWorker
    from app.studio.listening_rows import STUDIO_METRICS

    chunk_times: list[float] = []  # decodes that finished
    abandoned: list[float] = []  # time spent on decodes abandoned for a slider move
    render_chunk = InferenceWorker.render_chunk

    def timed_render(self, clip, n, chunk):
        start = time.perf_counter()
        try:
            piece = render_chunk(self, clip, n, chunk)
        except Abandoned:
            abandoned.append(time.perf_counter() - start)
            raise
        chunk_times.append(time.perf_counter() - start)
        return piece

    InferenceWorker.render_chunk = timed_render
    settings = Path(tempfile.mkdtemp()) / "settings.ini"
    settings.write_text(f"[quality]\nlistening={'true' if args.listening == 'on' else 'false'}\n")
    os.environ["RVQ_STUDIO_SETTINGS"] = str(settings)
    clip_path = write_music_clip(Path(tempfile.mkdtemp()) / "music30.wav", args.seconds, 44100, 1)
    from app.main import create_window

    app = QApplication.instance() or QApplication([])
    stalls = StallMeter()
    t_open = time.perf_counter()
    window = create_window(str(clip_path), args.model)
    window.show()
    session = window.session
    t_opened = pump_until(app, lambda: session.clip is not None, 600)
    stalls.start()  # from here on the model encodes and renders while the user listens
    tracer = StallTracer(stalls, args.trace_stalls / 1000) if args.trace_stalls else None
    if tracer:
        tracer.start()
    stream = TimedStream.latest
    stream.count_switches = lambda: len(session.player.switch_log)
    session.player.set_loop(0, session.clip.length)  # keep playing however long the steps take
    session.player.play()

    def first_reconstruction_block():
        return session.player.audible is not None and session.player.audible[0] == "reconstruction"

    t_heard = pump_until(app, first_reconstruction_block, 600)
    first_sound = next((t for t, peak, _ in stream.blocks if peak > 0), t_heard)
    print(f"clip {args.seconds:g} s, model {session.model.name}, chunks of {session.clip.grid.chunk_samples} samples"
          + (", one core kept busy by another process" if args.busy_cpu else "")
          + f", listening metrics {args.listening}"
          + f", load average {os.getloadavg()[0]:.2f}"
          + "".join(f", {k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ))
    t_encoded = pump_until(app, lambda: session.clip.encoding.complete, 600)
    print(f"time to open (read, playable):             {t_opened - t_open:7.2f} s")
    print(f"time to first sound (original):            {first_sound - t_open:7.2f} s")
    print(f"time to hear the reconstruction:           {t_heard - t_open:7.2f} s")
    print(f"time to encode the whole clip:             {t_encoded - t_open:7.2f} s")

    # uncached switches: counts whose chunk at the playhead is not rendered yet
    uncached = []
    for n in (1, 6, 3, 9, 2):
        cache = session.clip.cache
        if cache.is_rendered(n, cache.grid.chunk_at(session.player.position)):
            continue
        uncached.append(switch_latency(app, window, n))
    top = session.model.n_codebooks
    pump_until(app, lambda: session.clip.cache.is_complete(top) and session.clip.cache.is_complete(top - 1), 900)
    cached = [switch_latency(app, window, n) for n in [top - 1, top] * 10]
    block_ms = 1000 * session.player.blocksize / session.model.sample_rate
    print(f"audio block:                                {block_ms:7.1f} ms")
    print(f"decode of one chunk (median / max):        {1000 * statistics.median(chunk_times):7.1f} / "
          f"{1000 * max(chunk_times):.1f} ms over {len(chunk_times)} chunks")
    print(f"decodes abandoned for a slider move:        {len(abandoned):7d}   ({1000 * sum(abandoned):.0f} ms of work)")
    print(f"slider switch, cached   (median / max):    {1000 * statistics.median(cached):7.1f} / "
          f"{1000 * max(cached):.1f} ms over {len(cached)} switches")
    if uncached:
        print(f"slider switch, uncached (median / max):    {1000 * statistics.median(uncached):7.1f} / "
              f"{1000 * max(uncached):.1f} ms over {len(uncached)} switches")
    session.player.pause()
    pump_until(app, session.all_ready, 3600)
    t_all = time.perf_counter()
    if args.listening == "on":
        listening = session.listening
        pump_until(app, lambda: listening.complete(session.clip.n_codebooks), args.listening_seconds)
        t_heard_all = time.perf_counter()
    stalls.stop()
    print(f"everything rendered and measured:          {t_all - t_open:7.2f} s")
    print(f"longest GUI stall while rendering:         {1000 * stalls.worst():7.1f} ms")
    print(f"  ... after the first 0.5 s of the clip:   {1000 * stalls.worst(t_opened + 0.5):7.1f} ms")
    if args.listening == "on":
        done = sum(len(by_name) for by_name in listening.outcomes.values())
        absent = sorted({o.reason for by_name in listening.outcomes.values() for o in by_name.values() if o.reason})
        print(f"listening metrics in:                      {done:7d}   of {session.clip.n_codebooks} counts x "
              f"{len(STUDIO_METRICS)}, {t_heard_all - t_all:.0f} s after the rest" + (f"; absent: {absent[0]}" if absent else ""))
        print(f"longest GUI stall while only they ran:     {1000 * stalls.worst(t_all, t_heard_all):7.1f} ms")
    if tracer:
        tracer.stop()
        tracer.report(t_opened + 0.5)
    window.close()


if __name__ == "__main__":
    main()
