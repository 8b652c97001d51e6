"""Building blocks shared by every codec family: Snake, weight-normalised convolutions,
self-padding (causal or centred) convolutions, residual units and FiLM.

Weight normalisation is implemented here rather than with ``torch.nn.utils`` hooks for two
reasons. First, official checkpoints store the old-style ``weight_g`` / ``weight_v`` pair, and
keeping those exact parameter names makes strict loading a plain ``load_state_dict``.
Second, inference never needs the decomposition: :meth:`WeightNormMixin.fold` computes the
effective weight once, so a forward pass is a single convolution instead of a norm, a
division and a convolution, while training keeps the exact reparametrisation.

Every layer here also accepts the *fast inference layout*: ``[B, C, 1, T]`` tensors in
``torch.channels_last`` memory order (time-major, channels contiguous). oneDNN's
convolutions run about 1.6x faster on it than on the plain ``[B, C, T]`` layout on x86 CPUs
(docs/benchmarks.md), element-wise layers do not care, and the polyphase transposed convolution's
interleave becomes a free reshape. :func:`to_fast_layout` / :func:`from_fast_layout` convert.

The self-padding convolutions (:class:`PaddedConv1d`, :class:`PaddedConvTranspose1d`) are
SEANet's (EnCodec, SoundStream): the padding is decided by the layer from its geometry
-- all on the left in causal mode -- so one module serves streaming and offline families,
and an input of ``k * stride`` samples always gives ``k`` outputs. They wrap a
:class:`WNConv1d` as ``.conv`` (``.convtr``), so folding and the fast layout apply as is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model import winograd
from model.fused_snake import fused_snake
from model.inference_memory import ReleasableParametrisation
from model.receptive_field import Span, UnboundedReceptiveField, conv_span, span_of, transposed_span


def to_fast_layout(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, T]`` -> ``[B, C, 1, T]`` in channels-last memory order."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def from_fast_layout(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, 1, T]`` -> contiguous ``[B, C, T]``."""
    return x.squeeze(2).contiguous()


def cast(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` in ``dtype``, its memory layout kept. A channels-last tensor is converted through its
    plain (time, channel) view: PyTorch converts it element by element otherwise, 25x slower."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1).to(dtype).permute(0, 3, 1, 2)
    return x.to(dtype)


class Snake1d(nn.Module):
    """Snake activation ``x + sin^2(alpha x) / alpha`` with a learned alpha per channel.

    Evaluated as ``x + (1 - cos(2 alpha x)) / (2 alpha)``: mathematically identical, one
    transcendental call instead of a sine and a square, and (with ``addcmul``) fewer
    full-size temporaries, which dominates its cost on CPU. Without gradients it uses the
    fused kernel of :mod:`model.fused_snake` when one has been built.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def receptive_span(self) -> Span:
        return Span()  # element-wise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.bfloat16 and x.device.type == "cpu":
            # Fast mode on a CPU: PyTorch's bfloat16 element-wise kernels with a broadcast operand
            # run scalar code (over 100x slower than float32 here); converting costs two passes.
            return cast(self.forward(cast(x, torch.float32)), torch.bfloat16)
        if not torch.is_grad_enabled():
            fused = fused_snake(x, self.alpha)
            if fused is not None:
                return fused
        alpha = self.alpha if x.dim() == 3 else self.alpha.unsqueeze(-1)
        half_inv = 0.5 / (alpha + 1e-9)
        cos = torch.cos(x * (2.0 * alpha))
        return torch.addcmul(x + half_inv, half_inv, cos, value=-1.0)


class WeightNormMixin(ReleasableParametrisation):
    """Old-style weight normalisation (``weight = g * v / ||v||``, norm over all dims but 0).

    As ``torch.nn.utils.weight_norm(module, dim=0)``; for transposed convolutions dim 0 is
    the *input* channel, which is what the reference implementations use. Folded, a layer
    holds its effective weight in the one form its inference path reads; a codec then drops
    the parametrisation (:mod:`model.inference_memory`).
    """

    weight_g: nn.Parameter
    weight_v: nn.Parameter
    PARAMETERS = ("weight_v", "weight_g")

    def _adopt(self, proto: nn.modules.conv._ConvNd) -> None:
        """Take geometry, initial weight and bias from a freshly built torch convolution."""
        self.in_channels, self.out_channels = proto.in_channels, proto.out_channels
        self.kernel_size, self.stride = proto.kernel_size[0], proto.stride[0]
        self.padding, self.dilation = proto.padding[0], proto.dilation[0]
        self.groups = proto.groups
        self._adopt_weight(proto.weight.detach())
        self.bias = proto.bias
        # Non-persistent buffers: they move with .to(device) and never enter the state dict.
        self.register_buffer("_folded", None, persistent=False)
        self.register_buffer("_folded_fast", None, persistent=False)

    def _adopt_weight(self, weight: torch.Tensor) -> None:
        self.weight_v = nn.Parameter(weight.clone())
        self.weight_g = nn.Parameter(_norm_except_dim0(weight))

    def effective_weight(self) -> torch.Tensor:
        if self._folded is not None:
            return self._folded
        return self.weight_v * (self.weight_g / _norm_except_dim0(self.weight_v))

    def fold(self) -> None:
        """Freeze the effective weight for inference; :meth:`unfold` undoes it."""
        self.restore_parametrisation()
        with torch.no_grad():
            self._folded = None
            self._folded = self.effective_weight().detach().clone()

    def unfold(self) -> None:
        self.restore_parametrisation()
        self._folded = None
        self._folded_fast = None

    def parametrisation(self, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        """The parameters that give ``weight`` exactly (``g / |v|`` is 1)."""
        g, v = weight_norm_parts(weight)
        return {"weight_v": v, "weight_g": g}


def _norm_except_dim0(w: torch.Tensor) -> torch.Tensor:
    if w.is_meta:  # shapes only: torch's meta norm imports sympy (75 MiB resident) for nothing
        return w.new_empty((w.shape[0],) + (1,) * (w.dim() - 1))
    return torch.linalg.vector_norm(w, dim=tuple(range(1, w.dim())), keepdim=True)


def weight_norm_parts(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight_g, weight_v)`` that reproduce a plain ``weight`` exactly (``g / |v|`` is 1), for
    releases that folded their weight normalisation before publishing."""
    return _norm_except_dim0(weight), weight


def _fast_weight(weight: torch.Tensor) -> torch.Tensor:
    return weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)


class WNConv1d(WeightNormMixin, nn.Module):
    """Weight-normalised 1-D convolution (parameters ``weight_g``, ``weight_v``, ``bias``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self._adopt(nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias))
        self._wants_winograd = False
        self._winograd_per_call = False
        self._winograd_holders = 0
        self.register_buffer("_winograd", None, persistent=False)

    def receptive_span(self) -> Span:
        return conv_span(self.kernel_size, self.stride, self.dilation, self.padding)

    def enable_winograd(self, per_call: bool = False) -> None:
        """Convolve fast-layout float32 inputs by Winograd tiles (:mod:`model.winograd`) once folded:
        the output differs from direct convolution by rounding (1-3e-5 of its scale). The weight is
        then also held transformed (12/7 of its size), or with ``per_call`` transformed at each call
        from the plain weight, which stays the layer's one copy (the same bits: the same function of
        the same weight), except while :meth:`hold_winograd` asks to hold it."""
        self._wants_winograd, self._winograd_per_call = True, per_call
        self._winograd = self._held_transform()

    def disable_winograd(self) -> None:
        self._wants_winograd = False
        self._winograd = None

    def uses_winograd(self) -> bool:
        """Whether fast-layout float32 inputs are convolved by Winograd tiles (held or per call)."""
        return self._wants_winograd and self._folded is not None

    def hold_winograd(self) -> None:
        """Hold the transformed weight of a per-call layer until as many :meth:`release_winograd`."""
        self._winograd_holders += 1
        if self._winograd is None:
            self._winograd = self._held_transform()

    def release_winograd(self) -> None:
        self._winograd_holders -= 1
        if self._winograd_per_call and not self._winograd_holders:
            self._winograd = None

    def _held_transform(self) -> torch.Tensor | None:
        held = self.uses_winograd() and (not self._winograd_per_call or self._winograd_holders > 0)
        return winograd.transformed_weight(self._folded) if held else None

    def fold(self) -> None:
        super().fold()
        # one storage: the plain form is a (possibly strided) view of the channels-last one
        self._folded_fast = _fast_weight(self._folded)
        self._folded = self._folded_fast.squeeze(2)
        self._winograd = self._held_transform()

    def unfold(self) -> None:
        super().unfold()
        self._winograd = None

    def folded_weight(self) -> torch.Tensor:
        return self._folded.contiguous()

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]
        """As ``nn.Module._apply`` (``.to()``, ``.half()``...), then the plain form a view of the moved
        channels-last weight again: converted apart, the two would be two copies."""
        super()._apply(fn, recurse)
        if self._folded_fast is not None:
            self._folded = self._folded_fast.squeeze(2)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # a strided weight would make oneDNN compute in another order: made contiguous
            return F.conv1d(x, self.effective_weight().contiguous(), self.bias, self.stride, self.padding,
                            self.dilation, self.groups)
        if self.uses_winograd() and winograd.serves(x, self._folded, self.dilation, self.padding):
            held = self._winograd  # read once: a streamer on another thread may release it meanwhile
            u = held if held is not None else winograd.transformed_weight(self._folded)
            return winograd.convolve(x, u, self.bias, self.dilation, self.padding)
        weight = self._folded_fast if self._folded_fast is not None else _fast_weight(self.effective_weight())
        return F.conv2d(x, weight, self.bias, (1, self.stride), (0, self.padding), (1, self.dilation), self.groups)


class WNConvTranspose1d(WeightNormMixin, nn.Module):
    """Weight-normalised transposed 1-D convolution (norm over the input-channel dim 0).

    Once folded for inference it runs as a polyphase convolution: one ordinary convolution
    producing all ``stride`` output phases as channels, then an interleave. PyTorch's CPU
    transposed convolution goes through a slow im2col/col2im path; the ordinary one uses
    oneDNN, several times faster for the same result (equal up to summation order).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        output_padding: int = 0,
    ) -> None:
        super().__init__()
        self._adopt(nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride, padding, output_padding,
                                       bias=bias))
        self.output_padding = output_padding
        self._phase_geometry: list[tuple[int, int]] = []  # (pad_left, taps) of each phase group; [] unfolded

    def receptive_span(self) -> Span:
        return transposed_span(self.kernel_size, self.stride, self.padding)

    def fold(self) -> None:
        super().fold()
        groups = polyphase_groups(self._folded, self.bias, self.stride, self.padding)
        # Buffers, so that the groups' weights move with the module (``.to(device)``); the
        # channels-last weights are the layer's only copy (the plain path reads views of them).
        for i, group in enumerate(groups):
            self.register_buffer(f"_phase{i}_fast", _fast_weight(group.weight), persistent=False)
            self.register_buffer(f"_phase{i}_bias", group.bias, persistent=False)
        self._phase_geometry = [(group.pad_left, group.taps) for group in groups]
        self._folded = None

    def folded_weight(self) -> torch.Tensor:
        weights = [getattr(self, f"_phase{i}_fast").squeeze(2) for i in range(len(self._phase_geometry))]
        return polyphase_inverse(weights, self.in_channels, self.out_channels, self.kernel_size, self.stride,
                                 self.padding)

    def unfold(self) -> None:
        super().unfold()
        for i in range(len(self._phase_geometry)):
            for part in ("fast", "bias"):
                delattr(self, f"_phase{i}_{part}")
        self._phase_geometry = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._phase_geometry:
            if x.dim() == 4:
                raise RuntimeError("the fast layout needs a folded layer (call fold_weight_norm)")
            return F.conv_transpose1d(x, self.effective_weight(), self.bias, self.stride, self.padding,
                                      self.output_padding)
        s, length = self.stride, x.shape[-1]
        out_len = (length - 1) * s - 2 * self.padding + self.kernel_size + self.output_padding
        phases = -(-out_len // s)
        fast = x.dim() == 4
        parts = []
        for i, (pad_left, taps) in enumerate(self._phase_geometry):
            padded = F.pad(x, (pad_left, max(0, phases + taps - 1 - (length + pad_left))))
            bias = getattr(self, f"_phase{i}_bias")
            weight = getattr(self, f"_phase{i}_fast")
            y = F.conv2d(padded, weight, bias) if fast else F.conv1d(padded, weight.squeeze(2).contiguous(), bias)
            parts.append(y[..., :phases])
        y = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        b = x.shape[0]
        if not fast:
            y = y.view(b, s, -1, phases).permute(0, 2, 3, 1).reshape(b, -1, phases * s)
            return y[..., :out_len]
        # Channels-last memory is [B, 1, M, (phase, out)]: the interleave is a reshape.
        y = y.permute(0, 2, 3, 1).reshape(b, 1, phases * s, -1)
        return y[:, :, :out_len].permute(0, 3, 1, 2)


@dataclass(frozen=True)
class PhaseGroup:
    """Consecutive output phases of a transposed convolution that read the same input taps:
    their ordinary-convolution ``weight [phases*out, in, taps]`` and ``bias``, applied to the input
    padded by ``pad_left`` on the left."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    pad_left: int
    taps: int


def polyphase_groups(weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                     padding: int) -> list[PhaseGroup]:
    """Rewrite a transposed convolution ``weight [in, out, k]`` as ordinary convolutions.

    Output sample ``t = m*stride + r`` (phase ``r``) reads input ``m + q_r - n`` through tap
    ``rho_r + n*stride``, with ``q_r, rho_r = divmod(r + padding, stride)``. Phases whose input
    offsets differ (DAC's ``kernel 2s, padding s/2``: half the phases read ``m-1, m``, half
    ``m, m+1``) are computed by separate convolutions, each as wide as its own offsets: one
    convolution over the union would spend a third of its work multiplying zeros. Concatenated
    in order, the groups' outputs hold every phase at once.
    """
    c_in, c_out, k = weight.shape
    offsets = _phase_taps(stride, padding, k)
    runs: list[list[int]] = []
    for r in range(stride):
        span = (min(o for o, _ in offsets[r]), max(o for o, _ in offsets[r]))
        if runs and span == (min(o for o, _ in offsets[runs[-1][0]]), max(o for o, _ in offsets[runs[-1][0]])):
            runs[-1].append(r)
        else:
            runs.append([r])
    groups = []
    for run in runs:
        lo = min(o for o, _ in offsets[run[0]])
        taps = max(o for o, _ in offsets[run[0]]) - lo + 1
        poly = weight.new_zeros(len(run), c_out, c_in, taps)
        for i, r in enumerate(run):
            for offset, tap in offsets[r]:
                poly[i, :, :, offset - lo] = weight[:, :, tap].t()
        group_bias = None if bias is None else bias.detach().repeat(len(run))
        groups.append(PhaseGroup(poly.reshape(len(run) * c_out, c_in, taps).contiguous(), group_bias, -lo, taps))
    return groups


def _phase_taps(stride: int, padding: int, k: int) -> list[list[tuple[int, int]]]:
    """Per output phase ``r``: its ``(input offset, tap)`` pairs (see :func:`polyphase_groups`)."""
    taps = []
    for r in range(stride):
        q, rho = divmod(r + padding, stride)
        taps.append([(q - n, rho + n * stride) for n in range((k - rho + stride - 1) // stride)])
    return taps


def polyphase_inverse(weights: list[torch.Tensor], c_in: int, c_out: int, k: int, stride: int,
                      padding: int) -> torch.Tensor:
    """The transposed convolution weight ``[in, out, k]`` that :func:`polyphase_groups` rewrote as
    the groups' ``weights``: every tap sits at one place of one group, so this is exact."""
    weight = weights[0].new_empty(c_in, c_out, k)
    offsets = _phase_taps(stride, padding, k)
    r = 0
    for group in weights:
        phases = group.reshape(-1, c_out, c_in, group.shape[-1])  # [phase, out, in, taps]
        lo = min(offset for offset, _ in offsets[r])  # the group's phases share their offsets
        for phase in phases:
            for offset, tap in offsets[r]:
                weight[:, :, tap] = phase[:, :, offset - lo].t()
            r += 1
    return weight


class TimeGroupNormMixin:
    """A plain weight, and ``GroupNorm(1, out_channels)`` after the convolution (``.norm``).

    EnCodec 48 kHz's ``time_group_norm``: each output is normalised over all channels and the
    whole excerpt, so the layer has no finite receptive field (the network runs it on whole
    segments). Mixed in before a :class:`WeightNormMixin` convolution, it keeps that class's
    folding and fast paths; only the weight is plain.
    """

    weight: nn.Parameter
    out_channels: int
    PARAMETERS = ("weight",)

    def _adopt_weight(self, weight: torch.Tensor) -> None:
        self.weight = nn.Parameter(weight.clone())
        self.norm = nn.GroupNorm(1, self.out_channels)

    def parametrisation(self, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"weight": weight}

    def effective_weight(self) -> torch.Tensor:
        return self.weight if self._folded is None else self._folded  # type: ignore[attr-defined]

    def receptive_span(self) -> Span:
        raise UnboundedReceptiveField("a time group norm spans the whole excerpt")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(super().forward(x))  # type: ignore[misc]


class GroupNormConv1d(TimeGroupNormMixin, WNConv1d):
    """1-D convolution then time group norm (parameters ``weight``, ``bias``, ``norm.*``)."""


class GroupNormConvTranspose1d(TimeGroupNormMixin, WNConvTranspose1d):
    """Transposed 1-D convolution then time group norm."""


CONV_NORMS = {"weight_norm": (WNConv1d, WNConvTranspose1d),
              "time_group_norm": (GroupNormConv1d, GroupNormConvTranspose1d)}


def fold_weight_norm(module: nn.Module) -> None:
    """Fold every weight-normalised layer below ``module`` (inference only)."""
    for m in module.modules():
        if isinstance(m, WeightNormMixin):
            m.fold()


def unfold_weight_norm(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, WeightNormMixin):
            m.unfold()


class PaddedConv1d(nn.Module):
    """Weight-normalised (or time-group-normed) convolution that pads its own input
    (SEANet's ``SConv1d``).

    The total padding ``(k - 1) * dilation - (stride - 1)`` goes all to the left when causal,
    otherwise it is split with the odd sample on the left. The right end is then padded
    further so that the last stride window is complete: ``ceil(L / stride)`` outputs for any
    ``L``, no extra padding at all for stride-aligned lengths. ``pad_mode`` is ``"reflect"``
    (EnCodec) or ``"zero"``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        causal: bool = False,
        pad_mode: str = "reflect",
        norm: str = "weight_norm",
    ) -> None:
        super().__init__()
        if pad_mode not in ("reflect", "zero"):
            raise ValueError(f"pad_mode must be 'reflect' or 'zero', got {pad_mode!r}")
        self.conv = _normed(norm, causal)[0](in_channels, out_channels, kernel_size, stride, 0, dilation)
        total = (kernel_size - 1) * dilation - (stride - 1)
        self.pad_left = total if causal else total - total // 2
        self.pad_right = total - self.pad_left
        self.pad_mode = pad_mode

    def receptive_span(self) -> Span:
        return conv_span(self.conv.kernel_size, self.conv.stride, self.conv.dilation, self.pad_left)

    def extra_right_padding(self, length: int) -> int:
        """Samples appended so the last window is complete (EnCodec's ``pad_for_conv1d``)."""
        k, s = self.conv.kernel_size, self.conv.stride
        total = self.pad_left + self.pad_right
        # ceil((length - k + total) / s) with a numerator that is never negative: graph exporters
        # write integer division as ONNX Div, which truncates towards zero instead of flooring.
        windows = (length - k + total + s - 1) // s + 1
        return (windows - 1) * s + k - total - length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        right = self.pad_right + self.extra_right_padding(x.shape[-1])
        return self.conv(pad_time(x, self.pad_left, right, self.pad_mode))


class PaddedConvTranspose1d(nn.Module):
    """Weight-normalised (or time-group-normed) transposed convolution that trims its own
    output (SEANet's).

    The ``kernel - stride`` surplus samples are trimmed from the right when causal (in the
    ratio ``trim_right_ratio``), otherwise split with the odd sample on the left, so ``L``
    inputs give exactly ``L * stride`` outputs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        causal: bool = False,
        trim_right_ratio: float = 1.0,
        norm: str = "weight_norm",
    ) -> None:
        super().__init__()
        if not 0.0 <= trim_right_ratio <= 1.0 or (not causal and trim_right_ratio != 1.0):
            raise ValueError("trim_right_ratio must lie in [0, 1], and differ from 1 only when causal")
        self.convtr = _normed(norm, causal)[1](in_channels, out_channels, kernel_size, stride, padding=0)
        total = kernel_size - stride
        right = math.ceil(total * trim_right_ratio) if causal else total // 2
        self.trim_left, self.trim_right = total - right, right

    def receptive_span(self) -> Span:
        return transposed_span(self.convtr.kernel_size, self.convtr.stride, self.trim_left)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convtr(x)
        return y[..., self.trim_left : y.shape[-1] - self.trim_right]


def _normed(norm: str, causal: bool) -> tuple[type[WNConv1d], type[WNConvTranspose1d]]:
    """The convolution classes of a ``norm`` (``CONV_NORMS``); a time group norm sees the
    future, so it cannot be causal (as the EnCodec release refuses it)."""
    if norm not in CONV_NORMS:
        raise ValueError(f"norm must be one of {', '.join(CONV_NORMS)}, got {norm!r}")
    if causal and norm == "time_group_norm":
        raise ValueError("a time group norm cannot be causal")
    return CONV_NORMS[norm]


def pad_time(x: torch.Tensor, left: int, right: int, mode: str) -> torch.Tensor:
    """Pad the time axis of ``[B, C, T]`` or ``[B, C, 1, T]`` with zeros or by reflection.

    Reflection of a signal shorter than the padding first extends it with zeros (as the
    EnCodec reference does), so very short chunks are padded exactly like the reference.
    """
    spec = (left, right) + (0, 0) * (x.dim() - 3)
    if mode == "zero":
        return F.pad(x, spec)
    grow = max(0, max(left, right) - x.shape[-1] + 1)
    if grow:
        x = F.pad(x, (0, grow) + (0, 0) * (x.dim() - 3))
    padded = F.pad(x, spec, mode="reflect")
    return padded[..., : padded.shape[-1] - grow]


class ResidualUnit(nn.Module):
    """``shortcut(x) + block(x)``, the shortcut being the identity unless given.

    DAC's, SEANet's and HiFi-GAN's residual units differ only in the layers of ``block``
    (and SEANet's optional 1x1 shortcut), so they are all this one module.
    """

    def __init__(self, block: nn.Sequential, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.block = block
        self.shortcut = shortcut

    def receptive_span(self) -> Span:
        skip = Span() if self.shortcut is None else span_of(self.shortcut)  # the identity reads j only
        return span_of(self.block).union(skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        return skip + self.block(x)


def embedding(count: int, dim: int) -> nn.Embedding:
    """``nn.Embedding(count, dim)`` with its usual N(0, 1) start, drawn only on a real device.

    Networks are first built on the meta device to check a model file's shapes before anything
    is allocated; torch's meta ``normal_`` imports sympy there (75 MiB resident, for nothing).
    On a real device the draw is the very one ``nn.Embedding`` makes, so seeded weights are unchanged.
    """
    weight = torch.empty(count, dim)
    if not weight.is_meta:
        nn.init.normal_(weight)
    return nn.Embedding(count, dim, _weight=weight)


class FiLM(nn.Module):
    """Feature-wise linear modulation by a discrete condition: ``gamma[c] * x + beta[c]``.

    A linear layer applied to a one-hot condition is a table lookup, so the scales and
    shifts are embeddings; they start at the identity (gamma 1, beta 0), so a fresh
    conditioned model behaves as an unconditioned one until training separates them.
    """

    def __init__(self, n_conditions: int, channels: int) -> None:
        super().__init__()
        self.gamma = embedding(n_conditions, channels)
        self.beta = embedding(n_conditions, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``x [B, C, T]``, ``condition`` int64 ``[B]``."""
        return torch.addcmul(self.beta(condition)[..., None], self.gamma(condition)[..., None], x)
