"""Batches for training steps, loaded ahead of time in worker processes.

The sampler's whole state is the step number: step ``s`` on rank ``r`` of ``W`` ranks trains on
examples ``(s * W + r) * B ... + B - 1`` (see :mod:`model.training.excerpts` for why an example is
a function of its index alone).  Ranks therefore read disjoint shards, and a run resumed at step
``s`` sees exactly the batches the uninterrupted run would have seen, with any worker count.

PyTorch's DataLoader runs the workers: they prefetch a few batches so the training step does
not wait on disk or on the resampler.  The loader gets its own ``torch.Generator`` so that
creating it never draws from the global random stream the model uses (quantizer dropout),
which would otherwise shift that stream on every resume.  Workers ignore SIGINT/SIGTERM: the
main process decides when to stop, saves a checkpoint and then shuts them down.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from model.training.corpus import Corpus
from model.training.excerpts import ExcerptReader, ExcerptSpec, Failure, SourcePicker


class ExcerptDataset(Dataset):
    """Example ``index`` -> ``(float32 [1, T], failures)``; deterministic in ``(seed, index)``."""

    def __init__(self, corpus: Corpus, spec: ExcerptSpec, seed: int) -> None:
        self.picker = SourcePicker(corpus)
        self.reader = ExcerptReader(spec)
        self.seed = seed

    def __getitem__(self, index: int) -> tuple[torch.Tensor, list[Failure]]:
        rng = np.random.default_rng([self.seed, index])
        samples, failures = self.reader.draw(self.picker, index, rng)
        return torch.from_numpy(samples).unsqueeze(0), failures


class StepBatches(Sampler[list[int]]):
    """Endless example indices for this rank, from ``start_step`` on."""

    def __init__(self, batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.batch_size, self.start_step = batch_size, start_step
        self.rank, self.world_size = rank, world_size

    def indices(self, step: int) -> list[int]:
        first = (step * self.world_size + self.rank) * self.batch_size
        return list(range(first, first + self.batch_size))

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            yield self.indices(step)
            step += 1


def collate(items: list[tuple[torch.Tensor, list[Failure]]]) -> tuple[torch.Tensor, list[Failure]]:
    return torch.stack([audio for audio, _ in items]), [f for _, failures in items for f in failures]


def _ignore_stop_signals(_worker_id: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def batch_loader(dataset: ExcerptDataset, sampler: StepBatches, workers: int, pin_memory: bool = False) -> DataLoader:
    """Batches made by ``workers`` processes; ``pin_memory`` (training on a GPU) puts them in page-locked
    memory, so the step's ``non_blocking`` copy to the device overlaps the computation."""
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        worker_init_fn=_ignore_stop_signals if workers else None,
        prefetch_factor=4 if workers else None,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(0),
    )


def fixed_set(corpus: Corpus, spec: ExcerptSpec, count: int, seed: int) -> tuple[torch.Tensor, list[Failure]]:
    """``count`` deterministic excerpts as ``[count, 1, T]`` (the validation set)."""
    dataset = ExcerptDataset(corpus, spec, seed)
    return collate([dataset[i] for i in range(count)])
