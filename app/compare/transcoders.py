"""The classic codecs a neural codec is compared with: Opus and MP3 at a given bitrate.

Both run the reference encoders themselves (libopus through ``opuslib``, LAME through
``lameenc``) at a constant bitrate, and report the bitrate they *measured*: the encoded
bytes over the clip's duration, all channels together. The decoded audio comes back at the
clip's rate, length and channel count.

Opus is the studio's reference (:class:`app.studio.quality.OpusStream`): each channel
its own stream, sample-aligned. MP3 is one LAME stream (joint stereo for two channels;
more channels are coded one mono stream each), decoded by libsndfile. LAME may pick a
lower output rate for low bitrates; the decoded stream is resampled back. An MP3 stream
starts :data:`MP3_DELAY` samples late (LAME's encoder delay plus the decoder's), which is
dropped; what remains is checked by the alignment every contestant goes through.

Both take the clip as consecutive blocks and give blocks back (:func:`opus_blocks`,
:func:`mp3_blocks`), so a clip of any length is transcoded holding a block of it: Opus codes
and decodes 20 ms frames as they come; LAME's stream goes to an anonymous temporary file
(``spool_dir``: the rendering's own folder, so a full disk is that folder's) and is decoded
from there once complete. Resampling is soxr's streaming resampler, the whole-signal result
to the bit. :func:`opus` and :func:`mp3` are the same on a clip held in memory.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.compare.blocks import array_blocks, joined, regrouped
from app.compare.contestants import ContestantError
from app.studio.quality import OPUS_MIN_BPS, OPUS_RATE, OpusStream
from model.audio_io import BLOCK_FRAMES, Audio, read_on, resample_blocks, resampled_length
from model.compression import fitted_blocks

MP3_DELAY = 576 + 529  # samples at the stream's rate: LAME's encoder delay and the decoder's
MP3_INPUT_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


class Mp3Unavailable(RuntimeError):
    """The LAME bindings (``lameenc``) or libsndfile's MP3 support are missing."""


@dataclass(frozen=True)
class Transcoded:
    samples: np.ndarray  # [channels, frames] at the clip's rate and length
    measured_kbps: float  # encoded bits per second of audio, all channels together


class TranscodedBlocks:
    """A clip being transcoded: its samples as blocks (iterated once) and the bitrate measured,
    known once the blocks are all through."""

    def __init__(self, blocks: Iterator[np.ndarray], kbps: Callable[[], float]) -> None:
        self.blocks, self._kbps = blocks, kbps

    @property
    def measured_kbps(self) -> float:
        return self._kbps()

    def held(self) -> Transcoded:
        """The blocks joined (for a clip held in memory), with the bitrate."""
        samples = joined(self.blocks)
        return Transcoded(samples, self.measured_kbps)


def opus(audio: Audio, kbps: float) -> Transcoded:
    """``audio`` through Opus at ``kbps`` for all channels (each channel gets its share)."""
    return opus_blocks(array_blocks(audio.samples), audio.sample_rate, audio.channels, audio.frames, kbps).held()


def mp3(audio: Audio, kbps: float) -> Transcoded:
    """``audio`` through LAME at a constant ``kbps`` (all channels together)."""
    return mp3_blocks(array_blocks(audio.samples), audio.sample_rate, audio.channels, audio.frames, kbps).held()


def opus_blocks(blocks: Iterable[np.ndarray], rate: int, channels: int, length: int, kbps: float) -> TranscodedBlocks:
    """A clip of ``length`` frames given as blocks through Opus at ``kbps`` for all channels."""
    per_channel = kbps / channels
    if per_channel * 1000 < OPUS_MIN_BPS:
        raise ContestantError(f"Opus at {kbps:g} kbps: below Opus's lowest rate of {OPUS_MIN_BPS / 1000:g} kbps "
                              f"per channel")
    stream = OpusStream(channels, round(per_channel * 1000))

    def decoded() -> Iterator[np.ndarray]:
        for block in resample_blocks(blocks, rate, OPUS_RATE):
            yield stream.push(block)
        yield stream.flush()

    def measured() -> float:  # as the studio's reference: per channel, then all channels together
        seconds = resampled_length(length, rate, OPUS_RATE) / OPUS_RATE
        return stream.bits / channels / seconds / 1000 * channels

    back = resample_blocks((block for block in decoded() if block.shape[1]), OPUS_RATE, rate)
    return TranscodedBlocks(fitted_blocks(back, length), measured)


def mp3_blocks(blocks: Iterable[np.ndarray], rate: int, channels: int, length: int, kbps: float,
               spool_dir: str | Path | None = None) -> TranscodedBlocks:
    """A clip of ``length`` frames given as blocks through LAME at a constant ``kbps`` (all
    channels together); the MP3 streams are spooled in ``spool_dir`` (the system's temporary
    folder when None)."""
    stream_rate = rate if rate in MP3_INPUT_RATES else 48000
    groups = [slice(0, channels)] if channels <= 2 else [slice(k, k + 1) for k in range(channels)]
    total_bytes = 0

    def decoded() -> Iterator[np.ndarray]:
        nonlocal total_bytes
        with ExitStack() as stack:  # the spools go however the rendering ends
            spools = [stack.enter_context(tempfile.TemporaryFile(dir=spool_dir)) for _ in groups]
            encoders = [_lame(group.stop - group.start, stream_rate, kbps / len(groups)) for group in groups]
            for block in resample_blocks(blocks, rate, stream_rate):
                for group, encoder, spool in zip(groups, encoders, spools):
                    spool.write(_encoded(encoder, block[group], kbps / len(groups)))
            for encoder, spool in zip(encoders, spools):
                spool.write(bytes(encoder.flush()))
                total_bytes += spool.tell()
            per_group = [regrouped(fitted_blocks(resample_blocks(_decoded_blocks(spool, group.stop - group.start),
                                                                 _rate_of(spool), rate), length), BLOCK_FRAMES)
                         for group, spool in zip(groups, spools)]
            for pieces in zip(*per_group):
                yield np.concatenate(pieces, axis=0) if len(pieces) > 1 else pieces[0]

    return TranscodedBlocks(decoded(), lambda: total_bytes * 8 / (length / rate) / 1000)


def _lame(channels: int, rate: int, kbps: float):
    try:
        import lameenc
    except ImportError:
        raise Mp3Unavailable("no MP3: the lameenc package is not installed") from None
    encoder = lameenc.Encoder()
    try:
        encoder.set_bit_rate(round(kbps))
        encoder.set_in_sample_rate(rate)
        encoder.set_channels(channels)
        encoder.set_quality(2)  # LAME's high-quality search (0 best .. 9 fastest)
    except RuntimeError as exc:
        raise ContestantError(f"MP3 at {kbps:g} kbps: LAME refused it ({exc})") from None
    return encoder


def _encoded(encoder, samples: np.ndarray, kbps: float) -> bytes:
    """``samples`` ``[channels, k]`` as 16-bit PCM through ``encoder``: the MP3 bytes it has ready."""
    pcm = (np.clip(samples.T, -1.0, 32767 / 32768) * 32768).astype("<i2")
    try:
        return bytes(encoder.encode(pcm.tobytes()))
    except RuntimeError as exc:
        raise ContestantError(f"MP3 at {kbps:g} kbps: LAME refused it ({exc})") from None


def _opened(spool):
    import soundfile

    spool.seek(0)
    try:
        return soundfile.SoundFile(spool)
    except (soundfile.LibsndfileError, TypeError, RuntimeError) as exc:
        raise Mp3Unavailable(f"no MP3: libsndfile cannot decode it ({exc})") from None


def _rate_of(spool) -> int:
    with _opened(spool) as stream:
        return stream.samplerate


def _decoded_blocks(spool, channels: int) -> Iterator[np.ndarray]:
    """``[channels, k]`` blocks of a spooled MP3 stream, its start delay dropped."""
    with _opened(spool) as stream:
        skip = MP3_DELAY
        while (data := read_on(stream, BLOCK_FRAMES)).shape[0]:
            data = data[skip:, :channels]
            skip = max(0, skip - BLOCK_FRAMES)
            if data.shape[0]:
                yield np.ascontiguousarray(data.T)
