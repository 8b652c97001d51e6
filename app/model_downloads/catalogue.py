"""The catalogue of official checkpoints, read from ``catalogue.json`` (package data, not code).

Keeping the list as data lets a release add or correct an entry (a new revision, a published
checksum) without touching the download code, and lets the tests and the studio read the very
list the command line offers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")
CACHES = ("dac", "torch_hub", "huggingface")


class CatalogueError(ValueError):
    """A catalogue file that is not what this version reads, or a name it does not list."""


@dataclass(frozen=True)
class RemoteFile:
    name: str  # the file's name on disk, as the ecosystem's own tool names it
    url: str
    size: int | None = None  # bytes, where the source says
    sha256: str | None = None  # the published digest, or the published prefix of it


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    title: str
    family: str  # a key of model.registry.FAMILIES
    sample_rate: int
    bitrates_kbps: tuple[float, ...]
    licence: str
    licence_source: str
    cache: str  # one of CACHES
    files: tuple[RemoteFile, ...]
    repo: str | None = None  # Hugging Face "org/name"
    revision: str = "main"
    load: str | None = None  # the file load_codec reads (its siblings sit beside it)

    @property
    def load_file(self) -> RemoteFile:
        wanted = self.load or self.files[0].name
        return next(f for f in self.files if f.name == wanted)

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if None in sizes else sum(sizes)


def _entry(raw: dict) -> CatalogueEntry:
    files = tuple(RemoteFile(f["name"], f["url"], f.get("size"), f.get("sha256")) for f in raw["files"])
    entry = CatalogueEntry(
        name=raw["name"], title=raw["title"], family=raw["family"], sample_rate=int(raw["sample_rate"]),
        bitrates_kbps=tuple(float(b) for b in raw["bitrates_kbps"]), licence=raw["licence"],
        licence_source=raw["licence_source"], cache=raw["cache"], files=files, repo=raw.get("repo"),
        revision=raw.get("revision", "main"), load=raw.get("load"))
    if entry.cache not in CACHES:
        raise CatalogueError(f"catalogue entry {entry.name}: unknown cache {entry.cache!r}")
    if entry.cache == "huggingface" and not entry.repo:
        raise CatalogueError(f"catalogue entry {entry.name}: a Hugging Face entry names its repo")
    if not files or (entry.load and entry.load not in {f.name for f in files}):
        raise CatalogueError(f"catalogue entry {entry.name}: no files, or 'load' names none of them")
    return entry


def load_catalogue(path: Path | None = None) -> list[CatalogueEntry]:
    """The entries of ``path`` (the catalogue shipped with the package by default), in file order."""
    path = path or CATALOGUE_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = [_entry(item) for item in raw["models"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CatalogueError(f"{path.name}: unreadable model catalogue ({exc})") from None
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise CatalogueError(f"{path.name}: two entries share a name")
    return entries


def find_entry(name: str, entries: list[CatalogueEntry] | None = None) -> CatalogueEntry:
    entries = load_catalogue() if entries is None else entries
    for entry in entries:
        if entry.name == name:
            return entry
    raise CatalogueError(f"no model called {name!r} in the catalogue (known: {', '.join(e.name for e in entries)})")
