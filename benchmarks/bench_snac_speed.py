"""Our SNAC inference against the reference ``snac`` package, same weights, same run, same threads.

Builds a release architecture (``--release 24``, ``32`` or ``44`` kHz; random weights) with the
``snac`` package, writes it in the release's folder layout, loads it with our ``load_codec``,
and times encoding and decoding ``--seconds`` of audio with both, best of ``--repeats``.
The noise blocks' gains are zeroed in both (the reference draws fresh noise at every decode),
so the printed audio difference compares like with like.

Runs in the reference environment ($REFENV, built by scripts/make_reference_env.sh):
    PYTHONPATH=. $REFENV/bin/python benchmarks/bench_snac_speed.py --release 24
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from bench_dac_speed import _best as best_time

RELEASES = {  # the Hugging Face releases' config.json (hubertsiuzdak/snac_24khz, _32khz, _44khz)
    24: dict(sampling_rate=24000, encoder_dim=48, encoder_rates=[2, 4, 8, 8], decoder_dim=1024,
             decoder_rates=[8, 8, 4, 2], attn_window_size=None, codebook_size=4096, codebook_dim=8,
             vq_strides=[4, 2, 1], noise=True, depthwise=True),
    32: dict(sampling_rate=32000, encoder_dim=64, encoder_rates=[2, 3, 8, 8], decoder_dim=1536,
             decoder_rates=[8, 8, 3, 2], attn_window_size=32, codebook_size=4096, codebook_dim=8,
             vq_strides=[8, 4, 2, 1], noise=True, depthwise=True),
    44: dict(sampling_rate=44100, encoder_dim=64, encoder_rates=[2, 3, 8, 8], decoder_dim=1536,
             decoder_rates=[8, 8, 3, 2], attn_window_size=32, codebook_size=4096, codebook_dim=8,
             vq_strides=[8, 4, 2, 1], noise=True, depthwise=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", type=int, choices=sorted(RELEASES), default=24)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import snac  # the reference package, only in the reference environment

    from model import load_codec
    from model.snac import NoiseBlock

    config = RELEASES[args.release]
    torch.manual_seed(0)
    reference = snac.SNAC(**config).eval()
    with torch.no_grad():
        for block in reference.modules():
            if isinstance(block, snac.layers.NoiseBlock):
                block.linear.parametrizations.weight.original0.zero_()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        torch.save(reference.state_dict(), Path(tmp) / "pytorch_model.bin")
        ours = load_codec(tmp)
    assert all(not block.linear.weight_g.any() for block in ours.network.modules() if isinstance(block, NoiseBlock))

    sr = config["sampling_rate"]
    t = torch.arange(int(args.seconds * sr)) / sr
    wave = (0.3 * torch.sin(2 * torch.pi * 220 * t * (1 + t)) + 0.05 * torch.randn(t.shape)).view(1, 1, -1)

    with torch.inference_mode():
        ref_enc, ref_codes = best_time(lambda: reference.encode(wave), args.repeats)
        our_enc, our_codes = best_time(lambda: ours.encode(wave), args.repeats)
        finest = torch.stack([c.repeat_interleave(s, dim=-1) for c, s in zip(ref_codes, config["vq_strides"])], 1)
        ref_dec, ref_audio = best_time(lambda: reference.decode(ref_codes), args.repeats)
        our_dec, our_audio = best_time(lambda: ours.decode(finest), args.repeats)
    print(f"SNAC {args.release} kHz release architecture ({ours.n_parameters() / 1e6:.1f} M parameters), "
          f"{args.seconds:g} s of audio, {args.threads} thread(s), best of {args.repeats}")
    print(f"{'':8}{'reference':>12}{'ours':>12}{'speed-up':>10}   (x real time)")
    for name, ref_s, our_s in (("encode", ref_enc, our_enc), ("decode", ref_dec, our_dec)):
        print(f"{name:8}{args.seconds / ref_s:>11.2f}x{args.seconds / our_s:>11.2f}x{ref_s / our_s:>9.2f}x")
    print(f"codes identical: {torch.equal(our_codes, finest[..., : our_codes.shape[-1]])}")
    print(f"max |audio difference|: {(our_audio - ref_audio).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
