"""Getting, listing and removing catalogue models: nothing is fetched but on the user's command.

A model is kept only once every file is complete, matches its published checksum (and, on
Hugging Face, the sha256 the server states as the file's etag) and the model loads strictly
(:func:`model.loading.load_codec` on the files under their own names, in a staging folder
beside the cache). Until then the bytes live in ``.part`` files that never carry the final
name: an interrupted transfer is resumed by the next get, a file that fails a check is
deleted. Families this version cannot load are listed but refused before any transfer.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.model_downloads.cache_folders import (flat_folder, hf_repo_folder, installed_path, partial_bytes,
                                                partial_path)
from app.model_downloads.catalogue import CatalogueEntry, RemoteFile
from app.model_downloads.transfer import DownloadError, Progress, Received, fetch, mirrored

MIRROR_VARIABLE = "RVQ_STUDIO_MODEL_MIRROR"
FileProgress = Callable[[RemoteFile, int, int], None]  # (file, bytes so far, total; 0 while unknown)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelState:
    entry: CatalogueEntry
    supported: bool  # this version has the entry's family
    path: Path | None  # the file load_codec reads, when downloaded
    partial: int  # bytes of an interrupted transfer, kept for resuming

    @property
    def status(self) -> str:
        """Whether and where the model is, in a few words (the CLI's list, the studio's dialog)."""
        if self.path is not None:
            return f"downloaded: {self.path}"
        if not self.supported:
            return f"not supported by this version (family {self.entry.family})"
        if self.partial:
            return f"partly downloaded ({self.partial} bytes; get resumes)"
        return "not downloaded"

    @property
    def can_get(self) -> bool:
        return self.supported and self.path is None


def model_mirror() -> str | None:
    """The mirror replacing each source's scheme and host: ``RVQ_STUDIO_MODEL_MIRROR``, else the
    studio setting ``models/mirror``; None for the official sources."""
    if os.environ.get(MIRROR_VARIABLE):
        return os.environ[MIRROR_VARIABLE]
    from app.studio.settings import StudioSettings

    return StudioSettings().model_mirror() or None


def is_supported(entry: CatalogueEntry) -> bool:
    from model.registry import FAMILIES

    return entry.family in FAMILIES


def model_states(entries: list[CatalogueEntry]) -> list[ModelState]:
    return [ModelState(e, is_supported(e), installed_path(e), partial_bytes(e)) for e in entries]


def get_model(entry: CatalogueEntry, mirror: str | None = None, progress: FileProgress | None = None,
              cancelled: Callable[[], bool] | None = None) -> Path:
    """Download, verify and keep ``entry``; returns the path load_codec takes. Already there: no
    transfer."""
    if not is_supported(entry):
        raise DownloadError(f"{entry.name}: the {entry.family} family is not supported by this version "
                            "of rvq-studio (listed for reference; nothing was downloaded)")
    present = installed_path(entry)
    if present is not None:
        return present
    received = []
    for file in entry.files:
        report: Progress | None = None if progress is None else (lambda done, total, f=file: progress(f, done, total))
        got = fetch(mirrored(file.url, mirror), partial_path(entry, file), report, cancelled)
        _verify_checksums(file, got)
        received.append((file, got))
    _verify_load(entry, received)
    return _keep(entry, received)


def remove_model(entry: CatalogueEntry) -> list[Path]:
    """Delete ``entry``'s files and interrupted transfers from the caches; returns what was removed.

    Only the entry's own files go: a Hugging Face repository's other files (Moshi's language model
    beside Mimi) and their blobs stay."""
    removed = [p for p in (partial_path(entry, f) for f in entry.files) if _unlink(p)]
    if entry.cache != "huggingface":
        return removed + [p for p in (flat_folder(entry) / f.name for f in entry.files) if _unlink(p)]
    repo = hf_repo_folder(entry.repo)
    snapshots = repo / "snapshots"
    for snapshot in (sorted(snapshots.iterdir()) if snapshots.is_dir() else []):
        for file in entry.files:
            link = snapshot / file.name
            blob = link.resolve() if link.is_symlink() else None
            if _unlink(link):
                removed.append(link)
            if (blob is not None and blob.parent == (repo / "blobs").resolve() and not _still_linked(snapshots, blob)
                    and _unlink(blob)):
                removed.append(blob)
        _remove_if_empty(snapshot)
    return removed


def _verify_checksums(file: RemoteFile, got: Received) -> None:
    """The published sha256 (or its published prefix), and on Hugging Face the etag, which for a
    large file is the sha256 of its content."""
    etag = _etag(got.headers)
    expected = [d for d in (file.sha256, etag if etag and _HEX64.match(etag) else None) if d]
    if not expected:
        return
    digest = _sha256(got.path)
    for want in expected:
        if not digest.startswith(want.lower()):
            got.path.unlink(missing_ok=True)
            raise DownloadError(f"{file.name}: checksum mismatch (sha256 {digest[:16]}..., expected {want[:16]}...); "
                                "the download was deleted")


def _verify_load(entry: CatalogueEntry, received: list[tuple[RemoteFile, Received]]) -> None:
    """load_codec on the files under their own names (hard links to the .part files, in a folder
    beside them): what the user will open must load strictly before anything is kept."""
    from model.loading import load_codec

    staging_parent = received[0][1].path.parent
    with tempfile.TemporaryDirectory(prefix=".rvq-studio-check-", dir=staging_parent) as staging:
        for file, got in received:
            _link_or_copy(got.path, Path(staging) / file.name)
        try:
            load_codec(Path(staging) / entry.load_file.name)
        except (ValueError, OSError, RuntimeError) as exc:
            for _, got in received:
                got.path.unlink(missing_ok=True)
            raise DownloadError(f"{entry.name}: the downloaded file does not load as a {entry.family} model "
                                f"({str(exc).splitlines()[0]}); it was deleted") from None


def _keep(entry: CatalogueEntry, received: list[tuple[RemoteFile, Received]]) -> Path:
    if entry.cache != "huggingface":
        folder = flat_folder(entry)
        for file, got in received:
            os.replace(got.path, folder / file.name)
        return folder / entry.load_file.name
    repo = hf_repo_folder(entry.repo)
    # a mirror that states no commit: the revision's name as the snapshot folder, which is where
    # huggingface_hub looks for a revision that has no ref
    commit = received[0][1].headers.get("x-repo-commit") or entry.revision
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for file, got in received:
        blob = repo / "blobs" / (_etag(got.headers) or _sha256(got.path))
        os.replace(got.path, blob)
        link = snapshot / file.name
        link.unlink(missing_ok=True)
        try:
            link.symlink_to(os.path.relpath(blob, link.parent))
        except OSError:  # no symlinks (Windows without developer mode): the file itself, as huggingface_hub does
            shutil.copyfile(blob, link)
    if commit != entry.revision:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / entry.revision).write_text(commit, encoding="utf-8")
    return snapshot / entry.load_file.name


def _etag(headers: dict[str, str]) -> str | None:
    raw = headers.get("x-linked-etag") or headers.get("etag")
    if not raw:
        return None
    value = raw.removeprefix("W/").strip('"')
    return value if re.fullmatch(r"[0-9A-Za-z._-]+", value) else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _unlink(path: Path) -> bool:
    if path.is_symlink() or path.is_file():
        path.unlink()
        return True
    return False


def _still_linked(snapshots: Path, blob: Path) -> bool:
    return any(link.is_symlink() and link.resolve() == blob for link in snapshots.glob("*/*"))


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
