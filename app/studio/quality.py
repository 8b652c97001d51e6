"""Quality of one rendering against the codec's input, and Opus at the same bitrates.

The codec rows use the same metric functions as :func:`model.evaluation.evaluate` (the DAC
paper's mel and STFT distances, SI-SDR, against the loudness-normalised input), but on
reconstructions the studio has already rendered, so the quality panel costs no extra decode.

Opus reference: libopus itself (through ``opuslib``), with its bitrate set exactly: each
channel is coded on its own in 20 ms frames (as the codec codes each channel on its own), in
libopus's default VBR mode, as ``opusenc`` does. The reported bitrate is *measured* from the
packets' sizes (no container), so each point is plotted where Opus actually landed. The
encoder's lookahead is dropped from the decoded stream, so Opus output is sample-aligned with
the input. Below 6 kbit/s per channel Opus has no useful mode; lower bitrates get no point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.audio_io import resample
from model.evaluation import RateRow
from model.metrics import si_sdr, spectral_distances

OPUS_RATE = 48_000
OPUS_FRAME = 960  # 20 ms at 48 kHz: libopus's default frame for music and speech
OPUS_MIN_BPS = 6_000


class OpusUnavailable(RuntimeError):
    """libopus could not be loaded, so there is no Opus reference on this machine."""


def rate_row(reference: np.ndarray, decoded: np.ndarray, sample_rate: int, n: int, kbps: float) -> RateRow:
    """Metrics of ``decoded`` against ``reference`` (both ``[C, 1, T]`` at ``sample_rate``)."""
    ref, est = torch.from_numpy(np.ascontiguousarray(reference)), torch.from_numpy(np.ascontiguousarray(decoded))
    mel, stft = spectral_distances(ref, est, sample_rate)
    return RateRow(n, kbps, float(mel.mean()), float(stft.mean()), float(si_sdr(ref, est).mean()))


@dataclass(frozen=True)
class OpusPoint:
    target_kbps: float
    measured_kbps: float
    decoded: np.ndarray  # [C, 1, T] at the reference's rate


def opus_round_trip(reference: np.ndarray, sample_rate: int, kbps: float) -> OpusPoint | None:
    """Code ``reference`` ``[C, 1, T]`` with Opus at ``kbps`` per channel and decode it back.

    Per channel, like the codec's nominal bitrate; ``measured_kbps`` is per channel too (the
    mean over channels of their packets' bits per second of audio).
    """
    channels, _, length = reference.shape
    if kbps * 1000 < OPUS_MIN_BPS:
        return None
    at48 = resample(reference[:, 0], sample_rate, OPUS_RATE).astype(np.float32)
    coded = [_opus_channel(channel, round(kbps * 1000)) for channel in at48]
    seconds = at48.shape[1] / OPUS_RATE
    measured = sum(bits for _, bits in coded) / channels / seconds / 1000
    back = resample(np.stack([audio for audio, _ in coded]), OPUS_RATE, sample_rate)
    back = back[:, :length] if back.shape[1] >= length else np.pad(back, ((0, 0), (0, length - back.shape[1])))
    return OpusPoint(kbps, measured, back[:, None, :].astype(np.float32))


def _opus_channel(signal: np.ndarray, bits_per_second: int) -> tuple[np.ndarray, int]:
    """One channel at 48 kHz through libopus: (decoded, aligned to ``signal``; bits spent)."""
    opuslib = _opuslib()
    encoder = opuslib.Encoder(OPUS_RATE, 1, "audio")
    encoder.bitrate = bits_per_second
    decoder = opuslib.Decoder(OPUS_RATE, 1)
    delay = encoder.lookahead
    padded = np.zeros(-(-(len(signal) + delay) // OPUS_FRAME) * OPUS_FRAME, np.float32)
    padded[:len(signal)] = signal
    decoded, bits = [], 0
    for start in range(0, len(padded), OPUS_FRAME):
        packet = encoder.encode_float(padded[start:start + OPUS_FRAME].tobytes(), OPUS_FRAME)
        bits += 8 * len(packet)
        decoded.append(np.frombuffer(decoder.decode_float(packet, OPUS_FRAME), np.float32))
    return np.concatenate(decoded)[delay:delay + len(signal)], bits


def _opuslib():
    """``opuslib``, which raises a bare ``Exception`` at import when libopus is missing."""
    try:
        import opuslib
    except Exception as exc:  # noqa: BLE001 -- opuslib's own failure type
        raise OpusUnavailable("no Opus reference: libopus is not installed (Debian: libopus0)") from exc
    return opuslib
