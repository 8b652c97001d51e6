"""A causal transformer over latent frames: RoPE, layer scale, attention with a finite context.

Streaming codecs (Mimi) put such a transformer between their convolutional encoder and the
quantizer, and another before their decoder. Each frame attends to itself and the
``context - 1`` frames before it, never to the future, so the codes of a frame do not wait
for later audio.

The module tree and arithmetic follow Kyutai's ``moshi`` package (``StreamingTransformer``
without its streaming state): pre-norm layers ``x + scale_1 * attn(norm1(x))`` then
``x + scale_2 * linear2(gelu(linear1(norm2(x))))``, bias-free projections, one fused
``in_proj`` for queries, keys and values (head-major within each), and interleaved rotary
embeddings computed in float32 at absolute positions ``0 .. T-1``.

Memory and time: a whole clip at once would need a ``T x T`` attention matrix per head (7 GB
for ten minutes at 25 frames per second). With a finite context a query only reads the
``context`` keys before it, so attention is computed :data:`QUERY_BLOCK` queries at a time
against just the keys their window can reach, and the feed-forward (position-wise, its
hidden layer four times as wide) :data:`ROW_BLOCK` frames at a time: memory is
``O(T * width)`` for the activations plus one small block. The feed-forward blocks give the
very same numbers (row by row); attention blocks equal the one-piece masked computation up
to the kernel's summation order (a masked key adds an exact zero), and within a single block
the call is exactly the reference's. Small query blocks waste little work on keys their
window cannot reach: with the release's 250-frame context, 64 queries read 313 keys (a
256-query block would read 505, one and a half times the work).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

QUERY_BLOCK = 64  # queries attended at once (frames): each block also reads context - 1 earlier keys
ROW_BLOCK = 1024  # frames through the feed-forward at once (its hidden layer is 4x the width)


def apply_rope(q: torch.Tensor, k: torch.Tensor, max_period: float, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary embedding of ``q, k [B, H, T, D]`` at positions ``start .. start+T-1``; pairs are
    interleaved (``(x0, x1), (x2, x3)...`` are the real and imaginary parts)."""
    t, d = q.shape[2], q.shape[3]
    freqs = torch.exp(torch.arange(d // 2, device=q.device, dtype=torch.float32) * (-math.log(max_period) * 2 / d))
    ts = torch.arange(start, start + t, device=q.device, dtype=torch.float32).view(1, 1, -1, 1)
    cos, sin = torch.cos(freqs * ts), torch.sin(freqs * ts)

    def rotate(x: torch.Tensor) -> torch.Tensor:
        pairs = x.view(*x.shape[:-1], d // 2, 2)
        real, imag = pairs[..., 0].float(), pairs[..., 1].float()
        turned = torch.stack([(real * cos - imag * sin).to(x.dtype), (real * sin + imag * cos).to(x.dtype)], dim=-1)
        return turned.view(*x.shape)

    return rotate(q), rotate(k)


class WindowedSelfAttention(nn.Module):
    """Causal multi-head self-attention in which frame ``t`` reads frames ``t - context + 1 .. t``."""

    def __init__(self, dim: int, num_heads: int, context: int | None, max_period: float) -> None:
        super().__init__()
        if num_heads < 1 or dim % num_heads or (dim // num_heads) % 2:
            raise ValueError(f"width {dim} must split into {num_heads} heads of an even size")
        if context is not None and context < 1:
            raise ValueError(f"the attention context must be at least 1 frame (the frame itself), got {context}")
        self.num_heads, self.context, self.max_period = num_heads, context, max_period
        self.in_proj = nn.Linear(dim, 3 * dim, bias=False)
        self.out_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, C]`` -> ``[B, T, C]``."""
        b, t, _ = x.shape
        q, k, v = self.in_proj(x).view(b, t, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, k, self.max_period)
        return self.out_proj(attend(q, k, v, t if self.context is None else self.context, 0))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, reach: int, past: int) -> torch.Tensor:
    """Windowed causal attention of queries ``[B, H, Tq, D]`` to keys and values ``[B, H, past + Tq, D]``
    (query ``i`` sits at key position ``past + i``), :data:`QUERY_BLOCK` queries at a time ->
    ``[B, Tq, H * D]``. ``past > 0`` is a streaming step reading its cache of earlier frames."""
    b, h, t, d = q.shape
    out = []
    for start in range(0, t, QUERY_BLOCK):
        stop = min(t, start + QUERY_BLOCK)
        first = max(0, past + start - reach + 1)
        delta = torch.arange(past + start, past + stop, device=q.device)[:, None] - torch.arange(
            first, past + stop, device=q.device)
        mask = (delta >= 0) & (delta < reach)
        out.append(F.scaled_dot_product_attention(q[:, :, start:stop], k[:, :, first:past + stop],
                                                  v[:, :, first:past + stop], mask[None, None]))
    return torch.cat(out, dim=2).transpose(1, 2).reshape(b, t, h * d)


class LayerScale(nn.Module):
    """A learned per-channel scale on a residual branch (Touvron et al. 2021), started small."""

    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


class TransformerLayer(nn.Module):
    def __init__(self, dim: int, num_heads: int, dim_feedforward: int, context: int | None,
                 layer_scale: float | None, max_period: float) -> None:
        super().__init__()
        self.self_attn = WindowedSelfAttention(dim, num_heads, context, max_period)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.linear1 = nn.Linear(dim, dim_feedforward, bias=False)
        self.linear2 = nn.Linear(dim_feedforward, dim, bias=False)
        scale = (lambda: LayerScale(dim, layer_scale)) if layer_scale is not None else nn.Identity
        self.layer_scale_1, self.layer_scale_2 = scale(), scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feed_forward(x + self.layer_scale_1(self.self_attn(self.norm1(x))))

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The residual feed-forward half of the layer, position-wise, :data:`ROW_BLOCK` frames at a time."""
        return torch.cat([self._feed_forward(x[:, start:start + ROW_BLOCK])
                          for start in range(0, x.shape[1], ROW_BLOCK)], dim=1)

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer_scale_2(self.linear2(F.gelu(self.linear1(self.norm2(x)))))


class CausalTransformer(nn.Module):
    """A stack of :class:`TransformerLayer` on ``[B, C, T]`` latents (the convolutions' layout)."""

    def __init__(self, dim: int, num_heads: int, num_layers: int, dim_feedforward: int, context: int | None,
                 layer_scale: float | None, max_period: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerLayer(dim, num_heads, dim_feedforward, context, layer_scale, max_period)
            for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        for layer in self.layers:
            x = layer(x)
        return x.transpose(1, 2)
