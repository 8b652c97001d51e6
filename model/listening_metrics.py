"""Every quality metric the CLI and the studio can report, by name: what it needs and returns.

One call, :func:`measure`, computes one metric of one rendering, so a caller can stop between
metrics (the studio abandons work when the clip changes) and nothing is kept between calls:
each call loads what it uses and lets it go.  A metric whose package cannot be had on this
machine is *absent*: :func:`measure` returns its keys as ``None`` with a one-line reason
instead of raising.

Signals are ``[T]``, ``[B, T]`` or ``[B, C, T]`` at ``sample_rate`` (as in
:mod:`model.metrics`).  Mono and stereo:

- ``mel``, ``stft``, ``si_sdr`` pool channels as the DAC evaluation does and average items;
- the listening metrics (ViSQOL, STOI/ESTOI, DNSMOS, PESQ) are defined on one channel, so they
  judge the mono downmix (mean of all items and channels) of both signals -- what ViSQOL's own
  file reader does with a stereo file.

Rates: ViSQOL audio mode runs at 48 kHz (music and general sound), ViSQOL speech mode,
DNSMOS and PESQ at 16 kHz; signals are resampled to those rates with soxr (very high quality).
STOI is given the signal at its own rate: resampling to 10 kHz is part of pystoi's definition.

Which package each metric needs:

- ``visqol``, ``visqol_speech``: visqol-python (Apache-2.0; its SVR model ships in the wheel;
  numba, if installed, makes it several times faster).  Speech mode maps similarity to MOS
  with the polynomial mapping (the C++ ViSQOL's ``--use_lattice_model=false``) so the number
  does not depend on whether the optional TFLite runtime happens to be installed; on degraded
  speech it reads higher than the C++ default's lattice mapping (up to 1-2 points, says
  visqol-python).
- ``stoi``, ``estoi``: pystoi.
- ``dnsmos``: onnxruntime and the model file in the speechmos wheel (see :mod:`model.dnsmos`).
- ``pesq``: only when the user installed the ``pesq`` package; never a dependency, because the
  ITU code it wraps may not be used commercially.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import torch

from model.audio_io import resample
from model.delay import DEFAULT_MAX_LAG_SECONDS, aligned_si_sdr
from model.metrics import MetricInputError, mel_distance, paired_items, si_sdr, stft_distance

VISQOL_AUDIO_RATE = 48_000
SPEECH_RATE = 16_000
STOI_MIN_SECONDS = 0.41  # 30 STFT frames of 256 samples, hop 128, at 10 kHz: STOI's shortest signal
# Shorter signals leave ViSQOL without a whole patch to compare (audio mode: 45 frames; speech
# mode: one voiced patch), found by trying: 0.9 s fails and 1.0 s works in audio mode, 0.6 s and
# 0.65 s in speech mode.
VISQOL_MIN_SECONDS = {"audio": 1.0, "speech": 0.7}


class MetricUnavailable(RuntimeError):
    """The metric cannot be computed here or on this signal; the message is the one-line reason."""


class UnknownMetricError(ValueError):
    """A metric name that is not in :data:`METRICS`."""


Items = torch.Tensor  # float32 [B, C, T]


@dataclass(frozen=True)
class Metric:
    """One metric: the CLI name, the keys it reports, and how to compute them."""

    name: str
    keys: tuple[str, ...]
    summary: str
    fast: bool  # cheap enough to run on every rendering by default
    compute: Callable[[Items, Items, int], dict[str, float]]
    requirement: Callable[[], None] = field(default=lambda: None)  # raises MetricUnavailable


@dataclass(frozen=True)
class MetricOutcome:
    """A metric's values (``None`` each when absent) and, when absent, why."""

    name: str
    values: dict[str, float | None]
    reason: str | None = None


def _module(name: str, needed_for: str, install: str) -> ModuleType:
    """Import a metric's package, or say in one line what is missing."""
    try:
        return importlib.import_module(name)
    except (ImportError, OSError) as exc:
        raise MetricUnavailable(f"{needed_for} needs {install}, which cannot be imported here ({exc})") from None


def mono(items: Items) -> np.ndarray:
    """The downmix the listening metrics judge: mean of all items and channels, float64 ``[T]``."""
    return items.to(torch.float64).mean(dim=(0, 1)).numpy()


def mono_at(items: Items, sample_rate: int, rate: int) -> np.ndarray:
    """:func:`mono` resampled to ``rate`` with soxr, float64 ``[T']``."""
    downmix = mono(items).astype(np.float32)[np.newaxis]
    return resample(downmix, sample_rate, rate)[0].astype(np.float64)


def _require_seconds(items: Items, sample_rate: int, seconds: float, what: str) -> None:
    if items.shape[-1] < seconds * sample_rate:
        raise MetricUnavailable(f"{what} needs at least {seconds:g} s of audio")


# -- the DAC paper's distances and SI-SDR -----------------------------------------------------

def _mel(reference: Items, estimate: Items, sample_rate: int) -> dict[str, float]:
    return {"mel_distance": float(mel_distance(reference, estimate, sample_rate).mean())}


def _stft(reference: Items, estimate: Items, sample_rate: int) -> dict[str, float]:
    return {"stft_distance": float(stft_distance(reference, estimate).mean())}


def _si_sdr(reference: Items, estimate: Items, sample_rate: int) -> dict[str, float]:
    aligned, delay = aligned_si_sdr(reference, estimate, round(DEFAULT_MAX_LAG_SECONDS * sample_rate))
    return {"si_sdr": float(si_sdr(reference, estimate).mean()), "si_sdr_aligned": float(aligned.mean()),
            "delay_samples": delay}


# -- ViSQOL v3 ----------------------------------------------------------------------------------

def _visqol_package() -> ModuleType:
    return _module("visqol", "ViSQOL", "visqol-python")


def _visqol(mode: str, rate: int, key: str) -> Callable[[Items, Items, int], dict[str, float]]:
    def compute(reference: Items, estimate: Items, sample_rate: int) -> dict[str, float]:
        _require_seconds(reference, sample_rate, VISQOL_MIN_SECONDS[mode], f"ViSQOL {mode} mode")
        api = _visqol_package().VisqolApi()
        if mode == "speech":
            api.create(mode="speech", use_lattice_model=False)
        else:
            api.create(mode="audio")
        try:
            result = api.measure_from_arrays(mono_at(reference, sample_rate, rate),
                                             mono_at(estimate, sample_rate, rate), rate)
        except (ValueError, IndexError) as exc:  # what it raises when it finds too few patches to compare
            raise MetricUnavailable(f"ViSQOL {mode} mode found too little to compare ({exc})") from None
        return {key: float(result.moslqo)}

    return compute


# -- STOI / ESTOI -------------------------------------------------------------------------------

def _stoi(extended: bool, key: str) -> Callable[[Items, Items, int], dict[str, float]]:
    def compute(reference: Items, estimate: Items, sample_rate: int) -> dict[str, float]:
        _require_seconds(reference, sample_rate, STOI_MIN_SECONDS, "STOI")
        pystoi = _module("pystoi", "STOI", "pystoi")
        return {key: float(pystoi.stoi(mono(reference), mono(estimate), sample_rate, extended=extended))}

    return compute


# -- DNSMOS P.835 -------------------------------------------------------------------------------

def _dnsmos_requirement() -> None:
    from model.dnsmos import DnsmosUnavailable, check_available

    try:
        check_available()
    except DnsmosUnavailable as exc:
        raise MetricUnavailable(str(exc)) from None


def _dnsmos(reference: Items, estimate: Items, sample_rate: int) -> dict[str, float]:
    """Non-intrusive: only the estimate is judged (clipped to [-1, 1], as writing a file would)."""
    from model.dnsmos import dnsmos

    scores = dnsmos(np.clip(mono_at(estimate, sample_rate, SPEECH_RATE), -1.0, 1.0))
    return {"dnsmos_sig": scores.sig, "dnsmos_bak": scores.bak, "dnsmos_ovrl": scores.ovrl}


# -- PESQ (only when the user installed it) -----------------------------------------------------

PESQ_ABSENT = ("PESQ is measured only if you install the pesq package yourself "
               "(not a dependency: the ITU code it wraps may not be used commercially)")


def _pesq_package() -> ModuleType:
    try:
        return importlib.import_module("pesq")
    except (ImportError, OSError):
        raise MetricUnavailable(PESQ_ABSENT) from None


def _pesq(reference: Items, estimate: Items, sample_rate: int) -> dict[str, float]:
    package = _pesq_package()
    try:
        score = package.pesq(SPEECH_RATE, mono_at(reference, sample_rate, SPEECH_RATE),
                             mono_at(estimate, sample_rate, SPEECH_RATE), "wb")
    except package.PesqError as exc:  # e.g. no utterances in a silent reference
        raise MetricUnavailable(f"PESQ: {exc}") from None
    return {"pesq": float(score)}


_ALL = (
    Metric("mel", ("mel_distance",), "DAC multi-scale mel distance (lower is better)", True, _mel),
    Metric("stft", ("stft_distance",), "DAC multi-scale STFT distance (lower is better)", True, _stft),
    Metric("si_sdr", ("si_sdr", "si_sdr_aligned", "delay_samples"),
           "SI-SDR in dB, also after undoing the codec's delay (found by cross-correlation)", True, _si_sdr),
    Metric("visqol", ("visqol",), "ViSQOL v3 audio mode at 48 kHz, MOS-LQO 1-5", False,
           _visqol("audio", VISQOL_AUDIO_RATE, "visqol"), _visqol_package),
    Metric("visqol_speech", ("visqol_speech",), "ViSQOL v3 speech mode at 16 kHz, MOS-LQO 1-5", False,
           _visqol("speech", SPEECH_RATE, "visqol_speech"), _visqol_package),
    Metric("stoi", ("stoi",), "STOI speech intelligibility, 0-1", False, _stoi(False, "stoi"),
           lambda: _module("pystoi", "STOI", "pystoi")),
    Metric("estoi", ("estoi",), "extended STOI, 0-1", False, _stoi(True, "estoi"),
           lambda: _module("pystoi", "ESTOI", "pystoi")),
    Metric("dnsmos", ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"),
           "DNSMOS P.835 of the output alone: signal, background, overall, 1-5", False, _dnsmos, _dnsmos_requirement),
    Metric("pesq", ("pesq",), "PESQ wide-band at 16 kHz, MOS-LQO (only if pesq is installed)", False, _pesq,
           _pesq_package),
)

METRICS: Mapping[str, Metric] = {metric.name: metric for metric in _ALL}
FAST_METRICS: tuple[str, ...] = tuple(metric.name for metric in _ALL if metric.fast)


def resolve(names: str | Iterable[str]) -> list[Metric]:
    """Metrics by name (a comma-separated string or a list), in the order given, without repeats."""
    if isinstance(names, str):
        names = [part.strip() for part in names.split(",") if part.strip()]
    chosen: list[Metric] = []
    for name in names:
        if name not in METRICS:
            raise UnknownMetricError(f"unknown metric '{name}' (known: {', '.join(METRICS)})")
        if METRICS[name] not in chosen:
            chosen.append(METRICS[name])
    if not chosen:
        raise UnknownMetricError(f"no metric chosen (known: {', '.join(METRICS)})")
    return chosen


def unavailable_reason(name: str) -> str | None:
    """Why metric ``name`` cannot run on this machine, or ``None`` if it can."""
    try:
        resolve([name])[0].requirement()
    except MetricUnavailable as exc:
        return str(exc)
    return None


def measure(name: str, reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor,
            sample_rate: int) -> MetricOutcome:
    """Metric ``name`` of ``estimate`` against ``reference``; absent (with the reason) where it cannot run."""
    metric = resolve([name])[0]
    if sample_rate <= 0:
        raise MetricInputError(f"sample_rate must be positive, got {sample_rate}")
    ref, est = paired_items(reference, estimate)
    try:
        metric.requirement()
        values: dict[str, float | None] = dict(metric.compute(ref, est, sample_rate))
    except MetricUnavailable as exc:
        return MetricOutcome(name, dict.fromkeys(metric.keys), str(exc))
    undefined = [key for key, value in values.items() if value != value]  # NaN: e.g. ViSQOL of silence
    if undefined:
        return MetricOutcome(name, {key: None if key in undefined else value for key, value in values.items()},
                             f"{', '.join(undefined)} undefined on this signal (silence?)")
    return MetricOutcome(name, values)
