"""Where each ecosystem keeps downloaded weights, so rvq-studio and the original tools share them.

* DAC: ``~/.cache/descript/dac/weights_<rate>_<bitrate>_<tag>.pth``, the path the ``dac``
  package downloads to (it builds it from the home folder, whatever XDG says).
* EnCodec: torch hub's checkpoint folder, ``$TORCH_HOME/hub/checkpoints`` (``TORCH_HOME``
  defaulting to ``$XDG_CACHE_HOME/torch``, then ``~/.cache/torch``), where the ``encodec``
  package's ``load_state_dict_from_url`` puts ``encodec_24khz-d7cc33bc.th``.
* Hugging Face (SNAC, Mimi): the hub cache, ``$HF_HUB_CACHE`` or ``$HF_HOME/hub`` or
  ``~/.cache/huggingface/hub``, laid out as ``huggingface_hub`` does:
  ``models--ORG--NAME/blobs/<etag>`` holds the bytes, ``snapshots/<commit>/<file>`` is a relative
  symlink to the blob, ``refs/<revision>`` holds the commit a revision name pointed to.
"""
from __future__ import annotations

import os
from pathlib import Path

from app.model_downloads.catalogue import CatalogueEntry, RemoteFile


def dac_folder() -> Path:
    return Path.home() / ".cache" / "descript" / "dac"


def torch_hub_checkpoints() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def hf_hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(hf_home).expanduser() / "hub"


def hf_repo_folder(repo: str) -> Path:
    return hf_hub_cache() / f"models--{repo.replace('/', '--')}"


def flat_folder(entry: CatalogueEntry) -> Path:
    """The folder of a DAC or torch hub entry's files (named as the ecosystem names them)."""
    return dac_folder() if entry.cache == "dac" else torch_hub_checkpoints()


def partial_path(entry: CatalogueEntry, file: RemoteFile) -> Path:
    """Where the bytes of ``file`` gather until it is complete and verified (kept for resuming).

    Beside the final name for flat caches; in a Hugging Face repository's ``blobs/``, whose final
    name (the server's etag) is only known once the transfer has started."""
    if entry.cache == "huggingface":
        return hf_repo_folder(entry.repo) / "blobs" / f"{file.name.replace('/', '--')}.part"
    return flat_folder(entry) / f"{file.name}.part"


def _snapshot(entry: CatalogueEntry) -> Path | None:
    """The snapshot folder holding every file of ``entry``: the one the revision's ref names, else
    the newest that has them all."""
    repo = hf_repo_folder(entry.repo)
    ref = repo / "refs" / entry.revision
    candidates = []
    if ref.is_file():
        candidates.append(repo / "snapshots" / ref.read_text(encoding="utf-8").strip())
    snapshots = repo / "snapshots"
    if snapshots.is_dir():
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for folder in candidates:
        if all((folder / f.name).is_file() for f in entry.files):  # is_file follows the symlink to the blob
            return folder
    return None


def installed_path(entry: CatalogueEntry, file: RemoteFile | None = None) -> Path | None:
    """Where ``file`` (default: the file load_codec reads) of ``entry`` is on disk, if every file of
    the entry is there; None otherwise."""
    file = file or entry.load_file
    if entry.cache == "huggingface":
        snapshot = _snapshot(entry)
        return None if snapshot is None else snapshot / file.name
    folder = flat_folder(entry)
    return folder / file.name if all((folder / f.name).is_file() for f in entry.files) else None


def partial_bytes(entry: CatalogueEntry) -> int:
    """Bytes gathered so far by interrupted transfers of ``entry`` (what a resumed get keeps)."""
    return sum(p.stat().st_size for p in (partial_path(entry, f) for f in entry.files) if p.is_file())
