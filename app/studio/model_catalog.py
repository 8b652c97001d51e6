"""Which models and devices the studio can offer without the user browsing for files.

Official Descript Audio Codec weights are found where the ``dac`` package downloads them
(``~/.cache/descript/dac/weights_*.pth``), the other official checkpoints of the catalogue
(:mod:`app.model_downloads`) in their own ecosystems' caches (torch hub's, Hugging Face's), whoever
downloaded them; the bundled default comes first; then the models
the user kept from training runs (:mod:`app.training.user_models`), each with its training summary as
a tooltip; checkpoints the user opened before come from the settings. Demo clips are the audio files in
``resources/audio``. Devices: the CPU, and each CUDA device when
torch sees one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from app.model_downloads.cache_folders import dac_folder, installed_path
from app.model_downloads.catalogue import load_catalogue
from app.model_downloads.manager import is_supported
from app.training.summary import model_summary_text
from app.training.user_models import kept_models
from model.bundled_files import DEMO_CLIPS_FOLDER

DEMO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class ModelEntry:
    label: str
    source: str  # what load_codec takes
    summary: str = ""  # how it was trained, for models made by a training run


def official_dac_weights(folder: Path | None = None) -> list[ModelEntry]:
    folder = (folder or dac_folder()).expanduser()
    if not folder.is_dir():
        return []
    return [ModelEntry(f"DAC {p.stem.removeprefix('weights_')}", str(p)) for p in sorted(folder.glob("*.pth"))]


def downloaded_catalogue_models() -> list[ModelEntry]:
    """The catalogue's models found in their caches, for the families this version loads (DAC's
    folder is listed whole by :func:`official_dac_weights`)."""
    found = [(e, installed_path(e)) for e in load_catalogue() if is_supported(e) and e.cache != "dac"]
    return [ModelEntry(entry.title, str(path)) for entry, path in found if path is not None]


def model_entries(recent: list[str], dac_folder: Path | None = None, kept_folder: Path | None = None
                  ) -> list[ModelEntry]:
    entries = [ModelEntry("Default (bundled)", "default"), *official_dac_weights(dac_folder)]
    listed = {e.source for e in entries}
    entries += [e for e in downloaded_catalogue_models() if e.source not in listed]
    if kept_folder is not None:
        entries += [ModelEntry(f"Mine: {p.stem}", str(p), model_summary_text(p)) for p in kept_models(kept_folder)]
    known = {e.source for e in entries}
    entries += [ModelEntry(Path(p).name, p, model_summary_text(p)) for p in recent
                if p not in known and Path(p).is_file()]
    return entries


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def demo_clips(folder: Path | None = None) -> list[Path]:
    """The bundled demo clips (``resources/audio``), in name order."""
    folder = folder or DEMO_CLIPS_FOLDER
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in DEMO_SUFFIXES) if folder.is_dir() else []
