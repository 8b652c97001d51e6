"""Reconstructions rendered piecewise: the chunk grid and a memory-bounded cache.

A reconstruction at codebook count n is decoded in chunks of a few hundred milliseconds so
that the one at the playhead can be heard long before the whole clip is decoded. Chunks
are keyed ``(n, chunk)`` and hold immutable ``[frames, channels]`` float32 arrays: the audio
callback reads them with a plain dict lookup (atomic under the GIL), never a lock, while the
worker adds chunks and evicts old ones under a lock of its own.

Eviction is least-recently-used over chunks of counts that are not protected (the counts
being listened to and the one selected), so sweeping the slider never drops what is
playing. :meth:`RenderCache.has_room` lets the planner stop rendering speculative chunks
once the budget is reached, instead of churning.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

DEFAULT_BUDGET_BYTES = 1 << 30


@dataclass(frozen=True)
class ChunkGrid:
    """How a clip of ``length`` samples (``n_frames`` codec frames) is cut into chunks."""

    length: int
    n_frames: int
    hop_length: int
    chunk_frames: int

    @property
    def n_chunks(self) -> int:
        return -(-self.n_frames // self.chunk_frames)

    @property
    def chunk_samples(self) -> int:
        return self.chunk_frames * self.hop_length

    def frames(self, chunk: int) -> tuple[int, int]:
        """Codec frames ``[start, end)`` of ``chunk``."""
        start = chunk * self.chunk_frames
        return start, min(self.n_frames, start + self.chunk_frames)

    def samples(self, chunk: int) -> tuple[int, int]:
        """Samples ``[start, end)`` of ``chunk``; the last chunk ends at the clip's end."""
        start = chunk * self.chunk_samples
        end = self.length if chunk == self.n_chunks - 1 else min(self.length, start + self.chunk_samples)
        return start, end

    def chunk_at(self, sample: int) -> int:
        return min(self.n_chunks - 1, max(0, sample) // self.chunk_samples)


class RenderCache:
    """``(n, chunk) -> samples`` with a byte budget and per-count rendered maps."""

    def __init__(self, grid: ChunkGrid, n_codebooks: int, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.grid = grid
        self.n_codebooks = n_codebooks
        self.budget_bytes = budget_bytes
        self._chunks: dict[tuple[int, int], np.ndarray] = {}
        self._order: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._rendered = np.zeros((n_codebooks + 1, grid.n_chunks), dtype=bool)
        self._protected: frozenset[int] = frozenset()
        self._bytes = 0
        self._lock = threading.Lock()

    # -- lock-free reads (audio callback, GUI) ----------------------------------------------
    def get(self, n: int, chunk: int) -> np.ndarray | None:
        return self._chunks.get((n, chunk))

    def is_rendered(self, n: int, chunk: int) -> bool:
        return (n, chunk) in self._chunks

    def rendered_map(self, n: int) -> np.ndarray:
        """Copy of which chunks of count ``n`` are in the cache (for the timeline)."""
        return self._rendered[n].copy()

    def is_complete(self, n: int) -> bool:
        return bool(self._rendered[n].all())

    @property
    def used_bytes(self) -> int:
        return self._bytes

    # -- writes (worker) --------------------------------------------------------------------
    def protect(self, counts: set[int] | frozenset[int]) -> None:
        """Counts whose chunks are never evicted (what plays and what is selected)."""
        self._protected = frozenset(counts)

    def has_room(self, extra_bytes: int) -> bool:
        return self._bytes + extra_bytes <= self.budget_bytes

    def put(self, n: int, chunk: int, samples: np.ndarray) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        samples.setflags(write=False)
        key = (n, chunk)
        with self._lock:
            if key in self._chunks:
                self._bytes -= self._chunks[key].nbytes
            self._chunks[key] = samples
            self._order[key] = None
            self._order.move_to_end(key)
            self._bytes += samples.nbytes
            self._rendered[n, chunk] = True
            self._evict_locked()

    def assemble(self, n: int) -> np.ndarray | None:
        """The whole reconstruction at ``n`` as one ``[length, channels]`` array, if complete."""
        pieces = [self._chunks.get((n, c)) for c in range(self.grid.n_chunks)]
        if any(p is None for p in pieces):
            return None
        return np.concatenate(pieces, axis=0)

    def _evict_locked(self) -> None:
        if self._bytes <= self.budget_bytes:
            return
        for key in list(self._order):
            if self._bytes <= self.budget_bytes:
                break
            if key[0] in self._protected:
                continue
            del self._order[key]
            self._bytes -= self._chunks.pop(key).nbytes
            self._rendered[key] = False
