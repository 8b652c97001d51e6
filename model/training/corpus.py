"""Finding training audio: a recursive folder scan, grouped by top-level sub-folder.

Only file headers are read here (rate, channels, length), so scanning thousands of files
takes seconds and no sample is decoded twice.  A file whose header cannot be read is listed
once in :attr:`Corpus.skipped` with its reason and never offered to the sampler; only when
nothing usable is left is that an error, raised before any training starts.

Groups are the top-level sub-folders (``speech/``, ``music/``, ``general/`` in the DAC paper's
data mix); the sampler draws from each group equally often, so a large group cannot drown a
small one.  Files lying directly in the root form the group ``"."``.

The held-out validation split (used when no validation folder is given) hashes each file's
path relative to the root: the same files are held out on every machine and every resume,
whatever order the file system lists them in, and adding files never moves old ones across.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from model.audio_io import AudioFileError, audio_info

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3"})
ROOT_GROUP = "."


class DataError(ValueError):
    """Training data that cannot be used, with a message meant for people."""


@dataclass(frozen=True)
class AudioSource:
    path: str
    relative: str  # path below the root, with "/" separators: the file's stable identity
    group: str
    frames: int
    sample_rate: int
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


@dataclass
class Corpus:
    root: str
    sources: list[AudioSource]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)

    @property
    def minutes(self) -> float:
        return sum(s.seconds for s in self.sources) / 60.0

    def groups(self) -> dict[str, list[AudioSource]]:
        out: dict[str, list[AudioSource]] = {}
        for source in self.sources:
            out.setdefault(source.group, []).append(source)
        return dict(sorted(out.items()))

    def summary(self) -> dict:
        return {
            "root": self.root,
            "files": len(self.sources),
            "minutes": round(self.minutes, 3),
            "groups": {name: {"files": len(items), "minutes": round(sum(s.seconds for s in items) / 60.0, 3)}
                       for name, items in self.groups().items()},
        }


def scan_folder(root: str | Path, role: str = "training") -> Corpus:
    """Every readable audio file below ``root``, sorted by relative path."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{role} folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"{role} data must be a folder: {root}")
    sources, skipped = [], []
    for path in audio_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            info = audio_info(path)
        except AudioFileError as exc:
            skipped.append((relative, str(exc)))
            continue
        if info.frames <= 0:
            skipped.append((relative, "the file holds no audio (0 samples)"))
            continue
        parts = relative.split("/")
        group = parts[0] if len(parts) > 1 else ROOT_GROUP
        sources.append(AudioSource(str(path), relative, group, int(info.frames), int(info.samplerate),
                                   int(info.channels)))
    return Corpus(str(root), sources, skipped)


def require_usable(corpus: Corpus, role: str = "training") -> None:
    if corpus.sources:
        return
    if corpus.skipped:
        first, reason = corpus.skipped[0]
        raise DataError(f"no usable audio in the {role} folder {corpus.root}: all {len(corpus.skipped)} "
                        f"audio files are unreadable (e.g. {reason})")
    raise DataError(f"no audio files in the {role} folder {corpus.root} "
                    f"(looked for {', '.join(sorted(AUDIO_EXTENSIONS))}, recursively)")


def audio_files(root: Path) -> list[Path]:
    """The audio files under ``root``, recursively (hidden files and folders skipped), sorted."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / f for f in files
                  if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_EXTENSIONS]
    return sorted(found)


def _path_hash(relative: str) -> int:
    return int.from_bytes(hashlib.sha256(relative.encode()).digest()[:8], "big")


def split_held_out(corpus: Corpus, fraction: float = 0.05) -> tuple[Corpus, Corpus]:
    """``(train, validation)``: about ``fraction`` of the files, chosen by path hash.

    At least one file is held out (the one with the smallest hash) and at least one is left
    for training; a corpus of a single file cannot be split.
    """
    if len(corpus.sources) < 2:
        raise DataError(f"{corpus.root} holds a single usable file: give a validation folder with --val "
                        "or add more audio")
    threshold = fraction * 2**64
    held = [s for s in corpus.sources if _path_hash(s.relative) < threshold]
    if not held:
        held = [min(corpus.sources, key=lambda s: _path_hash(s.relative))]
    if len(held) == len(corpus.sources):
        held = held[:-1]
    held_set = {s.relative for s in held}
    train = [s for s in corpus.sources if s.relative not in held_set]
    return Corpus(corpus.root, train, corpus.skipped), Corpus(corpus.root, held, [])
