"""Why the live monitor drops out: a real-pace run of the bundled model, instrumented.

The monitor is fed noise on the simulated input's clock and plays to a silent clock, as in
``tests/app/test_live_monitor.py``'s ten-minute test. Printed: the dropouts and when they
happened; the codec thread's time per block (percentiles and the slowest); garbage
collections (count, longest pause, by generation); how late each clock's ticks came (a
late tick restarts that clock, so the input and output clocks slip against each other); and
the output ring's lowest level, in ms of audio ahead of the output callback; the pushes and
the ring's level in the first seconds (the start-up transient); the codec thread's priority.

``--compare`` runs each lever in a fresh process (so each pays its own first push), with no,
one and two busy-loop processes and with the studio's background rendering in the process,
and prints one row per run with the load average around it:

    .venv/bin/python benchmarks/bench_live_monitor.py [--seconds 60] [--block-ms 20] [--busy-cpu] [--background-render]
    .venv/bin/python benchmarks/bench_live_monitor.py --compare [--seconds 120]
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))  # the busy core

from app.live.input_device import SimulatedInputStream  # noqa: E402
from app.live.live_coder import LiveCoder  # noqa: E402
from app.live import monitor as live_monitor  # noqa: E402
from app.live.monitor import LiveMonitor  # noqa: E402
from app.playback.audio_output import SilentClockStream  # noqa: E402
from app.runtime.thread_priority import lower_current_thread_priority, shorten_gil_waits  # noqa: E402
from app.studio.inference_worker import INFERENCE_NICENESS, INFERENCE_TORCH_THREADS  # noqa: E402
from busy_core import one_core_busy  # noqa: E402
from model import load_codec  # noqa: E402


def _percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    p = np.percentile(values, [50, 90, 99, 99.9, 100])
    return " / ".join(f"{v:.1f}" for v in p) + " ms (median / 90 / 99 / 99.9 % / max)"


class _Clock:
    """Times one stream's ticks against its ideal schedule."""

    def __init__(self, period: float) -> None:
        self.period, self.ticks, self.late = period, [], []

    def wrap(self, callback):
        def timed(*args):
            now = time.perf_counter()
            if self.ticks:
                self.late.append(1000 * (now - self.ticks[-1] - self.period))
            self.ticks.append(now)
            callback(*args)
        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--block-ms", type=float, default=None, help="the devices' block (the monitor's default if not given)")
    parser.add_argument("--codec-ms", type=float, default=None, help="the least input the codec takes at once")
    parser.add_argument("--jitter-ms", type=float, default=None, help="codec output held ahead of the output")
    parser.add_argument("--busy-cpu", action="count", default=0,
                        help="a busy-loop process on one core throughout (twice: on both cores)")
    parser.add_argument("--normal-priority", action="store_true", help="leave the codec thread's priority alone")
    parser.add_argument("--normal-clocks", action="store_true", help="leave the simulated devices' threads alone")
    parser.add_argument("--warm-up-ms", type=float, default=None, help="silence through a throwaway stream at start")
    parser.add_argument("--background-render", action="store_true",
                        help="a thread decoding as the studio's inference worker renders (nice 5, one torch thread)")
    parser.add_argument("--compare", action="store_true", help="every lever under every load")
    parser.add_argument("--json", action="store_true", help="one line of figures (what --compare reads)")
    args = parser.parse_args()
    if args.compare:
        _compare(args.seconds)
        return
    with contextlib.ExitStack() as busy:
        for _ in range(args.busy_cpu):
            busy.enter_context(one_core_busy())
        if args.background_render:
            busy.enter_context(_rendering())
        _measure(args)


@contextlib.contextmanager
def _rendering():
    """The studio's background rendering in this process: a codec of its own decoding 3 s of codes at
    every n in turn, on a thread at the inference worker's priority, until the block ends; the GIL
    is handed over after 1 ms, as the studio sets it."""
    shorten_gil_waits()
    codec = load_codec("default")
    codes = codec.encode(torch.randn(1, 1, 3 * codec.sample_rate) * 0.1)
    done = threading.Event()

    def render() -> None:
        lower_current_thread_priority(INFERENCE_NICENESS)
        torch.set_num_threads(INFERENCE_TORCH_THREADS)
        while not done.is_set():
            for n in range(1, codec.n_codebooks + 1):
                codec.decode(codes[:, :n])

    thread = threading.Thread(target=render, name="background-render", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


LEVERS = {  # name: the options of one run
    "normal priority": ["--normal-priority", "--normal-clocks"],
    "real-time clocks": ["--normal-priority"],
    "real-time clocks and codec": [],
}
CONDITIONS = {  # what else runs: a suffix for the row's name, and the options that make it run
    "": [],
    ", one core busy": ["--busy-cpu"],
    ", both cores busy": ["--busy-cpu", "--busy-cpu"],
    ", studio rendering": ["--background-render"],
}


def _compare(seconds: float) -> None:
    print(f"{seconds:g} s per run | dropouts (at s) | push median / 99.9 % / max ms | lowest ring ms | load avg "
          f"before -> after | priority")
    for condition, loads in CONDITIONS.items():
        for name, options in LEVERS.items():
            before = os.getloadavg()[0]
            command = [sys.executable, __file__, "--json", "--seconds", str(seconds), *options, *loads]
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode:
                print(f"{name}: failed: {run.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(run.stdout.strip().splitlines()[-1])
            drops = ", ".join(f"{t:.1f}" for t in r["drops"])
            print(f"{name}{condition} | {r['dropouts']} ({drops})"
                  f" | {r['push_median']:.1f} / {r['push_999']:.1f} / {r['push_max']:.1f} | {r['lowest_ms']:.0f} | "
                  f"{before:.1f} -> {os.getloadavg()[0]:.1f} | {r['priority']}", flush=True)


def _measure(args: argparse.Namespace) -> None:
    codec = load_codec("default")
    rate = codec.sample_rate
    x = (0.1 * np.random.default_rng(5).standard_normal(int(args.seconds * rate))).astype(np.float32)
    given = {"block_seconds": args.block_ms, "codec_seconds": args.codec_ms, "jitter_seconds": args.jitter_ms}
    options = {key: ms / 1000 for key, ms in given.items() if ms is not None}
    if args.warm_up_ms is not None:
        live_monitor.WARM_UP_SECONDS = args.warm_up_ms / 1000
    monitor = LiveMonitor(raise_priority=not args.normal_priority, **options)
    SilentClockStream.raise_priority = not args.normal_clocks
    load_before = os.getloadavg()[0]

    blocks: list[float] = []
    early: list[str] = []  # the first seconds' pushes: when, how long, how much audio the output ring held
    push = LiveCoder.push

    def timed_push(self, mono):
        began = time.perf_counter()
        out = push(self, mono)
        blocks.append(1000 * (time.perf_counter() - began))
        if self is monitor._coder and began - t0 < 3.0:
            early.append(f"{began - t0:.2f}:{blocks[-1]:.0f}/{1000 * monitor._out_ring.available() / rate:.0f}")
        return out

    LiveCoder.push = timed_push
    collections: list[tuple[int, float]] = []
    gc_began = [0.0]

    def gc_timer(phase, info):
        if phase == "start":
            gc_began[0] = time.perf_counter()
        else:
            collections.append((info["generation"], 1000 * (time.perf_counter() - gc_began[0])))

    gc.callbacks.append(gc_timer)
    clocks, fed, lowest, drops = {}, [], [np.inf], []
    t0 = time.perf_counter()

    def simulated(rate_, channels, block, callback, device=None):
        clocks["input"] = _Clock(block / rate_)
        fed.append(SimulatedInputStream(x[:, None], rate_, block, clocks["input"].wrap(callback)))
        return fed[-1]

    def output(rate_, channels, block, callback):
        clocks["output"] = _Clock(block / rate_)

        def watched(outdata, frames, time_info, status):
            before = monitor.dropouts
            if monitor._mode == "codec":
                lowest[0] = min(lowest[0], monitor._out_ring.available())
            callback(outdata, frames, time_info, status)
            if monitor.dropouts > before:
                drops.append(time.perf_counter() - t0)
        return SilentClockStream(rate_, channels, block, clocks["output"].wrap(watched))

    monitor._input_factory, monitor._output_factory = simulated, output
    monitor.start(codec, codec.n_codebooks)
    loads = []
    while not fed[0].finished.wait(0.25):
        loads.append(monitor.status().load)
    status = monitor.status()
    if status.state == "stopped":
        sys.exit("the monitor stopped early")
    monitor.stop()
    LiveCoder.push = push
    gc.callbacks.remove(gc_timer)
    if args.json:
        p = np.percentile(blocks, [50, 99.9, 100])
        print(json.dumps({"dropouts": status.dropouts, "drops": drops, "push_median": p[0], "push_999": p[1],
                          "push_max": p[2], "lowest_ms": 1000 * lowest[0] / rate, "priority": status.priority,
                          "load": [load_before, os.getloadavg()[0]]}))
        return

    print(f"{args.seconds:g} s at real pace, device blocks of {1000 * monitor.block / rate:.0f} ms, codec takes "
          f">= {1000 * monitor.codec_frames / rate:.0f} ms, prebuffer {1000 * monitor.prebuffer / rate:.0f} ms, "
          f"buffer latency {1000 * status.buffer_latency:.0f} ms, busy cores: {args.busy_cpu}, load average "
          f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}, {status.priority}")
    print(f"dropouts {status.dropouts}, lost input {status.lost_input}, at s: "
          + ", ".join(f"{t:.1f}" for t in drops))
    print(f"codec time per push ({len(blocks)} pushes): {_percentiles(blocks)}")
    print(f"load (status, every 0.25 s): median {np.median(loads):.0%}, max {max(loads):.0%}")
    for gen in range(3):
        pauses = [ms for g, ms in collections if g == gen]
        if pauses:
            print(f"gc generation {gen}: {len(pauses)} collections, longest {max(pauses):.1f} ms")
    for name, clock in clocks.items():
        late = np.array(clock.late)
        span = clock.ticks[-1] - clock.ticks[0]
        print(f"{name} clock: tick lateness {_percentiles(list(late))}; "
              f"{span - clock.period * (len(clock.ticks) - 1):+.3f} s behind its schedule")
    print(f"output ring's lowest level while live: {1000 * lowest[0] / rate:.1f} ms")
    print("first 3 s, push at s: ms taken / ms in the output ring: " + " ".join(early))


if __name__ == "__main__":
    main()
