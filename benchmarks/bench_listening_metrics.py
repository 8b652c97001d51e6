"""Seconds each quality metric takes on one rendering of a 30 s clip.

The bundled music demo clip, looped to 30 s, is coded by the bundled model with all its
codebooks; every metric of ``model.listening_metrics`` then measures that rendering against
the input twice in this process: the first call includes one-time costs (imports, loading
numba's compiled kernels), the second is what each further rendering costs.

    .venv/bin/python benchmarks/bench_listening_metrics.py
    .venv/bin/python benchmarks/bench_listening_metrics.py --seconds 10 --metrics visqol,dnsmos
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import soundfile as sf
import torch

from model import load_codec
from model.audio_io import resample
from model.bundled_files import DEMO_CLIPS_FOLDER
from model.listening_metrics import METRICS, measure


def rendering(seconds: float) -> tuple[np.ndarray, np.ndarray, int]:
    """``(input, rendering, rate)``: the music demo clip looped to ``seconds``, coded by the default model."""
    codec = load_codec("default")
    samples, rate = sf.read(DEMO_CLIPS_FOLDER / "1-music-singularity-by-product.flac", dtype="float32", always_2d=True)
    mono = resample(samples.mean(axis=1, keepdims=True).T, rate, codec.sample_rate)[0]
    clip = np.resize(mono, int(seconds * codec.sample_rate)).reshape(1, 1, -1)
    with torch.no_grad():
        decoded = codec.decode(codec.encode(torch.from_numpy(clip)))[..., : clip.shape[-1]].numpy()
    return clip, decoded, codec.sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--metrics", default=",".join(METRICS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    reference, estimate, rate = rendering(args.seconds)
    print(f"{args.seconds:g} s at {rate} Hz, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'metric':<14} {'first s':>8} {'again s':>8}  values")
    for name in args.metrics.split(","):
        times = []
        for _ in range(2):
            started = time.perf_counter()
            outcome = measure(name, reference, estimate, rate)
            times.append(time.perf_counter() - started)
        shown = outcome.reason or ", ".join(f"{k}={v:.4g}" for k, v in outcome.values.items())
        print(f"{name:<14} {times[0]:>8.2f} {times[1]:>8.2f}  {shown}")


if __name__ == "__main__":
    main()
