"""Models the user kept from a training run: copied out of the run into a stable folder.

A run's ``model.safetensors`` is rewritten at every improved validation and disappears with
the run folder, so "Use this model" copies it into the app's ``models/`` folder (see
:meth:`app.studio.settings.StudioSettings.models_folder`) under a name that never replaces an earlier
one.  The copy is atomic (temporary file in the same folder, fsync, rename): the picker never
sees half a file, and a copy racing the trainer's own atomic rewrite gets either the old or
the new model whole.  The training summary travels inside the file's header, so the copy
needs no side file.  The copy's header names it after its file -- the name the picker lists
("Mine: <name>"), the status bar and ``rvq-studio info`` show -- while its tensors stay the
run's to the byte, so .rvq files made with the run's model decode with the kept one.
"""
from __future__ import annotations

import re
from pathlib import Path

from model.export import copy_model_file
from model.training.exported_model import read_training_summary

SUFFIX = ".safetensors"


class KeepModelError(ValueError):
    """The run has no model to keep, or the models folder cannot take it."""


def safe_stem(name: str) -> str:
    """A file name stem from a run's name: letters, digits, ``-``, ``_`` and ``.`` only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return stem or "model"


def keep_model(run_model: str | Path, folder: str | Path, name: str) -> Path:
    """Copy ``run_model`` to ``folder/<name>.safetensors`` (``<name>-2`` ... if taken), named after that file."""
    run_model, folder = Path(run_model), Path(folder)
    if not run_model.is_file():
        raise KeepModelError(f"no model to keep yet: {run_model} does not exist (it appears at the first validation)")
    if read_training_summary(run_model) is None:
        raise KeepModelError(f"{run_model.name} is not a model exported by a training run")
    folder.mkdir(parents=True, exist_ok=True)
    stem = safe_stem(name)
    target, k = folder / f"{stem}{SUFFIX}", 2
    while target.exists():
        target, k = folder / f"{stem}-{k}{SUFFIX}", k + 1
    copy_model_file(run_model, target, target.stem)
    return target


def kept_models(folder: str | Path) -> list[Path]:
    """The kept models in ``folder``, in name order."""
    folder = Path(folder)
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
