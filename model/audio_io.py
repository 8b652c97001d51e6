"""Reading, writing and resampling audio files, with errors meant for people.

libsndfile (through soundfile) reads WAV, FLAC, Ogg/Vorbis, Opus and MP3 without a
subprocess; soxr gives band-limited resampling of the quality of SoX's "very high" setting.
All writes go to a temporary file in the destination folder and are renamed into place, so
an interrupted or failed write never leaves a half-written file behind.
"""
from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from model.atomic_file import atomic_path

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
MAX_CHANNELS = 64


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
    """Header of an audio file (rate, channels, frames) without reading the samples."""
    path = Path(path)
    _check_exists(path)
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{path.name}: not a readable audio file ({_reason(exc)})") from None


def read_audio(path: str | Path, start: int = 0, frames: int = -1) -> Audio:
    """Read a whole file (or ``frames`` from ``start``) as float32 ``[channels, frames]``."""
    path = Path(path)
    _check_exists(path)
    try:
        with sf.SoundFile(str(path)) as f:
            _check_format(path, f.samplerate, f.channels)
            if start:
                f.seek(start)
            data = f.read(frames, dtype="float32", always_2d=True)
            rate = f.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{path.name}: not a readable audio file ({_reason(exc)})") from None
    if data.shape[0] == 0 and start == 0:
        raise AudioFileError(f"{path.name}: the file holds no audio (0 samples)")
    samples = np.ascontiguousarray(data.T)
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return Audio(samples, rate)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling of ``[channels, frames]`` (identity when the rates match)."""
    if rate_in == rate_out:
        return samples
    out = soxr.resample(np.ascontiguousarray(samples.T), rate_in, rate_out, quality="VHQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write ``[channels, frames]`` atomically; the format follows the extension."""
    path = Path(path)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".opus": "OGG"}.get(path.suffix.lower())
    if fmt is None:
        raise AudioFileError(f"{path.name}: unsupported output format (use .wav, .flac or .ogg)")
    if not np.isfinite(samples).all():
        raise AudioFileError(f"{path.name}: refused to write NaN or infinite samples")
    if fmt == "OGG" and subtype is None:
        subtype = "OPUS" if path.suffix.lower() == ".opus" else "VORBIS"
    if fmt == "WAV" and subtype is None:
        subtype = "FLOAT" if np.abs(samples).max(initial=0.0) > 1.0 else "PCM_16"
    data = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).T)
    with atomic_path(path) as tmp:
        try:
            sf.write(tmp, data, sample_rate, format=fmt, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            if shutil.disk_usage(tmp).free < data.nbytes:  # libsndfile says only "System error."
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
            raise AudioFileError(f"{path.name}: cannot write audio ({_reason(exc)})") from None


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a file")


def _check_format(path: Path, rate: int, channels: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioFileError(f"{path.name}: unsupported sample rate {rate} Hz "
                             f"(expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE})")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(f"{path.name}: unsupported channel count {channels} (at most {MAX_CHANNELS})")


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text
