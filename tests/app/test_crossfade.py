"""Equal-power crossfades: constant power, no click, continuation across blocks."""
import numpy as np

from app.playback.crossfade import FadeRamps, mix_crossfade

RATE = 44100


def sine(freq, phase, n, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / RATE + phase)).astype(np.float32)[:, None]


def test_gains_are_equal_power_and_monotonic():
    ramps = FadeRamps.for_rate(RATE)
    assert ramps.length == 441  # 10 ms
    power = ramps.fade_in[:, 0].astype(np.float64) ** 2 + ramps.fade_out[:, 0].astype(np.float64) ** 2
    np.testing.assert_allclose(power, 1.0, atol=1e-6)
    assert np.all(np.diff(ramps.fade_in[:, 0]) > 0) and np.all(np.diff(ramps.fade_out[:, 0]) < 0)


def test_uncorrelated_signals_keep_their_power_through_the_fade():
    rng = np.random.default_rng(1)
    ramps = FadeRamps(441)
    trials = 400
    powers = np.zeros(441)
    for _ in range(trials):
        old = rng.standard_normal((441, 1)).astype(np.float32)
        new = rng.standard_normal((441, 1)).astype(np.float32)
        mix_crossfade(old, new, ramps, 0)
        powers += new[:, 0].astype(np.float64) ** 2
    # unit-power inputs: the faded output has unit power at every instant (no dip mid-fade)
    assert np.abs(powers / trials - 1.0).max() < 0.25
    assert abs(powers[200:240].mean() / trials - 1.0) < 0.1


def test_switching_to_an_inverted_signal_makes_no_click():
    n = 2048
    a, b = sine(440, 0, n), sine(440, np.pi, n)  # worst case: opposite polarity, switched at a peak
    at = int(np.argmax(np.abs(a[:200, 0])))
    hard = np.concatenate([a[:at], b[at:]])
    faded = b[at:].copy()
    mix_crossfade(a[at:], faded, FadeRamps(441), 0)
    out = np.concatenate([a[:at], faded])
    step_of_sine = 0.5 * 2 * np.pi * 440 / RATE  # largest sample-to-sample change of the sine itself
    fade_slope = 0.5 * 2 * (np.pi / 2) / 441  # amplitude x (gain change per sample of both ramps)
    assert np.abs(np.diff(hard[:, 0])).max() > 0.9  # what a hard cut does
    assert np.abs(np.diff(out[:, 0])).max() <= step_of_sine + fade_slope + 1e-4


def test_fade_continues_across_blocks_exactly():
    ramps = FadeRamps(441)
    old, new = sine(300, 0.3, 1024), sine(500, 1.0, 1024)
    whole = new.copy()
    mix_crossfade(old, whole, ramps, 0)
    first, second = new[:256].copy(), new[256:].copy()
    progress = mix_crossfade(old[:256], first, ramps, 0)
    assert progress == 256
    assert mix_crossfade(old[256:], second, ramps, progress) == 1024
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    np.testing.assert_array_equal(whole[441:], new[441:])  # after the fade: the new signal untouched
