"""The chunk grid, the memory-bounded render cache and the render planner's order."""
import numpy as np
import pytest

from app.studio.render_cache import ChunkGrid, RenderCache
from app.studio.render_planner import chunk_order, count_order, decode_estimate, next_chunk, position_after


def grid(length=10_000, hop=100, chunk_frames=20):
    return ChunkGrid(length, -(-length // hop), hop, chunk_frames)


def test_grid_covers_the_clip_without_gaps():
    g = grid(10_050)
    spans = [g.samples(c) for c in range(g.n_chunks)]
    assert spans[0][0] == 0 and spans[-1][1] == 10_050
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert g.chunk_at(0) == 0 and g.chunk_at(1999) == 0 and g.chunk_at(2000) == 1 and g.chunk_at(10_049) == g.n_chunks - 1


def three_chunk_cache(n_codebooks: int) -> tuple[RenderCache, np.ndarray]:
    """A cache whose budget holds three chunks, count 2 protected, and a chunk to put in it."""
    chunk = np.zeros((2000, 1), np.float32)
    cache = RenderCache(grid(), n_codebooks, budget_bytes=3 * chunk.nbytes)
    cache.protect({2})
    return cache, chunk


def test_cache_evicts_least_recent_unprotected_chunks_within_budget():
    cache, chunk = three_chunk_cache(4)
    cache.put(2, 0, chunk)
    cache.put(1, 0, chunk)
    cache.put(3, 0, chunk)
    cache.put(3, 1, chunk)  # over budget: (1, 0) is the oldest unprotected
    assert not cache.is_rendered(1, 0) and cache.is_rendered(2, 0) and cache.is_rendered(3, 1)
    assert cache.used_bytes == 3 * chunk.nbytes
    assert cache.rendered_map(1).sum() == 0 and cache.rendered_map(3)[:2].all()


def test_cached_chunks_are_read_only():
    cache = RenderCache(grid(), 2)
    cache.put(1, 0, np.ones((2000, 1), np.float32))
    with pytest.raises(ValueError):
        cache.get(1, 0)[0, 0] = 2.0


def test_assemble_needs_every_chunk():
    g = grid(4000)
    cache = RenderCache(g, 1)
    cache.put(1, 0, np.full((2000, 1), 1.0, np.float32))
    assert cache.assemble(1) is None
    cache.put(1, 1, np.full((2000, 1), 2.0, np.float32))
    np.testing.assert_array_equal(cache.assemble(1)[:, 0], np.r_[np.ones(2000), 2 * np.ones(2000)])


def test_chunk_order_starts_at_playhead_and_prefers_the_loop():
    assert chunk_order(5, 3) == [3, 4, 0, 1, 2]
    assert chunk_order(6, 0, loop=(2, 3)) == [2, 3, 0, 1, 4, 5]
    assert chunk_order(6, 3, loop=(2, 4)) == [3, 4, 2, 5, 0, 1]


def test_count_order_is_selected_then_neighbours():
    assert count_order(4, 6) == [4, 3, 5, 2, 6, 1]


def test_planner_renders_selected_count_from_playhead_then_neighbours_then_stops_at_budget():
    g = grid()
    cache = RenderCache(g, 3, budget_bytes=7 * 2000 * 4)
    order = []
    while (job := next_chunk(cache, 2, playhead_sample=6500)) is not None:
        order.append(job)
        cache.put(*job, np.zeros((2000, 1), np.float32))
        cache.protect({2})
    assert order[:5] == [(2, 3), (2, 4), (2, 0), (2, 1), (2, 2)]
    assert order[5] == (1, 3)  # then the neighbour below, from the playhead
    assert len(order) == 7  # speculative rendering stops once the budget is used


def test_planner_only_offers_chunks_whose_codes_exist_while_encoding():
    cache = RenderCache(grid(), 2)
    assert next_chunk(cache, 2, playhead_sample=0, speculative=False, last_chunk=1) == (2, 0)
    cache.put(2, 0, np.zeros((2000, 1), np.float32))
    cache.put(2, 1, np.zeros((2000, 1), np.float32))
    assert next_chunk(cache, 2, playhead_sample=0, speculative=False, last_chunk=1) is None
    assert next_chunk(cache, 2, playhead_sample=0, speculative=False) == (2, 2)


def test_budget_is_hard_protected_chunks_go_last_oldest_first():
    cache, chunk = three_chunk_cache(2)
    cache.put(1, 0, chunk)
    for c in range(5):
        cache.put(2, c, chunk)
        assert cache.used_bytes <= cache.budget_bytes
    assert not cache.is_rendered(1, 0)  # the unprotected chunk went first
    assert [c for c in range(5) if cache.is_rendered(2, c)] == [2, 3, 4]  # then the oldest protected ones
    assert cache.used_bytes == 3 * chunk.nbytes and cache.rendered_map(2).tolist() == [False, False, True, True, True]


def test_a_budget_below_one_chunk_is_refused():
    with pytest.raises(ValueError, match="cannot hold one chunk"):
        RenderCache(grid(), 2, budget_bytes=2000 * 4 - 1)


def test_planner_streams_around_the_playhead_when_the_selected_count_does_not_fit():
    cache = RenderCache(grid(), 2, budget_bytes=3 * 2000 * 4)
    cache.protect({2})

    def render_all(playhead):
        order = []
        while (job := next_chunk(cache, 2, playhead_sample=playhead)) is not None:
            order.append(job)
            cache.put(*job, np.zeros((2000, 1), np.float32))
            assert cache.used_bytes <= cache.budget_bytes and len(order) < 10  # no churn
        return order

    assert render_all(6500) == [(2, 3), (2, 4), (2, 0)]  # as many as fit, from the playhead
    assert render_all(0) == [(2, 1)]  # the next chunk to play displaces the oldest, (2, 3)
    assert [c for c in range(5) if cache.is_rendered(2, c)] == [0, 1, 4]


def test_planning_position_is_where_the_playhead_will_be_after_a_decode():
    rate, length = 44100, 44100 * 10
    assert position_after(1000, 0.05, rate, length) == 1000 + 2205
    assert position_after(length - 10, 0.05, rate, length) == length - 1  # the clip ends there
    loop = (44100, 2 * 44100)
    assert position_after(2 * 44100 - 100, 0.05, rate, length, loop) == 44100 + 2205 - 100  # round the loop
    assert position_after(3 * 44100, 0.05, rate, length, loop) == 3 * 44100 + 2205  # outside it: straight on


def test_a_chunk_the_playhead_leaves_during_its_decode_is_not_planned_first():
    grid = ChunkGrid(length=8 * 1024, n_frames=16, hop_length=512, chunk_frames=2)  # chunks of 1024 samples
    cache = RenderCache(grid, n_codebooks=2, budget_bytes=1 << 20)
    near_end = 1024 - 100  # 100 samples before chunk 1 starts; a decode lasts 441 samples at 44.1 kHz
    assert next_chunk(cache, 1, near_end) == (1, 0)
    assert next_chunk(cache, 1, position_after(near_end, 0.01, 44100, grid.length)) == (1, 1)


def test_one_slow_decode_does_not_move_the_decode_estimate_and_a_run_of_them_does():
    fast = [0.04] * 8
    assert decode_estimate([], 0.05) == 0.05  # nothing measured yet
    assert decode_estimate(fast + [0.4], 0.05) == 0.04
    assert decode_estimate(fast[:6] + [0.4] * 3, 0.05) == 0.4  # the other core stays busy
    assert decode_estimate([0.03, 0.04, 0.05, 0.06, 0.07], 0.05) == 0.06  # leans long: the upper quartile
