"""Receptive fields of convolutional stacks, reported by the layers themselves.

The chunked engine needs, for every output position, the span of input positions it can
depend on. Deriving it from the module tree (instead of hard-coding a margin per model)
keeps chunking exact for any configuration, including reduced-width test models and new
families. A layer with a non-trivial span says so itself through
:class:`ReportsReceptiveSpan` (``receptive_span()``); this module only composes spans and
knows the few PyTorch built-ins a stack may contain. A container without a span of its own
applies its children in the order they were registered, as ``nn.Sequential`` does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import nn

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


@runtime_checkable
class ReportsReceptiveSpan(Protocol):
    """A layer that knows its own span (convolutions, residual units, parallel branches...)."""

    def receptive_span(self) -> Span:
        """The span of this layer; raises :class:`UnboundedReceptiveField` if it has none."""


def span_of(module: nn.Module) -> Span:
    """Receptive span of a layer or a stack of layers."""
    if isinstance(module, ReportsReceptiveSpan):
        return module.receptive_span()
    if isinstance(module, nn.Conv1d):
        return conv_span(*_geometry(module))
    if isinstance(module, nn.ConvTranspose1d):
        k, s, _, p = _geometry(module)
        return transposed_span(k, s, p)
    if isinstance(module, _RECURRENT):
        raise UnboundedReceptiveField(f"{type(module).__name__} has an unbounded receptive field")
    if isinstance(module, _POINTWISE):
        return Span()
    children = list(module.children())
    if not children:
        raise TypeError(f"no receptive-field rule for {type(module).__name__}")
    return chain_spans(children)


def chain_spans(layers: list[nn.Module]) -> Span:
    """The span of ``layers`` applied one after the other."""
    span = Span()
    for layer in layers:
        span = span.then(span_of(layer))
    return span


def parallel_spans(branches: list[nn.Module]) -> Span:
    """The span of branches applied to the same input and summed (or averaged)."""
    span = span_of(branches[0])
    for branch in branches[1:]:
        span = span.union(span_of(branch))
    return span


def conv_span(kernel: int, stride: int, dilation: int, pad_left: int) -> Span:
    """A convolution reading its input padded by ``pad_left`` on the left."""
    return Span(stride, -pad_left, -pad_left + (kernel - 1) * dilation)


def transposed_span(kernel: int, stride: int, trim_left: int) -> Span:
    """A transposed convolution whose output loses ``trim_left`` samples on the left."""
    # output j reads inputs i with i*s + kk - trim_left = j, 0 <= kk < k; floor() made conservative.
    return Span(1.0 / stride, (trim_left - (kernel - 1)) / stride - 1.0, trim_left / stride)


def _geometry(m: nn.Module) -> tuple[int, int, int, int]:
    """(kernel, stride, dilation, padding) of a torch convolution."""
    return m.kernel_size[0], m.stride[0], m.dilation[0], m.padding[0]


def encoder_margins(encoder: nn.Module, hop_length: int) -> tuple[int, int]:
    """``(left, right)``: the frames of past and future audio a frame of ``encoder`` reads.

    The exact reach of the receptive field, one side at a time: a causal stack reads no
    future frame (``right == 0``), which is what makes it stream without lookahead.
    """
    span = span_of(encoder)
    return _frames(-span.left, hop_length), _frames(span.right - (hop_length - 1), hop_length)


def decoder_margins(decoder: nn.Module) -> tuple[int, int]:
    """``(left, right)``: the code frames before and after its own that a sample's frame reads."""
    span = span_of(decoder)  # output sample j reads frames [scale*j + left, scale*j + right]
    return _frames(-span.left, 1), _frames(span.right, 1)


def encoder_margin_frames(encoder: nn.Module, hop_length: int) -> int:
    """Frames of context needed on each side so a chunk's central codes equal the whole's: the
    wider side of :func:`encoder_margins`, plus one frame of safety."""
    return max(encoder_margins(encoder, hop_length)) + 1


def decoder_margin_frames(decoder: nn.Module) -> int:
    """Frames of context needed on each side so a chunk's central samples equal the whole's:
    the wider side of :func:`decoder_margins` (the right one counted one frame wider), plus one."""
    left, right = decoder_margins(decoder)
    return max(left, right + 1) + 1


def _frames(samples: float, per_frame: int) -> int:
    return int(math.ceil(max(samples, 0) / per_frame))
