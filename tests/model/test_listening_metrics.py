"""model.listening_metrics: each figure is the library's own on the same signals, absent metrics say why.

The libraries are called directly here (ViSQOL, pystoi, speechmos, pesq) on exactly the
signals our wrapper hands them, and the numbers must be equal.  None of the wheels ships test
vectors, so the signals are the bundled speech demo clip and synthetic music.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model.audio_io import resample
from model.listening_metrics import (
    FAST_METRICS,
    METRICS,
    PESQ_ABSENT,
    SPEECH_RATE,
    UnknownMetricError,
    measure,
    mono,
    resolve,
    unavailable_reason,
)
from model.metrics import paired_items
from synthetic_audio import music_clip

SPEECH_CLIP = Path(__file__).resolve().parents[2] / "resources" / "audio" / "2-speech-festival-slt.flac"


def _speech(seconds: float, rate: int) -> np.ndarray:
    """The bundled speech demo clip's first ``seconds`` (looped past its 14.4 s), mono, at ``rate``."""
    samples, source_rate = sf.read(SPEECH_CLIP, dtype="float32")
    assert source_rate == 44100 and samples.ndim == 1
    return resample(np.resize(samples, int(seconds * source_rate)).reshape(1, -1), source_rate, rate)[0]


def _degraded(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``clean`` with white noise at ``snr_db`` and a gentle low-pass: a plausible coding error."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(clean.shape).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    smoothed = np.convolve(clean, np.array([0.25, 0.5, 0.25], dtype=np.float32), mode="same")
    return (smoothed + noise).astype(np.float32)


def _as_library_sees(signal: np.ndarray, rate: int, library_rate: int) -> np.ndarray:
    """What our wrapper hands the library: mono, soxr-resampled, float64."""
    return resample(np.asarray(signal, dtype=np.float32).reshape(1, -1), rate, library_rate)[0].astype(np.float64)


def test_registry_names_and_defaults():
    assert list(METRICS) == ["mel", "stft", "si_sdr", "visqol", "visqol_speech", "stoi", "estoi", "dnsmos", "pesq"]
    assert FAST_METRICS == ("mel", "stft", "si_sdr")
    assert [m.name for m in resolve("stoi, mel,stoi")] == ["stoi", "mel"]
    with pytest.raises(UnknownMetricError, match="unknown metric 'visq'.*known: mel"):
        resolve("mel,visq")
    with pytest.raises(UnknownMetricError):
        resolve("")


def test_visqol_audio_mode_equals_visqol_on_the_same_48k_signals():
    from visqol import VisqolApi

    reference = music_clip(seconds=1.5, sample_rate=48000)[0]
    estimate = _degraded(reference, snr_db=20)
    outcome = measure("visqol", reference, estimate, 48000)
    api = VisqolApi()
    api.create(mode="audio")
    expected = api.measure_from_arrays(reference.astype(np.float64), estimate.astype(np.float64), 48000).moslqo
    assert outcome.reason is None and outcome.values == {"visqol": expected}
    assert 1.0 <= expected <= 5.0


@pytest.mark.slow
def test_visqol_audio_mode_resamples_with_soxr_and_ranks_noise_levels():
    from visqol import VisqolApi

    reference = music_clip(seconds=8.0, sample_rate=44100)[0]
    scores = []
    for snr_db in (40, 10):
        estimate = _degraded(reference, snr_db)
        api = VisqolApi()
        api.create(mode="audio")
        expected = api.measure_from_arrays(_as_library_sees(reference, 44100, 48000),
                                           _as_library_sees(estimate, 44100, 48000), 48000).moslqo
        assert measure("visqol", reference, estimate, 44100).values["visqol"] == expected
        scores.append(expected)
    assert scores[0] > scores[1]


def test_visqol_speech_mode_equals_visqol_polynomial_mapping_at_16k():
    from visqol import VisqolApi

    reference = _speech(3.0, SPEECH_RATE)
    estimate = _degraded(reference, snr_db=15)
    api = VisqolApi()
    api.create(mode="speech", use_lattice_model=False)
    expected = api.measure_from_arrays(reference.astype(np.float64), estimate.astype(np.float64), SPEECH_RATE).moslqo
    assert measure("visqol_speech", reference, estimate, SPEECH_RATE).values == {"visqol_speech": expected}


@pytest.mark.parametrize("rate", [16000, 44100])
def test_stoi_and_estoi_equal_pystoi_at_the_signals_own_rate(rate):
    from pystoi import stoi

    reference = _speech(3.0, rate)
    estimate = _degraded(reference, snr_db=0)
    ref64, est64 = reference.astype(np.float64), estimate.astype(np.float64)
    # equal up to the last bit of a float64 sum (numpy's pairwise sums follow the arrays' memory alignment)
    assert measure("stoi", reference, estimate, rate).values["stoi"] == pytest.approx(stoi(ref64, est64, rate),
                                                                                      rel=1e-14)
    assert measure("estoi", reference, estimate, rate).values["estoi"] == pytest.approx(
        stoi(ref64, est64, rate, extended=True), rel=1e-14)


def test_stereo_is_judged_as_its_mono_downmix():
    left = _speech(2.0, SPEECH_RATE)
    right = left[::-1] * 0.5  # other speech: the downmix is not a scaled copy of one channel
    reference = np.stack([left, right])[:, np.newaxis]  # [C, 1, T]: channels as items, as the codecs code them
    estimate = np.stack([_degraded(left, 5, seed=1), _degraded(right, 5, seed=2)])[:, np.newaxis]
    downmix_ref, downmix_est = (mono(items) for items in paired_items(reference, estimate))
    stereo = measure("stoi", reference, estimate, SPEECH_RATE).values["stoi"]
    # the registry holds signals as float32, so the float64 downmix passed back in is rounded once more
    assert stereo == pytest.approx(measure("stoi", downmix_ref, downmix_est, SPEECH_RATE).values["stoi"], abs=1e-6)
    assert stereo != pytest.approx(measure("stoi", left, _degraded(left, 5, seed=1), SPEECH_RATE).values["stoi"],
                                   abs=1e-3)


@pytest.mark.parametrize("seconds", [
    4.6,  # shorter than a 9.01 s segment: repeated once, one segment
    pytest.param(18.0, marks=pytest.mark.slow),  # nine segment starts; the 8th and 9th round a sample short
])
def test_dnsmos_equals_speechmos(seconds):
    pytest.importorskip("librosa", reason="speechmos.dnsmos (the reference) imports librosa")
    pytest.importorskip("requests", reason="speechmos.dnsmos (the reference) imports requests")
    from speechmos import dnsmos

    clean = _speech(seconds, SPEECH_RATE)
    estimate = _degraded(clean, snr_db=10)
    expected = dnsmos.run(_as_library_sees(estimate, SPEECH_RATE, SPEECH_RATE), SPEECH_RATE)
    outcome = measure("dnsmos", clean, estimate, SPEECH_RATE)
    # speechmos runs the network on all cores, we on one: float32 sums in another order (~1e-8 apart)
    assert outcome.values == pytest.approx({"dnsmos_sig": expected["sig_mos"], "dnsmos_bak": expected["bak_mos"],
                                            "dnsmos_ovrl": expected["ovrl_mos"]}, rel=1e-6)


def test_dnsmos_hears_the_noise_it_is_made_to_judge():
    clean = _speech(4.6, SPEECH_RATE)
    quiet = measure("dnsmos", clean, clean, SPEECH_RATE).values
    noisy = measure("dnsmos", clean, _degraded(clean, snr_db=0), SPEECH_RATE).values
    assert noisy["dnsmos_bak"] < quiet["dnsmos_bak"] - 0.5
    assert all(1.0 <= value <= 5.0 for value in (*quiet.values(), *noisy.values()))


def test_pesq_equals_the_pesq_package_when_installed():
    pesq = pytest.importorskip("pesq", reason="PESQ is optional: the user installs it")
    reference = _speech(3.0, 44100)
    estimate = _degraded(reference, snr_db=10)
    expected = pesq.pesq(SPEECH_RATE, _as_library_sees(reference, 44100, SPEECH_RATE),
                         _as_library_sees(estimate, 44100, SPEECH_RATE), "wb")
    assert measure("pesq", reference, estimate, 44100).values == {"pesq": expected}


def test_a_metric_whose_package_is_missing_is_absent_with_one_line_reason(monkeypatch):
    reference = _speech(1.0, SPEECH_RATE)
    monkeypatch.setitem(sys.modules, "pesq", None)  # import pesq -> ImportError
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "pystoi", None)
    for name, keys, words in [("pesq", {"pesq"}, PESQ_ABSENT), ("dnsmos", {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"},
                                                                   "onnxruntime"), ("estoi", {"estoi"}, "pystoi")]:
        outcome = measure(name, reference, reference, SPEECH_RATE)
        assert outcome.values == dict.fromkeys(keys) and words in outcome.reason
        assert len(outcome.reason.splitlines()) == 1 and unavailable_reason(name) == outcome.reason
    assert unavailable_reason("stft") is None


@pytest.mark.parametrize("name, seconds", [("stoi", 0.4), ("visqol", 0.95), ("visqol_speech", 0.6)])
def test_too_short_signals_are_absent_not_a_library_stand_in(name, seconds):
    reference = _speech(seconds, SPEECH_RATE)
    outcome = measure(name, reference, reference, SPEECH_RATE)
    assert outcome.values == {name: None} and "at least" in outcome.reason


def test_an_undefined_value_is_absent_with_a_reason_not_nan():
    silence = np.zeros(16000, dtype=np.float32)
    outcome = measure("si_sdr", silence, silence, SPEECH_RATE)
    assert outcome.values == {"si_sdr": None, "si_sdr_aligned": None, "delay_samples": 0}
    assert "undefined" in outcome.reason


@pytest.mark.parametrize("name, mode", [("visqol", "audio"), ("visqol_speech", "speech")])
def test_what_visqol_cannot_compare_is_absent_with_its_reason(monkeypatch, name, mode):
    import model.listening_metrics as listening_metrics

    monkeypatch.setitem(listening_metrics.VISQOL_MIN_SECONDS, mode, 0.0)  # past our guard, into ViSQOL's own check
    reference = _speech(0.3, SPEECH_RATE)
    outcome = measure(name, reference, reference, SPEECH_RATE)
    assert outcome.values == {name: None} and "found too little to compare" in outcome.reason
