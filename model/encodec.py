"""EnCodec-compatible codec (Défossez et al. 2022): SEANet with LSTMs, EMA residual VQ.

The network is a :class:`~model.seanet.SeanetCodec` with the release's settings; this
module adds what is EnCodec's own: the bandwidth table and the official checkpoint layout.

Official weights (``encodec_24khz-d7cc33bc.th``) are a plain state dict, recognised by
content: ``encoder.model.0.conv.conv.weight_{g,v}``, ``...shortcut.conv.conv...``,
``decoder.model.N.convtr.convtr...``, ``encoder.model.13.lstm.weight_ih_l0``... and
``quantizer.vq.layers.N._codebook.{inited,cluster_size,embed,embed_avg}``. Three exact
renaming rules map them onto our tree (the release's wrapper levels ``conv.conv`` and
``convtr.convtr`` collapse to one, and the codebooks sit in the shared residual
quantizer); loading then stays strict: every tensor must find its place and shape.

The widths, codebook geometry and depth are read from the tensors. The weights cannot say
whether the convolutions were causal or at which rate the model runs: a mono,
weight-normalised layout is the 24 kHz release, which is causal and runs at 75 frames
per second, so the sample rate is ``75 * hop``. (The 48 kHz stereo release uses time
group norm, a different layout; it is refused with a clear message.)

Bandwidths: each codebook costs ``log2(codebook_size) * frame_rate`` bit/s, 0.75 kbps for
the release, so 1.5 / 3 / 6 / 12 / 24 kbps are 2 / 4 / 8 / 16 / 32 codebooks -- the slider's
n and the release's ``set_target_bandwidth`` select the same code prefix.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import torch

from model.seanet import EMA_LOSS_WEIGHTS, EMA_PAPER_RUN, SeanetCodec, SeanetCodecConfig
from model.training.recipes import TINY_RUN, FamilyRecipes, TrainingPreset

RELEASE_FRAME_RATE = 75  # frames per second of the 24 kHz release
_RENAMES = (
    (re.compile(r"\.conv\.conv\."), ".conv."),
    (re.compile(r"\.convtr\.convtr\."), ".convtr."),
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\."), r"quantizer.quantizers.\1."),
)


@dataclass(frozen=True)
class EncodecConfig(SeanetCodecConfig):
    """The release's 24 kHz model by default; ``target_bandwidths[-1]`` sets the codebook count."""

    target_bandwidths: tuple[float, ...] = (1.5, 3.0, 6.0, 12.0, 24.0)

    @property
    def kbps_per_codebook(self) -> float:
        return math.log2(self.codebook_size) * math.ceil(self.frame_rate) / 1000

    @property
    def n_codebooks(self) -> int:
        """As the release: ``floor(max bandwidth / bandwidth per codebook)``."""
        return int(1000 * self.target_bandwidths[-1] // (math.ceil(self.frame_rate) * math.log2(self.codebook_size)))

    def codebooks_for(self, kbps: float) -> int:
        return max(1, math.floor(kbps / self.kbps_per_codebook))


class Encodec(SeanetCodec):
    def __init__(self, config: EncodecConfig) -> None:
        if not config.target_bandwidths or config.n_codebooks < 1:
            raise ValueError(f"target bandwidths {list(config.target_bandwidths)} kbps allow no codebook "
                             f"({config.kbps_per_codebook:g} kbps each)")
        super().__init__(config)

    def describe(self) -> dict:
        c = self.config
        bandwidths = {f"{kbps:g} kbps": c.codebooks_for(kbps) for kbps in c.target_bandwidths}
        return {"architecture": "EnCodec (SEANet + LSTM, EMA residual VQ)", **super().describe(),
                "bandwidths": bandwidths}


def parse_official(obj: Any) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """``(config, state)`` for the official plain-state-dict layout, else None."""
    if not (isinstance(obj, dict) and "quantizer.vq.layers.0._codebook.embed" in obj):
        return None
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    if any(".norm." in key for key in obj):
        raise ValueError("time-group-norm layout (the 48 kHz stereo release) is not supported")
    config = _infer_config(obj)
    state = {}
    for key, value in obj.items():
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        state[key] = value
    return config.to_dict(), state


def _weight(state: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    """A conv's direction tensor under old- or new-style weight-norm names."""
    for suffix in ("weight_v", "parametrizations.weight.original1"):
        if f"{prefix}.{suffix}" in state:
            return state[f"{prefix}.{suffix}"]
    raise ValueError(f"no weights for {prefix}")


def _infer_config(state: dict[str, torch.Tensor]) -> EncodecConfig:
    def layer_indices(stack: str, pattern: str) -> list[int]:
        found = {int(m.group(1)) for k in state if (m := re.match(rf"{stack}\.model\.(\d+)\.{pattern}", k))}
        return sorted(found)

    convs = layer_indices("encoder", r"conv\.conv\.")
    decoder_convs = layer_indices("decoder", r"conv\.conv\.")
    blocks = layer_indices("encoder", r"block\.1\.")
    lacking = [part for part, present in (("encoder convolutions", len(convs) >= 3), ("encoder residual blocks", blocks),
                                          ("decoder convolutions", decoder_convs)) if not present]
    if lacking:  # the settings are read from these layers: without them there is no model to describe
        raise ValueError(f"layers are missing (no {', no '.join(lacking)})")
    first = _weight(state, f"encoder.model.{convs[0]}.conv.conv")
    last = _weight(state, f"encoder.model.{convs[-1]}.conv.conv")
    strided = [_weight(state, f"encoder.model.{i}.conv.conv") for i in convs[1:-1]]
    block = _weight(state, f"encoder.model.{blocks[0]}.block.1.conv.conv")
    embed = state["quantizer.vq.layers.0._codebook.embed"]
    n_q = len([k for k in state if re.fullmatch(r"quantizer\.vq\.layers\.\d+\._codebook\.embed", k)])
    if n_q == 0:
        raise ValueError("layers are missing (no codebooks)")
    ratios = tuple(w.shape[-1] // 2 for w in reversed(strided))
    hop = math.prod(ratios)
    bits = math.log2(embed.shape[0])
    return EncodecConfig(
        channels=first.shape[1],
        n_filters=first.shape[0],
        dimension=embed.shape[1],
        ratios=ratios,
        n_residual_layers=len(blocks) // len(strided),
        residual_kernel_size=block.shape[-1],
        compress=block.shape[1] // block.shape[0],
        true_skip=not any(".shortcut." in k for k in state),
        kernel_size=first.shape[-1],
        encoder_last_kernel_size=last.shape[-1],
        decoder_last_kernel_size=_weight(state, f"decoder.model.{decoder_convs[-1]}.conv.conv").shape[-1],
        lstm_layers=len([k for k in state if re.fullmatch(r"encoder\.model\.\d+\.lstm\.weight_ih_l\d+", k)]),
        sample_rate=RELEASE_FRAME_RATE * hop,
        codebook_size=embed.shape[0],
        target_bandwidths=tuple(n * bits * RELEASE_FRAME_RATE / 1000 for n in _bandwidth_steps(n_q)),
    )


def _bandwidth_steps(n_codebooks: int) -> list[int]:
    """2, 4, 8, ... up to ``n_codebooks`` (the release's 1.5 ... 24 kbps for 32 codebooks)."""
    steps = [n for n in (2**k for k in range(1, 12)) if n < n_codebooks]
    return steps + [n_codebooks]


RELEASE_24K = TrainingPreset(
    name="encodec-24k",
    family="encodec",
    architecture=EncodecConfig(quantizer_dropout=1.0).to_dict(),
    **EMA_PAPER_RUN,
    description="The EnCodec 24 kHz release's architecture (SEANet + LSTM, 32 x 1024 EMA codebooks, "
                "1.5-24 kbps) and the paper's recipe (Adam 3e-4, betas 0.5/0.9, 64 x 1 s, 300 x 2000 "
                "steps); n ~ U{1..32} per example instead of one bandwidth per batch. A GPU job.",
)

TINY = TrainingPreset(
    name="encodec-tiny",
    family="encodec",
    architecture=EncodecConfig(sample_rate=16000, n_filters=2, dimension=8, ratios=(4, 4, 2),
                               codebook_size=32, target_bandwidths=(2.5, 7.5), dead_code_threshold=0.1,
                               kmeans_iters=5, quantizer_dropout=1.0).to_dict(),
    weights=EMA_LOSS_WEIGHTS,
    **TINY_RUN,
    description="A very small EnCodec-style codec (with its LSTMs), for tests.",
)

RECIPES = FamilyRecipes((RELEASE_24K, TINY), fine_tune="encodec-24k", tiny="encodec-tiny")
