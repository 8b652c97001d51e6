"""Receptive fields of convolutional stacks, derived from the layers themselves.

The chunked engine needs, for every output position, the span of input positions it can
depend on. Deriving it from the module tree (instead of hard-coding a margin per model)
keeps chunking exact for any configuration, including reduced-width test models and future
families, as long as they are built from the layers understood here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from model.layers import PaddedConv1d, PaddedConvTranspose1d, ResidualUnit, WNConv1d, WNConvTranspose1d

_POINTWISE = (nn.Tanh, nn.Identity, nn.ELU, nn.LeakyReLU, nn.ReLU, nn.GELU)
_RECURRENT = (nn.LSTM, nn.GRU, nn.RNN)


class UnboundedReceptiveField(TypeError):
    """A recurrent layer: every output may depend on the whole past (no finite span)."""


@dataclass(frozen=True)
class Span:
    """Output position ``j`` depends on input positions in ``[scale*j + left, scale*j + right]``."""

    scale: float = 1.0
    left: float = 0.0
    right: float = 0.0

    def then(self, outer: "Span") -> "Span":
        """The span of ``outer`` applied after ``self`` (self maps input -> middle)."""
        return Span(
            self.scale * outer.scale,
            self.scale * outer.left + self.left,
            self.scale * outer.right + self.right,
        )

    def union(self, other: "Span") -> "Span":
        if not math.isclose(self.scale, other.scale):
            raise ValueError("cannot merge branches running at different rates")
        return Span(self.scale, min(self.left, other.left), max(self.right, other.right))


def span_of(module: nn.Module) -> Span:
    """Receptive span of a conv stack (Sequential, wrappers, residual units, parallel branches).

    A module with ``is_parallel = True`` sums (or averages) its children applied to the
    same input, so its span is their union. Recurrent layers raise
    :class:`UnboundedReceptiveField`.
    """
    if isinstance(module, (WNConv1d, nn.Conv1d)):
        k, s, d, p = _conv_geometry(module)
        return _conv_span(k, s, d, p)
    if isinstance(module, PaddedConv1d):
        k, s, d, _ = _conv_geometry(module.conv)
        return _conv_span(k, s, d, module.pad_left)
    if isinstance(module, (WNConvTranspose1d, nn.ConvTranspose1d)):
        k, s, _, p = _conv_geometry(module)
        return _transposed_span(k, s, p)
    if isinstance(module, PaddedConvTranspose1d):
        k, s, _, _ = _conv_geometry(module.convtr)
        return _transposed_span(k, s, module.trim_left)
    if isinstance(module, ResidualUnit):
        skip = Span() if module.shortcut is None else span_of(module.shortcut)
        return span_of(module.block).union(skip)
    if isinstance(module, _RECURRENT):
        raise UnboundedReceptiveField(f"{type(module).__name__} has an unbounded receptive field")
    if hasattr(module, "alpha") or isinstance(module, _POINTWISE):
        return Span()
    children = list(module.children())
    if not children:
        raise TypeError(f"no receptive-field rule for {type(module).__name__}")
    if getattr(module, "is_parallel", False):
        span = span_of(children[0])
        for child in children[1:]:
            span = span.union(span_of(child))
        return span
    span = Span()
    for child in children:
        span = span.then(span_of(child))
    return span


def _conv_span(k: int, s: int, d: int, pad_left: int) -> Span:
    return Span(s, -pad_left, -pad_left + (k - 1) * d)


def _transposed_span(k: int, s: int, trim_left: int) -> Span:
    # output j reads inputs i with i*s + kk - trim_left = j, 0 <= kk < k; floor() made conservative.
    return Span(1.0 / s, (trim_left - (k - 1)) / s - 1.0, trim_left / s)


def _conv_geometry(m: nn.Module) -> tuple[int, int, int, int]:
    def first(v):
        return v[0] if isinstance(v, tuple) else v

    return first(m.kernel_size), first(m.stride), first(m.dilation), first(m.padding)


def encoder_margin_frames(encoder: nn.Module, hop_length: int) -> int:
    """Frames of context needed on each side so a chunk's central codes equal the whole's."""
    span = span_of(encoder)
    left = -span.left
    right = span.right - (hop_length - 1)
    return int(math.ceil(max(left, right, 0) / hop_length)) + 1


def decoder_margin_frames(decoder: nn.Module) -> int:
    """Frames of context needed on each side so a chunk's central samples equal the whole's."""
    span = span_of(decoder)  # output sample j reads frames [scale*j + left, scale*j + right]
    return int(math.ceil(max(-span.left, span.right + 1, 0))) + 1
