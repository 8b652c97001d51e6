"""Which chunk to decode next: what will be heard soonest comes first.

The planner is asked afresh every time the worker is free, with the current selection and
playhead, so a slider move or a seek reorders all pending work at once -- there is no stale
queue to cancel. Order:

1. the selected count n: the chunk at the playhead, then the chunks ahead of it (inside the
   loop region first when one is set), wrapping round to the start;
2. the neighbouring counts n - 1 and n + 1 (the next slider positions), in the same order;
3. every other count, nearest to n first.

Speculative work (2 and 3) stops when the cache budget is reached, so rendering never
evicts what it will need again. When even the protected counts do not fit the budget (a
long clip, a small budget), the selected count is rendered only :data:`STREAMING_CHUNKS`
chunks into its order -- what is about to be played -- each one displacing the oldest
cached chunk, so playback streams through the budget instead of re-rendering the whole
clip round and round.
"""
from __future__ import annotations

from collections.abc import Sequence

from app.studio.render_cache import RenderCache

STREAMING_CHUNKS = 2  # the chunk at the playhead and the next: always rendered, budget or not
DECODE_ESTIMATE_QUANTILE = 0.75


def decode_estimate(recent: Sequence[float], guess: float) -> float:
    """How long the next chunk's decode will take, from the latest ones (``guess`` before any).

    The upper quartile: one slow decode (the other core busy for a moment) does not move it,
    as it moved a moving average for several decodes -- the worker then planned so far ahead
    that it decoded the chunk after the playhead's while the playhead's, in time, waited. It
    still leans long, because erring long is cheaper: planning one chunk too far ahead costs
    at most the error (the playhead reaches that chunk a little later), planning too short
    costs a whole second decode (the chunk decoded is left behind before it is heard).
    """
    if not recent:
        return guess
    ordered = sorted(recent)
    return ordered[int(DECODE_ESTIMATE_QUANTILE * (len(ordered) - 1))]


def position_after(playhead: int, seconds: float, sample_rate: int, length: int,
                   loop: tuple[int, int] | None = None) -> int:
    """Where a playing playhead will be ``seconds`` from now (round the loop, stopped at the end).

    The worker plans from here, ``seconds`` being how long a chunk takes to decode: a decode
    started for the chunk under the playhead now would finish after the playhead has left it
    when the playhead is near the chunk's end, and the switch would wait for a second decode.
    """
    position = playhead + int(round(seconds * sample_rate))
    if loop is not None and loop[0] <= playhead < loop[1] and position >= loop[1]:
        position = loop[0] + (position - loop[0]) % max(1, loop[1] - loop[0])
    return min(position, max(0, length - 1))


def chunk_order(n_chunks: int, playhead_chunk: int, loop: tuple[int, int] | None = None) -> list[int]:
    """Chunks from the playhead onwards, wrapping; those in ``loop`` (inclusive chunk range) first."""
    order = [(playhead_chunk + k) % n_chunks for k in range(n_chunks)]
    if loop is None:
        return order
    inside = [c for c in order if loop[0] <= c <= loop[1]]
    return inside + [c for c in order if not loop[0] <= c <= loop[1]]


def count_order(selected: int, n_codebooks: int) -> list[int]:
    """``selected``, then its neighbours, then the others by distance (lower first on ties)."""
    return sorted(range(1, n_codebooks + 1), key=lambda n: (abs(n - selected), n))


def next_chunk(
    cache: RenderCache, selected: int, playhead_sample: int, loop_samples: tuple[int, int] | None = None,
    speculative: bool = True, last_chunk: int | None = None,
) -> tuple[int, int] | None:
    """The ``(n, chunk)`` to render next, or None when nothing (affordable) is missing.

    ``last_chunk`` limits the search to chunks whose codes exist (while encoding).
    """
    grid = cache.grid
    playhead = grid.chunk_at(playhead_sample)
    loop = None
    if loop_samples is not None:
        loop = (grid.chunk_at(loop_samples[0]), grid.chunk_at(max(loop_samples[0], loop_samples[1] - 1)))
    chunk_bytes = cache.chunk_bytes
    for n in count_order(selected, cache.n_codebooks):
        if n != selected and (not speculative or not cache.has_room(chunk_bytes)):
            return None
        if cache.is_complete(n):
            continue
        for k, c in enumerate(chunk_order(grid.n_chunks, playhead, loop)):
            if not cache.is_rendered(n, c) and (last_chunk is None or c <= last_chunk):
                if k >= STREAMING_CHUNKS and not cache.fits(chunk_bytes):
                    return None
                return n, c
    return None
