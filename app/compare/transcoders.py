"""The classic codecs a neural codec is compared with: Opus and MP3 at a given bitrate.

Both run the reference encoders themselves (libopus through ``opuslib``, LAME through
``lameenc``) at a constant bitrate, and report the bitrate they *measured*: the encoded
bytes over the clip's duration, all channels together. The decoded audio comes back at the
clip's rate, length and channel count.

Opus is the studio's reference (:func:`app.studio.quality.opus_round_trip`): each channel
its own stream, sample-aligned. MP3 is one LAME stream (joint stereo for two channels;
more channels are coded one mono stream each), decoded by libsndfile. LAME may pick a
lower output rate for low bitrates; the decoded stream is resampled back. An MP3 stream
starts :data:`MP3_DELAY` samples late (LAME's encoder delay plus the decoder's), which is
dropped; what remains is checked by the alignment every contestant goes through.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from app.compare.contestants import ContestantError
from app.studio.quality import OPUS_MIN_BPS, opus_round_trip
from model.audio_io import Audio, resample

MP3_DELAY = 576 + 529  # samples at the stream's rate: LAME's encoder delay and the decoder's
MP3_INPUT_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


class Mp3Unavailable(RuntimeError):
    """The LAME bindings (``lameenc``) or libsndfile's MP3 support are missing."""


@dataclass(frozen=True)
class Transcoded:
    samples: np.ndarray  # [channels, frames] at the clip's rate and length
    measured_kbps: float  # encoded bits per second of audio, all channels together


def opus(audio: Audio, kbps: float) -> Transcoded:
    """``audio`` through Opus at ``kbps`` for all channels (each channel gets its share)."""
    per_channel = kbps / audio.channels
    if per_channel * 1000 < OPUS_MIN_BPS:
        raise ContestantError(f"Opus at {kbps:g} kbps: below Opus's lowest rate of {OPUS_MIN_BPS / 1000:g} kbps "
                              f"per channel")
    point = opus_round_trip(audio.samples[:, None, :], audio.sample_rate, per_channel)
    return Transcoded(point.decoded[:, 0], point.measured_kbps * audio.channels)


def mp3(audio: Audio, kbps: float) -> Transcoded:
    """``audio`` through LAME at a constant ``kbps`` (all channels together)."""
    rate = audio.sample_rate if audio.sample_rate in MP3_INPUT_RATES else 48000
    samples = resample(audio.samples, audio.sample_rate, rate)
    groups = [samples] if audio.channels <= 2 else [channel[None] for channel in samples]
    decoded, total_bytes = [], 0
    for group in groups:
        stream = _lame(group, rate, kbps / len(groups))
        total_bytes += len(stream)
        back, stream_rate = _decoded(stream, group.shape[0])
        decoded.append(resample(back, stream_rate, audio.sample_rate))
    out = np.zeros(audio.samples.shape, np.float32)
    for k, back in enumerate(decoded):
        channels = slice(0, audio.channels) if len(groups) == 1 else slice(k, k + 1)
        length = min(back.shape[1], audio.frames)
        out[channels, :length] = back[:, :length]
    return Transcoded(out, total_bytes * 8 / audio.duration / 1000)


def _lame(samples: np.ndarray, rate: int, kbps: float) -> bytes:
    try:
        import lameenc
    except ImportError:
        raise Mp3Unavailable("no MP3: the lameenc package is not installed") from None
    encoder = lameenc.Encoder()
    try:
        encoder.set_bit_rate(round(kbps))
        encoder.set_in_sample_rate(rate)
        encoder.set_channels(samples.shape[0])
        encoder.set_quality(2)  # LAME's high-quality search (0 best .. 9 fastest)
        pcm = (np.clip(samples.T, -1.0, 32767 / 32768) * 32768).astype("<i2")
        return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())
    except RuntimeError as exc:
        raise ContestantError(f"MP3 at {kbps:g} kbps: LAME refused it ({exc})") from None


def _decoded(stream: bytes, channels: int) -> tuple[np.ndarray, int]:
    """``([channels, frames], rate)`` of an MP3 stream, its start delay dropped."""
    import soundfile

    try:
        data, rate = soundfile.read(io.BytesIO(stream), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, TypeError) as exc:
        raise Mp3Unavailable(f"no MP3: libsndfile cannot decode it ({exc})") from None
    return np.ascontiguousarray(data[MP3_DELAY:, :channels].T), rate
