"""Produce reference fixtures for our EnCodec 48 kHz support from Meta's `encodec` package.

Runs only in the reference venv (scripts/make_reference_env.sh), never in the project's:
    nice -n 10 env OMP_NUM_THREADS=1 $REFENV/bin/python scripts/make_encodec48_fixtures.py

It builds the package's 48 kHz model structure (as `EncodecModel._get_model` does for
`encodec_model_48khz`: stereo, non-causal, `norm='time_group_norm'`, 1 s segments with 1 %
overlap, per-segment normalisation, target bandwidths 3 / 6 / 12 / 24 kbps, so 16 codebooks
of 1024 entries at 150 frames per second) with reduced widths and seeded random weights,
saves its state dict in the layout of the official `encodec_48khz-7e698e3e.th`, and records
what the package computes on a stereo input spanning two segments, so the overlap-add is
exercised (tests/fixtures/encodec/README.md lists every file and key).  It also writes
`.ecdc` files with the package's own `compress` (no language model) for this model and for
the 24 kHz fixture model of make_encodec_fixtures.py, and checks that the package's
`decompress` of each equals the decoding recorded in the fixtures.

Design decisions (shared ones as in make_encodec_fixtures.py, whose helpers this reuses):
  * Widths: n_filters 2 and latent dimension 4 (the release: 32 and 128), so the checkpoint
    stays under 1 MB with all 16 codebooks of 1024 entries.  (The residual blocks' hidden
    width is then 1 channel, whose group norm the package cannot run on a single sample:
    no probe has a one-sample segment.)
  * Weights: the package's initialisation; then every group-norm gain scaled by U(0.5, 2)
    and every conv bias drawn from N(0, 0.02).  The group norms make the conv weights'
    scale irrelevant, so the gains are what a reimplementation must apply.
  * Codebooks: fitted on the normalised segments' latents of a 2 s calibration signal and
    free of near-ties on the fixture input's, as for the 24 kHz fixture.
  * Input: 52320 samples (1.09 s), 16-bit values so it is stored exactly as int16: segments
    [0, 48000) and [47520, 52320), the second one short (15 frames), 480 samples of overlap.
  * Language model: the `.ecdc` option `use_lm` codes with a transformer's probabilities; the
    fixture's is a seeded one layer of width 8 over 2 codebooks (the file at 3 kbps), stored
    in the layout of `encodec_lm_48khz-7add9fc3.th`.
  * Length probes: frames per segment and decoded lengths for silent inputs around the
    segment boundaries (three and four segments, a last segment of one frame), so the
    segment arithmetic is checked where the input is too long to store.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import numpy as np

try:
    import torch
    from encodec import EncodecModel
    from encodec.model import LMModel
    from encodec.modules import SEANetDecoder, SEANetEncoder
    from encodec.quantization import ResidualVectorQuantizer
    ecdc = importlib.import_module("encodec.compress")  # the package re-exports a function by that name
except ImportError as error:  # pragma: no cover - guidance for the wrong interpreter
    sys.exit(f"{error}: run this with the reference environment's python (scripts/make_reference_env.sh builds it)")

import make_encodec_fixtures as fixtures24
from fixture_io import save_bytes, save_torch
from fixture_signals import chirps_with_noise

OUT_DIR = fixtures24.OUT_DIR
NAME = "encodec48k"
SEED = 48048
SAMPLE_RATE = 48_000
BANDWIDTHS = [3.0, 6.0, 12.0, 24.0]
N_FILTERS = 2
DIMENSION = 4
N_CODEBOOKS = 16
CODEBOOK_SIZE = 1024
INPUT_LENGTH = 52_320
CALIBRATION_SECONDS = 2.0
CODEBOOK_SPREAD = 8.0  # codewords drawn at eight times the residual's spread: no near-ties in 16 levels
PARTIAL_BANDWIDTH = 6.0  # 4 codebooks
ECDC_24K_BANDWIDTH = 6.0  # 8 codebooks: the 24 kHz fixture records that decoding
LM_BANDWIDTH = 3.0  # 2 codebooks: a language model over 2 codebooks stays small
LM_CODEBOOKS = 2
LM_DIM = 8  # the release: 200, 5 layers, 16 codebooks
PROBE_LENGTHS = (47_520 + 100, 47_520 + 300, 95_040 + 2, 95_040 + 160, 95_040 + 161, 142_560 + 479, 142_560 + 481)


def build_model() -> "EncodecModel":
    """The package's 48 kHz structure with reduced widths (as `_get_model`)."""
    kwargs = dict(channels=2, dimension=DIMENSION, n_filters=N_FILTERS, norm="time_group_norm", causal=False)
    encoder, decoder = SEANetEncoder(**kwargs), SEANetDecoder(**kwargs)
    quantizer = ResidualVectorQuantizer(dimension=DIMENSION, n_q=N_CODEBOOKS, bins=CODEBOOK_SIZE)
    return EncodecModel(encoder, decoder, quantizer, BANDWIDTHS, SAMPLE_RATE, 2,
                        normalize=True, segment=1.0, name="encodec_48khz")


def stereo_input(seed: int, length: int) -> torch.Tensor:
    """Two different chirp-plus-noise channels, rounded to 16-bit values."""
    channels = chirps_with_noise(seed, SAMPLE_RATE, length, batch=2)[:, 0]
    return torch.from_numpy(np.round(channels * 32767) / 32767).float()[None]


@torch.no_grad()
def segment_latents(model: "EncodecModel", audio: torch.Tensor) -> torch.Tensor:
    """Latent frames of every normalised segment, as the package's `_encode_frame` computes them."""
    latents = []
    for start in range(0, audio.shape[-1], model.segment_stride):
        x = audio[..., start:start + model.segment_length]
        scale = 1e-8 + x.mean(dim=1, keepdim=True).pow(2).mean(dim=2, keepdim=True).sqrt()
        latents.append(fixtures24._frames(model.encoder(x / scale)))
    return torch.cat(latents)


@torch.no_grad()
def randomise(model: "EncodecModel", calibration: torch.Tensor, audio: torch.Tensor,
              generator: torch.Generator) -> None:
    fixtures24.perturb(model, "norm.weight", generator)
    fixtures24.fit_codebooks(model, segment_latents(model, calibration), segment_latents(model, audio), generator,
                             spread=CODEBOOK_SPREAD)


def _codes_and_scales(frames: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes = torch.cat([c for c, _ in frames], dim=-1)
    scales = torch.stack([s.view(-1) for _, s in frames], dim=1)
    lengths = np.array([c.shape[-1] for c, _ in frames], np.int64)
    return codes.numpy().astype(np.int32), scales.numpy(), lengths


@torch.no_grad()
def record_outputs(model: "EncodecModel", audio: torch.Tensor) -> dict:
    """Everything a reimplementation must reproduce, as numpy arrays."""
    model.set_target_bandwidth(BANDWIDTHS[-1])
    frames = model.encode(audio)
    codes, scales, segment_frames = _codes_and_scales(frames)
    arrays = {
        "input_pcm16": np.round(audio.numpy() * 32767).astype(np.int16),
        "codes": codes,
        "scales": scales,
        "segment_frames": segment_frames,
        "decoded": model.decode(frames).numpy(),
    }
    model.set_target_bandwidth(PARTIAL_BANDWIDTH)
    partial, partial_scales, _ = _codes_and_scales(model.encode(audio))
    model.set_target_bandwidth(BANDWIDTHS[-1])
    if not np.array_equal(partial_scales, scales):
        raise RuntimeError("scales depend on the bandwidth")
    arrays[f"codes_at_{PARTIAL_BANDWIDTH:g}kbps"] = partial
    arrays.update(_length_table(model))
    return arrays


@torch.no_grad()
def _length_table(model: "EncodecModel") -> dict:
    """Input length -> frames of each segment (zero-padded to four) and decoded length (-1
    where the package cannot decode: a last segment within the previous one's overlap, when
    that one decodes to more samples than reach the last one's end)."""
    rows = []
    for length in PROBE_LENGTHS:
        frames = model.encode(torch.zeros(1, 2, length))
        counts = [c.shape[-1] for c, _ in frames] + [0] * (4 - len(frames))
        try:
            decoded = model.decode(frames).shape[-1]
        except RuntimeError:  # the package's overlap-add fails when a segment ends past the last one
            decoded = -1
        rows.append((length, *counts, decoded))
    table = np.array(rows, dtype=np.int64)
    return {"length_probe_input": table[:, 0], "length_probe_segment_frames": table[:, 1:5],
            "length_probe_decoded": table[:, 5]}


@torch.no_grad()
def write_ecdc(model: "EncodecModel", audio: torch.Tensor, recorded: np.ndarray, path: Path) -> None:
    """The package's `compress` (no LM) of ``audio [1, C, T]`` to ``path``. Its `decompress` must
    equal the package's decode of its encode exactly, and the ``recorded`` decoding (made in a
    batch, so rounded differently) within 1e-5."""
    data = ecdc.compress(model, audio[0], use_lm=False)
    ecdc.MODELS[model.name] = lambda: model  # decompress builds the named release: give it this model
    decoded, rate = ecdc.decompress(data)
    expected = model.decode(model.encode(audio))[0, :, : audio.shape[-1]]
    if rate != model.sample_rate or not torch.equal(decoded, expected):
        raise RuntimeError(f"{path.name}: the package's decompress differs from its decode")
    if np.abs(decoded.numpy() - recorded[0, :, : audio.shape[-1]]).max() > 1e-5:
        raise RuntimeError(f"{path.name}: the package's decompress differs from the recorded decoding")
    save_bytes(path, data)


@torch.no_grad()
def write_lm_ecdc(model: "EncodecModel", audio: torch.Tensor, generator: torch.Generator) -> None:
    """An .ecdc coded with a tiny language model (its weights stored too), at 3 kbps: the
    package's `decompress` of it must equal its decode of the 3 kbps codes."""
    torch.manual_seed(SEED + 4)
    lm = LMModel(n_q=LM_CODEBOOKS, card=CODEBOOK_SIZE, dim=LM_DIM, num_layers=1,
                 past_context=int(3.5 * model.frame_rate)).eval()
    for param in lm.parameters():
        param.copy_(torch.randn(param.shape, generator=generator) * (0.5 if param.dim() > 1 else 0.1))
    model.set_target_bandwidth(LM_BANDWIDTH)
    model.get_lm_model = lambda: lm  # the package fetches the release's LM: use this one
    data = ecdc.compress(model, audio[0], use_lm=True)
    ecdc.MODELS[model.name] = lambda: model
    decoded, _ = ecdc.decompress(data)
    expected = model.decode(model.encode(audio))[0, :, : audio.shape[-1]]
    model.set_target_bandwidth(BANDWIDTHS[-1])
    if not torch.equal(decoded, expected):
        raise RuntimeError("the language-model .ecdc does not decompress to the package's decoding")
    save_torch(OUT_DIR / f"{NAME}_lm.th", lm.state_dict())
    save_bytes(OUT_DIR / f"{NAME}_lm.ecdc", data)


@torch.no_grad()
def write_24k_ecdc() -> None:
    """An .ecdc of the 24 kHz fixture's input with the 24 kHz fixture model, at 6 kbps."""
    model = fixtures24.build_model()
    model.load_state_dict(torch.load(OUT_DIR / f"{fixtures24.NAME}.th", map_location="cpu", weights_only=True))
    model.eval().set_target_bandwidth(ECDC_24K_BANDWIDTH)
    recorded = np.load(OUT_DIR / f"{fixtures24.NAME}_expected.npz")
    n = int(model.quantizer.get_num_quantizers_for_bandwidth(model.frame_rate, ECDC_24K_BANDWIDTH))
    write_ecdc(model, torch.from_numpy(recorded["input"][:1]), recorded[f"decoded_from_{n}_codebooks"][:1],
               OUT_DIR / f"{fixtures24.NAME}_{n}codebooks.ecdc")


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model = build_model().eval()
    generator = torch.Generator().manual_seed(SEED + 1)
    calibration = stereo_input(SEED + 3, int(CALIBRATION_SECONDS * SAMPLE_RATE))
    audio = stereo_input(SEED + 2, INPUT_LENGTH)
    randomise(model, calibration, audio, generator)
    arrays = record_outputs(model, audio)
    if not np.array_equal(arrays[f"codes_at_{PARTIAL_BANDWIDTH:g}kbps"], arrays["codes"][:, :4]):
        raise RuntimeError("codes at a lower bandwidth are not a prefix of the full codes")
    state = fixtures24.save_fixtures(model, NAME, audio, arrays, build_model, record_outputs)
    write_ecdc(model, audio, arrays["decoded"], OUT_DIR / f"{NAME}.ecdc")
    write_lm_ecdc(model, audio, generator)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*weight_norm.*")
        write_24k_ecdc()
    codes = arrays["codes"]
    print(f"{NAME}: {len(state)} tensors, T={INPUT_LENGTH} frames={codes.shape[-1]} "
          f"segments={arrays['segment_frames'].tolist()} scales={arrays['scales'].tolist()}")
    print(f"  decoded {arrays['decoded'].shape} rms={arrays['decoded'].std():.4f}")
    print(f"  distinct codes per codebook: {[len(np.unique(codes[:, q])) for q in range(N_CODEBOOKS)]}")
    print("  length probes (input, segment frames, decoded):")
    for row in zip(arrays["length_probe_input"], arrays["length_probe_segment_frames"],
                   arrays["length_probe_decoded"]):
        print("   ", int(row[0]), row[1].tolist(), int(row[2]))


if __name__ == "__main__":
    main()
