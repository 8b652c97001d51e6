"""Real-time factor of the bundled default model: encode and decode on one and two cores.

The bundled model is meant to run at least 20x real time for both directions on a
2-core CPU. Prints the best of ``--repeats`` runs over ``--seconds`` of 44.1 kHz audio,
through the public ``Codec`` API (chunked, exact path), for: one thread; two threads
inside each operator with chunks in sequence; two single-threaded chunk workers (what
``Codec`` does by default with two torch threads); and that default in fast mode (bfloat16),
side by side in one run. The load average is printed with the figures: they move with it.

    .venv/bin/python benchmarks/bench_default_speed.py
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from model import load_codec


def best_seconds(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def speed_arguments(description: str, seconds: float) -> argparse.Namespace:
    """``--model``, ``--seconds`` of audio and ``--repeats`` (best of), as the speed benchmarks take them."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def main() -> None:
    args = speed_arguments(__doc__, 30.0)

    codec = load_codec(args.model)
    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(1, 1, int(args.seconds * codec.sample_rate), generator=g)
    codes = codec.encode(wave[..., : codec.sample_rate])  # warm-up
    codec.decode(codes)
    print(f"{codec.name}: {codec.n_parameters() / 1e6:.2f} M parameters, {args.seconds:g} s of audio, "
          f"best of {args.repeats}")
    print(f"{'':<34}{'encode':>10}{'decode':>10}   (x real time; target >= 20x)")
    codes = codec.encode(wave)
    for label, threads, workers in (("1 thread", 1, 1), ("2 threads, chunks in sequence", 2, 1),
                                    ("2 chunk workers, 1 thread each", 2, 2)):
        torch.set_num_threads(threads)
        enc = best_seconds(lambda: codec.encode(wave, workers=workers), args.repeats)
        dec = best_seconds(lambda: codec.decode(codes, workers=workers), args.repeats)
        print(f"{label:<34}{args.seconds / enc:>9.1f}x{args.seconds / dec:>9.1f}x")
    codec.set_fast_mode(True)
    enc = best_seconds(lambda: codec.encode(wave), args.repeats)
    dec = best_seconds(lambda: codec.decode(codes), args.repeats)
    print(f"{'2 chunk workers, fast mode (bf16)':<34}{args.seconds / enc:>9.1f}x{args.seconds / dec:>9.1f}x")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
