"""Our DAC inference against the reference package, same weights, same run, same threads.

Builds the official 44.1 kHz 8 kbps architecture (random weights) with descript-audio-codec,
saves it in the official checkpoint layout, loads it with our ``load_codec``, and times
encoding and decoding 5 s of 44.1 kHz audio with both, interleaved, best of ``--repeats``.
Prints real-time factors, our speed-up and the largest output difference.

Runs in the reference environment ($REFENV, built by scripts/make_reference_env.sh):
    $REFENV/bin/python benchmarks/bench_dac_speed.py

Figures: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import dac  # the reference package, only in the reference environment

    from model import load_codec

    torch.manual_seed(0)
    reference = dac.DAC(encoder_dim=64, encoder_rates=[2, 4, 8, 8], decoder_dim=1536,
                        decoder_rates=[8, 8, 4, 2], n_codebooks=9, codebook_size=1024,
                        codebook_dim=8, sample_rate=44100).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dac44k.pth"
        reference.save(str(path), package=False)
        ours = load_codec(path)

    sr = 44100
    t = torch.arange(int(args.seconds * sr)) / sr
    wave = (0.3 * torch.sin(2 * torch.pi * 220 * t * (1 + t)) + 0.05 * torch.randn(t.shape)).view(1, 1, -1)

    with torch.inference_mode():
        ref_codes = reference.encode(reference.preprocess(wave, sr))[1]
        z = reference.quantizer.from_codes(ref_codes)[0]
        rows = []
        ref_enc, _ = _best(lambda: reference.encode(reference.preprocess(wave, sr)), args.repeats)
        our_enc, our_codes = _best(lambda: ours.encode(wave), args.repeats)
        ref_dec, ref_audio = _best(lambda: reference.decode(reference.quantizer.from_codes(ref_codes)[0]),
                                   args.repeats)
        our_dec, our_audio = _best(lambda: ours.decode(ref_codes.long()), args.repeats)
        del z
    rows.append(("encode", ref_enc, our_enc))
    rows.append(("decode", ref_dec, our_dec))
    print(f"DAC 44.1 kHz 8 kbps, {args.seconds:g} s of audio, {args.threads} thread(s), best of {args.repeats}")
    print(f"{'':8}{'reference':>12}{'ours':>12}{'speed-up':>10}   (x real time)")
    for name, ref_s, our_s in rows:
        print(f"{name:8}{args.seconds / ref_s:>11.2f}x{args.seconds / our_s:>11.2f}x{ref_s / our_s:>9.2f}x")
    print(f"codes identical: {torch.equal(our_codes, ref_codes.long())}")
    print(f"max |audio difference|: {(our_audio - ref_audio).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
