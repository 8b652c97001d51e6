"""model.k_weighting: pyloudnorm's K-weighting biquads, filtered in numpy blocks as exactly as scipy's lfilter."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
from pyloudnorm.iirfilter import IIRfilter

from model.k_weighting import BLOCK_FRAMES, k_weighting, k_weighting_stages
from model.loudness import LoudnessMeter

REPO = Path(__file__).resolve().parents[2]
RATES = [8000, 16000, 44100, 48000]


def _pyloudnorm_stages(rate):
    """The two filters pyloudnorm's Meter builds for BS.1770."""
    return (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
            IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"))


def _lfiltered(x, rate):
    for stage in _pyloudnorm_stages(rate):
        x = stage.passband_gain * scipy.signal.lfilter(stage.b, stage.a, x, axis=-1)
    return x


@pytest.mark.parametrize("rate", RATES + [22050, 96000])
def test_coefficients_are_pyloudnorms(rate):
    for ours, theirs in zip(k_weighting_stages(rate), _pyloudnorm_stages(rate)):
        np.testing.assert_allclose(ours.b, theirs.b, rtol=1e-15, atol=0)
        np.testing.assert_allclose(ours.a, theirs.a, rtol=1e-15, atol=0)
        assert ours.passband_gain == theirs.passband_gain


@pytest.mark.parametrize("rate", RATES)
def test_block_filter_equals_lfilter(rate):
    """Thirty blocks of noise (with a loud burst) through the carried state: lfilter's output to 1e-12
    of the peak, although the 38 Hz high pass rings for thousands of samples across block edges."""
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((2, 30 * BLOCK_FRAMES)) * np.array([[0.3], [0.01]])
    x[:, 5 * BLOCK_FRAMES - 100: 5 * BLOCK_FRAMES + 100] *= 50
    filt, state = k_weighting(rate), k_weighting(rate).initial_state(2)
    blocks = []
    for start in range(0, x.shape[1], BLOCK_FRAMES):
        block, state = filt.apply(x[:, start:start + BLOCK_FRAMES], state)
        blocks.append(block)
    expected = _lfiltered(x, rate)
    np.testing.assert_allclose(np.concatenate(blocks, axis=1), expected, rtol=0, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("rate, channels", [(44100, 2), (48000, 1), (16000, 3)])
def test_meter_pushed_in_odd_blocks_has_lfilters_block_powers(rate, channels):
    """Block powers of the lfilter-weighted signal summed as pyloudnorm sums them, to 1e-12 of the largest."""
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((channels, int(rate * 7.7) + 5)) * np.geomspace(0.5, 0.02, channels)[:, None]
    meter = LoudnessMeter(channels, rate)
    cuts = np.cumsum(np.resize([1, 997, 40_000, 3, 65_536, 12_345], 100))
    for block in np.split(x, cuts[cuts < x.shape[1]], axis=1):  # pushes of odd sizes, across filter blocks
        meter.push(block)
    weighted = _lfiltered(x, rate)
    count = int(np.round((x.shape[1] / rate - 0.4) / 0.1)) + 1
    expected = np.stack([np.sum(np.square(weighted[:, int(0.4 * (j * 0.25) * rate): int(0.4 * (j * 0.25 + 1) * rate)]),
                                axis=1) for j in range(count)], axis=1) / (0.4 * rate)
    powers = meter.block_powers()
    np.testing.assert_allclose(powers, expected, rtol=0, atol=1e-12 * expected.max())


def test_measuring_loudness_imports_neither_scipy_nor_pyloudnorm():
    """scipy.signal alone costs every studio and CLI process some 70 MiB of resident memory."""
    code = ("import sys, numpy as np\n"
            "from model.loudness import integrated_loudness\n"
            "x = np.random.default_rng(0).standard_normal((2, 48000))\n"
            "assert np.isfinite(integrated_loudness(x, 48000))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pyloudnorm')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"
