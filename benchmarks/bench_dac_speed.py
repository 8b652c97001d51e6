"""Our DAC inference against the reference package, same weights, same run, same threads.

Builds the official 44.1 kHz 8 kbps architecture (random weights) with descript-audio-codec,
saves it in the official checkpoint layout, loads it with our ``load_codec``, and times
encoding and decoding ``--seconds`` of 44.1 kHz audio with both, interleaved (every variant
once per round, best of ``--repeats`` rounds), so that load from other work on the machine
hits all of them alike: the ratios are what to read, the real-time factors move with the load.
Besides the default path it times the levers we measured (docs/benchmarks.md): the decoder
without Winograd convolution (its kernel-7 layers convolving directly), the decoder with
per-stage tiles only (without the tail tiles that bound its working memory, ``model/tiled.py``), one worker
with two threads inside each operator instead of two single-threaded chunk workers, fast
mode (bfloat16), and with ``--compile`` the decoder compiled by inductor for one excerpt length
(``benchmarks/compiled_decoder.py``, not used by the codec), run by two single-threaded chunk workers
and, compiled again for two threads, by one worker. The compile times printed are cold or warm depending on inductor's
cache (the user's cache folder, or ``TORCHINDUCTOR_CACHE_DIR``): run twice to see both.

Runs in the reference environment ($REFENV, built by scripts/make_reference_env.sh):
    PYTHONPATH=. $REFENV/bin/python benchmarks/bench_dac_speed.py [--compile]

Figures: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, wherever this is run from

from benchmarks.compiled_decoder import compile_decoder  # noqa: E402
from model import load_codec, native_kernels, tiled  # noqa: E402


def _interleaved(fns: dict[str, Callable[[], torch.Tensor]], repeats: int) -> tuple[dict[str, float], dict]:
    """Best time and last result of every function, run in turn ``repeats`` times."""
    best = {name: float("inf") for name in fns}
    out = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            out[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, out


def _without_winograd(fn: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``fn()`` with the decoder's kernel-7 layers convolving directly (model/winograd.py)."""
    os.environ["RVQ_NO_WINOGRAD"] = "1"
    try:
        return fn()
    finally:
        del os.environ["RVQ_NO_WINOGRAD"]


def _stage_tiles_only(fn: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``fn()`` with the decoder's stages tiled one by one, its high-rate tail not tiled as a whole."""
    tail_of = tiled._tail_of
    tiled._tail_of = lambda stack, in_channels: None
    try:
        return fn()
    finally:
        tiled._tail_of = tail_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--compile", action="store_true", help="also time the inductor-compiled decoders")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import dac  # the reference package, only in the reference environment

    torch.manual_seed(0)
    reference = dac.DAC(encoder_dim=64, encoder_rates=[2, 4, 8, 8], decoder_dim=1536,
                        decoder_rates=[8, 8, 4, 2], n_codebooks=9, codebook_size=1024,
                        codebook_dim=8, sample_rate=44100).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dac44k.pth"
        reference.save(str(path), package=False)
        ours = load_codec(path)
        fast = load_codec(path)
    fast.set_fast_mode(True)

    sr = 44100
    t = torch.arange(int(args.seconds * sr)) / sr
    wave = (0.3 * torch.sin(2 * torch.pi * 220 * t * (1 + t)) + 0.05 * torch.randn(t.shape)).view(1, 1, -1)

    with torch.inference_mode():
        ref_codes = reference.encode(reference.preprocess(wave, sr))[1]
        codes = ref_codes.long()
        encoders = {
            "reference": lambda: reference.encode(reference.preprocess(wave, sr))[1].long(),
            "ours": lambda: ours.encode(wave),
            "ours, 1 worker x 2 threads": lambda: ours.encode(wave, workers=1),
            "ours, fast mode (bf16)": lambda: fast.encode(wave),
        }
        decoders = {
            "reference": lambda: reference.decode(reference.quantizer.from_codes(ref_codes)[0]),
            "ours": lambda: ours.decode(codes),
            "ours, direct convolutions": lambda: _without_winograd(lambda: ours.decode(codes)),
            "ours, stage tiles only": lambda: _stage_tiles_only(lambda: ours.decode(codes)),
            "ours, 1 worker x 2 threads": lambda: ours.decode(codes, workers=1),
            "ours, fast mode (bf16)": lambda: fast.decode(codes),
        }
        if args.compile:
            compiled = {}
            for threads in (1, args.threads):
                start = time.perf_counter()
                compiled[threads] = compile_decoder(ours.network, ours.n_codebooks, ours.codebook_size,
                                                    ours.decoder_context, threads=threads)
                print(f"compile for {threads} thread(s): {time.perf_counter() - start:.1f} s")
            decoders["ours, compiled, 2 workers x 1 thread"] = lambda: compiled[1].decode(codes, workers=2)
            decoders[f"ours, compiled, 1 worker x {args.threads} threads"] = (
                lambda: compiled[args.threads].decode(codes, workers=1))
        enc_times, enc_out = _interleaved(encoders, args.repeats)
        dec_times, dec_out = _interleaved(decoders, args.repeats)

    print(f"DAC 44.1 kHz 8 kbps, {args.seconds:g} s of audio, {args.threads} thread(s), best of {args.repeats}, "
          f"load average {os.getloadavg()[0]:.1f} at the end; native kernels "
          f"{'built' if native_kernels.load() is not None else 'NOT built (run scripts/setup_env.sh)'}")
    print(f"{'':<44}{'x real time':>12}{'vs reference':>14}   exactness")
    for title, times, outputs in (("encode", enc_times, enc_out), ("decode", dec_times, dec_out)):
        base = outputs["reference"]
        for name, seconds in times.items():
            if name == "reference":
                note = ""
            elif title == "encode":
                note = f"codes changed: {(outputs[name] != base).float().mean().item():.2%}"
            else:
                note = f"max |audio difference| {(outputs[name] - base).abs().max().item():.1e}"
            print(f"{title + ': ' + name:<44}{args.seconds / seconds:>11.2f}x{times['reference'] / seconds:>13.2f}x"
                  f"   {note}")


if __name__ == "__main__":
    main()
