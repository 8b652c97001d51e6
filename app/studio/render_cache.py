"""Reconstructions rendered piecewise: the chunk grid and a memory-bounded cache.

A reconstruction at codebook count n is decoded in chunks of a few hundred milliseconds so
that the one at the playhead can be heard long before the whole clip is decoded. Chunks
are keyed ``(n, chunk)`` and hold immutable ``[frames, channels]`` float32 arrays: the audio
callback reads them with a plain dict lookup (atomic under the GIL), never a lock, while the
worker adds chunks and evicts old ones under a lock of its own.

The budget is hard: the cache never holds more, whatever the counts and the clip's length
(the residual and "what codebook n adds" are never stored: they are differences taken
from these chunks where they are needed). A 10-minute stereo clip's rendering at one
count is ~200 MB, so its twelve would take 2.5 GB; the default budget holds three or four
of them, and what does not fit is rendered again when it is wanted. Eviction goes first
over chunks of counts that are not protected (the counts being listened to and the one
selected), furthest from a protected count first -- the next slider positions stay, the
far ones go -- and least recently rendered first among counts as far; so sweeping the
slider never drops what is playing while anything else can go. Only when the protected
counts alone exceed the budget (a long clip, a small budget) do their oldest chunks make
way too. :meth:`RenderCache.has_room` lets the planner stop
rendering speculative chunks once the budget is reached, and :meth:`RenderCache.fits`
tells it when the protected counts no longer fit, so it renders only what is about to be
played instead of churning (see :mod:`app.studio.render_planner`).
"""
from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

# Every count of a 3-minute stereo clip (12 x 64 MB); of a 10-minute one, three or four counts, which
# keeps the studio within 2.5 GB: with the rest of a 10-minute clip's work it used ~1.4 GB beside the cache.
DEFAULT_BUDGET_BYTES = 768 << 20


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
    """``(n, chunk) -> samples`` ``[frames, channels]`` with a hard byte budget and per-count rendered maps."""

    def __init__(self, grid: ChunkGrid, n_codebooks: int, budget_bytes: int = DEFAULT_BUDGET_BYTES,
                 channels: int = 1) -> None:
        self.grid = grid
        self.n_codebooks = n_codebooks
        self.budget_bytes = budget_bytes
        self.chunk_bytes = grid.chunk_samples * channels * np.dtype(np.float32).itemsize  # the largest chunk
        if budget_bytes < self.chunk_bytes:
            raise ValueError(f"a render cache of {budget_bytes} bytes cannot hold one chunk ({self.chunk_bytes} bytes)")
        self._chunks: dict[tuple[int, int], np.ndarray] = {}
        # per count, its chunks from the least recently rendered: chunk -> when it was rendered
        self._order: list[OrderedDict[int, int]] = [OrderedDict() for _ in range(n_codebooks + 1)]
        self._clock = itertools.count()
        self._rendered = np.zeros((n_codebooks + 1, grid.n_chunks), dtype=bool)
        self._protected: frozenset[int] = frozenset()
        self._bytes = 0
        self._count_bytes = [0] * (n_codebooks + 1)
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
        """Counts whose chunks are evicted last (what plays and what is selected)."""
        self._protected = frozenset(counts)

    def has_room(self, extra_bytes: int) -> bool:
        """Whether ``extra_bytes`` more fit without evicting anything."""
        return self._bytes + extra_bytes <= self.budget_bytes

    def fits(self, extra_bytes: int) -> bool:
        """Whether ``extra_bytes`` more fit by evicting only chunks of unprotected counts."""
        protected = sum(self._count_bytes[n] for n in self._protected if 0 <= n <= self.n_codebooks)
        return protected + extra_bytes <= self.budget_bytes

    def put(self, n: int, chunk: int, samples: np.ndarray) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        samples.setflags(write=False)
        key = (n, chunk)
        if samples.nbytes > self.chunk_bytes:
            raise ValueError(f"chunk ({n}, {chunk}) has {samples.nbytes} bytes; chunks of this cache have at most "
                             f"{self.chunk_bytes}")
        with self._lock:
            replaced = self._chunks.get(key)
            if replaced is not None:  # re-rendered: swapped in place, never missing for a reader
                self._bytes -= replaced.nbytes
                self._count_bytes[n] -= replaced.nbytes
            self._chunks[key] = samples
            self._order[n].pop(chunk, None)
            self._order[n][chunk] = next(self._clock)
            self._bytes += samples.nbytes
            self._count_bytes[n] += samples.nbytes
            self._rendered[n, chunk] = True
            self._evict_locked(keep=key)

    def assemble(self, n: int) -> np.ndarray | None:
        """The whole reconstruction at ``n`` as one ``[length, channels]`` array, if complete."""
        pieces = [self._chunks.get((n, c)) for c in range(self.grid.n_chunks)]
        if any(p is None for p in pieces):
            return None
        return np.concatenate(pieces, axis=0)

    def _evict_locked(self, keep: tuple[int, int]) -> None:
        """Back within budget, never evicting ``keep`` (the chunk just stored: the budget holds one chunk)."""
        if self._bytes <= self.budget_bytes:
            return
        for tier in self._eviction_tiers():
            while self._bytes > self.budget_bytes:
                candidates = [c for c in (self._oldest(n, keep) for n in tier) if c is not None]
                if not candidates:
                    break
                _, n, chunk = min(candidates)
                self._forget_locked((n, chunk))

    def _eviction_tiers(self) -> list[list[int]]:
        """Counts in the order their chunks go: unprotected ones, furthest from a protected count
        first (counts as far share a tier), then the protected ones."""
        protected = self._protected
        everything = range(self.n_codebooks + 1)

        def distance(n: int) -> int:
            return min((abs(n - p) for p in protected), default=0)

        others = [n for n in everything if n not in protected]
        far_first = sorted({distance(n) for n in others}, reverse=True)
        return [[n for n in others if distance(n) == d] for d in far_first] + [[n for n in everything if n in protected]]

    def _oldest(self, n: int, keep: tuple[int, int]) -> tuple[int, int, int] | None:
        """``(when rendered, n, chunk)`` of count ``n``'s least recently rendered chunk other than ``keep``."""
        for chunk, when in self._order[n].items():
            if (n, chunk) != keep:
                return when, n, chunk
        return None

    def _forget_locked(self, key: tuple[int, int]) -> None:
        samples = self._chunks.pop(key)
        del self._order[key[0]][key[1]]
        self._bytes -= samples.nbytes
        self._count_bytes[key[0]] -= samples.nbytes
        self._rendered[key] = False
