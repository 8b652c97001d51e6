"""Produce reference fixtures for our SNAC reimplementation from the official ``snac`` package.

Runs only in the reference venv (scripts/make_reference_env.sh), never in the project's:
    nice -n 10 env OMP_NUM_THREADS=1 $REFENV/bin/python scripts/make_snac_fixtures.py

For each configuration below it builds an official ``snac.SNAC`` with seeded random weights,
writes it in the release's folder layout (``config.json`` + ``pytorch_model.bin``, what
``SNAC.from_pretrained`` reads) and records what the reference computes on a fixed seeded
input (tests/fixtures/snac/README.md lists every file and key).

Design decisions:
  * The releases' rate structures (24 kHz: hop 512, three scales [4, 2, 1], no attention;
    32 and 44 kHz: hop 384 with a stride-3 block, four scales [8, 4, 2, 1], attention windows
    of 32 frames) with tiny widths: the attention layers get 64 channels, one head of the
    release's fixed 64 (the narrowest that runs). Codebooks of 128 and 256 entries instead of 4096
    keep the files small and stop a loader from hard-coding the size.
  * SNAC's own init leaves Snake alphas at 1, weight-norm gains at the norm of their
    directions, LayerNorm at the identity and conv biases at PyTorch's small defaults -- a
    reimplementation that mishandled any of them could still pass. So alphas ~ U(0.5, 2),
    every gain entry (``parametrizations.weight.original0``) x U(0.5, 2), biases ~ N(0, 0.02),
    LayerNorm weights ~ U(0.5, 2) and biases ~ N(0, 0.1).
  * The 24 kHz-shaped model turns depthwise convolutions off and the 32 kHz-shaped one the
    noise blocks and attention (which then no longer forces 64 channels: it stays under
    0.4 MB), so every branch of the architecture is covered; the 44 kHz-shaped one has them all. The release's training
    forward is its encode and decode, so only the decoded audio is recorded (and, for the
    first item, the decoding of all but the finest scale).
  * The last decoder conv is rescaled so the final tanh sees std 0.5 (random weights
    otherwise saturate it at +-1, where a wrong decoder would still match closely).
  * The release draws fresh noise at every decode (``torch.randn`` in its noise blocks), so
    its audio is not reproducible; the reference outputs are recorded with the noise blocks'
    gains (their ``linear`` weights) at zero, which makes them deterministic. The stored
    weights keep their non-zero noise gains (the tests zero them to compare).
  * The input length is not a multiple of the release's padding unit, so its ``preprocess``
    pads; the recorded codes are the padded signal's, one array per scale.
  * Checkpoints are read back with weights_only=True into a fresh ``SNAC.from_pretrained``
    of the folder, which must reproduce the recorded outputs bit for bit.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import snac
    import torch
except ImportError as error:  # pragma: no cover - guidance for the wrong interpreter
    sys.exit(f"{error}: run this with the reference environment's python (scripts/make_reference_env.sh builds it)")

from fixture_io import save_npz, save_torch
from fixture_signals import chirps_with_noise
from fixture_weights import GAIN_RANGE, randomise, uniform

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "snac"
NORM_BIAS_STD = 0.1
PRE_TANH_STD = 0.5


@dataclass(frozen=True)
class FixtureConfig:
    name: str
    seed: int
    batch: int
    kwargs: dict
    input_length: int


def _configs() -> list[FixtureConfig]:
    wide = dict(encoder_dim=4, encoder_rates=[2, 3, 8, 8], decoder_dim=64, decoder_rates=[8, 8, 3, 2],
                attn_window_size=32, vq_strides=[8, 4, 2, 1], codebook_size=128, codebook_dim=8, depthwise=True)
    return [
        FixtureConfig("snac24k", seed=24000, batch=1, kwargs=dict(
            sampling_rate=24000, encoder_dim=2, encoder_rates=[2, 4, 8, 8], decoder_dim=16,
            decoder_rates=[8, 8, 4, 2], attn_window_size=None, codebook_size=256, codebook_dim=8,
            vq_strides=[4, 2, 1], noise=True, depthwise=False), input_length=512 * 4 * 5 - 700),
        FixtureConfig("snac32k", seed=32000, batch=1, kwargs=dict(
            wide, sampling_rate=32000, encoder_dim=2, decoder_dim=16, attn_window_size=None, noise=False),
            input_length=384 * 32 - 2001),
        FixtureConfig("snac44k", seed=44100, batch=1, kwargs=dict(sampling_rate=44100, noise=True, **wide),
                      input_length=384 * 32 + 2003),
    ]


def build_model(config: FixtureConfig) -> "snac.SNAC":
    """Official SNAC with its own init, then alphas, gains, biases and LayerNorms randomised."""
    torch.manual_seed(config.seed)
    model = snac.SNAC(**config.kwargs)
    randomise(model, config.seed + 1, "original0", extra={
        "norm.weight": lambda g, shape: uniform(g, shape, *GAIN_RANGE),
        "norm.bias": lambda g, shape: NORM_BIAS_STD * torch.randn(shape, generator=g),
    })
    return model.eval()


def noise_gains(model: "snac.SNAC") -> list[torch.Tensor]:
    return [m.linear.parametrizations.weight.original0 for m in model.modules() if isinstance(m, snac.layers.NoiseBlock)]


@torch.no_grad()
def silence_noise(model: "snac.SNAC") -> list[torch.Tensor]:
    """Zero the noise blocks' gains (deterministic decoding); returns the old values."""
    saved = [g.clone() for g in noise_gains(model)]
    for g in noise_gains(model):
        g.zero_()
    return saved


@torch.no_grad()
def restore_noise(model: "snac.SNAC", saved: list[torch.Tensor]) -> None:
    for g, value in zip(noise_gains(model), saved):
        g.copy_(value)


@torch.no_grad()
def calibrate_output_gain(model: "snac.SNAC", audio: torch.Tensor) -> None:
    """Scale the last conv (gain and bias) so its output, the tanh input, has std 0.5."""
    final_conv = model.decoder.model[-2]
    captured = []
    handle = final_conv.register_forward_hook(lambda _m, _i, out: captured.append(out))
    model(audio)
    handle.remove()
    scale = PRE_TANH_STD / captured[0].std().item()
    final_conv.parametrizations.weight.original0.mul_(scale)
    final_conv.bias.mul_(scale)


@torch.no_grad()
def decode_first(model: "snac.SNAC", codes: list[torch.Tensor], n: int) -> torch.Tensor:
    """The decoder on the sum of the ``n`` coarsest scales' codewords (the package decodes all)."""
    z_q = 0.0
    for quantizer, scale_codes in zip(model.quantizer.quantizers[:n], codes[:n]):
        z_q = z_q + quantizer.out_proj(quantizer.decode_code(scale_codes)).repeat_interleave(quantizer.stride, dim=-1)
    return model.decoder(z_q)


@torch.no_grad()
def record_outputs(model: "snac.SNAC", audio: torch.Tensor) -> dict:
    """Everything a reimplementation must reproduce (noise gains at zero), as numpy arrays."""
    saved = silence_noise(model)
    codes = model.encode(audio)
    decoded = model.decode(codes)
    partial = len(codes) - 1
    arrays = {
        "input": audio.numpy(),
        "decoded": decoded.numpy(),
        f"decoded_from_{partial}_scales": decode_first(model, codes, partial)[:1].numpy(),
    }
    for k, scale_codes in enumerate(codes):
        arrays[f"codes_{k}"] = scale_codes.numpy().astype(np.int32)
    restore_noise(model, saved)
    return arrays


def write_folder(model: "snac.SNAC", config: FixtureConfig) -> Path:
    folder = OUT_DIR / config.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config.kwargs, indent=2) + "\n")
    save_torch(folder / "pytorch_model.bin", {k: v.clone() for k, v in model.state_dict().items()})
    return folder


@torch.no_grad()
def verify(folder: Path, audio: torch.Tensor, arrays: dict) -> None:
    """The written folder, read back the way our loader reads it, reproduces the recording."""
    reloaded = snac.SNAC.from_config(str(folder / "config.json"))
    reloaded.load_state_dict(torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True))
    again = record_outputs(reloaded.eval(), audio)
    for key, value in arrays.items():
        if not np.array_equal(value, again[key]):
            raise SystemExit(f"{folder.name}: {key} differs after reloading the written folder")


def main() -> None:
    torch.use_deterministic_algorithms(True)
    total = 0
    for config in _configs():
        model = build_model(config)
        rate = config.kwargs["sampling_rate"]
        audio = torch.from_numpy(chirps_with_noise(config.seed + 2, rate, config.input_length, config.batch))
        saved = silence_noise(model)
        calibrate_output_gain(model, audio)
        restore_noise(model, saved)
        arrays = record_outputs(model, audio)
        folder = write_folder(model, config)
        save_npz(OUT_DIR / f"{config.name}_expected.npz", arrays)
        verify(folder, audio, arrays)
        unit = model.hop_length * math.lcm(model.vq_strides[0], model.attn_window_size or 1)
        sizes = sum(p.stat().st_size for p in [*folder.iterdir(), OUT_DIR / f"{config.name}_expected.npz"])
        total += sizes
        print(f"{config.name}: {sum(p.numel() for p in model.parameters())} parameters, T={config.input_length} "
              f"(padding unit {unit}), codes {[arrays[f'codes_{k}'].shape[-1] for k in range(len(model.vq_strides))]}, "
              f"{sizes / 1e3:.0f} kB")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
