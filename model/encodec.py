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
whether the convolutions were causal or at which rate the model runs, but the two releases
differ in layout: a weight-normalised layout (``weight_g`` / ``weight_v``) is the 24 kHz
release (causal, 75 frames per second, so the sample rate is ``75 * hop``); a
time-group-norm layout (plain ``conv.conv.weight`` plus ``conv.norm.{weight,bias}`` after
every convolution, ``encodec_48khz-7e698e3e.th``) is the 48 kHz release: non-causal, 150
frames per second, stereo, 1 s segments with 1 % overlap and per-segment normalisation. A
file mixing the two is refused.

EnCodec 48 kHz's segments (``segment_seconds``): the signal ``[B, 2, T]`` is cut into
segments of ``int(segment_seconds * sample_rate)`` samples starting every
``max(1, int((1 - segment_overlap) * segment))`` samples (48000 and 47520 for the release:
the last 480 samples of a segment are the first of the next), exactly as the release's
``segment_stride``. With ``normalize`` each segment is divided by its scale ``1e-8 + RMS``
of its channel mean before encoding; the decoded segment is multiplied back. Each segment
is coded on its own (``ceil(length / hop)`` frames, the last ones shorter) and the codes are
the segments' frames concatenated in order; decoding overlap-adds the decoded segments with
the release's linear (triangular) cross-fade. The scales and the frame counts of the
segments are the codec's side information (``side_info``: ``scales`` float32 ``[B, S]``,
``segment_frames`` int64 ``[B, S]``), which :class:`~model.codec.EncodedAudio` and ``.rvq``
files carry with the codes. Memory is bounded by one segment (1 s) plus the codes, whatever
the duration: encoding takes the signal as blocks and holds only the segment at hand,
decoding hands out the overlap-added waveform piece by piece as soon as no later segment
reaches it. A time group norm normalises over a whole segment, so a segment is never cut
further (the generic chunked engine does not apply).

Bandwidths: each codebook costs ``log2(codebook_size) * frame_rate`` bit/s, 0.75 kbps for
the release, so 1.5 / 3 / 6 / 12 / 24 kbps are 2 / 4 / 8 / 16 / 32 codebooks -- the slider's
n and the release's ``set_target_bandwidth`` select the same code prefix.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from model.quantize import QuantizerOutput
from model.seanet import EMA_LOSS_WEIGHTS, EMA_PAPER_RUN, SeanetCodec, SeanetCodecConfig
from model.training.recipes import TINY_RUN, FamilyRecipes, TrainingPreset

RELEASE_FRAME_RATE = 75  # frames per second of the 24 kHz release
RELEASE_48K_FRAME_RATE = 150  # frames per second of the 48 kHz release
SEGMENT_SIDE_INFO = ("scales", "segment_frames")
# What the 48 kHz release sets beyond the 24 kHz one's structure (besides its rate and bandwidths).
RELEASE_48K_SETTINGS = dict(channels=2, causal=False, norm="time_group_norm", normalize=True, segment_seconds=1.0)
_RENAMES = (
    (re.compile(r"\.conv\.conv\."), ".conv."),
    (re.compile(r"\.convtr\.convtr\."), ".convtr."),
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\."), r"quantizer.quantizers.\1."),
)


@dataclass(frozen=True)
class EncodecConfig(SeanetCodecConfig):
    """The release's 24 kHz model by default; ``target_bandwidths[-1]`` sets the codebook count."""

    target_bandwidths: tuple[float, ...] = (1.5, 3.0, 6.0, 12.0, 24.0)
    segment_seconds: float | None = None  # 1.0 for the 48 kHz release: code 1 s segments
    segment_overlap: float = 0.01
    normalize: bool = False  # scale each segment by its RMS (the 48 kHz release)

    @property
    def segmented(self) -> bool:
        """Coded in segments with side information (a normalised codec is one segment at least)."""
        return self.segment_seconds is not None or self.normalize

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
        if config.segment_seconds is not None and not (
                config.segment_seconds * config.sample_rate >= 1 and 0 <= config.segment_overlap < 1):
            raise ValueError("segment_seconds must cover at least one sample and segment_overlap lie in [0, 1)")
        super().__init__(config)
        self.side_info = SEGMENT_SIDE_INFO if config.segmented else ()

    def context_frames(self) -> tuple[int | None, int | None]:
        return (None, None) if self.config.segmented else super().context_frames()

    def describe(self) -> dict:
        c = self.config
        bandwidths = {f"{kbps:g} kbps": c.codebooks_for(kbps) for kbps in c.target_bandwidths}
        segments = ({"segments": f"{c.segment_seconds:g} s, {c.segment_overlap:.0%} overlap"}
                    if c.segment_seconds is not None else {})
        return {"architecture": "EnCodec (SEANet + LSTM, EMA residual VQ)", **super().describe(),
                "bandwidths": bandwidths, **segments,
                **({"chunking": "whole segments"} if c.segmented else {})}

    def segment_starts(self, length: int) -> tuple[list[int], int, int]:
        """``(starts, segment length, stride)`` of a ``length``-sample signal, as the release cuts it."""
        c = self.config
        if c.segment_seconds is None:
            return [0], length, length
        segment = int(c.segment_seconds * c.sample_rate)
        stride = max(1, int((1 - c.segment_overlap) * segment))
        return list(range(0, length, stride)), segment, stride

    def segments(self, length: int) -> list[tuple[int, int, int, int]]:
        """``(first sample, stop sample, first frame, stop frame)`` of each segment of a ``length``-sample
        signal: its samples and its frames in the codes (the side information has one entry each)."""
        starts, segment, _ = self.segment_starts(length)
        spans, frame = [], 0
        for start in starts:
            stop = min(start + segment, length)
            frames = -(-(stop - start) // self.hop_length)
            spans.append((start, stop, frame, frame + frames))
            frame += frames
        return spans

    def n_frames(self, length: int) -> int:
        """Frames of the codes of a ``length``-sample signal: its segments' frames, summed."""
        return self.segments(length)[-1][3] if length > 0 else 0

    def encode_codes(self, wave: torch.Tensor) -> torch.Tensor:
        """Codes only (a segmented network's scales are dropped: :meth:`encode_with_side` keeps them)."""
        if self.config.segmented:
            return self.encode_with_side([wave], wave.shape[-1])[0]
        return super().encode_codes(wave)

    def encode_with_side(self, blocks: Iterable[torch.Tensor], length: int
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A ``length``-sample signal given as consecutive blocks ``[B, C, k]`` -> codes ``[B, N, F]``
        and the segments' scales and frame counts. Only the samples of the segment at hand (and
        the rest of the block that completed it) are held."""
        starts, segment, _ = self.segment_starts(length)
        blocks = iter(blocks)
        held, held_from = None, 0  # samples [held_from, held_from + held.shape[-1]) of the signal
        codes, scales = [], []
        for start in starts:
            end = min(start + segment, length)
            while held is None or held_from + held.shape[-1] < end:
                block = next(blocks, None)
                if block is None:
                    raise ValueError(f"the audio ends before its stated length of {length} samples")
                held = block if held is None else torch.cat([held, block], dim=-1)
            x = held[..., start - held_from : end - held_from]
            scale = self._scale(x)
            codes.append(self.quantizer(self.encoder(x / scale[:, None, None])).codes)
            scales.append(scale)
            following = start + (starts[1] - starts[0] if len(starts) > 1 else segment)
            held, held_from = held[..., following - held_from :], following
        frames = torch.tensor([c.shape[-1] for c in codes], device=codes[0].device).repeat(codes[0].shape[0], 1)
        return torch.cat(codes, dim=-1), {"scales": torch.stack(scales, dim=1), "segment_frames": frames}

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        """``[B]``: ``1e-8 + RMS`` of the channel mean (1 without normalisation)."""
        if not self.config.normalize:
            return x.new_ones(x.shape[0])
        return 1e-8 + x.mean(dim=1).pow(2).mean(dim=-1).sqrt()

    def decode_with_side(self, codes: torch.Tensor, side: dict[str, torch.Tensor]) -> Iterator[torch.Tensor]:
        """Codes and side information -> consecutive pieces of the waveform ``[B, C, k]``: the
        decoded segments, overlap-added, each piece handed out once no later segment reaches it."""
        scales, frames = side["scales"], side["segment_frames"]
        if scales.shape != frames.shape or scales.dim() != 2:
            raise ValueError(f"scales {tuple(scales.shape)} and segment_frames {tuple(frames.shape)} "
                             "must both be [batch, segments]")
        counts = [int(f) for f in frames[0]]
        if (frames != frames[:1]).any() or min(counts, default=0) < 1 or sum(counts) != codes.shape[-1]:
            raise ValueError(f"segment_frames {counts} do not divide the {codes.shape[-1]} frames of the codes")
        _, _, stride = self.segment_starts(0)
        if self.config.segment_seconds is None and len(counts) != 1:
            raise ValueError(f"an unsegmented codec decodes one segment, got {len(counts)}")
        pieces = (self.decoder(self.quantizer.decode(part)) * scales[:, index, None, None]
                  for index, part in enumerate(torch.split(codes, counts, dim=-1)))
        return linear_overlap_add(pieces, stride) if self.config.segment_seconds is not None else pieces

    def forward(self, wave: torch.Tensor, n_codebooks: int | None = None,
                denoise: bool | torch.Tensor | None = None) -> tuple[torch.Tensor, QuantizerOutput]:
        """The training pass; refused for segmented models (the trainer knows no side information)."""
        if self.config.segmented or wave.shape[1] != self.config.channels:
            raise ValueError(f"training covers unsegmented EnCodec models on [batch, {self.config.channels}, "
                             "samples] audio (not the 48 kHz release's normalised segments)")
        return super().forward(wave, n_codebooks, denoise)


def linear_overlap_add(pieces: Iterable[torch.Tensor], stride: int) -> Iterator[torch.Tensor]:
    """Segments ``[B, C, L_k]`` starting every ``stride`` samples, cross-faded linearly, handed
    out piece by piece: the samples before the next segment's start are final once a segment is
    added, so only one segment's span is pending at a time.

    Each segment is weighted by a triangle peaking at its middle (sampled as the release's
    ``_linear_overlap_add``: ``0.5 - |t - 0.5|`` on the interior points of ``L_0 + 2`` equally
    spaced ones), and the sum is divided by the summed weights: where one segment covers a
    sample its value passes unchanged, where two do the weights fade one into the other. The
    sums are made in the release's order, so the result is the same to the last bit. (The
    release takes the last segment's end as the total length and fails when an earlier segment
    decodes past it -- a last segment inside the previous one's overlap; the output here ends
    where the furthest segment ends, the same wherever the release works.)
    """
    weight = out = weights = None
    done = 0  # samples handed out; ``out`` and ``weights`` hold those from there on
    for index, piece in enumerate(pieces):
        if weight is None:
            t = torch.linspace(0, 1, piece.shape[-1] + 2, device=piece.device, dtype=piece.dtype)[1:-1]
            weight = 0.5 - (t - 0.5).abs()
            out, weights = piece.new_zeros(*piece.shape[:-1], 0), piece.new_zeros(0)
        start, length = index * stride - done, piece.shape[-1]
        grow = start + length - out.shape[-1]
        if grow > 0:
            out = torch.cat([out, out.new_zeros(*out.shape[:-1], grow)], dim=-1)
            weights = torch.cat([weights, weights.new_zeros(grow)])
        out[..., start : start + length] += weight[:length] * piece
        weights[start : start + length] += weight[:length]
        final = max(0, min(start + stride, out.shape[-1]))
        if final:
            yield out[..., :final] / weights[:final]
            out, weights, done = out[..., final:], weights[final:], done + final
    if out is not None and out.shape[-1]:
        yield out / weights


def parse_official(obj: Any) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """``(config, state)`` for the official plain-state-dict layout, else None."""
    if not (isinstance(obj, dict) and "quantizer.vq.layers.0._codebook.embed" in obj):
        return None
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    config = _infer_config(obj, _is_group_norm_layout(obj))
    state = {}
    for key, value in obj.items():
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        state[key] = value
    return config.to_dict(), state


def _is_group_norm_layout(state: dict[str, torch.Tensor]) -> bool:
    """True for the 48 kHz release's layout (time group norm), False for the 24 kHz one's (weight
    norm); a file holding both kinds of layer is neither."""
    normed = any(re.search(r"\.(conv|convtr)\.norm\.", key) for key in state)
    weight_normed = any(re.search(r"\.weight_[gv]$|\.parametrizations\.weight\.", key) for key in state)
    if normed and weight_normed:
        raise ValueError("mixes weight-normalised and time-group-normed convolutions (neither EnCodec release)")
    return normed


def _weight(state: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    """A conv's weight (its direction under weight norm) under any of the releases' names."""
    for suffix in ("weight_v", "parametrizations.weight.original1", "weight"):
        if f"{prefix}.{suffix}" in state:
            return state[f"{prefix}.{suffix}"]
    raise ValueError(f"no weights for {prefix}")


def _infer_config(state: dict[str, torch.Tensor], group_norm: bool) -> EncodecConfig:
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
    frame_rate = RELEASE_48K_FRAME_RATE if group_norm else RELEASE_FRAME_RATE
    release = {k: v for k, v in RELEASE_48K_SETTINGS.items() if k != "channels"} if group_norm else {}
    return EncodecConfig(
        **release,
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
        sample_rate=frame_rate * hop,
        codebook_size=embed.shape[0],
        target_bandwidths=tuple(n * bits * frame_rate / 1000 for n in _bandwidth_steps(n_q)),
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
