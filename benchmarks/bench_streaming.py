"""Real-time factor of streamed encode+decode per codec family, next to offline encode+decode.

A stream is fed blocks of ``--block-ms`` of audio (a sound card's period); every block's
codes go straight into the stream decoder. The offline figure is ``Codec.encode`` then
``Codec.decode`` on the whole signal. Rows: the bundled default model (full size) and, for
every family of the registry, its *tiny* test recipe with fresh weights (tiny: widths of a
few channels, so its figures show the streaming overhead, not a real model's speed);
``--full`` adds each family's full-size recipe (fresh weights, the release's architecture).
One torch thread, best of ``--repeats``.

    .venv/bin/python benchmarks/bench_streaming.py [--full]
"""
from __future__ import annotations

import argparse
import timeit

import torch

from model import load_codec
from model.codec import Codec
from model.registry import FAMILIES, preset


def _streamed(codec: Codec, wave: torch.Tensor, block: int) -> int:
    """Encode and decode ``wave`` as a stream; returns the peak of held elements."""
    enc, dec, held = codec.stream_encoder(), codec.stream_decoder(codec.n_codebooks), 0
    for start in range(0, wave.shape[-1], block):
        dec.push(enc.push(wave[..., start:start + block]))
        held = max(held, enc.held() + dec.held())
    dec.push(enc.flush())
    dec.flush()
    return held


def _codecs(full: bool) -> list[tuple[str, Codec]]:
    rows = [("default (bundled, full size)", load_codec("default"))]
    for key, fam in FAMILIES.items():
        recipes = [("tiny", fam.recipes.tiny)] + ([("full size", fam.recipes.fine_tune)] if full else [])
        for label, name in recipes:
            architecture = preset(name).architecture
            rows.append((f"{key} ({label}, {name})", Codec(fam.build(architecture), name=name, family=key,
                                                          config=architecture, trained=False)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--block-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="also the full-size recipes (slow)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{args.seconds:g} s of noise, blocks of {args.block_ms:g} ms, 1 thread, best of {args.repeats}")
    print(f"{'codec':<44}{'offline':>9}{'streamed':>10}{'latency':>10}{'held':>10}   (x real time; ms; kB)")
    for label, codec in _codecs(args.full):
        g = torch.Generator().manual_seed(0)
        wave = 0.1 * torch.randn(1, 1, int(args.seconds * codec.sample_rate), generator=g)
        block = max(1, round(args.block_ms * codec.sample_rate / 1000))
        offline = min(timeit.repeat(lambda: codec.decode(codec.encode(wave)), number=1, repeat=args.repeats))
        streamed = min(timeit.repeat(lambda: _streamed(codec, wave, block), number=1, repeat=args.repeats))
        held = _streamed(codec, wave[..., : 2 * codec.sample_rate], block) * 4 / 1000
        print(f"{label:<44}{args.seconds / offline:>8.1f}x{args.seconds / streamed:>9.1f}x"
              f"{1000 * codec.stream_latency:>10.1f}{held:>10.0f}")


if __name__ == "__main__":
    main()
