"""Winograd F(6, 7) against direct convolution, layer by layer, on DAC 44.1 kHz's decoder shapes.

For each residual-unit convolution of the official 44.1 kHz decoder (768, 384, 192 and 96
channels at their sample rates, dilations 1, 3, 9) and a few narrower widths, times oneDNN's
direct convolution (the fast layout the codec uses) and ``model.winograd.convolve`` on the same
input, interleaved, best of ``--repeats``, one thread by default, and prints the ratio with
each one's largest error against a float64 convolution (relative to the output's largest value).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_winograd.py [--seconds 0.75] [--threads 1]

Figures: docs/benchmarks.md ("Winograd convolution").
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, wherever this is run from

from benchmarks.bench_default_speed import best_seconds  # noqa: E402
from model import native_kernels, winograd  # noqa: E402
from model.layers import to_fast_layout  # noqa: E402

# (channels, sample rate) of DAC 44.1 kHz's decoder stages, then narrower widths at 44.1 kHz
SHAPES = [(768, 689), (384, 5512), (192, 22050), (128, 44100), (96, 44100), (64, 44100), (48, 44100), (24, 44100)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=0.75, help="audio per call (3 s chunks hold 0.75 s tiles)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if native_kernels.build() is None:
        raise SystemExit("the native kernels cannot be built here (no C++ toolchain)")
    print(f"{args.seconds:g} s per call, {args.threads} thread(s), best of {args.repeats}")
    print(f"{'channels':>8} {'rate':>6} {'dil':>3} {'direct ms':>10} {'Winograd ms':>12} {'speed-up':>9}"
          f" {'error direct':>13} {'error Winograd':>15}")
    for channels, rate in SHAPES:
        torch.manual_seed(channels)
        x = to_fast_layout(torch.randn(1, channels, int(rate * args.seconds)))
        w = torch.randn(channels, channels, 7) / (7 * channels) ** 0.5
        b = 0.1 * torch.randn(channels)
        w_fast = w.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        u = winograd.transformed_weight(w)
        for d in (1, 3, 9):
            direct = lambda: F.conv2d(x, w_fast, b, padding=(0, 3 * d), dilation=(1, d))  # noqa: E731
            tiles = lambda: winograd.convolve(x, u, b, d, 3 * d)  # noqa: E731
            exact = F.conv1d(x.squeeze(2).double(), w.double(), b.double(), padding=3 * d, dilation=d)
            scale = exact.abs().max().item()
            errors = [(f().squeeze(2).double() - exact).abs().max().item() / scale for f in (direct, tiles)]
            t_direct, t_tiles = best_seconds(direct, args.repeats), best_seconds(tiles, args.repeats)
            print(f"{channels:>8} {rate:>6} {d:>3} {t_direct * 1e3:>10.1f} {t_tiles * 1e3:>12.1f}"
                  f" {t_direct / t_tiles:>8.2f}x {errors[0]:>13.1e} {errors[1]:>15.1e}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
