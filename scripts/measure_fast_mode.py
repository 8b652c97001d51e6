"""Fast mode's cost and gain per model: codes changed, SNR and mel distance against float32, speed.

For every model named (default: the bundled model and the official-layout DAC fixtures) and
every demo clip in resources/audio, encodes and decodes the clip in float32 and in fast mode
(bfloat16), in the same process, interleaved, and prints: the share of codes fast mode changes,
the SNR of the fast decoding against the float32 one, the mel distance of each to the clip (and
the change), and the speed ratio of each direction (best of ``--repeats``).

    .venv/bin/python scripts/measure_fast_mode.py [--seconds 10] [MODEL ...]

Figures: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from model import load_codec
from model.compression import read_model_input
from model.metrics import mel_distance

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["default", *(str(ROOT / "tests" / "fixtures" / "dac" / f"dac{k}.pth") for k in ("16k", "24k", "44k"))]


def _best(fn, repeats: int) -> tuple[float, torch.Tensor]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=MODELS)
    parser.add_argument("--seconds", type=float, default=10.0, help="first seconds of each clip")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    clips = sorted((ROOT / "resources" / "audio").glob("*.flac"))
    print(f"{torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f}; "
          f"first {args.seconds:g} s of each clip; speed: fast / float32, best of {args.repeats}")
    print(f"{'model':<14}{'clip':<34}{'codes changed':>14}{'SNR dB':>8}{'mel f32':>9}{'mel fast':>9}"
          f"{'mel +':>8}{'enc x':>7}{'dec x':>7}")
    for source in args.models:
        codec = load_codec(source)
        for clip in clips:
            wave = read_model_input(codec, clip)[0][..., : int(args.seconds * codec.sample_rate)]
            codec.set_fast_mode(False)
            enc32, codes32 = _best(lambda: codec.encode(wave), args.repeats)
            dec32, audio32 = _best(lambda: codec.decode(codes32), args.repeats)
            codec.set_fast_mode(True)
            enc16, codes16 = _best(lambda: codec.encode(wave), args.repeats)
            dec16, audio16 = _best(lambda: codec.decode(codes16), args.repeats)
            n = min(wave.shape[-1], audio32.shape[-1], audio16.shape[-1])  # odd-stride decoders may end early
            wave, audio32, audio16 = wave[..., :n], audio32[..., :n], audio16[..., :n]
            snr = 10 * torch.log10(audio32.pow(2).sum() / (audio32 - audio16).pow(2).sum().clamp_min(1e-20))
            mel32 = mel_distance(wave, audio32, codec.sample_rate).mean().item()
            mel16 = mel_distance(wave, audio16, codec.sample_rate).mean().item()
            changed = (codes16 != codes32).float().mean().item()
            print(f"{Path(source).stem:<14}{clip.stem[:33]:<34}{changed:>13.1%}{snr.item():>8.1f}{mel32:>9.3f}"
                  f"{mel16:>9.3f}{mel16 - mel32:>+8.3f}{enc32 / enc16:>6.2f}x{dec32 / dec16:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
