"""Produce reference fixtures for our DAC reimplementation from the official package.

Runs only in the reference venv (scripts/make_reference_env.sh), never in the project's:
    nice -n 10 env OMP_NUM_THREADS=1 $REFENV/bin/python scripts/make_dac_fixtures.py

For each configuration below it builds an official `dac.DAC` with seeded random weights,
saves it in the official checkpoint layout and records what the reference computes on a
fixed seeded input (tests/fixtures/dac/README.md lists every file and key).

Design decisions:
  * Real rate structures (hop, strides incl. the stride-5 transposed conv, codebook count
    and dimension) with tiny channel widths, so all four fixtures fit in about 4 MB.
    codebook_size is 1024 where the 44.1 kHz 8 kbps and 16 kHz releases use it and 256
    elsewhere, which keeps the files small and stops a loader from hard-coding 1024.
  * DAC's own init leaves every Snake alpha at 1, every weight_g equal to the norm of its
    weight_v (its trunc_normal_ on `.weight` is undone by weight_norm at the first forward)
    and conv biases at 0 -- a reimplementation that mishandled alpha, g or a bias would
    still pass.  So alphas are drawn from U(0.5, 2), every weight_g entry is scaled by
    U(0.5, 2) and biases are drawn from N(0, 0.02).
  * The last decoder conv is then rescaled so the final tanh sees std 0.5: random weights
    otherwise saturate it at +-1, where a wrong decoder would still match closely.
  * Checkpoints are written by the package's own `DAC.save(..., package=False)`, then read
    back with weights_only=True (the way our loader must read them) before being stored
    atomically.  One fixture drops `latent_dim` from its kwargs, as the 0.0.x official
    checkpoints do, so the loader's fallback latent_dim = encoder_dim * 2**len(rates) is
    tested; its encoder_dim is chosen so that fallback is not the common 128.
  * Each checkpoint is reloaded with the package's `DAC.load` and must reproduce the
    recorded outputs bit for bit; otherwise the script fails.
  * The input length is deliberately not a multiple of the hop; for dac24k it is 3 samples
    short of one, so the decoder (which returns hop * frames - 8 samples for the [8,5,4,2]
    rates) is shorter than the input and the forward pass returns fewer than T samples.
  * A rerun reproduces the weights and codes exactly but the floats only to about 1e-5 (the
    last decoder conv's rescale and every recorded output): summation order follows the
    thread count and the CPU's kernels.  The tests' tolerances sit well above that, so a
    rerun on another machine changes the stored bytes without changing what they check.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import dac
    import torch
    import torch.nn.functional as F
except ImportError as error:  # pragma: no cover - guidance for the wrong interpreter
    sys.exit(f"{error}: run this with the reference environment's python (scripts/make_reference_env.sh builds it)")

from fixture_io import save_npz, save_torch
from fixture_signals import chirps_with_noise
from fixture_weights import randomise

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "dac"
BATCH = 2
PRE_TANH_STD = 0.5


@dataclass(frozen=True)
class FixtureConfig:
    name: str
    seed: int
    kwargs: dict
    input_length: int
    drop_latent_dim: bool = False


def _configs() -> list[FixtureConfig]:
    rates44 = dict(encoder_rates=[2, 4, 8, 8], decoder_rates=[8, 8, 4, 2], sample_rate=44100)
    rates_5 = dict(encoder_rates=[2, 4, 5, 8], decoder_rates=[8, 5, 4, 2])
    return [
        FixtureConfig(
            "dac44k", seed=44100,
            kwargs=dict(encoder_dim=3, decoder_dim=32, n_codebooks=9, codebook_size=1024,
                        codebook_dim=8, **rates44),
            input_length=512 * 15 - 189, drop_latent_dim=True),
        FixtureConfig(
            "dac44k_latent128", seed=44128,
            kwargs=dict(encoder_dim=2, latent_dim=128, decoder_dim=32, n_codebooks=18,
                        codebook_size=256, codebook_dim=8, **rates44),
            input_length=512 * 14 - 301),
        FixtureConfig(
            "dac24k", seed=24000,
            kwargs=dict(encoder_dim=2, decoder_dim=32, n_codebooks=32, codebook_size=256,
                        codebook_dim=8, sample_rate=24000, **rates_5),
            input_length=320 * 20 - 3),
        FixtureConfig(
            "dac16k", seed=16000,
            kwargs=dict(encoder_dim=2, decoder_dim=32, n_codebooks=12, codebook_size=1024,
                        codebook_dim=8, sample_rate=16000, **rates_5),
            input_length=320 * 20 - 100),
    ]


def build_model(config: FixtureConfig) -> "dac.DAC":
    """Official DAC with its own init, then alphas, weight_g and biases randomised."""
    torch.manual_seed(config.seed)
    model = dac.DAC(**config.kwargs)
    randomise(model, config.seed + 1, "weight_g")
    return model.eval()


@torch.no_grad()
def calibrate_output_gain(model: "dac.DAC", audio: torch.Tensor, sample_rate: int) -> None:
    """Scale the last conv (weight_g and bias) so its output, the tanh input, has std 0.5.

    Random weights otherwise drive the final tanh into saturation, where outputs sit at +-1
    and a wrong decoder would still match the reference closely.
    """
    final_conv = model.decoder.model[-2]
    captured = []
    handle = final_conv.register_forward_hook(lambda _m, _i, out: captured.append(out))
    model(audio, sample_rate)
    handle.remove()
    scale = PRE_TANH_STD / captured[0].std().item()
    final_conv.weight_g.mul_(scale)
    final_conv.bias.mul_(scale)


@torch.no_grad()
def record_outputs(model: "dac.DAC", audio: torch.Tensor, config: FixtureConfig) -> dict:
    """Everything a reimplementation must reproduce, as numpy arrays."""
    sample_rate = config.kwargs["sample_rate"]
    padded = model.preprocess(audio, sample_rate)
    z, codes, latents, _, _ = model.encode(padded)
    decoded = model.decode(z)
    forward_audio = model(audio, sample_rate)["audio"]
    n_codebooks = codes.shape[1]
    arrays = {
        "input": padded.numpy(),
        "input_length": np.int64(audio.shape[-1]),
        "codes": codes.numpy().astype(np.int32),
        "latents": latents.numpy(),
        "z": z.numpy(),
        "decoded": decoded.numpy(),
        "forward_audio": forward_audio.numpy(),
    }
    partial_counts = sorted({1, n_codebooks // 2})
    for n in partial_counts:
        z_n, _, _ = model.quantizer.from_codes(codes[:, :n])
        arrays[f"decoded_from_{n}_codebooks"] = model.decode(z_n).numpy()
    arrays["partial_codebook_counts"] = np.array(partial_counts, np.int64)
    arrays["codes_min_cosine_margin"] = _code_margins(model, latents)
    arrays.update(_length_table(model, sample_rate))
    return arrays


@torch.no_grad()
def _code_margins(model: "dac.DAC", latents: torch.Tensor) -> np.ndarray:
    """Per codebook, the smallest gap between the best and second-best cosine similarity.

    DAC picks codes by cosine similarity of the projected latent to each codebook entry;
    a reimplementation whose float rounding differs by less than this gap picks the same
    codes, so tests can tell a near-tie from a real bug.
    """
    margins = []
    start = 0
    for quantizer in model.quantizer.quantizers:
        stop = start + quantizer.codebook_dim
        projected = latents[:, start:stop].transpose(1, 2).reshape(-1, stop - start)
        similarity = F.normalize(projected) @ F.normalize(quantizer.codebook.weight).T
        best_two = similarity.topk(2, dim=1).values
        margins.append((best_two[:, 0] - best_two[:, 1]).min().item())
        start = stop
    return np.array(margins, np.float32)


@torch.no_grad()
def _length_table(model: "dac.DAC", sample_rate: int) -> dict:
    """Input length -> (padded, frames, decode, forward) lengths around frame boundaries."""
    hop = int(model.hop_length)
    probes = sorted({length for frames in (1, 2, 3) for length in
                     (frames * hop - 9, frames * hop - 1, frames * hop, frames * hop + 1)})
    rows = []
    for length in probes:
        audio = torch.zeros(1, 1, length)
        padded = model.preprocess(audio, sample_rate)
        z, codes, *_ = model.encode(padded)
        rows.append((length, padded.shape[-1], codes.shape[-1], model.decode(z).shape[-1],
                     model(audio, sample_rate)["audio"].shape[-1]))
    table = np.array(rows, dtype=np.int64)
    return {
        "length_probe_input": table[:, 0],
        "length_probe_padded": table[:, 1],
        "length_probe_frames": table[:, 2],
        "length_probe_decoded": table[:, 3],
        "length_probe_forward": table[:, 4],
    }


def save_checkpoint(model: "dac.DAC", path: Path, drop_latent_dim: bool) -> dict:
    """Official layout via the package's own save; returns the stored metadata kwargs."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.pth"
        model.save(str(raw), package=False)
        checkpoint = torch.load(raw, map_location="cpu", weights_only=True)
    if drop_latent_dim:
        del checkpoint["metadata"]["kwargs"]["latent_dim"]
    save_torch(path, checkpoint)
    return checkpoint["metadata"]["kwargs"]


@torch.no_grad()
def check_reload(path: Path, audio: torch.Tensor, config: FixtureConfig, expected: dict) -> None:
    """The package's own loader must rebuild a model with identical outputs."""
    reloaded = dac.DAC.load(str(path)).eval()
    again = record_outputs(reloaded, audio, config)
    for key, value in expected.items():
        if not np.array_equal(again[key], value):
            raise RuntimeError(f"{config.name}: reloaded checkpoint differs in {key}")


def main() -> None:
    torch.set_num_threads(1)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for config in _configs():
        sample_rate = config.kwargs["sample_rate"]
        model = build_model(config)
        audio = torch.from_numpy(chirps_with_noise(config.seed + 2, sample_rate, config.input_length, BATCH))
        calibrate_output_gain(model, audio, sample_rate)
        arrays = record_outputs(model, audio, config)
        if np.any(arrays["input"][..., config.input_length:] != 0):
            raise RuntimeError(f"{config.name}: preprocess padding is not zeros")
        checkpoint_path = OUT_DIR / f"{config.name}.pth"
        kwargs = save_checkpoint(model, checkpoint_path, config.drop_latent_dim)
        check_reload(checkpoint_path, audio, config, arrays)
        save_npz(OUT_DIR / f"{config.name}_expected.npz", arrays)
        decoded = arrays["decoded"]
        print(f"{config.name}: kwargs={kwargs}")
        print(f"  T={config.input_length} padded={arrays['input'].shape[-1]} "
              f"frames={arrays['codes'].shape[-1]} decoded={decoded.shape[-1]} "
              f"forward={arrays['forward_audio'].shape[-1]} "
              f"decoded rms={decoded.std():.4f} max|.|={np.abs(decoded).max():.4f}")
        print(f"  smallest VQ margin: {arrays['codes_min_cosine_margin'].min():.2e}")
        print("  length probes (input, padded, frames, decoded, forward):")
        for row in zip(*(arrays[f"length_probe_{k}"] for k in
                         ("input", "padded", "frames", "decoded", "forward"))):
            print("   ", tuple(int(v) for v in row))


if __name__ == "__main__":
    main()
