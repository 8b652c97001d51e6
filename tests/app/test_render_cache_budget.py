"""The render cache's byte budget holds whatever is stored, and what goes first when it is full."""
import numpy as np

from app.studio.render_cache import ChunkGrid, RenderCache

CHUNK = 2000  # samples per chunk of the grid below
GRID = ChunkGrid(length=10 * CHUNK - 700, n_frames=100, hop_length=200, chunk_frames=10)  # 10 chunks, a short last one


def chunk_of(rng: np.random.Generator, chunk: int, channels: int = 2) -> np.ndarray:
    start, end = GRID.samples(chunk)
    return rng.standard_normal((end - start, channels)).astype(np.float32)


def held_bytes(cache: RenderCache) -> int:
    """What the cache really holds: every chunk it hands out, counted from the arrays themselves."""
    return sum(piece.nbytes for n in range(cache.n_codebooks + 1) for c in range(GRID.n_chunks)
               if (piece := cache.get(n, c)) is not None)


def test_the_cache_never_holds_more_than_its_budget_across_counts_protection_and_rewrites():
    rng = np.random.default_rng(0)
    budget = 7 * CHUNK * 2 * 4 + 123  # seven full stereo chunks and a little: not a multiple of a chunk
    cache = RenderCache(GRID, n_codebooks=12, budget_bytes=budget, channels=2)
    for step in range(3000):
        if step % 37 == 0:  # the selection and what is heard move now and then, sometimes beyond the budget
            cache.protect(set(rng.integers(1, 13, size=rng.integers(0, 3)).tolist()))
        n, chunk = int(rng.integers(1, 13)), int(rng.integers(0, GRID.n_chunks))
        cache.put(n, chunk, chunk_of(rng, chunk))
        assert cache.is_rendered(n, chunk)  # the chunk just stored is never the one evicted
        assert held_bytes(cache) == cache.used_bytes <= budget
        rendered = sum(int(cache.rendered_map(m).sum()) for m in range(13))
        assert rendered == sum(cache.get(m, c) is not None for m in range(13) for c in range(GRID.n_chunks))
    assert cache.used_bytes > budget - CHUNK * 2 * 4  # full: it did not evict more than it had to


def test_the_counts_furthest_from_the_selected_one_go_first_then_the_least_recent():
    rng = np.random.default_rng(1)
    cache = RenderCache(GRID, n_codebooks=12, budget_bytes=12 * CHUNK * 4, channels=1)
    cache.protect({6})
    for n in (12, 1, 7, 5, 9):  # two chunks each, the oldest first
        for chunk in (0, 1):
            cache.put(n, chunk, chunk_of(rng, chunk, channels=1))
    for chunk in range(2, 9):  # the selected count fills in: 7 more chunks, 5 over the budget
        cache.put(6, chunk, chunk_of(rng, chunk, channels=1))
    kept = {n: cache.rendered_map(n)[:2].tolist() for n in (12, 1, 9, 5, 7)}
    # 12 is six away from 6, 1 five, 9 three: they go in that order; 5 and 7 (next to 6) stay
    assert kept == {12: [False, False], 1: [False, False], 9: [False, True], 5: [True, True], 7: [True, True]}
    assert cache.rendered_map(6)[2:9].all()
