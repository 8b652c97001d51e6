"""Vector quantizers: the factorised L2-normalised VQ of Improved RVQGAN and the residual stack.

The residual stack is family-agnostic: it takes any list of single-stage quantizers that
implement :class:`QuantizerStage`, so SoundStream's EMA codebooks and DAC's factorised codes
share one residual loop, one dropout rule and one truncation rule.

Two deliberate departures from the reference implementation:

* Truncation to ``n`` codebooks is exact in *every* mode. The reference ignores
  ``n_quantizers`` in training mode; here an explicit ``n`` always wins, and quantizer
  dropout only applies when no ``n`` is given during training.
* Quantizer dropout is drawn per sample: each item of the batch, with probability ``p``,
  keeps a uniformly drawn ``n`` in 1..N codebooks (the paper's description), instead of the
  reference's fixed first ``int(B * p)`` items.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from model.layers import WNConv1d


@dataclass
class StageOutput:
    """One quantizer stage applied to a residual ``[B, D, T]``."""

    quantized: torch.Tensor  # [B, D, T], straight-through in training
    indices: torch.Tensor  # [B, T] int64
    commitment_loss: torch.Tensor  # [B]
    codebook_loss: torch.Tensor  # [B]


class QuantizerStage(Protocol):
    def forward(self, residual: torch.Tensor) -> StageOutput: ...
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor: ...


class FactorizedVectorQuantizer(nn.Module):
    """Project to a low-dimensional code space, look up by cosine similarity, project back.

    The distance is computed with the reference's own expansion
    ``|e|^2 - 2 e.c + |c|^2`` on normalised vectors, so that near-ties round the same way
    and official checkpoints give the very same codes.
    """

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.codebook_dim = codebook_dim
        self.in_proj = WNConv1d(input_dim, codebook_dim, kernel_size=1)
        self.out_proj = WNConv1d(codebook_dim, input_dim, kernel_size=1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def nearest(self, latents: torch.Tensor) -> torch.Tensor:
        """Indices ``[B, T]`` of the codewords closest in angle to ``latents [B, d, T]``."""
        b, d, t = latents.shape
        enc = F.normalize(latents.transpose(1, 2).reshape(b * t, d))
        book = F.normalize(self.codebook.weight)
        dist = enc.pow(2).sum(1, keepdim=True) - 2 * enc @ book.t() + book.pow(2).sum(1, keepdim=True).t()
        return dist.neg().argmax(1).view(b, t)

    def forward(self, residual: torch.Tensor) -> StageOutput:
        z_e = self.in_proj(residual)
        indices = self.nearest(z_e)
        z_q = F.embedding(indices, self.codebook.weight).transpose(1, 2)
        if torch.is_grad_enabled():
            commitment = F.mse_loss(z_e, z_q.detach(), reduction="none").mean([1, 2])
            codebook = F.mse_loss(z_q, z_e.detach(), reduction="none").mean([1, 2])
        else:
            commitment = codebook = residual.new_zeros(residual.shape[0])
        # Straight-through estimator. Kept at inference too: its rounding is part of the
        # residual the next stage sees, and official codes depend on it.
        z_q = z_e + (z_q - z_e).detach()
        return StageOutput(self.out_proj(z_q), indices, commitment, codebook)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return self.out_proj(F.embedding(indices, self.codebook.weight).transpose(1, 2))


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # [B, D, T] sum of the kept stages
    codes: torch.Tensor  # [B, n, T] int64
    commitment_loss: torch.Tensor  # scalar
    codebook_loss: torch.Tensor  # scalar
    n_kept: torch.Tensor  # [B] number of codebooks each item kept


class ResidualVectorQuantizer(nn.Module):
    """Residual VQ over any list of stages, with per-sample quantizer dropout."""

    def __init__(self, stages: list[nn.Module], dropout_p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout_p <= 1.0:
            raise ValueError(f"quantizer dropout must be in [0, 1], got {dropout_p}")
        self.quantizers = nn.ModuleList(stages)
        self.dropout_p = float(dropout_p)

    @property
    def n_codebooks(self) -> int:
        return len(self.quantizers)

    def sample_kept(self, batch: int, device: torch.device) -> torch.Tensor:
        """Per-item codebook counts for a training step (dropout with probability p)."""
        n = torch.full((batch,), self.n_codebooks, device=device)
        if self.dropout_p > 0:
            drop = torch.rand(batch, device=device) < self.dropout_p
            n = torch.where(drop, torch.randint(1, self.n_codebooks + 1, (batch,), device=device), n)
        return n

    def forward(self, z: torch.Tensor, n_codebooks: int | None = None) -> QuantizerOutput:
        batch = z.shape[0]
        if n_codebooks is not None:
            if not 1 <= n_codebooks <= self.n_codebooks:
                raise ValueError(f"n_codebooks must be in 1..{self.n_codebooks}, got {n_codebooks}")
            kept = torch.full((batch,), n_codebooks, device=z.device)
            stages = n_codebooks
        elif self.training:
            kept = self.sample_kept(batch, z.device)
            stages = self.n_codebooks  # every stage is trained on its residual
        else:
            kept = torch.full((batch,), self.n_codebooks, device=z.device)
            stages = self.n_codebooks

        quantized = torch.zeros_like(z)
        residual = z
        commitment = z.new_zeros(())
        codebook = z.new_zeros(())
        codes = []
        for i in range(stages):
            out = self.quantizers[i](residual)
            mask = (kept > i).to(z.dtype)
            quantized = quantized + out.quantized * mask[:, None, None]
            residual = residual - out.quantized
            commitment = commitment + (out.commitment_loss * mask).mean()
            codebook = codebook + (out.codebook_loss * mask).mean()
            codes.append(out.indices)
        return QuantizerOutput(quantized, torch.stack(codes, 1), commitment, codebook, kept)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the stages' codewords for ``codes [B, n, T]`` (n <= N)."""
        n = codes.shape[1]
        if not 1 <= n <= self.n_codebooks:
            raise ValueError(f"codes hold {n} codebooks; this quantizer has 1..{self.n_codebooks}")
        out = self.quantizers[0].decode_indices(codes[:, 0])
        for i in range(1, n):
            out = out + self.quantizers[i].decode_indices(codes[:, i])
        return out
