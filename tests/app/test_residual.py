"""The residual: level-matched gain (0 to +24 dB), measured once per rendering, soft-limited below full scale."""
import numpy as np
import pytest

from app.playback.audio_output import ManualOutputStream
from app.playback.sources import (RESIDUAL_MAX_GAIN_DB, OriginalSource, ReconstructionSource, ResidualSource,
                               level_matching_gain_db, residual_gain_db)
from app.studio.render_cache import ChunkGrid, RenderCache
from app.playback.soft_limiter import KNEE, soft_limit

RATE, LENGTH = 44100, 44100


def limited(x):
    out = np.asarray(x, np.float32).copy()
    soft_limit(out, np.empty_like(out), np.empty_like(out))
    return out


def test_soft_limiter_passes_the_knee_exactly_bends_above_it_and_never_exceeds_full_scale():
    x = np.linspace(-40.0, 40.0, 400_001, dtype=np.float32)[:, None]
    y = limited(x)
    below = np.abs(x) <= KNEE
    np.testing.assert_array_equal(y[below], x[below])
    assert np.abs(y).max() <= 1.0 and np.all(np.abs(y[~below]) <= np.abs(x[~below]))
    assert np.all(np.diff(y[:, 0]) >= 0)  # monotonic: no fold-over
    above = x[:, 0] > KNEE  # the formula, in float64
    headroom = 1.0 - float(KNEE)
    expected = float(KNEE) + headroom * np.tanh((x[above, 0].astype(np.float64) - float(KNEE)) / headroom)
    np.testing.assert_allclose(y[above, 0], expected, atol=2e-7)
    slope = np.diff(y[:, 0]) / np.diff(x[:, 0])
    at_knee = int(np.searchsorted(x[:, 0], KNEE))
    assert slope[at_knee] == pytest.approx(1.0, abs=1e-3)  # no kink at the knee


@pytest.mark.parametrize("recon_scale, expected_db", [
    (0.9, 20.0),  # residual 0.1 x: lifted 20 dB to the original's level
    (0.5, 6.0206),
    (0.999, RESIDUAL_MAX_GAIN_DB),  # 60 dB below: capped
    (1.0, RESIDUAL_MAX_GAIN_DB),  # a perfect reconstruction
    (-1.0, 0.0),  # residual louder than the original (2 x): never turned down
])
def test_gain_brings_the_residual_to_the_originals_level_within_zero_and_24_db(recon_scale, expected_db):
    original = np.sin(np.arange(LENGTH) / 7.0)
    residual = original - recon_scale * original
    gain = level_matching_gain_db(float(np.square(original).sum()), float(np.square(residual).sum()))
    assert gain == pytest.approx(expected_db, abs=1e-3)


@pytest.fixture
def rendered():
    rng = np.random.default_rng(3)
    original = (0.5 * rng.standard_normal((LENGTH, 2))).astype(np.float32)
    recon = (original + 0.3 * rng.standard_normal((LENGTH, 2))).astype(np.float32)  # a poor reconstruction
    cache = RenderCache(ChunkGrid(LENGTH, -(-LENGTH // 441), 441, 20), 1, channels=2)
    for c in range(cache.grid.n_chunks):
        start, end = cache.grid.samples(c)
        cache.put(1, c, recon[start:end])
    return original, recon, cache


def test_gain_is_measured_over_the_rendering_chunk_by_chunk(rendered):
    original, recon, cache = rendered
    o, r = original.astype(np.float64), recon.astype(np.float64)
    expected = 10 * np.log10(np.square(o).sum() / np.square(o - r).sum())
    assert 0.0 < expected < RESIDUAL_MAX_GAIN_DB
    assert residual_gain_db(original, cache, 1) == pytest.approx(expected, rel=1e-9)


def test_residual_read_is_gain_times_difference_below_the_knee_and_limited_above(rendered):
    original, recon, cache = rendered
    gain_db = residual_gain_db(original, cache, 1)
    residual = ResidualSource(OriginalSource(original.copy()), ReconstructionSource(cache, 1), gain_db)
    out = np.zeros((20_000, 2), np.float32)  # longer than the scratch space: read in pieces
    residual.read(5000, out)
    lifted = (original[5000:25_000] - recon[5000:25_000]) * np.float32(10 ** (gain_db / 20))
    below = np.abs(lifted) <= KNEE
    assert below.mean() > 0.5 and (~below).sum() > 100  # both cases occur
    np.testing.assert_array_equal(out[below], lifted[below])
    np.testing.assert_array_equal(out, limited(lifted))
    assert np.abs(out).max() <= 1.0


def test_session_measures_the_gain_once_the_rendering_is_complete_and_plays_the_residual_with_it(
        qtbot, session, open_encoded, clip_path):
    gains = []
    session.residualGainChanged.connect(lambda n, db: gains.append((n, db)))
    clip = open_encoded(clip_path)
    n = session.n
    assert session.residual_gain_db is None  # the last chunks of n are rendered after the encode
    qtbot.waitUntil(lambda: any(m == n for m, _ in gains), timeout=60_000)
    assert clip.cache.is_complete(n)
    expected = residual_gain_db(clip.samples, clip.cache, n)
    assert session.residual_gain_db == expected and [db for m, db in gains if m == n] == [expected]

    session.set_source("residual")
    session.toggle_play()
    stream = ManualOutputStream.instances[-1]
    stream.pull(), stream.pull()  # past the crossfade from the original
    at = session.player.position
    block = stream.pull()
    difference = clip.samples[at : at + len(block)] - clip.cache.assemble(n)[at : at + len(block)]
    np.testing.assert_array_equal(block, limited(difference * np.float32(10 ** (expected / 20))))
    session.toggle_play()
