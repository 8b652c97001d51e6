"""Produce reference fixtures for our EnCodec-compatible model from Meta's `encodec` package.

Runs only in the reference venv (scripts/make_reference_env.sh), never in the project's:
    nice -n 10 env OMP_NUM_THREADS=1 $REFENV/bin/python scripts/make_encodec_fixtures.py

It builds the package's own 24 kHz model structure (`EncodecModel` from `SEANetEncoder`,
`SEANetDecoder` and `ResidualVectorQuantizer`, as `EncodecModel._get_model` does for
`encodec_model_24khz`) with reduced widths and seeded random weights, saves its state dict
in the layout of the official `encodec_24khz-d7cc33bc.th` and records what the package
computes on a fixed input (tests/fixtures/encodec/README.md lists every file and key).

Design decisions:
  * The real structure: causal weight-normalised convolutions with reflect padding,
    ratios 8, 5, 4, 2 (hop 320), one residual block per scale with a 1x1 shortcut, two
    LSTM layers in the encoder and the decoder, 32 codebooks of 1024 entries.  Only the
    widths are reduced (n_filters 4, latent dimension 8), so the fixture is about 2 MB.
  * Weights: the package's own initialisation, then every weight_g entry is scaled by
    U(0.5, 2) and every conv bias drawn from N(0, 0.02), so a reimplementation that
    mishandled g or a bias would fail.
  * Codebooks: the package initialises them to zeros (k-means on the first training
    batch), which would give code 0 everywhere.  Level by level, each codebook is drawn
    from N(mean, std) of that level's residual on a separate calibration signal, so every
    level picks varied codes and the residual shrinks from level to level; `inited` is set,
    `cluster_size` drawn from U(0.5, 5) and `embed_avg = embed * cluster_size` (only `embed`
    matters at inference).
  * No near-ties: a codebook is redrawn until, on the fixture input, every frame's residual
    lies farther than 1e-5 * max|latent| from the boundary of its Voronoi cell (the distance
    to the bisector of the nearest and any other codeword: (d_k - d_1) / (2 |e_k - e_1|)).
    The residual is the latent minus codewords, so a reimplementation whose latents differ
    by less than that (float32 rounding: up to 1e-6 * max|latent| here) picks every code
    the reference picks; a flipped code means a real difference.
  * The last decoder conv (weight_g and bias) is scaled so the decoded fixture input has
    standard deviation 0.3: random weights otherwise give a near-silent output, against
    which an absolute tolerance of 1e-4 would be lax.
  * The input length is not a multiple of the hop: the package pads the last window by
    reflection inside each convolution (not with zeros), which our model must reproduce.
  * The checkpoint is a plain state dict saved with torch.save, read back with
    weights_only=True (the way our loader reads it) and loaded into a freshly built package
    model, which must reproduce every recorded output bit for bit; otherwise the script fails.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

try:
    import torch
    from encodec import EncodecModel
    from encodec.modules import SEANetDecoder, SEANetEncoder
    from encodec.quantization import ResidualVectorQuantizer
except ImportError as error:  # pragma: no cover - guidance for the wrong interpreter
    sys.exit(f"{error}: run this with the reference environment's python (scripts/make_reference_env.sh builds it)")

from fixture_io import save_npz, save_torch
from fixture_signals import chirps_with_noise

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "encodec"
NAME = "encodec24k"
SEED = 24024
SAMPLE_RATE = 24_000
BANDWIDTHS = [1.5, 3.0, 6.0, 12.0, 24.0]
N_FILTERS = 4
DIMENSION = 8
N_CODEBOOKS = 32
CODEBOOK_SIZE = 1024
INPUT_LENGTH = 320 * 30 - 117
CALIBRATION_SECONDS = 2.0
GAIN_RANGE = (0.5, 2.0)
BIAS_STD = 0.02
PARTIAL_BANDWIDTH = 6.0  # 8 codebooks
MIN_RELATIVE_MARGIN = 1e-5
MAX_DRAWS = 200
OUTPUT_STD = 0.3


def build_model() -> "EncodecModel":
    """The package's 24 kHz structure with reduced widths (as `_get_model`)."""
    kwargs = dict(channels=1, dimension=DIMENSION, n_filters=N_FILTERS, norm="weight_norm", causal=True)
    encoder, decoder = SEANetEncoder(**kwargs), SEANetDecoder(**kwargs)
    quantizer = ResidualVectorQuantizer(dimension=DIMENSION, n_q=N_CODEBOOKS, bins=CODEBOOK_SIZE)
    return EncodecModel(encoder, decoder, quantizer, BANDWIDTHS, SAMPLE_RATE, 1,
                        normalize=False, segment=None, name="encodec_24khz")


def _frames(latents: torch.Tensor) -> torch.Tensor:
    return latents.transpose(1, 2).reshape(-1, latents.shape[1])


def _boundary_distance(residual: torch.Tensor, embed: torch.Tensor) -> float:
    """Smallest distance of a residual from the boundary of its codeword's Voronoi cell."""
    residual, embed = residual.double(), embed.double()
    distance = torch.cdist(residual, embed).pow(2)
    nearest = distance.argmin(1)
    separation = torch.cdist(embed[nearest], embed)  # |e_k - e_1| for every k
    gap = distance - distance.gather(1, nearest[:, None])
    to_bisector = gap / (2 * separation)
    to_bisector[torch.arange(len(nearest)), nearest] = float("inf")
    return to_bisector.min().item()


@torch.no_grad()
def randomise(model: "EncodecModel", calibration: torch.Tensor, audio: torch.Tensor,
              generator: torch.Generator) -> None:
    """weight_g and biases randomised; codebooks fitted level by level, free of near-ties."""
    perturb(model, "weight_g", generator)
    fit_codebooks(model, _frames(model.encoder(calibration)), _frames(model.encoder(audio)), generator)


@torch.no_grad()
def perturb(model: "EncodecModel", gain_suffix: str, generator: torch.Generator) -> None:
    """Parameters ending in ``gain_suffix`` scaled by U(GAIN_RANGE), conv biases from N(0, BIAS_STD)."""
    for name, param in model.named_parameters():
        if name.endswith(gain_suffix):
            param.mul_(GAIN_RANGE[0] + (GAIN_RANGE[1] - GAIN_RANGE[0]) * torch.rand(param.shape, generator=generator))
        elif name.endswith("conv.bias") or name.endswith("convtr.bias"):
            param.copy_(BIAS_STD * torch.randn(param.shape, generator=generator))


@torch.no_grad()
def fit_codebooks(model: "EncodecModel", fitted: torch.Tensor, probe: torch.Tensor,
                  generator: torch.Generator, spread: float = 1.0) -> None:
    """Codebooks drawn level by level from the calibration residual (``fitted`` latent frames),
    ``spread`` times its standard deviation, redrawn until no ``probe`` frame lies near a cell
    boundary (a wider spread keeps deep levels' residuals, hence their cells, larger)."""
    min_margin = MIN_RELATIVE_MARGIN * probe.abs().max().item()
    for level, layer in enumerate(model.quantizer.vq.layers):
        book = layer._codebook
        mean, std = fitted.mean(0), spread * fitted.std(0)
        for _ in range(MAX_DRAWS):
            book.embed.copy_(mean + std * torch.randn(*book.embed.shape, generator=generator))
            if _boundary_distance(probe, book.embed) >= min_margin:
                break
        else:
            raise RuntimeError(f"level {level}: no codebook free of near-ties in {MAX_DRAWS} draws")
        book.cluster_size.copy_(0.5 + 4.5 * torch.rand(book.embed.shape[0], generator=generator))
        book.embed_avg.copy_(book.embed * book.cluster_size[:, None])
        book.inited.fill_(1.0)
        fitted = fitted - book.decode(book.encode(fitted))
        probe = probe - book.decode(book.encode(probe))


@torch.no_grad()
def calibrate_output_gain(model: "EncodecModel", audio: torch.Tensor) -> None:
    """Scale the last decoder conv so the decoded fixture input has std OUTPUT_STD."""
    (codes, _), = model.encode(audio)
    final_conv = model.decoder.model[-1].conv.conv
    scale = OUTPUT_STD / model.decode([(codes, None)]).std().item()
    final_conv.weight_g.mul_(scale)
    final_conv.bias.mul_(scale)


@torch.no_grad()
def record_outputs(model: "EncodecModel", audio: torch.Tensor) -> dict:
    """Everything a reimplementation must reproduce, as numpy arrays."""
    model.set_target_bandwidth(BANDWIDTHS[-1])
    (codes, scale), = model.encode(audio)
    assert scale is None
    latents = model.encoder(audio)
    arrays = {
        "input": audio.numpy(),
        "codes": codes.numpy().astype(np.int32),
        "latents": latents.numpy(),
        "decoded": model.decode([(codes, None)]).numpy(),
        "forward_audio": model(audio).numpy(),
        "codes_min_relative_margin": _code_margins(model, latents),
    }
    model.set_target_bandwidth(PARTIAL_BANDWIDTH)
    (partial, _), = model.encode(audio)
    model.set_target_bandwidth(BANDWIDTHS[-1])
    arrays[f"codes_at_{PARTIAL_BANDWIDTH:g}kbps"] = partial.numpy().astype(np.int32)
    counts = [2, partial.shape[1]]
    for n in counts:
        arrays[f"decoded_from_{n}_codebooks"] = model.decode([(codes[:, :n], None)]).numpy()
    arrays["partial_codebook_counts"] = np.array(counts, np.int64)
    arrays.update(_length_table(model))
    return arrays


@torch.no_grad()
def _code_margins(model: "EncodecModel", latents: torch.Tensor) -> np.ndarray:
    """Per codebook, the smallest residual-to-cell-boundary distance over max|latent|: the
    relative latent perturbation below which every code stays the same (near-tie diagnostics)."""
    residual = _frames(latents)
    scale = residual.abs().max().item()
    margins = []
    for layer in model.quantizer.vq.layers:
        book = layer._codebook
        margins.append(_boundary_distance(residual, book.embed) / scale)
        residual = residual - book.decode(book.encode(residual))
    return np.array(margins, np.float64)


@torch.no_grad()
def _length_table(model: "EncodecModel") -> dict:
    """Input length -> (frames, decode, forward) lengths around frame boundaries."""
    hop = 320
    rows = []
    for length in sorted({frames * hop + d for frames in (1, 2, 3) for d in (-9, -1, 0, 1)}):
        audio = torch.zeros(1, 1, length)
        (codes, _), = model.encode(audio)
        rows.append((length, codes.shape[-1], model.decode([(codes, None)]).shape[-1], model(audio).shape[-1]))
    table = np.array(rows, dtype=np.int64)
    return {"length_probe_input": table[:, 0], "length_probe_frames": table[:, 1],
            "length_probe_decoded": table[:, 2], "length_probe_forward": table[:, 3]}


@torch.no_grad()
def check_reload(path: Path, audio: torch.Tensor, expected: dict, build: Callable, record: Callable) -> None:
    """A fresh package model (``build()``) loading the stored file must reproduce every output
    (``record(model, audio)``) exactly."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    reloaded = build()
    reloaded.load_state_dict(state)
    again = record(reloaded.eval(), audio)
    for key, value in expected.items():
        if not np.array_equal(again[key], value):
            raise RuntimeError(f"{path.stem}: reloaded checkpoint differs in {key}")


def save_fixtures(model: "EncodecModel", name: str, audio: torch.Tensor, arrays: dict,
                  build: Callable, record: Callable) -> dict:
    """Store the state dict (as read back with weights_only=True) and the recorded outputs,
    after checking a fresh model reproduces them from the stored file; returns the state."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.th"
        torch.save(model.state_dict(), raw)
        state = torch.load(raw, map_location="cpu", weights_only=True)
    checkpoint_path = OUT_DIR / f"{name}.th"
    save_torch(checkpoint_path, state)
    check_reload(checkpoint_path, audio, arrays, build, record)
    save_npz(OUT_DIR / f"{name}_expected.npz", arrays)
    return state


def main() -> None:
    warnings.filterwarnings("ignore", message=".*weight_norm.*")  # torch's deprecation notice
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model = build_model().eval()
    generator = torch.Generator().manual_seed(SEED + 1)
    calibration = torch.from_numpy(chirps_with_noise(SEED + 3, SAMPLE_RATE, int(CALIBRATION_SECONDS * SAMPLE_RATE)))
    audio = torch.from_numpy(chirps_with_noise(SEED + 2, SAMPLE_RATE, INPUT_LENGTH))
    randomise(model, calibration, audio, generator)
    calibrate_output_gain(model, audio)
    arrays = record_outputs(model, audio)
    if not np.array_equal(arrays[f"codes_at_{PARTIAL_BANDWIDTH:g}kbps"], arrays["codes"][:, :8]):
        raise RuntimeError("codes at a lower bandwidth are not a prefix of the full codes")
    state = save_fixtures(model, NAME, audio, arrays, build_model, record_outputs)
    codes, decoded = arrays["codes"], arrays["decoded"]
    used = [len(np.unique(codes[:, q])) for q in range(N_CODEBOOKS)]
    print(f"{NAME}: {len(state)} tensors, T={INPUT_LENGTH} frames={codes.shape[-1]} "
          f"decoded={decoded.shape[-1]} forward={arrays['forward_audio'].shape[-1]}")
    print(f"  decoded rms={decoded.std():.4f} max|.|={np.abs(decoded).max():.4f}")
    print(f"  distinct codes per codebook: {used}")
    print(f"  smallest relative VQ margin: {arrays['codes_min_relative_margin'].min():.2e}")
    print("  length probes (input, frames, decoded, forward):")
    for row in zip(*(arrays[f"length_probe_{k}"] for k in ("input", "frames", "decoded", "forward"))):
        print("   ", tuple(int(v) for v in row))


if __name__ == "__main__":
    main()
