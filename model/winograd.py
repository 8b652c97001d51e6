"""Winograd convolution for the wide kernel-7 layers of DAC-style decoders.

A DAC-style decoder spends about 70 % of its time in the dilated kernel-7 convolutions of
its residual units, and oneDNN already runs them near this CPU's float32 peak: doing them
faster means doing fewer multiplications. Winograd's minimal filtering F(m, r) computes m
outputs of an r-tap filter from n = m + r - 1 inputs with n multiplications instead of m * r;
across channels that turns a convolution into n matrix products of tiles by channels, each
1/m of the work of one tap. F(6, 7) does 12 products where direct convolution does 42:
measured 2.3-2.9x faster per layer for 192 to 768 channels (docs/benchmarks.md).

The cost is rounding: the transforms multiply by powers of the interpolation points, so
F(6, 7) in float32 is off the exact convolution by 1-3e-5 of the output's scale, ten times
direct convolution's rounding; through DAC 44.1 kHz's whole decoder the audio stays within a
few 1e-6 of the reference. The points (0, +-1, +-2,
+-1/2, +-3/2, +-2/3 and infinity) were the most accurate of the sets we measured. Only
decoders use it: an encoder's latents pick codes by nearest neighbour, and codes must stay
identical to the reference's.

The matrices are built here exactly, in rationals, by Toom-Cook interpolation; the tile
gathering and scattering run in the native kernel (``csrc/winograd.cpp``), the products in
PyTorch's GEMM. Without the native build, layers convolve directly.
"""
from __future__ import annotations

import os
import weakref
from fractions import Fraction
from functools import lru_cache

import torch
from torch import nn

from model import native_kernels
from model.graph_capture import capturing_graph

TAPS = 7
OUTPUTS_PER_TILE = 6
POINTS = (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2), Fraction(3, 2), Fraction(-3, 2),
          Fraction(2, 3), Fraction(-2, 3))  # and infinity
# Narrower layers convolve directly. Below ~48 channels the matrix products are too narrow to
# beat oneDNN at all (0.99x at 24 channels, 1.3x at 48, 1.9x at 96, 2.3-2.9x from 192 up); and
# the rounding costs the same at every width: on a trained decoder it reaches 7e-6 to 1.1e-5 of
# full scale in the audio (the bundled model, whose widest layers have 96 channels), the edge of
# the 1e-5 within which streamed decoding equals offline decoding. So only the wide layers that
# make a decoder slow use it: DAC 44.1 kHz's 192-768-channel stages, 60 % of its decoding.
MIN_CHANNELS = 128
# GEMM rows (tiles x phases) per step: transformed tiles and products stay a few megabytes.
BLOCK_ROWS = 256
# Output channels per block of the weight transform (the fastest measured: 4, 8, 16, 32, 64, 128).
TRANSFORM_BLOCK = 16


Matrix = list[list[Fraction]]


def _inverse(matrix: Matrix) -> Matrix:
    """Exact inverse by Gauss-Jordan elimination (the matrices are at most 12 x 12)."""
    n = len(matrix)
    rows = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        scale = rows[col][col]
        rows[col] = [v / scale for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    return [row[n:] for row in rows]


def _evaluation(points: tuple[Fraction, ...], degree_bound: int) -> Matrix:
    """Rows evaluating a polynomial of ``degree_bound`` coefficients at each point, then at
    infinity (its leading coefficient)."""
    rows = [[Fraction(p) ** k for k in range(degree_bound)] for p in points]
    return rows + [[Fraction(0)] * (degree_bound - 1) + [Fraction(1)]]


def toom_cook(m: int, r: int, points: tuple[Fraction, ...]) -> tuple[Matrix, Matrix, Matrix]:
    """Exact ``(A^T [m, n], G [n, r], B^T [n, n])`` of F(m, r) on ``points`` plus infinity:
    ``y = A^T ((G g) * (B^T d))`` is the correlation ``y_i = sum_k g_k d_(i+k)``, i < m, of a tile
    ``d`` of n = m + r - 1 inputs with the filter ``g`` (what ``conv1d`` computes).

    It is the transpose of Toom-Cook polynomial multiplication: evaluate both factors at the
    points, multiply, interpolate; a correlation is that product's transpose (Lavin & Gray)."""
    n = m + r - 1
    if len(points) != n - 1 or len(set(points)) != n - 1:
        raise ValueError(f"F({m}, {r}) needs {n - 1} distinct finite points")
    interpolate = _inverse(_evaluation(points, n))
    at = [list(col) for col in zip(*_evaluation(points, m))]
    bt = [list(col) for col in zip(*interpolate)]
    return at, _evaluation(points, r), bt


@lru_cache(maxsize=None)
def transforms() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """F(6, 7)'s ``A^T``, ``G`` (float64, for the weights) and ``B^T`` (float32, contiguous)."""
    at, g, bt = toom_cook(OUTPUTS_PER_TILE, TAPS, POINTS)
    as_tensor = lambda rows, dtype: torch.tensor([[float(v) for v in row] for row in rows], dtype=dtype)  # noqa: E731
    return as_tensor(at, torch.float32), as_tensor(g, torch.float64), as_tensor(bt, torch.float32)


def eligible(conv: nn.Module) -> bool:
    """A plain kernel-7 convolution (stride 1, no groups) wide enough to gain."""
    return (getattr(conv, "kernel_size", None) == TAPS and conv.stride == 1 and conv.groups == 1
            and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS)


def transformed_weight(weight: torch.Tensor) -> torch.Tensor:
    """``G w`` of a ``[C_out, C_in, 7]`` weight as the GEMMs read it, ``[n, C_in, C_out]`` float32,
    computed in float64 so that its only rounding is the final one.

    A few output channels at a time: each element is one sum of 7 products whichever block holds
    it (tests check the blocks give one whole product's bits), while the float64 intermediates stay
    under a megabyte instead of 5.4 times the weight, and the whole runs 4x faster (768 channels:
    15 ms on one core). Layers that transform their weight at each call (:meth:`model.layers.WNConv1d.enable_winograd`)
    pay this time."""
    _, g, _ = transforms()
    c_out, c_in, _ = weight.shape
    source = weight.detach().cpu()
    out = torch.empty(len(g), c_in, c_out)
    for first in range(0, c_out, TRANSFORM_BLOCK):
        block = source[first:first + TRANSFORM_BLOCK].double()
        out[:, :, first:first + TRANSFORM_BLOCK] = torch.einsum("pk,ock->pco", g, block)
    return out.to(weight.device)


def disabled() -> bool:
    return os.environ.get("RVQ_NO_WINOGRAD", "") not in ("", "0")


def serves(x: torch.Tensor, weight: torch.Tensor, dilation: int, padding: int) -> bool:
    """Whether the native kernel can convolve fast-layout ``x [B, C, 1, T]`` with ``weight`` (or its
    transform): not without the build, with gradients, on another device or dtype, while a graph
    is recorded, or for an empty output."""
    return not (disabled() or capturing_graph() or x.requires_grad or x.device.type != "cpu"
                or x.dtype != torch.float32 or weight.dtype != torch.float32
                or not x.is_contiguous(memory_format=torch.channels_last)
                or x.shape[-1] + 2 * padding - (TAPS - 1) * dilation <= 0 or native_kernels.load() is None)


def convolve(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, dilation: int,
             padding: int) -> torch.Tensor | None:
    """The convolution of fast-layout ``x [B, C, 1, T]`` (zero ``padding`` both sides) with the
    weight whose :func:`transformed_weight` is ``u``; None when the native kernel cannot serve
    the call (:func:`serves`)."""
    if not serves(x, u, dilation, padding):
        return None
    at, _, bt = transforms()
    length = x.shape[-1] + 2 * padding - (TAPS - 1) * dilation
    return native_kernels.load().winograd_conv1d(x, u, at, bt, bias, dilation, padding, length, BLOCK_ROWS)


def use_in_decoder(network: nn.Module) -> None:
    """Let the eligible convolutions of ``network``'s decoder stack convolve by Winograd tiles
    (see :meth:`model.layers.WNConv1d.enable_winograd`).

    Not the stack's first layer: it reads the latents at the frame rate, where it does little of
    the work (1.5 % of DAC 44.1 kHz's decoding) but, being the widest, would hold the largest
    transformed weight (75 MB there). The layers of the low-rate head before the stack's tail
    tiles (:func:`model.tiled.tail_start`) run once per chunk, on the whole chunk: they transform
    their weight at each call rather than hold it (DAC 44.1 kHz's 768-channel block: 81 MiB not
    held, 0.6-1.2 % of decoding a 5-10 s chunk on one core); the tail's run
    once per tile, and hold theirs. Nothing changes without the native build (the transformed
    weights would only take memory) or for a network without a decoder stack."""
    stack = getattr(network, "decoder_stack", None)
    if stack is None or disabled() or native_kernels.load() is None:
        return
    from model.layers import WNConv1d
    from model.tiled import tail_start

    layers = [m for m in stack().modules() if isinstance(m, WNConv1d)]
    chosen = {id(m) for m in layers[1:] if eligible(m)}
    if not chosen:
        return
    head = tail_start(stack(), layers[0].in_channels)
    for index, stage in enumerate(stack()):
        for layer in stage.modules():
            if id(layer) in chosen:
                layer.enable_winograd(per_call=head is not None and index < head)


class HeldTransforms:
    """While alive, the Winograd layers of ``network`` that transform their weight at each call
    hold it instead: a streamer calls every layer once per block of a few frames, where the
    transform (15 ms for 768 channels) would cost more than the convolution."""

    def __init__(self, network: nn.Module) -> None:
        layers = [m for m in network.modules() if hasattr(m, "hold_winograd")]
        for layer in layers:
            layer.hold_winograd()
        weakref.finalize(self, _release, layers)


def _release(layers: list[nn.Module]) -> None:
    for layer in layers:
        layer.release_winograd()
