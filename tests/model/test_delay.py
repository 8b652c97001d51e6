"""model.delay: the lag found equals a brute-force search, and SI-SDR after alignment undoes a shift."""
import numpy as np
import pytest
import torch

from model.delay import DelayEstimator, aligned_si_sdr, estimate_delay, shift_to_overlap
from model.metrics import MetricInputError, si_sdr
from synthetic_audio import music_clip


def _delayed(signal: np.ndarray, delay: int) -> np.ndarray:
    """``signal`` arriving ``delay`` samples late (early when negative), zero-filled, same length."""
    out = np.zeros_like(signal)
    if delay >= 0:
        out[..., delay:] = signal[..., : signal.shape[-1] - delay]
    else:
        out[..., :delay] = signal[..., -delay:]
    return out


def _brute_force_delay(reference: np.ndarray, estimate: np.ndarray, max_lag: int) -> int:
    """argmax over lags of sum_t estimate[t + d] * reference[t], one dot product per lag."""
    length = reference.shape[-1]
    def correlation(d: int) -> float:
        if d >= 0:
            return float(np.sum(estimate[..., d:].astype(np.float64) * reference[..., : length - d]))
        return float(np.sum(estimate[..., : length + d].astype(np.float64) * reference[..., -d:]))
    lags = list(range(-max_lag, max_lag + 1))
    return lags[int(np.argmax([correlation(d) for d in lags]))]


@pytest.mark.parametrize("delay", [0, 1, 37, -12, 300])
def test_finds_a_known_shift_of_music(delay):
    reference = music_clip(seconds=1.0, sample_rate=16000, channels=2)  # [2, T]
    estimate = _delayed(reference, delay) * 0.7
    assert estimate_delay(reference, estimate, max_lag=400) == delay


def test_equals_brute_force_correlation_on_noisy_filtered_output():
    rng = np.random.default_rng(3)
    reference = music_clip(seconds=0.5, sample_rate=16000)[0]
    filtered = np.convolve(reference, [0.2, 0.5, 0.3, -0.1], mode="full")[: reference.size]
    estimate = (_delayed(filtered, 23) + 0.05 * rng.standard_normal(reference.size)).astype(np.float32)
    assert estimate_delay(reference, estimate, 64) == _brute_force_delay(reference, estimate, 64)


def test_search_is_bounded():
    reference = music_clip(seconds=0.5, sample_rate=16000)[0]
    estimate = _delayed(reference, 200)
    found = estimate_delay(reference, estimate, max_lag=50)
    assert abs(found) <= 50 and found == _brute_force_delay(reference, estimate, 50)


def test_aligned_si_sdr_is_that_of_the_overlap_and_undoes_the_shift():
    rng = np.random.default_rng(0)
    reference = music_clip(seconds=1.0, sample_rate=16000)[0]
    noisy = reference + 0.01 * rng.standard_normal(reference.size).astype(np.float32)
    late = _delayed(noisy, 25)
    value, delay = aligned_si_sdr(reference, late, max_lag=100)
    assert delay == 25
    ref, est = shift_to_overlap(torch.from_numpy(reference), torch.from_numpy(late), 25)
    assert value.item() == si_sdr(ref, est).item()
    assert value.item() == pytest.approx(si_sdr(reference[:-25], noisy[:-25]).item(), abs=1e-4)
    assert si_sdr(reference, late).item() < value.item() - 20  # unaligned, the same output scores far lower


def test_bad_arguments():
    with pytest.raises(MetricInputError):
        estimate_delay(np.zeros(10), np.zeros(10), max_lag=-1)
    with pytest.raises(MetricInputError):
        estimate_delay(np.zeros(10), np.zeros(11), max_lag=1)


def test_silence_has_no_delay_and_equal_peaks_give_the_smallest_shift():
    assert estimate_delay(np.zeros(1000), np.zeros(1000), max_lag=100) == 0
    period = 40
    tone = np.sin(2 * np.pi * np.arange(4000) / period)
    # a pure tone correlates as well with itself shifted by whole periods: no shift is the answer
    assert estimate_delay(tone, tone, max_lag=100) == 0
    assert estimate_delay(tone, np.roll(tone, 7), max_lag=100) == 7


def test_long_signals_are_correlated_block_by_block_with_the_same_answer(monkeypatch):
    import model.delay as delay_module

    rng = np.random.default_rng(5)
    reference = rng.standard_normal((2, 5000)).astype(np.float32)
    estimate = (_delayed(reference, -9) + 0.5 * rng.standard_normal((2, 5000))).astype(np.float32)
    def correlation():
        estimator = delay_module.DelayEstimator(5000, 30)
        estimator.push(reference, estimate)
        return estimator.correlation()

    whole = correlation()
    monkeypatch.setattr(delay_module, "_FFT_SIZE", 512)  # blocks of 452 samples, the last one short
    blocks = correlation()
    lags = range(-30, 31)
    brute = [np.sum(_delayed(estimate.astype(np.float64), -d) * reference) for d in lags]  # est[t + d] ref[t]
    np.testing.assert_allclose(whole, brute, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(blocks, whole, rtol=1e-9, atol=1e-6)
    assert estimate_delay(reference, estimate, 30) == -9


def _pieces(signal: np.ndarray, sizes: list[int]):
    start, k = 0, 0
    while start < signal.shape[-1]:
        yield signal[..., start:start + sizes[k % len(sizes)]]
        start += sizes[k % len(sizes)]
        k += 1


@pytest.mark.parametrize("ref_sizes, est_sizes", [([70_000], [70_000]), ([5000, 31_111], [65_536]), ([1], [200_000])])
def test_blocks_pushed_give_the_whole_signals_correlation_to_the_bit(ref_sizes, est_sizes):
    """Long enough for several FFT blocks; the two signals' blocks need not line up."""
    reference = music_clip(6.0, 24000, channels=2)[:, :140_000]
    noise = 0.01 * np.random.default_rng(1).standard_normal(reference.shape).astype(np.float32)
    estimate = _delayed(reference, 37) + noise
    whole = DelayEstimator(reference.shape[-1], 2400)
    whole.push(reference, estimate)
    streamed = DelayEstimator(reference.shape[-1], 2400)
    for ref_piece in _pieces(reference, ref_sizes):
        streamed.push(reference=ref_piece)
    for est_piece in _pieces(estimate, est_sizes):
        streamed.push(estimate=est_piece)
    assert np.array_equal(streamed.correlation(), whole.correlation())
    assert streamed.delay() == estimate_delay(reference, estimate, 2400) == 37
    assert _brute_force_delay(reference, estimate, 60) == 37


def test_a_delay_asked_before_the_signals_are_whole_is_refused():
    estimator = DelayEstimator(1000, 10)
    estimator.push(np.zeros((1, 999)), np.zeros((1, 1000)))
    with pytest.raises(MetricInputError, match="999 and 1000 samples"):
        estimator.delay()
