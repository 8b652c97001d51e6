"""Codebooks learned by exponential moving averages (SoundStream, EnCodec).

The codebook is not a parameter: each training step it moves towards the mean of the
vectors assigned to each code, ``embed_k = embed_avg_k / cluster_size_k`` with both
averages decayed by ``decay`` and the counts Laplace-smoothed so an unused code never
divides by zero. The buffer names (``inited``, ``cluster_size``, ``embed``,
``embed_avg``) are EnCodec's, so official weights load without renaming inside a stage.

Decisions, and where they depart from the EnCodec release:

* **k-means initialisation** on the first training batch, with the statistics made
  consistent (``embed_avg = centroid * count``). The release stores the bare centroid in
  ``embed_avg`` next to the counts, so its first EMA step drags every code towards
  ``centroid / count``.
* **Dead-code restart resets the EMA statistics.** A code whose average count falls below
  ``dead_code_threshold`` is moved to a random vector of the batch *and* given
  ``cluster_size = threshold`` and ``embed_avg = vector * threshold``. The release only
  overwrites ``embed``, which its own normalisation undoes in the same step.
* **float32 codebook math** under autocast: distances, averages and k-means run with
  autocast disabled on float32 copies, so bf16/fp16 training cannot round codes together.
* **torch.distributed**: per-step counts and sums are all-reduced, so every process makes
  the update a single process would make on the whole global batch; k-means results and
  restart vectors are broadcast from rank 0, so all processes keep identical codebooks.
* Inference returns the codeword itself (no straight-through arithmetic), as the release
  does; official codes depend on that residual.
* **Inference holds the codebook only.** A loaded codec releases ``embed_avg`` (the training
  sums, as large as the codebook) and rebuilds it as ``embed * smoothed_counts()`` for the
  state dict or a training step (:mod:`model.inference_memory`).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from model.inference_memory import ReleasableParametrisation
from model.quantize import (
    ResidualVectorQuantizer,
    StageOutput,
    euclidean_nearest,
    from_vectors,
    per_item_mse,
    to_vectors,
)


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_from_first(t: torch.Tensor) -> torch.Tensor:
    if distributed():
        dist.broadcast(t, src=0)
    return t


def sample_rows(samples: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` random rows of ``samples`` (without replacement when there are enough)."""
    if samples.shape[0] >= n:
        return samples[torch.randperm(samples.shape[0], device=samples.device)[:n]]
    return samples[torch.randint(0, samples.shape[0], (n,), device=samples.device)]


def kmeans(samples: torch.Tensor, n_clusters: int, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means from random samples; ``(centroids [K, d], counts [K])``.

    A cluster that loses all its samples keeps its previous centroid.
    """
    means = sample_rows(samples, n_clusters)
    counts = torch.zeros(n_clusters, device=samples.device)
    for _ in range(iterations):
        assign = euclidean_nearest(samples, means)
        counts = torch.bincount(assign, minlength=n_clusters).to(samples.dtype)
        sums = torch.zeros_like(means).index_add_(0, assign, samples)
        means = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], means)
    return means, counts


class EmaVectorQuantizer(ReleasableParametrisation, nn.Module):
    """One Euclidean VQ stage whose codebook follows EMAs of its assignments."""

    PARAMETERS = ("embed_avg",)
    RELEASES_BUFFERS = True

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        kmeans_iters: int = 50,
        dead_code_threshold: float = 2.0,
    ) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.codebook_size = codebook_size
        self.decay, self.epsilon = decay, epsilon
        self.kmeans_iters = kmeans_iters
        self.dead_code_threshold = dead_code_threshold
        self.frozen = False  # set by a fine-tune that keeps the codes: no k-means, no EMA, no restarts
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", torch.zeros(codebook_size, dim))
        self.register_buffer("embed_avg", torch.zeros(codebook_size, dim))

    def forward(self, residual: torch.Tensor) -> StageOutput:
        with torch.autocast(residual.device.type, enabled=False):
            x = to_vectors(residual.detach().float())
            learning = self.training and not self.frozen
            if learning:
                self.restore_parametrisation()
            if learning and not bool(self.inited):
                self.init_from_kmeans(x)
            indices = euclidean_nearest(x, self.embed)
            z_q = from_vectors(F.embedding(indices, self.embed), residual.shape[0]).to(residual.dtype)
            if learning:
                self.update(x, indices)
        indices = indices.view(residual.shape[0], -1)
        if torch.is_grad_enabled():
            commitment = per_item_mse(residual, z_q.detach())
            z_q = residual + (z_q - residual).detach()
        else:
            commitment = residual.new_zeros(residual.shape[0])
        return StageOutput(z_q, indices, commitment, torch.zeros_like(commitment))

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.embed).transpose(1, 2)

    # -- released for inference (model/inference_memory.py) --------------------------------
    def fold(self) -> None:
        """Nothing to fold: ``embed`` already is the codebook inference reads."""

    def folded_weight(self) -> torch.Tensor:
        return self.embed

    def parametrisation(self, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        """Sums consistent with ``weight`` and the usage: what :meth:`update` divides back to ``weight``."""
        return {"embed_avg": weight * self.smoothed_counts()[:, None]}

    @torch.no_grad()
    def init_from_kmeans(self, vectors: torch.Tensor) -> None:
        means, counts = kmeans(vectors, self.codebook_size, self.kmeans_iters)
        self.embed.copy_(broadcast_from_first(means))
        self.cluster_size.copy_(broadcast_from_first(counts))
        self.embed_avg.copy_(self.embed * self.cluster_size[:, None])
        self.inited.fill_(1.0)

    @torch.no_grad()
    def update(self, vectors: torch.Tensor, indices: torch.Tensor) -> None:
        """One EMA step with this batch's assignments, then restart of dead codes."""
        counts = all_reduce_sum(torch.bincount(indices, minlength=self.codebook_size).to(vectors.dtype))
        sums = all_reduce_sum(torch.zeros_like(self.embed).index_add_(0, indices, vectors))
        self.cluster_size.lerp_(counts, 1.0 - self.decay)
        self.embed_avg.lerp_(sums, 1.0 - self.decay)
        self.embed.copy_(self.embed_avg / self.smoothed_counts()[:, None])
        self.restart_dead_codes(vectors)

    def smoothed_counts(self) -> torch.Tensor:
        """Laplace-smoothed cluster sizes with the same total: never zero."""
        total = self.cluster_size.sum()
        return (self.cluster_size + self.epsilon) / (total + self.codebook_size * self.epsilon) * total

    def restart_dead_codes(self, vectors: torch.Tensor) -> None:
        dead = self.cluster_size < self.dead_code_threshold
        if not bool(dead.any()):
            return
        fresh = broadcast_from_first(sample_rows(vectors, self.codebook_size))
        self.embed.copy_(torch.where(dead[:, None], fresh, self.embed))
        self.cluster_size.masked_fill_(dead, self.dead_code_threshold)
        self.embed_avg.copy_(torch.where(dead[:, None], fresh * self.dead_code_threshold, self.embed_avg))


def ema_residual_quantizer(n_codebooks: int, dropout_p: float = 0.0, **stage: Any) -> ResidualVectorQuantizer:
    """SoundStream's / EnCodec's quantizer: residual VQ over ``n_codebooks`` EMA stages.

    ``stage`` holds the :class:`EmaVectorQuantizer` arguments (``dim``, ``codebook_size``...).
    """
    return ResidualVectorQuantizer([EmaVectorQuantizer(**stage) for _ in range(n_codebooks)], dropout_p)
