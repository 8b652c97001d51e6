"""Vector quantizers: DAC's factorised VQ, a plain Euclidean VQ, group slices, the residual stack.

The residual stack is family-agnostic: it takes any list of single-stage quantizers that
implement :class:`QuantizerStage`, so SoundStream's and EnCodec's EMA codebooks
(:mod:`model.ema_quantize`), DAC's factorised codes and HiFi-Codec's grouped codebooks
share one residual loop, one dropout rule and one truncation rule.

Group-residual VQ (HiFi-Codec) is this same residual loop over :class:`GroupSlice` stages
in *level-major* order -- (level 0, group 0), (level 0, group 1), ..., (level 1, group 0)...:
each stage quantizes only its group's channels, so the residual of one group never
leaks into another and the loop is exactly "one residual VQ per group". The order makes
every prefix of the codes meaningful and puts all groups' coarse codes first.

Two deliberate departures from the reference implementation:

* Truncation to ``n`` codebooks is exact in *every* mode. The reference ignores
  ``n_quantizers`` in training mode; here an explicit ``n`` always wins, and quantizer
  dropout only applies when no ``n`` is given during training.
* Quantizer dropout is drawn per sample: each item of the batch, with probability ``p``,
  keeps a uniformly drawn ``n`` in 1..N codebooks (the paper's description), instead of the
  reference's fixed first ``int(B * p)`` items.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from model.graph_capture import capturing_graph
from model.layers import WNConv1d, embedding

NEAREST_BLOCK_ROWS = 256  # rows of the distance matrix formed at once (1 MB for 1024 codewords)


@dataclass(frozen=True)
class Codebook:
    """Codewords ``[K, d]`` with the terms of the distance that depend on them alone.

    A search recomputes them at every call; a stream searching a few frames at a time takes
    them once (:meth:`ResidualVectorQuantizer.code_search`). The same operations on the same
    weights, so the same values and the same codes.
    """

    rows: torch.Tensor
    squared: torch.Tensor  # |e|^2 per codeword, [1, K]
    max_norm: torch.Tensor  # max |e|, for the near-tie scale

    @classmethod
    def of(cls, rows: torch.Tensor) -> Codebook:
        return cls(rows, rows.pow(2).sum(1)[None], rows.norm(dim=1).max())


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
        self.codebook = embedding(codebook_size, codebook_dim)

    def nearest(self, latents: torch.Tensor, codebook: Codebook | None = None) -> torch.Tensor:
        """Indices ``[B, T]`` of the codewords closest in angle to ``latents [B, d, T]``
        (``codebook``: :meth:`unit_codebook`, when the caller keeps it)."""
        b, d, t = latents.shape
        enc = F.normalize(latents.transpose(1, 2).reshape(b * t, d))
        return euclidean_nearest(enc, codebook or self.unit_codebook()).view(b, t)

    def unit_codebook(self) -> Codebook:
        """The codewords normalised to unit length, as the cosine search compares them."""
        return Codebook.of(F.normalize(self.codebook.weight))

    def code_vectors(self, residual: torch.Tensor) -> torch.Tensor:
        """The stage's input as rows ``[B*T, d]`` of the code space its codebook lives in."""
        return to_vectors(self.in_proj(residual))

    def inference_step(self) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """``residual -> (quantized, indices)`` for frozen weights: :meth:`forward`'s values without
        its losses, the codebook's terms taken once."""
        codebook = self.unit_codebook()

        def step(residual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z_e, z_q, indices = self._search(residual, codebook)
            return self.out_proj(z_e + (z_q - z_e)), indices
        return step

    def _search(self, residual: torch.Tensor, codebook: Codebook | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z_e = self.in_proj(residual)
        indices = self.nearest(z_e, codebook)
        return z_e, F.embedding(indices, self.codebook.weight).transpose(1, 2), indices

    def forward(self, residual: torch.Tensor) -> StageOutput:
        z_e, z_q, indices = self._search(residual)
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


def euclidean_nearest(vectors: torch.Tensor, codebook: torch.Tensor | Codebook) -> torch.Tensor:
    """Index of the nearest codeword (``[K, d]``, or a :class:`Codebook`) for each of ``vectors [N, d]``.

    Written as the expansion ``|x|^2 - 2 x.e + |e|^2`` in the order the DAC and EnCodec
    references use, so near-ties round the same way and official checkpoints give the very
    same codes (``argmin`` picks the first minimum, as the references' ``(-dist).argmax``
    does). The distance matrix is formed a block of rows at a time: whole, it is megabytes
    per second of audio, written and re-read by each operator, and freshly allocated each
    time; a block stays in cache (2x faster for a 1024-entry codebook).

    Where float32 cannot tell the nearest codeword from the runner-up (within
    :data:`NEAR_TIE_RELATIVE`) the choice is made again exactly (:func:`_exact_nearest`), so a
    row's code depends on that row alone -- not on how many rows share the matrix product,
    which changes its rounding. Chunked encoding then gives the same codes as whole encoding
    wherever the encoder gives both the same latents, even at a near-tie (about 1 % more
    time for the search). Some CPUs' convolution kernels round differently for different
    input lengths; there the latents differ in their last bits and such a near-tie may
    still go either way.
    """
    with torch.no_grad():  # an index has no gradient: no autograd graph for the search
        if capturing_graph():  # whichever form the codebook comes in: a graph holds no branch on data
            return _float64_nearest(vectors, codebook.rows if isinstance(codebook, Codebook) else codebook)
        if not isinstance(codebook, Codebook):
            codebook = Codebook.of(codebook)
        rows = NEAREST_BLOCK_ROWS
        if vectors.shape[0] <= rows:
            return _nearest_block(vectors, codebook)
        indices = torch.empty(vectors.shape[0], dtype=torch.long, device=vectors.device)
        for start in range(0, vectors.shape[0], rows):
            indices[start : start + rows] = _nearest_block(vectors[start : start + rows], codebook)
        return indices


NEAR_TIE_RELATIVE = 1e-5
"""Distances closer than this times ``(|x| + max |e|)^2`` count as tied in float32.

The expansion's rounding error is a few float32 ulps (1.2e-7) of its largest terms,
``|x|^2 + 2|x||e| + |e|^2 <= (|x| + |e|)^2``, accumulated over ``d`` products: below 1e-6 of
that scale for the codebook dimensions used here (8 to 128), so 1e-5 is a safe margin.
"""


def _nearest_block(vectors: torch.Tensor, codebook: Codebook) -> torch.Tensor:
    distances = _distances(vectors, codebook.rows, codebook.squared)
    best, indices = distances.min(1)
    distances.scatter_(1, indices[:, None], float("inf"))
    runner_up = distances.amin(1)
    scale = (vectors.norm(dim=1) + codebook.max_norm).pow(2)
    tied = runner_up - best <= NEAR_TIE_RELATIVE * scale
    if bool(tied.any()):
        indices[tied] = _exact_nearest(vectors[tied], codebook.rows)
    return indices


EXACT_DIFFERENCES = 1 << 21
"""Float64 differences the exact decision forms at once (16 MB). A codebook whose codewords
coincide (an untrained one, a crafted file) ties every row; whole, the block's differences
took rows x codewords x dimension x 8 bytes: 256 MB for EnCodec's codebooks, 1 GB for Mimi's."""


def _exact_nearest(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Nearest codeword by float64 distance, for the rare rows float32 cannot decide.

    A row's runner-up within rounding of its best is a near-tie (two codewords equally far to
    about 1e-5); float64 orders them by the stored values alone, whatever the batch. The rows
    are measured a few at a time in one buffer, so the differences stay within
    :data:`EXACT_DIFFERENCES` (a fresh buffer per step fragmented the heap: 1 GB for a block).
    """
    words = codebook.double()
    step = max(1, EXACT_DIFFERENCES // words.numel())
    buffer = words.new_empty((min(step, vectors.shape[0]), *words.shape))
    indices = torch.empty(vectors.shape[0], dtype=torch.long, device=vectors.device)
    for start in range(0, vectors.shape[0], step):
        part = vectors[start : start + step]
        differences = torch.sub(part[:, None, :].double(), words[None], out=buffer[: part.shape[0]])
        indices[start : start + step] = differences.pow_(2).sum(-1).argmin(1)
    return indices


def _float64_nearest(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The search as an exported graph holds it: the expansion in float64 for every row, then
    argmin -- no blocks, no branch on the data.

    It chooses what the float32 search with its float64 re-decision chooses: outside a near-tie
    the float32 winner leads by far more than float64's rounding, and at a near-tie both decide
    in float64 (by the expansion here, by the direct difference there, which agree unless two
    distances are equal to about 1e-13).
    """
    return _distances(vectors.double(), codebook.double()).argmin(1)


def _distances(vectors: torch.Tensor, codebook: torch.Tensor, squared: torch.Tensor | None = None) -> torch.Tensor:
    squared = codebook.pow(2).sum(1)[None] if squared is None else squared
    return vectors.pow(2).sum(1, keepdim=True) - 2 * vectors @ codebook.t() + squared


def _quantized_and_indices(out: StageOutput) -> tuple[torch.Tensor, torch.Tensor]:
    return out.quantized, out.indices


def to_vectors(x: torch.Tensor) -> torch.Tensor:
    """``[B, d, T]`` -> ``[B*T, d]`` (one row per frame)."""
    return x.transpose(1, 2).reshape(-1, x.shape[1])


def from_vectors(rows: torch.Tensor, batch: int) -> torch.Tensor:
    """``[B*T, d]`` -> ``[B, d, T]``."""
    return rows.view(batch, -1, rows.shape[-1]).transpose(1, 2)


def per_item_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of ``[B, ...]`` tensors, one value per batch item."""
    return (a - b).pow(2).flatten(1).mean(1)


class EuclideanVectorQuantizer(nn.Module):
    """Nearest-neighbour VQ with a codebook learned by gradient (VQ-VAE; HiFi-Codec's stages).

    Returns the commitment loss ``|z_e - sg(z_q)|^2`` and the codebook loss
    ``|sg(z_e) - z_q|^2`` separately; the trainer weights them (HiFi-Codec: 0.25 and 1).
    """

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.codebook = embedding(codebook_size, dim)
        nn.init.uniform_(self.codebook.weight, -1.0 / codebook_size, 1.0 / codebook_size)

    def code_vectors(self, residual: torch.Tensor) -> torch.Tensor:
        """The stage's input as rows ``[B*T, d]`` of the code space its codebook lives in."""
        return to_vectors(residual)

    def forward(self, residual: torch.Tensor) -> StageOutput:
        indices = euclidean_nearest(to_vectors(residual), self.codebook.weight).view(residual.shape[0], -1)
        z_q = self.decode_indices(indices)
        if torch.is_grad_enabled():
            commitment = per_item_mse(residual, z_q.detach())
            codebook = per_item_mse(z_q, residual.detach())
            z_q = residual + (z_q - residual).detach()
        else:
            commitment = codebook = residual.new_zeros(residual.shape[0])
        return StageOutput(z_q, indices, commitment, codebook)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.codebook.weight).transpose(1, 2)


class GroupSlice(nn.Module):
    """A stage applied to channels ``[start, stop)`` of the residual; zeros elsewhere.

    The building block of group-residual VQ (see the module docstring). Losses are those of
    the wrapped stage, i.e. measured on the group's channels.
    """

    def __init__(self, stage: nn.Module, start: int, stop: int, channels: int) -> None:
        super().__init__()
        if not 0 <= start < stop <= channels:
            raise ValueError(f"bad channel group [{start}, {stop}) of {channels}")
        self.stage = stage
        self.start, self.stop, self.channels = start, stop, channels

    def _place(self, part: torch.Tensor) -> torch.Tensor:
        return F.pad(part, (0, 0, self.start, self.channels - self.stop))

    def forward(self, residual: torch.Tensor) -> StageOutput:
        out = self.stage(residual[:, self.start : self.stop])
        return StageOutput(self._place(out.quantized), out.indices, out.commitment_loss, out.codebook_loss)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return self._place(self.stage.decode_indices(indices))

    def learned_codebook(self) -> nn.Embedding | None:
        return learned_codebook(self.stage)

    def code_vectors(self, residual: torch.Tensor) -> torch.Tensor:
        return self.stage.code_vectors(residual[:, self.start : self.stop])


def learned_codebook(stage: nn.Module) -> nn.Embedding | None:
    """The codebook a stage learns by gradient (DAC's, HiFi-Codec's), or ``None`` (EMA codebooks).

    Only such codebooks need the trainer's dead-code revival (:mod:`model.training.code_revival`);
    EMA stages restart their own dead codes.
    """
    if isinstance(stage, GroupSlice):
        return stage.learned_codebook()
    codebook = getattr(stage, "codebook", None)
    return codebook if isinstance(codebook, nn.Embedding) and hasattr(stage, "code_vectors") else None


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # [B, D, T] sum of the kept stages
    codes: torch.Tensor  # [B, n, T] int64
    commitment_loss: torch.Tensor  # scalar
    codebook_loss: torch.Tensor  # scalar
    n_kept: torch.Tensor  # [B] number of codebooks each item kept


class ResidualVectorQuantizer(nn.Module):
    """Residual VQ over any list of stages, with per-sample quantizer dropout.

    ``dropout_step`` makes dropout keep whole multiples of that many codebooks (for grouped
    quantizers: whole levels across all groups).
    """

    def __init__(self, stages: list[nn.Module], dropout_p: float = 0.0, dropout_step: int = 1) -> None:
        super().__init__()
        if not 0.0 <= dropout_p <= 1.0:
            raise ValueError(f"quantizer dropout must be in [0, 1], got {dropout_p}")
        if dropout_step < 1 or len(stages) % dropout_step:
            raise ValueError(f"dropout step {dropout_step} does not divide {len(stages)} codebooks")
        self.quantizers = nn.ModuleList(stages)
        self.dropout_p = float(dropout_p)
        self.dropout_step = dropout_step

    @property
    def n_codebooks(self) -> int:
        return len(self.quantizers)

    def codebook_groups(self) -> dict[str, list[int]] | None:
        """Group and level of every codebook when the stages quantise channel groups, else None.

        Stages on the same channels form a group (numbered in order of appearance); a
        codebook's level is the number of earlier codebooks in its group.
        """
        if not all(isinstance(stage, GroupSlice) for stage in self.quantizers):
            return None
        slices = [(stage.start, stage.stop) for stage in self.quantizers]
        order = list(dict.fromkeys(slices))
        return {"group_of_codebook": [order.index(s) for s in slices],
                "level_of_codebook": [slices[:i].count(s) for i, s in enumerate(slices)]}

    def sample_kept(self, batch: int, device: torch.device) -> torch.Tensor:
        """Per-item codebook counts for a training step (dropout with probability p)."""
        n = torch.full((batch,), self.n_codebooks, device=device)
        if self.dropout_p > 0:
            drop = torch.rand(batch, device=device) < self.dropout_p
            steps = torch.randint(1, self.n_codebooks // self.dropout_step + 1, (batch,), device=device)
            n = torch.where(drop, steps * self.dropout_step, n)
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

    @torch.no_grad()
    def stage_inputs(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The residual each stage quantizes when all ``N`` are applied to ``z [B, D, T]``.

        The stages run in eval mode, so looking does not move an EMA codebook.
        """
        was_training = self.training
        self.eval()
        try:
            inputs, residual = [], z
            for stage in self.quantizers:
                inputs.append(residual)
                residual = residual - stage(residual).quantized
            return inputs
        finally:
            self.train(was_training)

    def code_search(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """``z -> codes``, equal to ``self(z).codes`` in eval mode, for frozen weights.

        A stream quantizes a frame or two per call, where the fixed cost of each call dominates:
        the losses, masks and sums of :meth:`forward` go, and stages that can
        (``inference_step``) take their codebook's terms once instead of at every call.
        """
        steps = [getattr(stage, "inference_step", lambda s=stage: lambda r: _quantized_and_indices(s(r)))()
                 for stage in self.quantizers]

        def search(z: torch.Tensor) -> torch.Tensor:
            residual, codes = z, []
            for step in steps:
                quantized, indices = step(residual)
                residual = residual - quantized
                codes.append(indices)
            return torch.stack(codes, 1)
        return search

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the stages' codewords for ``codes [B, n, T]`` (n <= N)."""
        n = codes.shape[1]
        if not 1 <= n <= self.n_codebooks:
            raise ValueError(f"codes hold {n} codebooks; this quantizer has 1..{self.n_codebooks}")
        out = self.quantizers[0].decode_indices(codes[:, 0])
        for i in range(1, n):
            out = out + self.quantizers[i].decode_indices(codes[:, i])
        return out
