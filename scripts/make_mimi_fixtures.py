"""Produce reference fixtures for our Mimi model from Kyutai's `moshi` package.

Runs only in the reference venv (scripts/make_reference_env.sh), never in the project's:
    nice -n 10 env OMP_NUM_THREADS=1 $REFENV/bin/python scripts/make_mimi_fixtures.py

It builds the package's own Mimi with `moshi.models.loaders.get_mimi`, from a copy of the
release configuration (`loaders._mimi_config`) with reduced widths and depth, gives it seeded
random weights, saves its state dict in the layout of the official safetensors file and
records what the package computes on a fixed input (tests/fixtures/mimi/README.md lists
every file and key).

Design decisions:
  * The real structure: 24 kHz, SEANet ratios 8, 6, 5, 4 with causal zero-padded
    convolutions, identity skips and last kernels 3; transformers with RoPE, layer scale,
    causal attention over a 250-frame context and 8 heads; the learned downsampling by 2
    (replicate padding) and the depthwise upsampling; the split quantizer with 1 semantic
    and 31 acoustic codebooks of 2048 entries.  Reduced: n_filters 2, latent dimension 16
    (8 heads of 2), 2 transformer layers with a 32-wide feed-forward, codebook dimension 3,
    so the weights take 1.2 MB (the codebooks are most of it) and all files 1.9 MB.
  * Transformer weights: default initialisation, then every layer scale drawn from
    U(0.3, 1) (the release's 0.01 would make the transformers nearly the identity, so a
    wrong attention would pass) and every LayerNorm weight 1 + N(0, 0.1), bias N(0, 0.05).
    Convolution biases N(0, 0.02).
  * The 250-frame context is never reached by a 2 s input (50 latent frames), so a second,
    transformer-only fixture exercises it: the package's `ProjectedTransformer` with
    context 10, 2 heads of 8, 2 layers, on 70 random frames.  Its heads of 8 also check
    RoPE's frequencies, which the model's heads of 2 (a single frequency) cannot.
  * Codebooks: the package leaves them empty until k-means on a training batch.  In each
    chain, level by level, codewords are drawn from N(mean, (SPREAD std)^2) of that level's
    residual on a separate calibration signal -- spread wide, so that each level removes
    about a fifth of the residual instead of nearly all of it, which in 3 dimensions with
    2048 entries would leave later levels quantizing float32 noise -- and redrawn until no
    frame of the fixture input lies within 1e-5 * max|residual| of a Voronoi-cell boundary, so float32 rounding cannot flip
    a code; `cluster_usage` ~ U(0.5, 5), `embedding_sum = codeword * cluster_usage`,
    `_initialized = 1`.  (The margins are measured against the codewords the package will
    use, `embedding_sum / cluster_usage`.)
  * The last decoder conv is scaled so the decoded input has standard deviation 0.3.
  * The input length is not a multiple of the 1920-sample frame: the package zero-pads it.
  * Keys: the official file's layout, which is what `MimiModel.state_dict()` was when the
    release was saved: attention projections as `self_attn.in_proj_weight` and
    `self_attn.out_proj.weight` (moshi 0.2.13 names them `in_projs.0` / `out_projs.0` and
    maps the old names when loading).  The file is read back and loaded into a freshly
    built package model, which must reproduce every recorded output bit for bit.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np

try:
    import torch
    from moshi.models import loaders
    from moshi.modules.transformer import ProjectedTransformer
    from safetensors.torch import load_file
except ImportError as error:  # pragma: no cover - guidance for the wrong interpreter
    sys.exit(f"{error}: run this with the reference environment's python (scripts/make_reference_env.sh builds it)")

from fixture_io import save_npz, save_safetensors
from fixture_signals import chirps_with_noise

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mimi"
NAME = "mimi"
SEED = 12512
SAMPLE_RATE = 24_000
INPUT_LENGTH = 2 * SAMPLE_RATE - 777
CALIBRATION_SECONDS = 3.0
DIMENSION = 16
CODEBOOK_DIM = 3
LAYER_SCALE_RANGE = (0.3, 1.0)
BIAS_STD = 0.02
MIN_RELATIVE_MARGIN = 1e-5
SPREAD = 14.0  # codewords spread over SPREAD x the residual's std (see the header)
MAX_DRAWS = 200
OUTPUT_STD = 0.3
PARTIAL = (1, 8)  # codebook counts whose decodings are recorded (1: the semantic code alone)
TRANSFORMER = dict(d_model=16, num_heads=2, num_layers=2, dim_feedforward=24, context=10, frames=70)


def mimi_config() -> dict:
    """The release configuration with reduced widths (everything else as `get_mimi` builds it)."""
    config = copy.deepcopy(loaders._mimi_config)
    config["seanet"].update(n_filters=2, dimension=DIMENSION)
    config["quantizer"].update(dimension=CODEBOOK_DIM, input_dimension=DIMENSION, output_dimension=DIMENSION)
    config["transformer"].update(d_model=DIMENSION, num_layers=2, dim_feedforward=32, input_dimension=DIMENSION,
                                 output_dimensions=[DIMENSION])
    return config


def build_model():
    model = loaders.get_mimi(None, mimi_config(), num_codebooks=32)
    assert model.total_codebooks == 32 and model.cardinality == 2048
    return model.eval()


@torch.no_grad()
def perturb(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Layer scales, LayerNorms and biases away from their initial values (see the header)."""
    low, high = LAYER_SCALE_RANGE
    for name, param in module.named_parameters():
        if name.endswith(".scale"):
            param.copy_(low + (high - low) * torch.rand(param.shape, generator=generator))
        elif ".norm" in name and name.endswith(".weight"):
            param.copy_(1 + 0.1 * torch.randn(param.shape, generator=generator))
        elif ".norm" in name and name.endswith(".bias"):
            param.copy_(0.05 * torch.randn(param.shape, generator=generator))
        elif name.endswith(".bias"):
            param.copy_(BIAS_STD * torch.randn(param.shape, generator=generator))


def _rows(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).reshape(-1, x.shape[1])


def _boundary_distance(residual: torch.Tensor, embed: torch.Tensor) -> float:
    """Smallest distance of a residual from the boundary of its codeword's Voronoi cell."""
    residual, embed = residual.double(), embed.double()
    distance = torch.cdist(residual, embed).pow(2)
    nearest = distance.argmin(1)
    separation = torch.cdist(embed[nearest], embed)
    to_bisector = (distance - distance.gather(1, nearest[:, None])) / (2 * separation)
    to_bisector[torch.arange(len(nearest)), nearest] = float("inf")
    return to_bisector.min().item()


@torch.no_grad()
def fit_codebooks(model, calibration: torch.Tensor, audio: torch.Tensor, generator: torch.Generator) -> np.ndarray:
    """Codebooks of both chains, level by level, free of near-ties; returns the relative margins."""
    fitted_latent = model._encode_to_unquantized_latent(calibration)
    probe_latent = model._encode_to_unquantized_latent(audio)
    margins = []
    for rvq in (model.quantizer.rvq_first, model.quantizer.rvq_rest):
        fitted, probe = _rows(rvq.input_proj(fitted_latent)), _rows(rvq.input_proj(probe_latent))
        scale = probe.abs().max().item()
        for level, layer in enumerate(rvq.vq.layers):
            book = layer._codebook
            mean, std = fitted.mean(0), fitted.std(0)
            for _ in range(MAX_DRAWS):
                usage = 0.5 + 4.5 * torch.rand(book.codebook_size, generator=generator)
                words = mean + SPREAD * std * torch.randn(book.codebook_size, CODEBOOK_DIM, generator=generator)
                book.embedding_sum.copy_(words * usage[:, None])
                book.cluster_usage.copy_(usage)
                book._embedding = None  # the package caches the quotient
                margin = _boundary_distance(probe, book.embedding) / scale
                if margin >= MIN_RELATIVE_MARGIN:
                    break
            else:
                raise RuntimeError(f"level {level}: no codebook free of near-ties in {MAX_DRAWS} draws")
            book._initialized.fill_(1.0)
            margins.append(margin)
            fitted = fitted - book.decode(book.encode(fitted))
            probe = probe - book.decode(book.encode(probe))
    return np.array(margins, np.float64)


@torch.no_grad()
def calibrate_output_gain(model, audio: torch.Tensor) -> None:
    """Scale the last decoder conv so the decoded fixture input has std OUTPUT_STD."""
    final_conv = model.decoder.model[-1].conv.conv
    scale = OUTPUT_STD / model.decode(model.encode(audio)).std().item()
    final_conv.weight.mul_(scale)
    final_conv.bias.mul_(scale)


@torch.no_grad()
def record_outputs(model, audio: torch.Tensor) -> dict:
    codes = model.encode(audio)
    arrays = {
        "input": audio.numpy(),
        "codes": codes.numpy().astype(np.int32),
        "latents": model._encode_to_unquantized_latent(audio).numpy(),
        "decoded": model.decode(codes).numpy(),
        "partial_codebook_counts": np.array(PARTIAL, np.int64),
    }
    for n in PARTIAL:
        arrays[f"decoded_from_{n}_codebooks"] = model.decode(codes[:, :n]).numpy()
    return arrays


def release_layout(state: dict) -> dict:
    """moshi 0.2.13's attention names -> the release file's (see the header)."""
    out = {}
    for key, value in state.items():
        key = key.replace(".self_attn.in_projs.0.weight", ".self_attn.in_proj_weight")
        key = key.replace(".self_attn.out_projs.0.weight", ".self_attn.out_proj.weight")
        out[key] = value.detach().contiguous()
    return out


@torch.no_grad()
def check_reload(path: Path, audio: torch.Tensor, expected: dict) -> None:
    reloaded = build_model()
    reloaded.load_state_dict(load_file(str(path)))
    again = record_outputs(reloaded, audio)
    for key, value in expected.items():
        if not np.array_equal(again[key], value):
            raise RuntimeError(f"{NAME}: reloaded checkpoint differs in {key}")


@torch.no_grad()
def transformer_fixture(generator: torch.Generator) -> tuple[dict, dict]:
    """A transformer whose context the input exceeds: weights and recorded input/output."""
    settings = {k: v for k, v in TRANSFORMER.items() if k != "frames"}
    kwargs = {**loaders._transformer_kwargs, **settings, "input_dimension": settings["d_model"],
              "output_dimensions": [settings["d_model"]]}
    net = ProjectedTransformer(**kwargs).eval()
    perturb(net, generator)
    x = torch.randn(2, settings["d_model"], TRANSFORMER["frames"], generator=generator)
    (y,) = net(x)
    return release_layout(net.state_dict()), {"input": x.numpy(), "output": y.numpy(),
                                              **{k: np.array(v) for k, v in settings.items()}}


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model = build_model()
    generator = torch.Generator().manual_seed(SEED + 1)
    calibration = torch.from_numpy(chirps_with_noise(SEED + 3, SAMPLE_RATE, int(CALIBRATION_SECONDS * SAMPLE_RATE)))
    audio = torch.from_numpy(chirps_with_noise(SEED + 2, SAMPLE_RATE, INPUT_LENGTH, batch=1))
    perturb(model, generator)
    margins = fit_codebooks(model, calibration, audio, generator)
    calibrate_output_gain(model, audio)
    arrays = record_outputs(model, audio)
    arrays["codes_min_relative_margin"] = margins
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    checkpoint = OUT_DIR / f"{NAME}.safetensors"
    save_safetensors(checkpoint, release_layout(model.state_dict()))
    check_reload(checkpoint, audio, {k: v for k, v in arrays.items() if k != "codes_min_relative_margin"})
    save_npz(OUT_DIR / f"{NAME}_expected.npz", arrays)

    transformer_state, transformer_arrays = transformer_fixture(generator)
    save_safetensors(OUT_DIR / "transformer.safetensors", transformer_state)
    save_npz(OUT_DIR / "transformer_expected.npz", transformer_arrays)

    codes, decoded = arrays["codes"], arrays["decoded"]
    print(f"{NAME}: T={INPUT_LENGTH} frames={codes.shape[-1]} decoded={decoded.shape[-1]} "
          f"rms={decoded.std():.4f} max|.|={np.abs(decoded).max():.4f}")
    print(f"  distinct codes per codebook: {[len(np.unique(codes[:, q])) for q in range(codes.shape[1])]}")
    print(f"  smallest relative VQ margin: {margins.min():.2e}")


if __name__ == "__main__":
    main()
