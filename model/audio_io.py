"""Reading, writing and resampling audio files, with errors meant for people.

libsndfile (through soundfile) reads WAV, FLAC, Ogg/Vorbis, Opus and MP3 without a
subprocess; soxr gives band-limited resampling of the quality of SoX's "very high" setting.
All writes go to a temporary file in the destination folder and are renamed into place, so
an interrupted or failed write never leaves a half-written file behind.

Long files are read, resampled and written in blocks (``read_blocks``, ``resample_blocks``,
``write_audio_blocks``), so memory does not grow with the duration. soxr's streaming
resampler fed block by block gives exactly the samples of one whole-signal call.

Blocks are read with libsndfile's own sequential read (:func:`read_on`), not
``SoundFile.read``: that one seeks back to where it believes the file stands after every call,
and libsndfile's MP3 decoder restarts unprimed after any seek, so every block boundary of an
MP3 file carried a glitch of up to a frame (errors up to 0.6 of full scale), which a whole-file
read did not. For the same reason a read from a position inside a lossy file (MP3, Ogg Vorbis,
Opus: the latter two went wrong near the end) seeks :data:`SEEK_PREROLL_FRAMES` earlier and
decodes its way in, an MP3 file from a point on the grid of :func:`_on_mp3_grid`. Either way a
file reads the same samples whether whole, in blocks or from an offset (tested for every format
we read; MP3 at 48 kHz stereo, 44.1 kHz mono and 16 kHz stereo). One exception is known: a mono
MP3 file below 32 kHz (MPEG-2) read from some positions differs in the last bit.

A header's length is a claim, and one that costs nothing to forge: a FLAC, Ogg or MP3 file of
a few kilobytes can say it holds 2^40 frames (an unknown length, which streamed FLAC writes,
reads as 2^63). So no buffer is ever sized from it alone. A whole-file read allocates up front
only what the file's bytes can hold, for samples stored one fixed-size value after another
(PCM, float, A-law, u-law); a compressed file is decoded into pieces of :data:`SEGMENT_BYTES`
and joined at the end, each piece freed as it is copied, so the peak stays near one copy of
the samples (glibc maps a block of 32 MB or more on its own and unmaps it when freed), and
grows with what the file really holds, never with what it says. Blocks go straight into the
``[channels, frames]`` result, checked for non-finite values one at a time, so no transposed
copy or mask of the whole is made either. :func:`audio_info` believes a
header's length only when the bytes could hold it and the last frame it names can be read, and
counts the frames otherwise. (A decoder takes an Ogg file's last granule position at its word
and reads a frame wherever it points, so an Ogg file lying by less than
:data:`_MAX_FRAMES_PER_BYTE` frames a byte is reported as long as it says; nothing is
allocated on its word either.)
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from model.atomic_file import atomic_path

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
MAX_CHANNELS = 64
BLOCK_FRAMES = 1 << 16  # frames per block read or written: ~1.4 s at 48 kHz, 16 MB at 64 channels
# Frames decoded before a position sought to in a lossy file, by container: MP3's bit reservoir
# reaches a few 1152-sample frames back and its filterbank's state one (eight frames is a wide
# margin: one sufficed in tests); Vorbis overlaps blocks of up to 8192 samples, Opus pre-skips
# 80 ms. libsndfile seeks to the right sample, but restarts the decoder there unprimed.
SEEK_PREROLL_FRAMES = {"MP3": 8 * 1152, "OGG": 16_384}
_MP3_GRID = 4608  # an MP3 decode starts at a multiple of this, plus the file's offset (see _on_mp3_grid)
# Bytes of one sample of the subtypes stored uncompressed, where a file's size bounds its length
# (FLAC reports its samples' PCM subtype, but is compressed).
_STORED_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4,
                        "FLOAT": 4, "DOUBLE": 8}
_COMPRESSED_FORMATS = {"FLAC"}
_AU_HEADER_BYTES = 24
SEGMENT_BYTES = 32 << 20  # a compressed file's samples are decoded into pieces of this size (see above)
# More frames per byte than any codec libsndfile decodes can pack (FLAC's densest, a constant
# 65535-sample block, is some 4,400 a byte): a compressed file claiming more holds less.
_MAX_FRAMES_PER_BYTE = 1 << 16
_LOW_SPACE_BYTES = 1 << 20  # a write failing with less free space than this (or a block) is a full disk


class AudioFileError(ValueError):
    """An audio file that cannot be used, with a one-line reason."""


@dataclass
class Audio:
    """Samples ``[channels, frames]`` float32 at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def frames(self) -> int:
        return self.samples.shape[1]

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header of an audio file (rate, channels, frames), checked as a read would check it: its
    length as the header says where the bytes could hold it and the last frame it names can be
    read (one seek), otherwise counted by decoding the file in blocks."""
    path = Path(path)
    _check_exists(path)
    try:
        info = sf.info(str(path))
        _check_format(path, info)
        if info.frames > 0 and not _believable(path, info):
            info.frames = _counted_frames(path)
            info.duration = info.frames / info.samplerate
        return info
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{path.name}: not a readable audio file ({_reason(exc)})") from None


def _believable(path: Path, info: sf.SoundFile | sf._SoundFileInfo) -> bool:
    """Whether the header's length fits in the file's bytes and its last frame can be read (past
    the real end a seek fails or reads nothing)."""
    stored = _stored_frames(path, info)
    status = path.stat()
    if info.frames > (status.st_size * _MAX_FRAMES_PER_BYTE if stored is None else stored):
        return False
    return _last_frame_reads(str(path), status.st_size, status.st_mtime_ns, info.frames)


@lru_cache(maxsize=1024)
def _last_frame_reads(path: str, size: int, modified_ns: int, frames: int) -> bool:
    """Whether frame ``frames - 1`` of the file (as it is at ``size`` and ``modified_ns``) can be
    read. Remembered: reaching the end of an MP3 file takes a scan of its frames (30 ms for ten
    minutes), and training reads many excerpts from a position of the same files."""
    with sf.SoundFile(path) as f:
        try:
            f.seek(frames - 1)
            return read_on(f, 1).shape[0] == 1
        except (sf.LibsndfileError, RuntimeError):
            return False


def _counted_frames(path: Path) -> int:
    with sf.SoundFile(str(path)) as f:
        frames = 0
        while got := read_on(f, BLOCK_FRAMES).shape[0]:
            frames += got
        return frames


@contextmanager
def _opened(path: Path) -> Iterator[sf.SoundFile]:
    """An audio file open for reading, checked; libsndfile's errors become one line naming it."""
    _check_exists(path)
    try:
        with sf.SoundFile(str(path)) as f:
            _check_format(path, f)
            yield f
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{path.name}: not a readable audio file ({_reason(exc)})") from None


def _finite(data: np.ndarray) -> np.ndarray:
    """``data`` with non-finite values replaced, in place."""
    if not np.isfinite(data).all():
        np.nan_to_num(data, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    return data


def _samples(data: np.ndarray) -> np.ndarray:
    """libsndfile's ``[frames, channels]`` as ``[channels, frames]``, non-finite values replaced."""
    return np.ascontiguousarray(_finite(data).T)


def _no_audio(path: Path) -> AudioFileError:
    return AudioFileError(f"{path.name}: the file holds no audio (0 samples)")


def read_on(f: sf.SoundFile, frames: int) -> np.ndarray:
    """Up to ``frames`` float32 ``[frames, channels]`` from where ``f`` stands, read on in sequence
    (libsndfile's ``sf_readf_float``, without ``SoundFile.read``'s seek after it: see the module's
    docstring). Raises soundfile's error if libsndfile reports one."""
    out = np.empty((max(0, frames), f.channels), dtype=np.float32)
    got = sf._snd.sf_readf_float(f._file, sf._ffi.from_buffer("float[]", out), out.shape[0])
    code = sf._snd.sf_error(f._file)
    if code:
        raise sf.LibsndfileError(code, "Error reading the file: ")
    return out[:got]


def seek_exactly(f: sf.SoundFile, start: int, path: Path) -> None:
    """Stand ``f``, just opened on ``path``, at frame ``start`` so that what :func:`read_on` reads
    next is what a read from the beginning would give there (a lossy file decodes its way in
    from a little earlier; one whose header's length is not believable, from its start: MP3's
    seek table is scaled by that length, so a lying one lands anywhere)."""
    preroll = SEEK_PREROLL_FRAMES.get(f.format, 0)
    if not preroll or start <= 0:
        f.seek(max(0, start))
        return
    first = start - preroll
    if first > 0 and f.format == "MP3":
        first = _on_mp3_grid(path, first)
    if first <= 0 or not _believable(path, f):
        _skip(f, start)
        return
    f.seek(first)
    _skip(f, start - first)


def _skip(f: sf.SoundFile, frames: int) -> None:
    while frames and (skipped := read_on(f, min(BLOCK_FRAMES, frames)).shape[0]):
        frames -= skipped


def _on_mp3_grid(path: Path, first: int) -> int:
    """The last point at or before ``first`` from which an MP3 file decodes bit for bit what a
    read from its start gives; 0 (decode from the start) if the file has none.

    mpg123's synthesis filter steps a ring buffer 18 times a granule (576 samples; an MPEG-1
    frame holds two, an MPEG-2 or 2.5 frame, at rates below 32 kHz, one), and a decode that
    starts where the buffer stands otherwise than when decoding from the file's start rounds
    differently in the last bit, throughout. So decodes start on a grid of :data:`_MP3_GRID`
    samples (eight granules); which of its offsets, the file's first frames tell (remembered per
    file)."""
    status = path.stat()
    offset = _mp3_grid_offset(str(path), status.st_size, status.st_mtime_ns)
    if offset is None:
        return 0
    return max(0, (first - offset) // _MP3_GRID * _MP3_GRID + offset)


@lru_cache(maxsize=1024)
def _mp3_grid_offset(path: str, size: int, modified_ns: int) -> int | None:
    """The first granule offset whose grid point past the start, decoded in from there, gives what
    a read from the start gives after two frames; None if none does (or the file is short)."""
    granule, check = 576, 1152
    with sf.SoundFile(path) as f:
        reference = read_on(f, 2 * _MP3_GRID + 3 * check)
    for offset in range(0, _MP3_GRID, granule):
        point = _MP3_GRID + offset
        expected = reference[point + 2 * check : point + 3 * check]
        if expected.shape[0] < check:
            return None
        with sf.SoundFile(path) as f:
            f.seek(point)
            if np.array_equal(read_on(f, 3 * check)[2 * check :], expected):
                return offset
    return None


def read_audio(path: str | Path, start: int = 0, frames: int = -1) -> Audio:
    """Read a whole file (or up to ``frames`` from ``start``) as float32 ``[channels, frames]``.

    The whole file is read on to its end, wherever the header says it is (MP3 headers can be
    short); memory follows what the file holds, not what its header claims (module docstring)."""
    path = Path(path)
    with _opened(path) as f:
        if start:
            seek_exactly(f, start, path)
        samples = _read_frames(path, f, start, None if frames < 0 else frames)
        rate = f.samplerate
    if samples.shape[1] == 0 and start == 0:
        raise _no_audio(path)
    return Audio(samples, rate)


def _read_frames(path: Path, f: sf.SoundFile, start: int, limit: int | None) -> np.ndarray:
    """Up to ``limit`` (None: all) frames from ``start``, where ``f`` stands, as ``[channels, frames]``:
    first into one piece as long as the header claims and the bytes can hold, then into
    pieces of :data:`SEGMENT_BYTES`, joined at the end."""
    channels = f.channels
    room = max(0, min(f.frames, _stored_frames(path, f) or 0) - start)
    segment = max(BLOCK_FRAMES, SEGMENT_BYTES // (4 * channels))
    pieces: list[np.ndarray] = []
    piece, filled, done = np.empty((channels, room if limit is None else min(room, limit)), np.float32), 0, 0
    while limit is None or done < limit:
        if filled == piece.shape[1]:
            if filled:
                pieces.append(piece)
            piece, filled = np.empty((channels, segment if limit is None else min(segment, limit - done)),
                                     np.float32), 0
        block = read_on(f, min(BLOCK_FRAMES, piece.shape[1] - filled))
        if not block.shape[0]:
            break
        piece[:, filled : filled + block.shape[0]] = _finite(block).T
        filled += block.shape[0]
        done += block.shape[0]
    if filled or not pieces:
        pieces.append(piece if filled == piece.shape[1] else piece[:, :filled])
    del piece
    if len(pieces) == 1:  # the common case: one piece, as long as the header said
        return np.ascontiguousarray(pieces.pop())
    return _joined(pieces, channels, done)


def _joined(pieces: list[np.ndarray], channels: int, frames: int) -> np.ndarray:
    """``pieces`` side by side, each freed once copied: the result's pages are touched only as
    they are filled, so the peak is one copy of the samples and a piece."""
    out = np.empty((channels, frames), np.float32)
    done = 0
    while pieces:
        piece = pieces.pop(0)
        out[:, done : done + piece.shape[1]] = piece
        done += piece.shape[1]
        del piece
    return out


def _stored_frames(path: Path, f: sf.SoundFile | sf._SoundFileInfo) -> int | None:
    """The most frames the file's bytes can hold: its size over a frame's bytes, for samples
    stored uncompressed; None for a compressed file (nothing is allocated on its word)."""
    size = _STORED_SAMPLE_BYTES.get(f.subtype)
    if size is None or f.format in _COMPRESSED_FORMATS:
        return None
    return path.stat().st_size // (size * f.channels)


def read_blocks(path: str | Path, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """The file as consecutive float32 ``[channels, frames]`` blocks: ``read_audio`` in pieces."""
    path = Path(path)
    with _opened(path) as f:
        first = True
        while (data := read_on(f, block_frames)).shape[0]:
            first = False
            yield _samples(data)
        if first:
            raise _no_audio(path)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling of ``[channels, frames]`` (identity when the rates match)."""
    if rate_in == rate_out:
        return samples
    out = soxr.resample(np.ascontiguousarray(samples.T), rate_in, rate_out, quality="VHQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def resampled_length(frames: int, rate_in: int, rate_out: int) -> int:
    """How many frames :func:`resample` (and :func:`resample_blocks`) make of ``frames``: soxr's
    ``frames * rate_out / rate_in`` rounded half up."""
    return (2 * frames * rate_out + rate_in) // (2 * rate_in)


def resample_blocks(blocks: Iterable[np.ndarray], rate_in: int, rate_out: int) -> Iterator[np.ndarray]:
    """``resample`` of a signal given as consecutive float32 ``[channels, frames]`` blocks.

    soxr's streaming resampler keeps its filter state between blocks and is flushed after
    the last one, so the blocks it yields join into exactly ``resample`` of the whole signal.
    """
    if rate_in == rate_out:
        yield from blocks
        return
    stream = held = None
    for block in blocks:
        if stream is None:
            stream = soxr.ResampleStream(rate_in, rate_out, block.shape[0], dtype="float32", quality="VHQ")
        if held is not None:
            yield _resampled_chunk(stream, held, last=False)
        held = block
    if stream is not None:
        yield _resampled_chunk(stream, held, last=True)


def _resampled_chunk(stream: soxr.ResampleStream, block: np.ndarray, last: bool) -> np.ndarray:
    out = stream.resample_chunk(np.ascontiguousarray(block.T, dtype=np.float32), last=last)
    return np.ascontiguousarray(out.T)


def _output_format(path: Path) -> str:
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".opus": "OGG"}.get(path.suffix.lower())
    if fmt is None:
        raise AudioFileError(f"{path.name}: unsupported output format (use .wav, .flac or .ogg)")
    return fmt


def _default_subtype(path: Path, fmt: str, peak: float) -> str | None:
    """Vorbis or Opus for Ogg; for WAV, 16-bit unless samples beyond full scale need float."""
    if fmt == "OGG":
        return "OPUS" if path.suffix.lower() == ".opus" else "VORBIS"
    if fmt == "WAV":
        return "FLOAT" if peak > 1.0 else "PCM_16"
    return None


def _check_finite(path: Path, samples: np.ndarray) -> None:
    if not np.isfinite(samples).all():
        raise AudioFileError(f"{path.name}: refused to write NaN or infinite samples")


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write ``[channels, frames]`` atomically; the format follows the extension."""
    path = Path(path)
    fmt = _output_format(path)
    _check_finite(path, samples)
    subtype = subtype or _default_subtype(path, fmt, float(np.abs(samples).max(initial=0.0)))
    write_audio_blocks(path, [samples], sample_rate, subtype)


def write_audio_blocks(
    path: str | Path, blocks: Iterable[np.ndarray], sample_rate: int, subtype: str | None = None
) -> int:
    """Write consecutive ``[channels, frames]`` blocks atomically, as ``write_audio`` would write
    them joined; returns the frames written.

    The default WAV subtype depends on the peak of the whole signal, so without ``subtype``
    the blocks first go to an anonymous spool file beside the target (float32, removed
    however the process ends), and are copied from there once the peak is known.
    """
    path = Path(path)
    fmt = _output_format(path)
    with atomic_path(path) as tmp:
        if subtype is None and fmt == "WAV":
            with tempfile.TemporaryFile(dir=Path(tmp).parent) as spool:
                channels, peak = _spool(path, blocks, spool)
                spooled = _spooled_blocks(spool, channels)
                return _write_blocks(path, tmp, spooled, sample_rate, fmt, _default_subtype(path, fmt, peak))
        return _write_blocks(path, tmp, blocks, sample_rate, fmt, subtype or _default_subtype(path, fmt, 0.0))


def _spool(path: Path, blocks: Iterable[np.ndarray], spool) -> tuple[int, float]:
    """Write ``blocks`` interleaved to ``spool``; returns their channel count and peak."""
    channels, peak = None, 0.0
    for block in blocks:
        _check_finite(path, block)
        channels = block.shape[0]
        peak = max(peak, float(np.abs(block).max(initial=0.0)))
        spool.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())
    if channels is None:
        raise AudioFileError(f"{path.name}: no audio to write")
    return channels, peak


def _spooled_blocks(spool, channels: int) -> Iterator[np.ndarray]:
    spool.seek(0)
    while data := spool.read(BLOCK_FRAMES * channels * 4):
        yield np.frombuffer(data, dtype=np.float32).reshape(-1, channels).T


def _write_blocks(path: Path, tmp: str, blocks: Iterable[np.ndarray], sample_rate: int, fmt: str,
                  subtype: str | None) -> int:
    written, output, data = 0, None, None
    try:
        for block in blocks:
            _check_finite(path, block)
            data = np.ascontiguousarray(np.asarray(block, dtype=np.float32).T)
            if output is None:
                output = sf.SoundFile(tmp, "w", sample_rate, data.shape[1], subtype, format=fmt)
            output.write(data)
            written += data.shape[0]
        if output is None:
            raise AudioFileError(f"{path.name}: no audio to write")
        output.close()
    except AudioFileError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        # libsndfile says only "System error." when the disk is full
        if shutil.disk_usage(tmp).free < max(_LOW_SPACE_BYTES, 0 if data is None else data.nbytes):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        raise AudioFileError(f"{path.name}: cannot write audio ({_reason(exc)})") from None
    finally:
        if output is not None and not output.closed:
            output.close()
    return written


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a file")


def _check_format(path: Path, f: sf.SoundFile | sf._SoundFileInfo) -> None:
    """Refuse what no reader here should take: absurd rates and channel counts, and a file
    libsndfile could only guess to be headerless (a ``.au`` file without its header is taken
    for raw 8 kHz u-law, whose sequential reads then skip the bytes the guess looked at)."""
    rate, channels = f.samplerate, f.channels
    if f.format == "RAW":
        raise AudioFileError(f"{path.name}: not a readable audio file (no header)")
    if f.format == "AU" and _au_data_offset(path) < _AU_HEADER_BYTES:
        raise AudioFileError(f"{path.name}: not a readable audio file (its samples start inside its header)")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioFileError(f"{path.name}: unsupported sample rate {rate} Hz "
                             f"(expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE})")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(f"{path.name}: unsupported channel count {channels} (at most {MAX_CHANNELS})")


def _au_data_offset(path: Path) -> int:
    """Where a Sun AU file says its samples start (after the magic, in the magic's byte order).
    libsndfile takes an offset inside the 24-byte header, and then reads from a position other
    than in sequence."""
    with open(path, "rb") as file:
        head = file.read(8)
    return int.from_bytes(head[4:], "little" if head[:4] == b"dns." else "big")


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text
