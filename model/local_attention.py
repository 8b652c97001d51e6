"""Windowed multi-head self-attention over time (SNAC's ``LocalMHA``), with rotary positions.

The sequence is cut into consecutive windows of ``window_size`` frames, counted from the
first frame, and every frame attends only to the frames of its own window; positions are
rotary (RoPE) and restart at every window. A pre-norm residual block: ``x + out(attn(norm(x)))``.

Because windows are aligned to the start of the signal, the layer is not shift-invariant: a
chunk computed on its own equals the whole-signal computation only if it starts on a window
boundary. Its receptive span (every frame may read its whole window) is therefore reported
for margins, and the network that holds it asks the chunked engine for window-aligned chunks.

The attribute names (``norm``, ``to_qkv``, ``rel_pos.inv_freq``, ``to_out``) are the official
release's state-dict keys.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.receptive_field import Span

HEAD_DIM = 64  # the release fixes the head width; the head count is the width over it


class RotaryFrequencies(nn.Module):
    """The rotary embedding's inverse frequencies (a persistent buffer in the release's files)."""

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        # computed on the CPU even while a network is built on the meta device to check a file's
        # shapes: torch's meta kernel for this power imports sympy (75 MiB resident) for nothing
        exponents = torch.arange(0, head_dim, 2, device="cpu").float() / head_dim
        self.register_buffer("inv_freq", 1.0 / (10000 ** exponents))

    def angles(self, length: int) -> torch.Tensor:
        """``[length, head_dim]`` rotation angles of positions ``0..length-1``."""
        t = torch.arange(length, device=self.inv_freq.device).type_as(self.inv_freq)
        freqs = torch.outer(t, self.inv_freq)
        return torch.cat((freqs, freqs), dim=-1)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def _rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    return x * angles.cos() + _rotate_half(x) * angles.sin()


class LocalAttention(nn.Module):
    """``[B, C, T]`` -> ``[B, C, T]``; ``C`` a multiple of 64 (one head per 64 channels).

    A length that is not a whole number of windows is zero-padded to one for the attention and
    trimmed back (the release accepts whole windows only; for those the result is the same).
    """

    def __init__(self, dim: int, window_size: int) -> None:
        super().__init__()
        if dim < HEAD_DIM or dim % HEAD_DIM:
            raise ValueError(f"local attention needs a width that is a multiple of {HEAD_DIM}, not {dim}")
        self.window_size = window_size
        self.heads = dim // HEAD_DIM
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.rel_pos = RotaryFrequencies(HEAD_DIM)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def receptive_span(self) -> Span:
        """Frame ``j`` reads its window: at most ``window_size - 1`` frames on either side."""
        reach = self.window_size - 1
        return Span(1.0, -reach, reach)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, length = x.shape
        w = self.window_size
        h = self.norm(F.pad(x, (0, -length % w)).transpose(1, 2))
        windows = h.shape[1] // w
        q, k, v = (t.reshape(b, windows, w, self.heads, HEAD_DIM).permute(0, 3, 1, 2, 4)
                   for t in self.to_qkv(h).chunk(3, dim=-1))
        angles = self.rel_pos.angles(w)
        out = F.scaled_dot_product_attention(_rotate(q, angles), _rotate(k, angles), v)
        out = out.permute(0, 2, 3, 1, 4).reshape(b, windows * w, c)
        return self.to_out(out)[:, :length].transpose(1, 2) + x
