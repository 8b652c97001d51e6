"""From audio files to codes and back: resampling, channels, loudness, ``.rvq`` files.

Channels go to the codec as batch items of ``codec.channels`` channels each: a mono codec
codes every channel independently (one batch item each); a codec that codes stereo jointly
(``channels == 2``) gets a stereo file as one item ``[1, 2, T]``, a mono file duplicated to
both channels (as the reference EnCodec tools convert it; the decoding is then stereo), and
any even channel count as consecutive pairs. Other channel counts are refused. Everything
runs at the codec's sample rate and is resampled back to the original rate on output.

Side information (``codec.side_info``, e.g. per-segment scales) is kept with the codes in
:class:`EncodedClip` and the ``.rvq`` file. Such a codec takes the blocks as they come and
bounds its memory itself (EnCodec 48 kHz: a segment at a time, in and out). Like the reference ``compress``, the input
can be normalised to a fixed loudness before encoding (codecs are trained on normalised
audio); the original loudness is stored so decoding restores the level. Loudness is
BS.1770's for any channel count (``model.loudness``). A file louder than the format's
``MAX_LOUDNESS_LUFS`` (only float audio beyond full scale gets there) is recorded at that
ceiling and normalised with its gain: the codec then sees a hotter signal, but the level
restored on decoding is still exactly the original's.

Files are never held whole: ``compress_file`` reads the input twice in blocks -- once to
measure its length and loudness (the gain must be known before the first chunk is
encoded), once to resample, normalise and encode it chunk by chunk -- and keeps only the
codes (two bytes each for the bundled model); ``decompress_file`` decodes chunk by chunk,
resamples and writes block by block. Every step is the whole-signal computation in pieces
(soxr's streaming resampler, a block-wise loudness meter, the chunked engine's own chunks),
so the codes and audio equal those of ``encode_clip`` and ``decode_clip`` on the whole
signal, while memory no longer grows with the duration.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from model.audio_io import (Audio, audio_info, read_blocks, resample, resample_blocks, resampled_length,
                            write_audio_blocks)
from model.codec import Codec, EncodedAudio, ProgressFn
from model.loudness import LoudnessMeter
from model.rvq_format import (
    MAX_LOUDNESS_LUFS,
    DecoderSpec,
    RvqFormatError,
    RvqMetadata,
    RvqWriteReport,
    code_dtype,
    read_rvq_with_side,
    write_rvq,
)

TARGET_LUFS = -16.0
MIN_LOUDNESS_SECONDS = 0.4  # the gating block of ITU-R BS.1770


@dataclass
class EncodedClip:
    """Codes ``[items, n, frames]`` plus what is needed to rebuild the original signal.

    ``items`` is the number of channels for a mono codec, of channel pairs for a stereo one;
    ``side`` holds the codec's side information (tensors ``[items, K]``), if it has any.
    """

    codes: torch.Tensor
    original_rate: int
    length: int
    loudness_lufs: float | None = None
    side: dict[str, torch.Tensor] = field(default_factory=dict)

    def encoded(self, n_codebooks: int | None = None) -> EncodedAudio:
        """What :meth:`Codec.decode` takes: the first ``n_codebooks`` codebooks and the side information."""
        codes = self.codes if n_codebooks is None else self.codes[:, :n_codebooks]
        return EncodedAudio(codes, self.side)

    @property
    def gain(self) -> float:
        """The linear gain that was applied before encoding."""
        return normalisation_gain(self.loudness_lufs)


@dataclass(frozen=True)
class SourceScan:
    """What a first pass over an audio file learns before encoding it.

    ``length`` counts frames at ``original_rate``; ``model_length`` samples at the codec's
    rate (the chunk plan needs it); ``loudness_lufs`` as recorded in ``.rvq`` files.
    """

    channels: int
    original_rate: int
    length: int
    model_length: int
    loudness_lufs: float | None

    @property
    def duration(self) -> float:
        return self.length / self.original_rate


@dataclass(frozen=True)
class WrittenAudio:
    """What ``decompress_file`` wrote (the samples themselves are never held)."""

    channels: int
    frames: int
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def normalisation_gain(loudness_lufs: float | None) -> float:
    """Linear gain bringing a signal of ``loudness_lufs`` to the target (1 when not normalised)."""
    return 1.0 if loudness_lufs is None else 10 ** ((TARGET_LUFS - loudness_lufs) / 20)


def measure_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness (LUFS) of ``[channels, frames]``; None when too short or silent."""
    meter = LoudnessMeter(samples.shape[0], sample_rate)
    meter.push(samples)
    return _measured(meter)


def _measured(meter: LoudnessMeter) -> float | None:
    if meter.frames < MIN_LOUDNESS_SECONDS * meter.rate:
        return None
    loudness = meter.loudness()
    return loudness if math.isfinite(loudness) else None


def _recorded(loudness: float | None) -> float | None:
    """The loudness a file records: at most the format's ceiling (see the module docstring)."""
    return None if loudness is None else min(loudness, MAX_LOUDNESS_LUFS)


def codec_items(channels: int, codec_channels: int) -> int:
    """Batch items a file of ``channels`` channels makes for a codec coding ``codec_channels``
    jointly (see the module docstring); ValueError for a count it cannot take."""
    if codec_channels == 1 or channels == 1:
        return channels
    if channels % codec_channels:
        raise ValueError(f"the model codes {codec_channels} channels jointly; a file of {channels} channels "
                         f"is neither mono nor a multiple of {codec_channels}")
    return channels // codec_channels


def _normalised(codec: Codec, samples: np.ndarray, loudness: float | None) -> torch.Tensor:
    """``[channels, frames]`` as the codec's input ``[items, codec.channels, frames]``, gain applied."""
    wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    items = codec_items(wave.shape[0], codec.channels)
    wave = wave.expand(codec.channels, -1) if items == 1 and wave.shape[0] == 1 else wave
    wave = wave.reshape(items, codec.channels, wave.shape[-1])
    return wave if loudness is None else wave * normalisation_gain(loudness)


def model_input(codec: Codec, audio: Audio, normalize: bool = True) -> tuple[torch.Tensor, float | None]:
    """``[items, codec.channels, T]`` at the codec's rate, loudness-normalised when asked and possible."""
    samples = resample(audio.samples, audio.sample_rate, codec.sample_rate)
    loudness = _recorded(measure_loudness(samples, codec.sample_rate)) if normalize else None
    return _normalised(codec, samples, loudness), loudness


@dataclass(frozen=True)
class BlockSource:
    """A signal that is not a file, read anew in blocks for each pass (``blocks()``: consecutive
    ``[channels, k]`` float32 blocks at ``sample_rate``), such as samples kept in a file of one's own."""

    channels: int
    sample_rate: int
    blocks: Callable[[], Iterable[np.ndarray]]


def _block_source(source: str | Path | BlockSource) -> BlockSource:
    if isinstance(source, BlockSource):
        return source
    info = audio_info(source)
    return BlockSource(info.channels, info.samplerate, lambda: read_blocks(source))


def scan_source(codec: Codec, source: str | Path | BlockSource, normalize: bool = True) -> SourceScan:
    """Length and (when ``normalize``) loudness of a file at the codec's rate, read block by block."""
    source = _block_source(source)
    meter = LoudnessMeter(source.channels, codec.sample_rate)
    counted = _Counted(source.blocks())
    model_length = 0
    for block in resample_blocks(counted, source.sample_rate, codec.sample_rate):
        model_length += block.shape[1]
        if normalize:
            meter.push(block)
    loudness = _recorded(_measured(meter)) if normalize else None
    return SourceScan(source.channels, source.sample_rate, counted.frames, model_length, loudness)


def source_blocks(codec: Codec, source: str | Path | BlockSource, scan: SourceScan) -> Iterator[torch.Tensor]:
    """The codec's input ``[channels, 1, k]`` for a scanned file, block by block: ``model_input``
    of the whole file in pieces."""
    blocks = resample_blocks(_block_source(source).blocks(), scan.original_rate, codec.sample_rate)
    return (_normalised(codec, block, scan.loudness_lufs) for block in blocks)


def read_model_input(codec: Codec, source: str | Path) -> tuple[torch.Tensor, SourceScan]:
    """``model_input`` of a file, for uses that need the whole signal (evaluation): built block by
    block, so only the result is held, never the file's samples or a whole-signal resampling."""
    scan = scan_source(codec, source)
    wave = torch.empty((codec_items(scan.channels, codec.channels), codec.channels, scan.model_length))
    done = 0
    for block in source_blocks(codec, source, scan):
        wave[..., done : done + block.shape[-1]] = block
        done += block.shape[-1]
    return wave, scan


class _Counted:
    """Passes blocks through, counting their frames."""

    def __init__(self, blocks: Iterable[np.ndarray]) -> None:
        self._blocks = blocks
        self.frames = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for block in self._blocks:
            self.frames += block.shape[1]
            yield block


def encode_clip(
    codec: Codec,
    audio: Audio,
    n_codebooks: int | None = None,
    normalize: bool = True,
    progress: ProgressFn | None = None,
) -> EncodedClip:
    wave, loudness = model_input(codec, audio, normalize)
    encoded = codec.encode_audio(wave, n_codebooks, progress=progress)
    return EncodedClip(encoded.codes, audio.sample_rate, audio.frames, loudness, encoded.side)


def encode_source(
    codec: Codec, source: str | Path | BlockSource, scan: SourceScan, n_codebooks: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Codes ``[items, n, frames]`` of a scanned file and the codec's side information, encoded
    as it is read; only the codes (of ``code_dtype``) are held."""
    blocks = source_blocks(codec, source, scan)
    if codec.side_info:
        encoded = codec.encode_audio_blocks(blocks, scan.model_length, n_codebooks, progress)
        return (encoded.codes.numpy().astype(code_dtype(codec.codebook_size)),
                {name: value.numpy() for name, value in encoded.side.items()})
    pieces = codec.encode_blocks(blocks, scan.model_length, n_codebooks, progress=progress)
    n = codec.n_codebooks if n_codebooks is None else n_codebooks
    frames = -(-scan.model_length // codec.hop_length)
    codes = np.empty((codec_items(scan.channels, codec.channels), n, frames), dtype=code_dtype(codec.codebook_size))
    done = 0
    for piece in pieces:
        codes[..., done : done + piece.shape[-1]] = piece.numpy()
        done += piece.shape[-1]
    return codes, {}


def decoded_blocks(
    codec: Codec, clip: EncodedClip, n_codebooks: int | None = None, progress: ProgressFn | None = None
) -> Iterator[np.ndarray]:
    """The reconstruction ``[channels, frames]`` at the original rate, length and level, block by
    block (a chunk of the codec's output, resampled).

    The codec's output is cut to the clip's length at the codec's rate before resampling, as
    the studio renders it: what the codec makes of its last frame's padding stays out of the
    resampler's filter, so the file's last milliseconds equal the studio's export.
    """
    gain = clip.gain
    waves = (piece.reshape(-1, piece.shape[-1]).numpy() / gain
             for piece in codec.decode_blocks(clip.encoded(n_codebooks), progress=progress))
    model_length = resampled_length(clip.length, clip.original_rate, codec.sample_rate)
    at_original_rate = resample_blocks(fitted_blocks(waves, model_length), codec.sample_rate, clip.original_rate)
    return fitted_blocks(at_original_rate, clip.length)


def decode_clip(
    codec: Codec, clip: EncodedClip, n_codebooks: int | None = None, progress: ProgressFn | None = None
) -> Audio:
    """The reconstruction at the original rate, length and level."""
    blocks = list(decoded_blocks(codec, clip, n_codebooks, progress))
    return Audio(np.concatenate(blocks, axis=1), clip.original_rate)


def fitted_blocks(blocks: Iterable[np.ndarray], length: int) -> Iterator[np.ndarray]:
    """Blocks cut or zero-padded to ``length`` frames in all (the codec works in whole frames)."""
    remaining, channels = length, 0
    for block in blocks:
        channels = block.shape[0]
        if remaining > 0:
            yield block[:, :remaining]
            remaining -= min(remaining, block.shape[1])
    if remaining > 0:
        yield np.zeros((channels, remaining), dtype=np.float32)


def compress_file(
    codec: Codec,
    source: str | Path,
    target: str | Path,
    n_codebooks: int | None = None,
    normalize: bool = True,
    entropy_coding: bool = True,
    progress: ProgressFn | None = None,
) -> RvqWriteReport:
    scan = scan_source(codec, source, normalize)
    codes, side = encode_source(codec, source, scan, n_codebooks, progress)
    meta = RvqMetadata(
        codec_name=codec.name, codec_id=codec.digest(), sample_rate=codec.sample_rate,
        original_sample_rate=scan.original_rate, length=scan.length, hop_length=codec.hop_length,
        codebook_size=codec.codebook_size, loudness_lufs=scan.loudness_lufs,
        codebook_strides=tuple(codec.codebook_strides[: codes.shape[1]]),
    )
    return write_rvq(target, codes, meta, entropy_coding, side)


def read_clip(codec: Codec, source: str | Path) -> EncodedClip:
    """Codes of an ``.rvq`` file, refused unless ``codec`` is the one that wrote them.

    The header is checked against the codec before the payload is decoded (a
    ``CodecMismatchError`` names both models).
    """
    decoder = DecoderSpec(codec_name=codec.name, codec_id=codec.digest(), sample_rate=codec.sample_rate,
                          hop_length=codec.hop_length, codebook_size=codec.codebook_size,
                          n_codebooks=codec.n_codebooks)
    codes, meta, side = read_rvq_with_side(source, decoder)
    missing = [name for name in codec.side_info if name not in side]
    if missing:
        raise RvqFormatError(f"{Path(source).name} lacks the side information {', '.join(missing)} "
                             f"that {codec.name} decodes with")
    return EncodedClip(torch.from_numpy(codes), meta.original_sample_rate, meta.length, meta.loudness_lufs,
                       {name: torch.from_numpy(side[name]) for name in codec.side_info})


def decompress_file(
    codec: Codec,
    source: str | Path,
    target: str | Path,
    n_codebooks: int | None = None,
    progress: ProgressFn | None = None,
) -> WrittenAudio:
    clip = read_clip(codec, source)
    stored = clip.codes.shape[1]
    if n_codebooks is not None and not 1 <= n_codebooks <= stored:
        raise ValueError(f"{Path(source).name} stores {stored} codebooks; cannot decode with {n_codebooks}")
    frames = write_audio_blocks(target, decoded_blocks(codec, clip, n_codebooks, progress), clip.original_rate)
    return WrittenAudio(clip.codes.shape[0] * codec.channels, frames, clip.original_rate)
