"""DNSMOS P.835: non-intrusive speech quality (SIG, BAK, OVRL on a 1-5 scale) from one signal.

Microsoft's DNSMOS network as shipped in the ``speechmos`` wheel (``dnsmos_models/
sig_bak_ovr.onnx``), run with onnxruntime.  We run the model file ourselves rather than call
``speechmos.dnsmos.run`` because that module imports librosa (and requests) at import time to
compute the P.808 score we do not report, and keeps its session in a module global; this
runner needs only onnxruntime and holds no state between calls.  The scoring follows the
reference exactly, so the numbers are the same (tests compare against ``speechmos`` itself):

- 16 kHz mono in [-1, 1]; a clip shorter than 9.01 s is repeated until it is at least that long;
- 9.01 s segments every second, the bounds computed as the reference computes them,
  ``int((i + 9.01) * 16000)``.  In float64 that rounds a sample short for segments 7 to 23,
  which the reference then skips; so does this runner, and a clip of 17 to 33 s is judged on
  its first 16 s only.  Matching the reference keeps the numbers comparable with published ones;
- each segment's raw SIG/BAK/OVRL mapped by the P.835 polynomials, then averaged over segments.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

SAMPLE_RATE = 16_000
SEGMENT_SECONDS = 9.01
# P.835 polynomials (highest power first) of the non-personalised model.
_SIG_POLY = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_BAK_POLY = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_OVRL_POLY = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


class DnsmosUnavailable(RuntimeError):
    """onnxruntime or the DNSMOS model file cannot be had here; the message says which."""


@dataclass(frozen=True)
class DnsmosScores:
    sig: float
    bak: float
    ovrl: float


def _runtime_and_model():
    """onnxruntime and the P.835 model file's bytes, or :class:`DnsmosUnavailable` saying which is missing."""
    try:
        import onnxruntime
    except (ImportError, OSError) as exc:
        raise DnsmosUnavailable(f"DNSMOS needs onnxruntime, which cannot be loaded here ({exc})") from None
    try:
        model = resources.files("speechmos") / "dnsmos_models" / "sig_bak_ovr.onnx"
        return onnxruntime, model.read_bytes()
    except (ImportError, OSError) as exc:
        raise DnsmosUnavailable(f"DNSMOS needs the speechmos package for its model file ({exc})") from None


def check_available() -> None:
    """Raise :class:`DnsmosUnavailable` with the reason when DNSMOS cannot run here."""
    _runtime_and_model()


def dnsmos(audio: np.ndarray) -> DnsmosScores:
    """P.835 scores of ``audio``: 1-D, 16 kHz, samples in [-1, 1]."""
    audio = np.asarray(audio)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"DNSMOS takes one non-empty 16 kHz channel, got shape {audio.shape}")
    if np.abs(audio).max() > 1.0:
        raise ValueError("DNSMOS takes samples in [-1, 1]")
    onnxruntime, model_bytes = _runtime_and_model()
    # A fresh session per call (about 50 ms): nothing is kept between calls.  One thread: this is
    # background work beside the studio's playback and views (the scores do not depend on it).
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    segment = int(SEGMENT_SECONDS * SAMPLE_RATE)
    while len(audio) < segment:
        audio = np.append(audio, audio)
    hops = int(np.floor(len(audio) / SAMPLE_RATE) - SEGMENT_SECONDS) + 1
    raw = []
    for i in range(hops):
        piece = audio[int(i * SAMPLE_RATE): int((i + SEGMENT_SECONDS) * SAMPLE_RATE)]
        if len(piece) < segment:
            continue
        raw.append(session.run(None, {"input_1": piece.astype(np.float32)[np.newaxis, :]})[0][0])
    sig, bak, ovrl = np.asarray(raw, dtype=np.float64).T
    return DnsmosScores(float(np.mean(_SIG_POLY(sig))), float(np.mean(_BAK_POLY(bak))), float(np.mean(_OVRL_POLY(ovrl))))
