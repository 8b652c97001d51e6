"""Building blocks shared by every codec family: Snake, weight-normalised convolutions.

Weight normalisation is implemented here rather than with ``torch.nn.utils`` hooks for two
reasons. First, official checkpoints store the old-style ``weight_g`` / ``weight_v`` pair, and
keeping those exact parameter names makes strict loading a plain ``load_state_dict``.
Second, inference never needs the decomposition: :meth:`WeightNormMixin.fold` computes the
effective weight once, so a forward pass is a single convolution instead of a norm, a
division and a convolution, while training keeps the exact reparametrisation.

Every layer here also accepts the *fast inference layout*: ``[B, C, 1, T]`` tensors in
``torch.channels_last`` memory order (time-major, channels contiguous). oneDNN's
convolutions run about 1.6x faster on it than on the plain ``[B, C, T]`` layout on this
kind of CPU, element-wise layers do not care, and the polyphase transposed convolution's
interleave becomes a free reshape. :func:`to_fast_layout` / :func:`from_fast_layout` convert.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_fast_layout(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, T]`` -> ``[B, C, 1, T]`` in channels-last memory order."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def from_fast_layout(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, 1, T]`` -> contiguous ``[B, C, T]``."""
    return x.squeeze(2).contiguous()


class Snake1d(nn.Module):
    """Snake activation ``x + sin^2(alpha x) / alpha`` with a learned alpha per channel.

    Evaluated as ``x + (1 - cos(2 alpha x)) / (2 alpha)``: mathematically identical, one
    transcendental call instead of a sine and a square, and (with ``addcmul``) fewer
    full-size temporaries, which dominates its cost on CPU.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha if x.dim() == 3 else self.alpha.unsqueeze(-1)
        half_inv = 0.5 / (alpha + 1e-9)
        cos = torch.cos(x * (2.0 * alpha))
        return torch.addcmul(x + half_inv, half_inv, cos, value=-1.0)


class WeightNormMixin:
    """Old-style weight normalisation (``weight = g * v / ||v||``, norm over all dims but 0).

    As ``torch.nn.utils.weight_norm(module, dim=0)``; for transposed convolutions dim 0 is
    the *input* channel, which is what the reference implementations use.
    """

    weight_g: nn.Parameter
    weight_v: nn.Parameter

    def _init_weight_norm(self, weight: torch.Tensor) -> None:
        self.weight_v = nn.Parameter(weight.detach().clone())
        self.weight_g = nn.Parameter(_norm_except_dim0(weight.detach()))
        # Non-persistent buffers: they move with .to(device) and never enter the state dict.
        self.register_buffer("_folded", None, persistent=False)
        self.register_buffer("_folded_fast", None, persistent=False)

    def effective_weight(self) -> torch.Tensor:
        if self._folded is not None:
            return self._folded
        return self.weight_v * (self.weight_g / _norm_except_dim0(self.weight_v))

    def fold(self) -> None:
        """Freeze the effective weight for inference; :meth:`unfold` undoes it."""
        with torch.no_grad():
            self._folded = None
            self._folded = self.effective_weight().detach().clone()

    def unfold(self) -> None:
        self._folded = None
        self._folded_fast = None


def _norm_except_dim0(w: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(w, dim=tuple(range(1, w.dim())), keepdim=True)


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
    ) -> None:
        super().__init__()
        proto = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias)
        self.kernel_size, self.stride = kernel_size, stride
        self.padding, self.dilation = padding, dilation
        self._init_weight_norm(proto.weight)
        self.bias = proto.bias

    def fold(self) -> None:
        super().fold()
        self._folded_fast = _fast_weight(self._folded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return F.conv1d(x, self.effective_weight(), self.bias, self.stride, self.padding, self.dilation)
        weight = self._folded_fast if self._folded_fast is not None else _fast_weight(self.effective_weight())
        return F.conv2d(x, weight, self.bias, (1, self.stride), (0, self.padding), (1, self.dilation))


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
    ) -> None:
        super().__init__()
        proto = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation = 1
        self._init_weight_norm(proto.weight)
        self.bias = proto.bias
        self.register_buffer("_poly_weight", None, persistent=False)
        self.register_buffer("_poly_bias", None, persistent=False)

    def fold(self) -> None:
        super().fold()
        self._poly_weight, self._poly_bias, self._pad_left, self._taps = polyphase_weights(
            self._folded, self.bias, self.stride, self.padding)
        self._folded_fast = _fast_weight(self._poly_weight)

    def unfold(self) -> None:
        super().unfold()
        self._poly_weight = self._poly_bias = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._poly_weight is None:
            if x.dim() == 4:
                raise RuntimeError("the fast layout needs a folded layer (call fold_weight_norm)")
            return F.conv_transpose1d(x, self.effective_weight(), self.bias, self.stride, self.padding)
        s, length = self.stride, x.shape[-1]
        out_len = (length - 1) * s - 2 * self.padding + self.kernel_size
        phases = -(-out_len // s)
        pad_right = max(0, phases + self._taps - 1 - (length + self._pad_left))
        b = x.shape[0]
        if x.dim() == 3:
            y = F.conv1d(F.pad(x, (self._pad_left, pad_right)), self._poly_weight, self._poly_bias)
            y = y[..., :phases].view(b, s, -1, phases).permute(0, 2, 3, 1).reshape(b, -1, phases * s)
            return y[..., :out_len]
        y = F.conv2d(F.pad(x, (self._pad_left, pad_right)), self._folded_fast, self._poly_bias)
        # Channels-last memory is [B, 1, M, (phase, out)]: the interleave is a reshape.
        y = y[..., :phases].permute(0, 2, 3, 1).reshape(b, 1, phases * s, -1)
        return y[:, :, :out_len].permute(0, 3, 1, 2)


def polyphase_weights(
    weight: torch.Tensor, bias: torch.Tensor | None, stride: int, padding: int
) -> tuple[torch.Tensor, torch.Tensor | None, int, int]:
    """Rewrite a transposed convolution ``weight [in, out, k]`` as an ordinary convolution.

    Output sample ``t = m*stride + r`` (phase ``r``) reads input ``m + q_r - n`` through tap
    ``rho_r + n*stride``, with ``q_r, rho_r = divmod(r + padding, stride)``. The returned
    weight ``[stride*out, in, taps]`` computes every phase at once from the input padded by
    ``pad_left`` on the left.
    """
    c_in, c_out, k = weight.shape
    entries = []  # (phase, offset, tap)
    for r in range(stride):
        q, rho = divmod(r + padding, stride)
        entries += [(r, q - n, rho + n * stride) for n in range((k - rho + stride - 1) // stride)]
    lo = min(o for _, o, _ in entries)
    hi = max(o for _, o, _ in entries)
    poly = weight.new_zeros(stride, c_out, c_in, hi - lo + 1)
    for r, offset, tap in entries:
        poly[r, :, :, offset - lo] = weight[:, :, tap].t()
    poly_bias = None if bias is None else bias.detach().repeat(stride)
    return poly.reshape(stride * c_out, c_in, -1).contiguous(), poly_bias, -lo, hi - lo + 1


def fold_weight_norm(module: nn.Module) -> None:
    """Fold every weight-normalised layer below ``module`` (inference only)."""
    for m in module.modules():
        if isinstance(m, WeightNormMixin):
            m.fold()


def unfold_weight_norm(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, WeightNormMixin):
            m.unfold()
