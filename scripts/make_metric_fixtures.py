"""Record the DAC release's training losses on two fixed signals, for metric cross-checks.

Runs only in the reference venv (scripts/make_reference_env.sh):
    nice -n 10 env OMP_NUM_THREADS=1 $REFENV/bin/python scripts/make_metric_fixtures.py

Writes tests/fixtures/metrics/audiotools_metrics.npz (keys in that folder's README.md).

Design decisions:
  * The loss classes are the package's own (dac.nn.loss, identical in code to
    audiotools.metrics), configured as the DAC release configs (conf/final/*.yml) set them:
    MelSpectrogramLoss with 7 scales, pow 1, mag_weight 0; MultiScaleSTFTLoss with windows
    [2048, 512] and its class defaults otherwise (pow 2, mag_weight 1, log_weight 1).
  * Every scale is also recorded on its own, and the 2048-window / 80-mel spectrograms plus
    the filterbank behind them, so a failing reimplementation can be narrowed down to the
    STFT, the mel filterbank or the log/L1 reduction.
  * SISDRLoss returns *minus* the SI-SDR in dB (a loss).  It is called with the class's own
    argument order, references first; with zero-mean scaling the value is symmetric in its
    two arguments up to the 1e-8 epsilons, so the order does not matter to a float32 check.
  * The degraded signal is a smoothed, attenuated copy plus white noise: spectrally close
    enough that the losses are moderate numbers, not saturated by the clamp.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

try:
    import torch
    from audiotools import AudioSignal
    from dac.nn.loss import MelSpectrogramLoss, MultiScaleSTFTLoss, SISDRLoss
except ImportError as error:  # pragma: no cover - guidance for the wrong interpreter
    sys.exit(f"{error}: run this with the reference environment's python (scripts/make_reference_env.sh builds it)")

from fixture_io import save_npz

OUT_PATH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "metrics" / (
    "audiotools_metrics.npz")
SAMPLE_RATE = 44100
LENGTH = 44100
SEED = 1234

MEL_N_MELS = [5, 10, 20, 40, 80, 160, 320]
MEL_WINDOWS = [32, 64, 128, 256, 512, 1024, 2048]
MEL_SETTINGS = dict(mag_weight=0.0, log_weight=1.0, pow=1.0, clamp_eps=1e-5)
STFT_WINDOWS = [2048, 512]
MEL_CHECK_WINDOW, MEL_CHECK_N_MELS = 2048, 80


def make_signals() -> tuple[np.ndarray, np.ndarray]:
    """(reference, degraded), each float32 of shape (1, 1, LENGTH)."""
    rng = np.random.default_rng(SEED)
    t = np.arange(LENGTH) / SAMPLE_RATE
    harmonics = sum(0.3 / h * np.sin(2 * np.pi * 220.0 * h * t + rng.uniform(0, 2 * np.pi))
                    for h in range(1, 7))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    chirp = 0.1 * np.sin(2 * np.pi * (100.0 * t + 0.5 * 8000.0 * t**2))
    reference = envelope * harmonics + chirp + 0.02 * rng.standard_normal(LENGTH)
    smoothed = np.convolve(reference, [0.25, 0.5, 0.25], mode="same")
    degraded = 0.8 * smoothed + 0.01 * rng.standard_normal(LENGTH)
    as_batch = lambda x: x.astype(np.float32)[None, None, :]  # noqa: E731
    return as_batch(reference), as_batch(degraded)


def _signal(audio: np.ndarray) -> AudioSignal:
    """A fresh AudioSignal each time: audiotools caches STFT data on the object."""
    return AudioSignal(torch.from_numpy(audio.copy()), SAMPLE_RATE)


def _mel_loss(estimate: np.ndarray, reference: np.ndarray, n_mels: list[int],
              windows: list[int]) -> float:
    loss = MelSpectrogramLoss(n_mels=n_mels, window_lengths=windows,
                              mel_fmin=[0.0] * len(n_mels), mel_fmax=[None] * len(n_mels),
                              **MEL_SETTINGS)
    return float(loss(_signal(estimate), _signal(reference)))


def _stft_loss(estimate: np.ndarray, reference: np.ndarray, windows: list[int]) -> float:
    return float(MultiScaleSTFTLoss(window_lengths=windows)(_signal(estimate),
                                                            _signal(reference)))


def compute_metrics(reference: np.ndarray, degraded: np.ndarray) -> dict[str, np.ndarray]:
    mel_check = dict(window_length=MEL_CHECK_WINDOW, hop_length=MEL_CHECK_WINDOW // 4)
    filterbank = AudioSignal.get_mel_filters(sr=SAMPLE_RATE, n_fft=MEL_CHECK_WINDOW,
                                             n_mels=MEL_CHECK_N_MELS)
    return {
        "reference": reference,
        "degraded": degraded,
        "sample_rate": np.int64(SAMPLE_RATE),
        "mel_n_mels": np.array(MEL_N_MELS, np.int64),
        "mel_window_lengths": np.array(MEL_WINDOWS, np.int64),
        "mel_loss": np.float64(_mel_loss(degraded, reference, MEL_N_MELS, MEL_WINDOWS)),
        "mel_loss_per_scale": np.array(
            [_mel_loss(degraded, reference, [n], [w]) for n, w in zip(MEL_N_MELS, MEL_WINDOWS)]),
        "stft_window_lengths": np.array(STFT_WINDOWS, np.int64),
        "stft_loss": np.float64(_stft_loss(degraded, reference, STFT_WINDOWS)),
        "stft_loss_per_scale": np.array([_stft_loss(degraded, reference, [w])
                                         for w in STFT_WINDOWS]),
        "sisdr_loss": np.float64(SISDRLoss()(torch.from_numpy(reference),
                                             torch.from_numpy(degraded))),
        "mel_2048_80_reference": _signal(reference).mel_spectrogram(
            MEL_CHECK_N_MELS, **mel_check).numpy(),
        "mel_2048_80_degraded": _signal(degraded).mel_spectrogram(
            MEL_CHECK_N_MELS, **mel_check).numpy(),
        "mel_filterbank_2048_80": np.asarray(filterbank, np.float32),
    }


def main() -> None:
    torch.set_num_threads(1)
    reference, degraded = make_signals()
    metrics = compute_metrics(reference, degraded)
    if not np.isclose(metrics["mel_loss"], metrics["mel_loss_per_scale"].sum(), rtol=1e-5):
        raise RuntimeError("multi-scale mel loss is not the sum of its scales")
    save_npz(OUT_PATH, metrics)
    for key, value in metrics.items():
        shown = value if np.ndim(value) <= 1 and np.size(value) <= 8 else np.shape(value)
        print(f"{key}: {shown}")


if __name__ == "__main__":
    main()
