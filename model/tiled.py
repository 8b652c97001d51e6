"""Cache-sized tiling of a convolutional stack at inference.

A whole-signal pass at 44.1 kHz pushes every activation (tens of megabytes) through main
memory several times per layer, and each fresh large allocation costs page faults; the
element-wise Snake layers become memory-bound. Running each stage of a stack on tiles of
about a megabyte, each with a halo of at least the stage's receptive field, keeps the
working set in cache. Tile edges are aligned to the stage's stride and the first and last
tiles contain the true signal edges, so the result equals the whole-signal pass (up to
floating-point summation order), as the chunked engine does for whole models.

Per-stage tiles still leave every stage's whole output in memory between stages; a decoder's
high-rate tail therefore also runs stage after stage on tiles of its own (:func:`_tail_of`), so
that the working memory of its largest activations is set by the tile, not by the signal's length
(the low-rate head still runs whole).
"""
from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from model.layers import from_fast_layout, to_fast_layout
from model.receptive_field import Span, UnboundedReceptiveField, span_of

TILE_ELEMENTS = 1 << 18  # activations per tile (1 MiB of float32): fits in L2 cache
MIN_TILE = 8192  # samples; shorter tiles cost more in per-call overhead than they save
TAIL_ELEMENTS = 1 << 22  # activations of a tail tile's widest stage (16 MiB of float32)
MAX_HALO_SHARE = 1 / 32  # of a tail tile's input, at most, recomputed as halo


_GEOMETRY: "weakref.WeakKeyDictionary[nn.Module, tuple[int, int, int, int, int]]" = weakref.WeakKeyDictionary()
_SPANS: "weakref.WeakKeyDictionary[nn.Module, Span | None]" = weakref.WeakKeyDictionary()


def _stage_geometry(stage: nn.Module) -> tuple[int, int, int, int, int]:
    """(up, down, halo_left, halo_right, output channels) of a stage, halos in input samples
    (cached)."""
    if stage not in _GEOMETRY:
        _GEOMETRY[stage] = (*_derive_geometry(span_of(stage)), _output_channels(stage))
    return _GEOMETRY[stage]


def _bounded_span(stage: nn.Module) -> Span | None:
    """The stage's receptive span, None if it has none (a recurrence, a time group norm); cached."""
    if stage not in _SPANS:
        try:
            _SPANS[stage] = span_of(stage)
        except UnboundedReceptiveField:
            _SPANS[stage] = None
    return _SPANS[stage]


def _derive_geometry(span: Span) -> tuple[int, int, int, int]:
    if span.scale >= 1:
        up, down = 1, int(round(span.scale))
    else:
        up, down = int(round(1 / span.scale)), 1
    left = math.ceil(max(0.0, -span.left))
    right = math.ceil(max(0.0, span.right - span.scale)) + 1
    return up, down, _round_up(left, down), _round_up(right, down)


def _output_channels(stage: nn.Module) -> int:
    """Channels the stage outputs: those of its last convolution (its input's if it has none).

    A stage that widens its input (a codec's first convolution: 1 channel in, many out) must
    be tiled by its output, not its input, to stay in cache.
    """
    widths = [m.out_channels for m in stage.modules() if isinstance(getattr(m, "out_channels", None), int)]
    return widths[-1] if widths else 0


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def run_tiled(stage: nn.Module, x: torch.Tensor, tile_elements: int | None = None) -> torch.Tensor:
    """``stage(x)`` computed on tiles of about ``tile_elements`` activations.

    Only long, narrow activations are tiled (the high-rate end of a codec); wide low-rate
    stages run whole, where per-call costs would dominate.
    """
    up, down, halo_left, halo_right, out_channels = _stage_geometry(stage)
    budget = TILE_ELEMENTS if tile_elements is None else tile_elements
    width = max(x.shape[1] * up, out_channels * up // down)  # activations per input sample
    tile = _round_up(max(MIN_TILE, 8 * (halo_left + halo_right), budget // max(1, width)), down)
    return _run_on_tiles(stage, x, tile, (up, down, halo_left, halo_right))


def _run_on_tiles(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int,
                  geometry: tuple[int, int, int, int]) -> torch.Tensor:
    """``fn(x)`` computed on tiles of ``tile`` input samples, each read with its halo, written into
    one output (``fn`` whole when ``x`` is under two tiles long or not a whole number of strides)."""
    up, down, halo_left, halo_right = geometry
    length = x.shape[-1]
    if length <= 2 * tile or length % down:
        return fn(x)
    starts = list(range(0, length, tile))
    out = None
    # The last tile first: its end (the stage's own tail) gives the output's length, so the tiles
    # are written into one output instead of kept as pieces and concatenated (a second copy).
    for start in starts[-1:] + starts[:-1]:
        end = min(length, start + tile)
        lo, hi = max(0, start - halo_left), min(length, end + halo_right)
        y = fn(x[..., lo:hi])
        first = (start - lo) * up // down
        piece = y[..., first:None if end == length else first + (end - start) * up // down]
        at = start * up // down
        if out is None:
            out = _empty_like_layout(y, at + piece.shape[-1])
        out[..., at:at + piece.shape[-1]] = piece
    return out


def _empty_like_layout(y: torch.Tensor, length: int) -> torch.Tensor:
    """An empty tensor of ``y``'s shape but ``length`` long, in ``y``'s memory layout (the fast
    layout's channels-last, so that the next stage computes as it would on the concatenation)."""
    channels_last = y.dim() == 4 and y.is_contiguous(memory_format=torch.channels_last)
    return torch.empty((*y.shape[:-1], length), dtype=y.dtype, device=y.device,
                       memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def run_sequential_tiled(stack: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``stack(x)``, each stage on its own tiles, and the stack's tail (see :func:`_tail_of`) on
    tiles of its own too: of the tail's activations only its output is held whole."""
    stages = list(stack)
    tail = _tail_of(stack, x.shape[1])
    head = len(stages) if tail is None else tail.start
    x = _run_stages(stages[:head], x)
    if tail is None:
        return x
    tile = max(1, int(TAIL_ELEMENTS // tail.width))  # a tail does not downsample: any tile will do
    return _run_on_tiles(lambda part: _run_stages(stages[head:], part), x, tile, tail.geometry)


def _run_stages(stages: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for stage in stages:
        x = run_tiled(stage, x)
    return x


def tail_start(stack: nn.Sequential, in_channels: int) -> int | None:
    """Index of the first stage of ``stack``'s tail (:func:`_tail_of`), None if it has none: the
    stages before it run once per chunk, each on the whole chunk (or on tiles of 8192 samples or
    more), the tail's once per tile."""
    tail = _tail_of(stack, in_channels)
    return None if tail is None else tail.start


@dataclass(frozen=True)
class _Tail:
    """The last stages of a stack, tiled together: where they start, their joint geometry (up,
    down, halos in their input's samples) and their widest activation per input sample."""

    start: int
    geometry: tuple[int, int, int, int]
    width: float


def _tail_of(stack: nn.Sequential, in_channels: int) -> _Tail | None:
    """The longest tail of ``stack`` that tiles with little recomputation.

    Per-stage tiles bound each stage's working set, but every stage still writes a whole-signal
    output: at a decoder's high-rate end these are the largest activations of the pass (DAC
    44.1 kHz, 10 s: 170 MB each). Running the tail stage after stage on one tile at a time holds
    one tile of each instead. A tail's halo is the sum of its stages', counted at its input's rate,
    so the tail is as long as a tile of ``TAIL_ELEMENTS`` (in its widest activation) keeps the halo
    within ``MAX_HALO_SHARE`` of the tile: a decoder's low-rate head, wide and with halos long at
    its rate, runs whole, its activations being the small ones. Only tails that do not downsample
    qualify: an encoder's largest activations are at its input, where its halos are longest, and
    its codes stay computed as before.
    """
    stages = list(stack)
    spans = [_bounded_span(stage) for stage in stages]
    channels = [in_channels]  # input channels of each stage
    for stage in stages:
        channels.append(_output_channels(stage) or channels[-1])
    for start in range(len(stages)):
        if any(span is None for span in spans[start:]):
            continue
        joint, width, rate = Span(), float(channels[start]), 1.0
        for span, out_channels in zip(spans[start:], channels[start + 1:]):
            joint, rate = joint.then(span), rate / span.scale
            width = max(width, out_channels * rate)
        geometry = _derive_geometry(joint)
        if geometry[1] == 1 and geometry[2] + geometry[3] <= MAX_HALO_SHARE * TAIL_ELEMENTS / width:
            return _Tail(start, geometry, width)
    return None


def run_fast(stack: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Inference pass of a (weight-norm folded) stack on ``[B, C, T]``: fast layout, tiled.

    A stack held in a lower precision (fast mode, :mod:`model.fast_mode`) computes in it; its
    input is cast to that precision and its output returned in the input's."""
    dtype = next(stack.parameters(), x).dtype
    y = from_fast_layout(run_sequential_tiled(stack, to_fast_layout(x.to(dtype))))
    return y.to(x.dtype)
