"""Opening a clip for the studio: the checks a person needs, then everything derived from it.

The studio refuses, with one line saying why, what it cannot present usefully: unreadable
files, absurd rates (checked by :mod:`model.audio_io`), more than two channels, clips longer
than :data:`MAX_SECONDS` (every rendering is kept in memory at the codec's rate), and files
that are empty or digitally silent. The header is checked before any sample is read, so a
multi-hour file is refused at once instead of after filling memory; a length the header
claims but the file does not hold is not believed (a short file is not refused as hours long),
and a file longer than its header says is refused when the reading passes the limit, so
memory stays within the limit either way. A file of 0 bytes is
called empty, not "not a readable audio file". The reasons are clauses in the studio's own
sentence ("Could not open the file: ..."), so the full stop that ends libsndfile's own
reason goes: the message ends "(Format not recognised).", not ".).".

A :class:`StudioClip` holds the original at the codec's rate and at its own level (what
the player plays), the loudness gain the codec saw, the codes -- written piece by piece by
the worker while ``encoding`` says how far they are final -- with the side information a
codec decodes them with (EnCodec 48 kHz's segment scales), and the render cache of its
reconstructions. A codec that codes stereo jointly makes a stereo clip of a mono file: the
channel duplicated, as the command line and the reference tools feed it. A file that cannot be read never replaces the open clip; an encode that
is cancelled or fails hands the previous clip back (see :mod:`app.studio.session`).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.studio.progressive_encode import EncodeState
from app.studio.render_cache import ChunkGrid, RenderCache
from model.audio_io import AudioFileError, audio_info, read_audio, read_blocks
from model.compression import normalisation_gain

MAX_SECONDS = 30 * 60
MAX_CHANNELS = 2
SILENCE_PEAK = 10 ** (-90 / 20)


class ClipRejected(AudioFileError):
    """A readable file the studio will not open, with the reason in one line."""


@dataclass(frozen=True, eq=False)  # identity: a clip is one opening of a file
class StudioClip:
    path: Path
    original_rate: int
    original_length: int
    samples: np.ndarray  # [T, C] float32 at the codec's rate, original level
    loudness_lufs: float | None  # measured before normalising; None when not normalised
    codes: np.ndarray  # [items, N, F] int64, filled progressively (see ``encoding``); items: channels
    grid: ChunkGrid    # of a mono codec, 1 for a codec coding both channels jointly
    cache: RenderCache
    encoding: EncodeState
    side: dict[str, np.ndarray] = field(default_factory=dict)  # the codec's side information, once encoded
    duplicated_mono: bool = False  # a mono file given to a stereo codec as two equal channels

    @property
    def gain(self) -> float:
        """The linear gain the codec's input got (loudness normalisation)."""
        return normalisation_gain(self.loudness_lufs)

    @property
    def channels(self) -> int:
        return self.samples.shape[1]

    @property
    def length(self) -> int:
        return self.samples.shape[0]

    @property
    def n_codebooks(self) -> int:
        return self.codes.shape[1]

    @property
    def final_code_frames(self) -> int:
        """Leading frames of ``codes`` that are final (a segmenting codec counts them otherwise than the grid)."""
        state = self.encoding
        if state.complete:
            return self.codes.shape[-1]
        return state.frames if state.code_frames is None else state.code_frames

    def code_frame_seconds(self, sample_rate: int) -> float:
        """How long a frame of ``codes`` lasts: a hop, or, for a segmenting codec whose segments overlap
        (more frames than hops), the clip's duration shared evenly among its frames."""
        if self.codes.shape[-1] == self.grid.n_frames:
            return self.grid.hop_length / sample_rate
        return self.length / sample_rate / max(1, self.codes.shape[-1])

    def reference(self) -> np.ndarray:
        """``[C, 1, T]`` what the codec was given (loudness-normalised), for the metrics."""
        return (self.samples.T * np.float32(self.gain))[:, None, :]


def check_header(path: str | Path) -> int:
    """Refuse, before reading samples, files the studio cannot present; the most frames a clip
    of the file's rate may have. The length refused here is one :func:`audio_info` confirmed
    (a header claiming more than the file holds is not believed); a file longer than its
    header says is stopped when the reading passes that many frames."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise ClipRejected(f"{path.name}: the file is empty (0 bytes)")
    info = audio_info(path)
    if info.channels > MAX_CHANNELS:
        raise ClipRejected(f"{path.name}: {info.channels} channels; the studio opens mono and stereo files "
                           "(use 'rvq-studio encode' for multichannel audio)")
    longest = MAX_SECONDS * info.samplerate
    if info.frames > longest:
        raise _too_long(path, info.frames / info.samplerate / 60)
    return longest


def _too_long(path: str | Path, minutes: float | None = None) -> ClipRejected:
    """The refusal of a long file; ``minutes`` None: one found longer than its header said."""
    length = (f"{minutes:.0f} minutes long" if minutes is not None
              else f"longer than its header says and than {MAX_SECONDS // 60} minutes")
    return ClipRejected(f"{Path(path).name}: {length}; the studio opens clips up to {MAX_SECONDS // 60} minutes "
                        "(use 'rvq-studio encode' for long files)")


def read_checked(path: str | Path):
    """The file's audio, after the header checks and a silence check."""
    try:
        longest = check_header(path)
        audio = read_audio(path, frames=longest + 1)
        if audio.frames > longest:
            raise _too_long(path)
    except AudioFileError as exc:
        raise type(exc)(_as_clause(str(exc))) from None
    _check_sound(path, float(np.abs(audio.samples).max(initial=0.0)))
    return audio


def checked_blocks(path: str | Path) -> Iterator[np.ndarray]:
    """:func:`read_checked`'s samples as consecutive ``[channels, k]`` blocks (the silence check
    once the last is read): for a clip written elsewhere as it is read, never held whole."""
    try:
        longest = check_header(path)
        blocks = read_blocks(path)
        peak, frames = 0.0, 0
        for block in blocks:
            frames += block.shape[1]
            if frames > longest:
                raise _too_long(path)
            peak = max(peak, float(np.abs(block).max(initial=0.0)))
            yield block
    except AudioFileError as exc:
        raise type(exc)(_as_clause(str(exc))) from None
    _check_sound(path, peak)


def _check_sound(path: str | Path, peak: float) -> None:
    if peak < SILENCE_PEAK:
        raise ClipRejected(f"{Path(path).name}: the file is silent; there is nothing to listen to")


def _as_clause(reason: str) -> str:
    """``reason`` without the full stop that libsndfile ends its own reason with, "(Format not recognised.)"."""
    return re.sub(r"\.(\)?)$", r"\1", reason.strip())


def chunk_grid(length: int, hop_length: int, frame_rate: float, chunk_seconds: float) -> ChunkGrid:
    n_frames = -(-length // hop_length)
    return ChunkGrid(length, n_frames, hop_length, max(1, round(chunk_seconds * frame_rate)))
