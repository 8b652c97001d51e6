"""model.windowed_quality: each window's mel distance is that of the window alone; the worst is found."""
import numpy as np
import pytest

from model.metrics import mel_distance
from model.windowed_quality import window_bounds, windowed_mel_distance, worst_windows
from synthetic_audio import music_clip


@pytest.mark.parametrize("length, window, expected", [
    (1000, 500, [(0, 500), (500, 1000)]),
    (1100, 500, [(0, 500), (500, 1100)]),  # a tail under half a window joins the last window
    (1300, 500, [(0, 500), (500, 1000), (1000, 1300)]),  # from half a window on it stands alone
    (100, 500, [(0, 100)]),
])
def test_window_bounds_cover_the_signal(length, window, expected):
    assert window_bounds(length, window) == expected


def test_each_window_is_measured_alone_and_a_damaged_window_is_the_worst():
    rate = 16000
    reference = music_clip(seconds=2.2, sample_rate=rate, channels=2)[:, np.newaxis]  # [C, 1, T]
    rng = np.random.default_rng(1)
    estimate = reference + 0.001 * rng.standard_normal(reference.shape).astype(np.float32)
    estimate[..., 8000:16000] += 0.2 * rng.standard_normal((2, 1, 8000)).astype(np.float32)  # 0.5-1.0 s
    windows = windowed_mel_distance(reference, estimate, rate)
    assert [(w.start, w.end) for w in windows] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.2)]
    for w in windows:
        a, b = round(w.start * rate), round(w.end * rate)
        assert w.mel_distance == pytest.approx(
            mel_distance(reference[..., a:b], estimate[..., a:b], rate).mean().item(), rel=1e-5)
    worst = worst_windows(windows, 2)
    assert worst[0].start == 0.5 and worst[0].mel_distance > worst[1].mel_distance
    assert worst_windows(windows, 10) == sorted(windows, key=lambda w: -w.mel_distance)


def test_batches_of_windows_give_the_same_distances(monkeypatch):
    import model.windowed_quality as windowed_quality

    rate = 8000
    reference = music_clip(seconds=3.2, sample_rate=rate)[0]
    estimate = reference + 0.01 * np.random.default_rng(2).standard_normal(reference.size).astype(np.float32)
    together = windowed_mel_distance(reference, estimate, rate)
    monkeypatch.setattr(windowed_quality, "_WINDOWS_PER_BATCH", 2)  # five full windows in three batches, the longer last one alone
    apart = windowed_mel_distance(reference, estimate, rate)
    assert [(w.start, w.end) for w in apart] == [(w.start, w.end) for w in together]
    assert [w.mel_distance for w in apart] == pytest.approx([w.mel_distance for w in together], rel=1e-5)
