"""Our numpy K-weighting and loudness meter against scipy's lfilter and pyloudnorm, same signal.

The studio meters a whole clip when it opens one, so the numpy filter (which spares every
process the ~70 MiB of ``import scipy.signal``) must not be much slower than scipy's C loop.
Times, interleaved and best of ``--repeats``, on ``--seconds`` of stereo noise at 44.1 kHz:

* the K-weighting filter alone: ours block by block, scipy's ``lfilter`` stage by stage;
* the whole integrated loudness: ``model.loudness`` against ``pyloudnorm.Meter``;

and prints both side by side with the ratio, the filters' largest difference (relative to the
output's peak) and the loudness difference; first, what ``import model.loudness`` and then
``import scipy.signal`` add to a fresh process's resident memory. Needs scipy and pyloudnorm (test dependencies):
    OMP_NUM_THREADS=1 python benchmarks/bench_loudness.py
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


_IMPORTS = """
import numpy, torch
from resident_size import status_bytes
before = status_bytes()
import model.loudness
ours = status_bytes()
import scipy.signal
print(f"resident memory of the import after numpy and torch: model.loudness {(ours - before) / 2**20:.0f} MiB, "
      f"then scipy.signal {(status_bytes() - ours) / 2**20:.0f} MiB")
"""


def _resident_cost() -> str:
    """What importing the meter, then scipy.signal, adds to a fresh process's resident memory."""
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), str(repo / "tests" / "support")]))
    return subprocess.run([sys.executable, "-c", _IMPORTS], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the stereo signal")
    parser.add_argument("--rate", type=int, default=44100)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()

    import pyloudnorm
    import scipy.signal

    from model.k_weighting import BLOCK_FRAMES, k_weighting, k_weighting_stages
    from model.loudness import integrated_loudness

    rate = args.rate
    x = 0.1 * np.random.default_rng(0).standard_normal((2, int(args.seconds * rate)))
    whole = x[:, : x.shape[1] // BLOCK_FRAMES * BLOCK_FRAMES]  # the filter alone takes whole blocks

    def ours_filter() -> np.ndarray:
        filt = k_weighting(rate)
        state, out = filt.initial_state(2), np.empty_like(whole)
        for start in range(0, whole.shape[1], BLOCK_FRAMES):
            out[:, start:start + BLOCK_FRAMES], state = filt.apply(whole[:, start:start + BLOCK_FRAMES], state)
        return out

    def scipy_filter() -> np.ndarray:
        out = whole
        for stage in k_weighting_stages(rate):
            out = stage.passband_gain * scipy.signal.lfilter(stage.b, stage.a, out, axis=-1)
        return out

    rows = []
    for name, ours, theirs in [
        ("K-weighting filter", ours_filter, scipy_filter),
        ("integrated loudness", lambda: integrated_loudness(x, rate),
         lambda: pyloudnorm.Meter(rate).integrated_loudness(x.T)),
    ]:
        best_ours = best_theirs = float("inf")
        for _ in range(args.repeats):  # interleaved, so a busy moment hits both
            seconds, out_ours = _timed(ours)
            best_ours = min(best_ours, seconds)
            seconds, out_theirs = _timed(theirs)
            best_theirs = min(best_theirs, seconds)
        if isinstance(out_ours, np.ndarray):
            difference = f"max diff {np.abs(out_ours - out_theirs).max() / np.abs(out_theirs).max():.1e} of peak"
        else:
            difference = f"{out_ours:.12f} vs {out_theirs:.12f} LUFS"
        rows.append((name, best_ours, best_theirs, difference))

    print(_resident_cost())
    print(f"{args.seconds:g} s of stereo at {rate} Hz, best of {args.repeats}")
    print(f"{'':22} {'numpy (ours)':>13} {'scipy':>9} {'ratio':>6}")
    for name, ours_s, theirs_s, difference in rows:
        print(f"{name:22} {ours_s:12.2f}s {theirs_s:8.2f}s {ours_s / theirs_s:6.2f}  {difference}")


if __name__ == "__main__":
    main()
