"""Mimi (Kyutai's streaming codec of Moshi and Sesame CSM): SEANet, transformers, split RVQ.

Architecture (the release, ``moshi`` 0.2.13's ``get_mimi``): 24 kHz mono in; a causal SEANet
encoder (ratios 8, 6, 5, 4: 25 latent frames per second, 512 channels, zero-padded causal
convolutions, identity skips, last kernel 3); a causal transformer (8 layers, 8 heads, RoPE,
layer scale 0.01, each frame attending to itself and the 249 frames before it); a learned causal
downsampling by 2 (kernel 4, the first frame replicated as left padding) to 12.5 frames per
second; a *split* residual quantizer; then the mirror image: a depthwise transposed-convolution
upsampling by 2, another transformer and the SEANet decoder.

Split RVQ: the latent is projected (1x1, no bias) to 256 dimensions twice. One projection
feeds the *semantic* codebook (codebook 0, distilled from WavLM in training), the other a
residual chain of up to 31 *acoustic* codebooks; both chains quantize the same latent (the
acoustic one does not refine the semantic code) and their outputs, projected back, are
summed. Every codebook has 2048 entries, learned by EMA. All codebooks of a file are
exposed: ``moshi``'s ``get_mimi`` builds all 32 and then activates 8 for its language model;
here the slider's n takes the first n (n = 1: the semantic code alone). ``describe()``
names the codebooks (``codebook_labels``: ``(label, first, stop)`` spans of indices) so the
studio can show which one is semantic.

Official weights: one safetensors file of ``MimiModel.state_dict()``
(``tokenizer-e351c8d8-checkpoint125.safetensors`` in Kyutai's moshi repositories on Hugging
Face), recognised by its keys. The release folded weight normalisation into plain
``weight`` tensors; they become ``weight_v = weight`` with ``weight_g = |weight|``, which
our weight-normalised layers turn back into the very same tensor (``g / |v|`` is exactly 1).
EMA codebooks are stored as ``embedding_sum`` and ``cluster_usage``; the codeword is their
quotient (counts clamped at 1e-5), computed once at loading as the release does. Widths,
depths, strides and codebook geometry are read from the tensors; the attention's head
count, context and RoPE period cannot be, and take the release's values.

Inference runs on the whole signal with bounded memory, not in the chunked engine's pieces.
Everything is causal with a finite reach, so exact chunks would be possible, but the reach
is long: eight layers of 250-frame attention see 80 s back, so every chunk would carry 80 s
of left context (five times the work for 20 s chunks; nine with the engine's symmetric
margins). Instead the SEANet stacks, where the memory is (audio-rate activations), run in
exact chunks with receptive-field margins (:func:`~model.chunked.encode_chunked`), and the
transformers run on the 25 Hz latents of the whole clip with block-wise attention
(:mod:`model.causal_transformer`): about 2 kB per latent frame, 30 MB for ten minutes. Measured
with the release's size on one core: a two-minute clip encodes in 35-40 s and decodes in about
30 s, the peak memory growing by about 300 MB over the loaded model.

Training: the network trains with the trainer's generic losses (mel, adversarial, feature
matching, commitment; EMA codebooks), on a CPU with ``mimi-small``. Mimi's semantic
distillation (a cosine loss pulling the semantic code towards WavLM features) needs a WavLM
model we do not have, so a model trained here has a "semantic" codebook that is simply the
first of two independent chains, not a distilled one. Nor is the package's training-time
bypass of the quantizer (``no_quantization_rate``) reproduced.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from model.causal_transformer import CausalTransformer
from model.chunked import decode_chunked, encode_chunked
from model.ema_quantize import ema_residual_quantizer
from model.layers import weight_norm_parts
from model.quantize import QuantizerOutput
from model.receptive_field import Span, conv_span, decoder_margin_frames, encoder_margin_frames, transposed_span
from model.seanet import EMA_LOSS_WEIGHTS, EMA_PAPER_RUN, SeanetConfig, SeanetDecoder, SeanetEncoder
from model.streaming import StreamingPlan
from model.tiled import run_fast
from model.training.recipes import CPU_RUN, TINY_RUN, FamilyRecipes, TrainingPreset

RELEASE_HEADS = 8
RELEASE_CONTEXT = 250  # latent frames (25 Hz) each frame attends to, itself included
RELEASE_MAX_PERIOD = 10_000.0
RELEASE_CODEBOOK_EPSILON = 1e-5  # the release's clamp on EMA counts when forming codewords
SEMANTIC_PROBE = "quantizer.rvq_first.vq.layers.0._codebook.embedding_sum"


@dataclass(frozen=True)
class MimiConfig(SeanetConfig):
    """The release's model by default (SEANet settings named as in :class:`SeanetConfig`)."""

    dimension: int = 512
    n_filters: int = 64
    ratios: tuple[int, ...] = (8, 6, 5, 4)
    true_skip: bool = True
    encoder_last_kernel_size: int = 3
    decoder_last_kernel_size: int = 3
    lstm_layers: int = 0
    pad_mode: str = "zero"
    sample_rate: int = 24000
    downsample_stride: int = 2  # SEANet frames per code frame
    n_codebooks: int = 32  # the semantic one and the acoustic chain
    codebook_size: int = 2048
    codebook_dim: int = 256
    num_heads: int = RELEASE_HEADS
    num_layers: int = 8
    dim_feedforward: int = 2048
    context: int | None = RELEASE_CONTEXT
    layer_scale: float | None = 0.01
    max_period: float = RELEASE_MAX_PERIOD
    ema_decay: float = 0.99
    ema_epsilon: float = 1e-5
    kmeans_iters: int = 50
    dead_code_threshold: float = 2.0
    quantizer_dropout: float = 0.0  # on the acoustic chain; the semantic code is always kept

    @property
    def seanet_hop(self) -> int:
        return math.prod(self.ratios)

    @property
    def hop_length(self) -> int:
        return self.seanet_hop * self.downsample_stride


class CausalDownsample(nn.Module):
    """Learned strided convolution (kernel ``2 * stride``, no bias) whose left padding repeats
    the first frame. Lengths must be multiples of the stride."""

    def __init__(self, dim: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, 2 * stride, stride, bias=False)

    def receptive_span(self) -> Span:
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        return conv_span(k, s, 1, k - s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.conv.kernel_size[0] - self.conv.stride[0], 0), mode="replicate"))


class CausalUpsample(nn.Module):
    """Depthwise transposed convolution (kernel ``2 * stride``, no bias), trimmed on the right so
    ``L`` frames give ``L * stride``."""

    def __init__(self, dim: int, stride: int) -> None:
        super().__init__()
        self.convtr = nn.ConvTranspose1d(dim, dim, 2 * stride, stride, groups=dim, bias=False)

    def receptive_span(self) -> Span:
        return transposed_span(self.convtr.kernel_size[0], self.convtr.stride[0], 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convtr(x)
        return y[..., : y.shape[-1] - (self.convtr.kernel_size[0] - self.convtr.stride[0])]


class ProjectedChain(nn.Module):
    """A residual chain of EMA codebooks in a projected space: ``out(rvq(in(z)))``."""

    def __init__(self, c: MimiConfig, n_codebooks: int, dropout: float) -> None:
        super().__init__()
        self.input_proj = nn.Conv1d(c.dimension, c.codebook_dim, 1, bias=False)
        self.chain = ema_residual_quantizer(
            n_codebooks, dropout, dim=c.codebook_dim, codebook_size=c.codebook_size, decay=c.ema_decay,
            epsilon=c.ema_epsilon, kmeans_iters=c.kmeans_iters, dead_code_threshold=c.dead_code_threshold)
        self.output_proj = nn.Conv1d(c.codebook_dim, c.dimension, 1, bias=False)

    def forward(self, z: torch.Tensor, n_codebooks: int | None = None) -> QuantizerOutput:
        q = self.chain(self.input_proj(z), n_codebooks)
        q.quantized = self.output_proj(q.quantized)
        return q

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.output_proj(self.chain.decode(codes))


class SplitResidualQuantizer(nn.Module):
    """Codebook 0 from the semantic chain, codebooks 1.. from the acoustic one, on the same latent."""

    def __init__(self, c: MimiConfig) -> None:
        super().__init__()
        if c.n_codebooks < 2:
            raise ValueError(f"n_codebooks must be at least 2 (one semantic, one or more acoustic), got {c.n_codebooks}")
        self.semantic = ProjectedChain(c, 1, 0.0)
        self.acoustic = ProjectedChain(c, c.n_codebooks - 1, c.quantizer_dropout)

    @property
    def n_codebooks(self) -> int:
        return 1 + self.acoustic.chain.n_codebooks

    def forward(self, z: torch.Tensor, n_codebooks: int | None = None) -> QuantizerOutput:
        if n_codebooks is not None and not 1 <= n_codebooks <= self.n_codebooks:
            raise ValueError(f"n_codebooks must be in 1..{self.n_codebooks}, got {n_codebooks}")
        semantic = self.semantic(z)
        if n_codebooks == 1:
            return semantic
        acoustic = self.acoustic(z, None if n_codebooks is None else n_codebooks - 1)
        return QuantizerOutput(semantic.quantized + acoustic.quantized,
                               torch.cat([semantic.codes, acoustic.codes], dim=1),
                               semantic.commitment_loss + acoustic.commitment_loss,
                               semantic.codebook_loss + acoustic.codebook_loss,
                               semantic.n_kept + acoustic.n_kept)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Latents for ``codes [B, n, T]``: the semantic code, plus the first ``n - 1`` acoustic ones."""
        if not 1 <= codes.shape[1] <= self.n_codebooks:
            raise ValueError(f"codes hold {codes.shape[1]} codebooks; this quantizer has 1..{self.n_codebooks}")
        z = self.semantic.decode(codes[:, :1])
        if codes.shape[1] > 1:
            z = z + self.acoustic.decode(codes[:, 1:])
        return z


class Mimi(nn.Module):
    """Encoder (SEANet, transformer, downsampling), split RVQ, decoder (its mirror image)."""

    def __init__(self, config: MimiConfig) -> None:
        super().__init__()
        if config.lstm_layers:
            raise ValueError("Mimi has transformers, not LSTMs (lstm_layers must be 0)")
        for name in ("downsample_stride", "codebook_dim", "dimension"):
            if getattr(config, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(config, name)}")
        c = self.config = config
        transformer = dict(dim=c.dimension, num_heads=c.num_heads, num_layers=c.num_layers,
                           dim_feedforward=c.dim_feedforward, context=c.context, layer_scale=c.layer_scale,
                           max_period=c.max_period)
        self.encoder = nn.Sequential(OrderedDict(
            seanet=SeanetEncoder(c), transformer=CausalTransformer(**transformer),
            downsample=CausalDownsample(c.dimension, c.downsample_stride)))
        self.quantizer = SplitResidualQuantizer(c)
        self.decoder = nn.Sequential(OrderedDict(
            upsample=CausalUpsample(c.dimension, c.downsample_stride), transformer=CausalTransformer(**transformer),
            seanet=SeanetDecoder(c)))
        self.inference_chunk_frames = max(1, round(10 * c.sample_rate / c.seanet_hop))  # 10 s of SEANet frames

    sample_rate = property(lambda self: self.config.sample_rate)
    hop_length = property(lambda self: self.config.hop_length)
    n_codebooks = property(lambda self: self.config.n_codebooks)
    codebook_size = property(lambda self: self.config.codebook_size)

    def encoder_stack(self) -> nn.Sequential:
        return self.encoder

    def decoder_stack(self) -> nn.Sequential:
        return self.decoder

    def context_frames(self) -> tuple[int | None, int | None]:
        return None, None  # whole signals, bounded memory (module docstring)

    def streaming_plan(self) -> StreamingPlan:
        """Layer by layer: the SEANet stacks and resampling on windows, the transformers with a rolling
        key-value cache of their context (model/streaming.py)."""
        return StreamingPlan(
            encoder=[self.encoder.seanet.model, self.encoder.transformer, self.encoder.downsample],
            quantize=lambda z: self.quantizer(z).codes, dequantize=self.quantizer.decode,
            decoder=[self.decoder.upsample, self.decoder.transformer, self.decoder.seanet.model], pad_to_hop=True)

    def codebook_groups(self) -> dict[str, list[int]] | None:
        return None  # one code prefix per n: the semantic code, then the acoustic chain

    def describe(self) -> dict:
        c = self.config
        return {
            "architecture": "Mimi (SEANet + causal transformers, split RVQ)",
            "base_channels": c.n_filters,
            "ratios": list(c.ratios),
            "latent_dim": c.dimension,
            "transformer": f"{c.num_layers} layers, {c.num_heads} heads, context {c.context} frames",
            # (label, first, stop) spans of codebook indices, for views that name codebooks
            "codebook_labels": [("semantic", 0, 1), ("acoustic", 1, c.n_codebooks)],
            "chunking": "whole signal (long attention context), convolutions in exact chunks",
        }

    def encode_codes(self, wave: torch.Tensor) -> torch.Tensor:
        """Inference: ``[B, 1, T]`` (any T, zero-padded to the hop as the release does) -> codes."""
        wave = F.pad(wave, (0, -wave.shape[-1] % self.hop_length))
        seanet = self.encoder.seanet.model
        features = encode_chunked(lambda x: run_fast(seanet, x), wave, self.config.seanet_hop,
                                  encoder_margin_frames(seanet, self.config.seanet_hop), self.inference_chunk_frames)
        return self.quantizer(self.encoder.downsample(self.encoder.transformer(features))).codes

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        seanet = self.decoder.seanet.model
        latents = self.decoder.transformer(self.decoder.upsample(self.quantizer.decode(codes)))
        return decode_chunked(lambda f: run_fast(seanet, f), latents, self.config.seanet_hop,
                              decoder_margin_frames(seanet), self.inference_chunk_frames)

    def forward(self, wave: torch.Tensor, n_codebooks: int | None = None) -> tuple[torch.Tensor, QuantizerOutput]:
        """Training pass on ``[B, 1, T]``: zero-padded to the hop, trimmed back to T."""
        length = wave.shape[-1]
        q = self.quantizer(self.encoder(F.pad(wave, (0, -length % self.hop_length))), n_codebooks)
        return self.decoder(q.quantized)[..., :length], q


# -- the release's file ---------------------------------------------------------------------

_RENAMES = (  # release key -> ours, applied in order
    (re.compile(r"^downsample\.conv\.conv\.conv\."), "encoder.downsample.conv."),
    (re.compile(r"^upsample\.convtr\.convtr\.convtr\."), "decoder.upsample.convtr."),
    (re.compile(r"^(encoder|decoder)\.model\."), r"\1.seanet.model."),
    (re.compile(r"\.conv\.conv\.(weight|bias)$"), r".conv.\1"),
    (re.compile(r"\.convtr\.convtr\.(weight|bias)$"), r".convtr.\1"),
    (re.compile(r"^(encoder|decoder)_transformer\.transformer\."), r"\1.transformer."),
    # the release's file has the older names ``in_proj_weight`` / ``out_proj``, moshi 0.2.13's tree
    # ``in_projs.0`` / ``out_projs.0``: both are read
    (re.compile(r"\.in_proj_weight$"), ".in_proj.weight"),
    (re.compile(r"\.(in|out)_projs\.0\."), r".\1_proj."),
    (re.compile(r"^quantizer\.rvq_first\."), "quantizer.semantic."),
    (re.compile(r"^quantizer\.rvq_rest\."), "quantizer.acoustic."),
    (re.compile(r"\.vq\.layers\.(\d+)\._codebook\."), r".chain.quantizers.\1."),
)
_SEANET_WEIGHT = re.compile(r"^(encoder|decoder)\.seanet\..*\.(conv|convtr)\.weight$")
_CODEBOOK = re.compile(r"^(quantizer\.\w+\.chain\.quantizers\.\d+)\.(_initialized|cluster_usage|embedding_sum)$")


def parse_official(obj: Any) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """``(config, state)`` for the release's ``MimiModel.state_dict()``, else None."""
    if not (isinstance(obj, dict) and SEMANTIC_PROBE in obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        return None
    config = _infer_config(obj)
    state: dict[str, torch.Tensor] = {}
    codebooks: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in obj.items():
        value = value.float()
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        if _SEANET_WEIGHT.match(key):
            g, v = weight_norm_parts(value)
            state[key[: -len("weight")] + "weight_g"], state[key[: -len("weight")] + "weight_v"] = g, v
        elif m := _CODEBOOK.match(key):
            codebooks.setdefault(m.group(1), {})[m.group(2)] = value
        else:
            state[key] = value
    for prefix, book in codebooks.items():
        if set(book) != {"_initialized", "cluster_usage", "embedding_sum"}:
            raise ValueError(f"codebook {prefix} is incomplete")
        state[f"{prefix}.inited"] = book["_initialized"]
        state[f"{prefix}.cluster_size"] = book["cluster_usage"]
        state[f"{prefix}.embed_avg"] = book["embedding_sum"]
        state[f"{prefix}.embed"] = book["embedding_sum"] / book["cluster_usage"].clamp(min=RELEASE_CODEBOOK_EPSILON)[:, None]
    return config.to_dict(), state


def _infer_config(state: dict[str, torch.Tensor]) -> MimiConfig:
    def indices(pattern: str) -> list[int]:
        return sorted({int(m.group(1)) for k in state if (m := re.fullmatch(pattern, k))})

    convs = indices(r"encoder\.model\.(\d+)\.conv\.conv\.weight")
    blocks = indices(r"encoder\.model\.(\d+)\.block\.1\.conv\.conv\.weight")
    decoder_convs = indices(r"decoder\.model\.(\d+)\.conv\.conv\.weight")
    layers = indices(r"encoder_transformer\.transformer\.layers\.(\d+)\.linear1\.weight")
    acoustic = indices(r"quantizer\.rvq_rest\.vq\.layers\.(\d+)\._codebook\.embedding_sum")
    lacking = [part for part, present in (("encoder convolutions", len(convs) >= 3), ("residual blocks", blocks),
                                          ("decoder convolutions", decoder_convs), ("transformer layers", layers),
                                          ("acoustic codebooks", acoustic)) if not present]
    if lacking:
        raise ValueError(f"layers are missing (no {', no '.join(lacking)})")
    first, last = (state[f"encoder.model.{i}.conv.conv.weight"] for i in (convs[0], convs[-1]))
    strided = [state[f"encoder.model.{i}.conv.conv.weight"] for i in convs[1:-1]]
    block = state[f"encoder.model.{blocks[0]}.block.1.conv.conv.weight"]
    projection = _tensor(state, "quantizer.rvq_first.input_proj.weight")
    transformer = f"encoder_transformer.transformer.layers.{layers[0]}"
    return MimiConfig(
        channels=first.shape[1],
        n_filters=first.shape[0],
        dimension=last.shape[0],
        ratios=tuple(w.shape[-1] // 2 for w in reversed(strided)),
        n_residual_layers=len(blocks) // len(strided),
        residual_kernel_size=block.shape[-1],
        compress=block.shape[1] // block.shape[0],
        true_skip=not any(".shortcut." in k for k in state),
        kernel_size=first.shape[-1],
        encoder_last_kernel_size=last.shape[-1],
        decoder_last_kernel_size=state[f"decoder.model.{decoder_convs[-1]}.conv.conv.weight"].shape[-1],
        downsample_stride=_tensor(state, "downsample.conv.conv.conv.weight").shape[-1] // 2,
        n_codebooks=1 + len(acoustic),
        codebook_size=state[SEMANTIC_PROBE].shape[0],
        codebook_dim=projection.shape[0],
        num_layers=len(layers),
        dim_feedforward=state[f"{transformer}.linear1.weight"].shape[0],
        layer_scale=0.01 if f"{transformer}.layer_scale_1.scale" in state else None,
    )


def _tensor(state: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in state:
        raise ValueError(f"layers are missing (no {key})")
    return state[key]


RELEASE_24K = TrainingPreset(
    name="mimi-24k",
    family="mimi",
    architecture=MimiConfig(quantizer_dropout=1.0).to_dict(),
    **EMA_PAPER_RUN,
    description="The Mimi release's architecture (SEANet + causal transformers, 1 semantic + 31 acoustic "
                "2048-entry EMA codebooks at 12.5 Hz: 0.1375-4.4 kbps), trained with the EnCodec recipe's "
                "optimiser and data; no WavLM distillation of the semantic codebook. A GPU job.",
)

SMALL = TrainingPreset(
    name="mimi-small",
    family="mimi",
    architecture=MimiConfig(n_filters=24, dimension=192, num_heads=6, num_layers=4, dim_feedforward=768,
                            n_codebooks=8, codebook_size=256, codebook_dim=64, dead_code_threshold=0.1,
                            quantizer_dropout=1.0).to_dict(),
    **{**CPU_RUN, "weights": EMA_LOSS_WEIGHTS, "excerpt_seconds": 0.8, "revival_window": 0},
    description="A 7.6 M-parameter Mimi-like codec for a CPU: the release's structure (causal SEANet with "
                "ratios 8, 6, 5, 4, transformers, split EMA quantizer at 12.5 Hz) at three eighths of its "
                "widths, 4 transformer layers, 1 + 7 codebooks of 256 (0.8 kbps), with the bundled default "
                "model's CPU run settings on 0.8 s excerpts; no WavLM distillation.",
)
"""On one core a step on 8 x 0.8 s takes about 0.9 s without and 3.5 s with the adversarial loss
(``python -m model.training.step_timing --preset mimi-small``). Excerpts of 0.8 s hold 10 code frames (the release's frames
are 80 ms: 0.38 s would hold under 5). A batch then has 80 frames per codebook, so the EMA
cluster sizes settle near 80 / 256 = 0.3 per code: 256 entries and a dead-code threshold of 0.1,
where the release's 2048 entries and threshold 2 would restart nearly every code at every
step. The EMA codebooks learn without gradients, so dead-code revival is off."""

TINY = TrainingPreset(
    name="mimi-tiny",
    family="mimi",
    architecture=MimiConfig(sample_rate=16000, n_filters=2, dimension=8, ratios=(4, 4), n_codebooks=4,
                            codebook_size=32, codebook_dim=4, num_heads=2, num_layers=1, dim_feedforward=16,
                            context=8, dead_code_threshold=0.1, kmeans_iters=5, quantizer_dropout=1.0).to_dict(),
    weights=EMA_LOSS_WEIGHTS,
    **TINY_RUN,
    description="A very small Mimi-style codec (transformers, split RVQ), for tests.",
)

RECIPES = FamilyRecipes((RELEASE_24K, SMALL, TINY), fine_tune="mimi-24k", tiny="mimi-tiny")
