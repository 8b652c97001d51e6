"""Thread counts on an idle and on a busy machine: which settings collapse when a core is taken.

Torch's intra-op threads meet at a barrier after every operator. When another process holds a
core, the thread that shares it runs only in the scheduler's slices and every operator waits
for it; for small operators (the ``tiny`` preset, the bundled model's chunks) that wait is the
whole step. Chunk workers (``Codec(workers=k)``, one thread each) share no barrier and should
only slow down in proportion. This script measures, side by side in one run, with the machine
idle and then with one core burned by a busy-loop process:

* ``rvq-studio train --preset tiny`` steps per second with ``--threads 1`` and ``--threads 2``;
* the bundled model's encode and decode of a clip (x real time) with 1 and 2 chunk workers,
  through the public ``Codec`` API, each in a fresh process so that nothing is shared.

    .venv/bin/python benchmarks/bench_threads_busy.py [--steps 40] [--seconds 30]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "model" / "training"))
sys.path.insert(0, str(REPO / "tests" / "support"))  # the busy core

from busy_core import one_core_busy  # noqa: E402

CODEC_PROBE = """
import sys, time, torch
from model import load_codec
seconds, workers = float(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(workers)
codec = load_codec("default")
wave = 0.1 * torch.randn(1, 1, int(seconds * codec.sample_rate), generator=torch.Generator().manual_seed(0))
codec.decode(codec.encode(wave[..., :codec.sample_rate], workers=workers), workers=workers)  # warm-up
start = time.perf_counter(); codes = codec.encode(wave, workers=workers); encode = time.perf_counter() - start
start = time.perf_counter(); codec.decode(codes, workers=workers); decode = time.perf_counter() - start
print(seconds / encode, seconds / decode)
"""


def training_rate(data: Path, out: Path, threads: int, steps: int) -> float:
    """Steps per second between the first and the last ``step`` event, timed as they arrive
    (the first step, with the process's start-up and the first validation, is left out)."""
    command = [sys.executable, "-m", "app.cli", "train", "--data", str(data), "--out", str(out), "--preset",
               "tiny", "--threads", str(threads), "--workers", "0", "--steps", str(steps), "--val-every",
               "100000", "--ckpt-every", "100000", "--log-every", "1", "--json-progress"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=dict(os.environ, PYTHONPATH=str(REPO)))
    arrivals = []
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "step":
            arrivals.append((event["step"], time.perf_counter()))
    if process.wait() != 0 or len(arrivals) < 2:
        raise RuntimeError(f"training with --threads {threads} failed")
    (first_step, first_t), (last_step, last_t) = arrivals[0], arrivals[-1]
    return (last_step - first_step) / (last_t - first_t)


def codec_rates(seconds: float, workers: int) -> tuple[float, float]:
    done = subprocess.run([sys.executable, "-c", CODEC_PROBE, str(seconds), str(workers)], cwd=REPO,
                          capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(workers)))
    encode, decode = map(float, done.stdout.split())
    return encode, decode


def measure(folder: Path, steps: int, seconds: float, label: str) -> dict:
    from training_helpers import make_audio_folder

    data = folder / "data"
    if not data.exists():
        make_audio_folder(data, files_per_group=3)
    row = {}
    for threads in (1, 2):
        row[f"train {threads} thread(s)"] = training_rate(data, folder / f"run-{label}-{threads}", threads, steps)
    for workers in (1, 2):
        row[f"codec {workers} worker(s)"] = codec_rates(seconds, workers)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="tiny training steps per run")
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length for encode/decode")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        idle = measure(Path(tmp), args.steps, args.seconds, "idle")
        with one_core_busy():
            time.sleep(1.0)
            busy = measure(Path(tmp), args.steps, args.seconds, "busy")
    print(f"{'':<24}{'idle':>22}{'one core busy':>22}{'busy / idle':>14}")
    for key in idle:
        if key.startswith("train"):
            a, b = idle[key], busy[key]
            print(f"{key:<24}{a:>14.2f} steps/s{b:>14.2f} steps/s{b / a:>13.2f}x")
        else:
            (ea, da), (eb, db) = idle[key], busy[key]
            print(f"{key + ' encode':<24}{ea:>20.1f}x{eb:>20.1f}x{eb / ea:>13.2f}x")
            print(f"{key + ' decode':<24}{da:>20.1f}x{db:>20.1f}x{db / da:>13.2f}x")


if __name__ == "__main__":
    main()
