"""Building blocks shared by every codec family: Snake, weight-normalised convolutions.

Weight normalisation is implemented here rather than with ``torch.nn.utils`` hooks for two
reasons. First, official checkpoints store the old-style ``weight_g`` / ``weight_v`` pair, and
keeping those exact parameter names makes strict loading a plain ``load_state_dict``.
Second, inference never needs the decomposition: :meth:`WeightNormMixin.fold` computes the
effective weight once, so a forward pass is a single convolution instead of a norm, a
division and a convolution, while training keeps the exact reparametrisation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
        alpha = self.alpha
        half_inv = 0.5 / (alpha + 1e-9)
        cos = torch.cos(x * (2.0 * alpha))
        return torch.addcmul(x + half_inv, half_inv, cos, value=-1.0)


class WeightNormMixin:
    """Old-style weight normalisation (``weight = g * v / ||v||``) with inference folding.

    ``norm_dims`` are the weight dimensions reduced by the norm: all but dim 0, as in
    ``torch.nn.utils.weight_norm(module, dim=0)``. For transposed convolutions dim 0 is the
    *input* channel, which is what the reference implementations use.
    """

    weight_g: nn.Parameter
    weight_v: nn.Parameter
    _folded: torch.Tensor | None

    def _init_weight_norm(self, weight: torch.Tensor) -> None:
        self.weight_v = nn.Parameter(weight.detach().clone())
        self.weight_g = nn.Parameter(_norm_except_dim0(weight.detach()))
        # A non-persistent buffer: moves with .to(device), never enters the state dict.
        self.register_buffer("_folded", None, persistent=False)

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


def _norm_except_dim0(w: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(w, dim=tuple(range(1, w.dim())), keepdim=True)


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.effective_weight(), self.bias, self.stride, self.padding, self.dilation)


class WNConvTranspose1d(WeightNormMixin, nn.Module):
    """Weight-normalised transposed 1-D convolution (norm over the input-channel dim 0)."""

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, self.effective_weight(), self.bias, self.stride, self.padding)


def fold_weight_norm(module: nn.Module) -> None:
    """Fold every weight-normalised layer below ``module`` (inference only)."""
    for m in module.modules():
        if isinstance(m, WeightNormMixin):
            m.fold()


def unfold_weight_norm(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, WeightNormMixin):
            m.unfold()
