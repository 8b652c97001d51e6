"""Training checkpoints: everything needed to continue a run exactly, in a safe file format.

A checkpoint holds the generator, discriminator, both optimisers and schedulers, the step,
every rank's random-number states (Python, numpy, torch, CUDA) and the sampler position, as a
safetensors file: the tensors by name, and the nesting around them as JSON in the file's
metadata (:mod:`model.tensor_tree`).  Random states are converted to tensors and lists so that
only plain containers remain.  Reading one never unpickles anything, so a checkpoint someone
hands over can at worst be refused.  Checkpoints written by earlier versions (``.pt``,
``torch.save`` of the same plain containers) are still resumed, read with
``torch.load(weights_only=True)``.

Files are written through :func:`model.atomic_file.atomic_path` (temporary file, fsync,
rename): a run killed with SIGKILL mid-write leaves the previous checkpoints intact and at most
a ``.part`` file, which is never mistaken for a checkpoint.  ``step-<n>.safetensors`` files are
kept for the last K steps; ``best.safetensors`` holds the state with the best validation mel
distance.
"""
from __future__ import annotations

import pickle
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from model.atomic_file import atomic_path
from model.loading import TRAINING_CHECKPOINT_TAG
from model.tensor_tree import TreeError, flatten, unflatten
from model.training.run_folder import BEST_CHECKPOINT_NAME, CHECKPOINT_SUFFIX, LEGACY_BEST_CHECKPOINT_NAME

FORMAT_TAG = TRAINING_CHECKPOINT_TAG
FORMAT_VERSION = 2  # 1: torch.save files of earlier versions, still read
_PERIODIC = re.compile(r"^step-(\d+)(\.safetensors|\.pt)$")


class TrainingStateError(ValueError):
    """A checkpoint or run folder that cannot be resumed, with a message meant for people."""


def capture_rng_state() -> dict:
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {
        "python": {"version": version, "state": torch.tensor(state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore_rng_state(saved: dict) -> None:
    py = saved["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = saved["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    torch.set_rng_state(saved["torch"])
    if "cuda" in saved and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])


def save_checkpoint(path: Path, state: dict) -> None:
    structure, tensors = flatten(state)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT_TAG, "version": str(FORMAT_VERSION),
                                               "structure": structure})


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's state; TrainingStateError saying why when it cannot be resumed from."""
    try:
        with path.open("rb") as f:
            head = f.read(9)
    except OSError as exc:
        raise TrainingStateError(f"{path.name}: unreadable checkpoint ({exc.strerror or exc})") from None
    if head[:2] == b"PK":
        return _load_earlier_version(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT_TAG:
                raise TrainingStateError(f"{path.name}: not an RVQ Studio training checkpoint")
            if meta.get("version") != str(FORMAT_VERSION):
                raise TrainingStateError(f"{path.name}: checkpoint format {meta.get('version')} is not supported "
                                         f"(this version reads {FORMAT_VERSION})")
            tensors = {key: f.get_tensor(key) for key in f.keys()}
        state = unflatten(meta.get("structure", ""), tensors)
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise TrainingStateError(f"{path.name}: unreadable checkpoint ({str(exc).splitlines()[0]})") from None
    except TreeError as exc:
        raise TrainingStateError(f"{path.name}: damaged checkpoint ({exc})") from None
    if not isinstance(state, dict):
        raise TrainingStateError(f"{path.name}: damaged checkpoint (its structure is not a training state)")
    return {"format": FORMAT_TAG, "version": FORMAT_VERSION, **state}


def _load_earlier_version(path: Path) -> dict:
    """A ``.pt`` checkpoint (format 1), read without running any code it may contain."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TrainingStateError(f"{path.name}: refused: not a plain training checkpoint") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise TrainingStateError(f"{path.name}: unreadable checkpoint ({str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_TAG or state.get("version") != 1:
        raise TrainingStateError(f"{path.name}: not an RVQ Studio training checkpoint")
    return state


class CheckpointFolder:
    """The ``checkpoints/`` folder of a run."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def periodic(self) -> list[tuple[int, Path]]:
        """``(step, path)`` of every periodic checkpoint, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _PERIODIC.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    @property
    def best_path(self) -> Path:
        """Where the best state is written."""
        return self.folder / BEST_CHECKPOINT_NAME

    def best_to_read(self) -> Path:
        """The best state's file: this version's, else an earlier version's ``best.pt``, else
        where this version's would be (reading it then says it is missing)."""
        legacy = self.folder / LEGACY_BEST_CHECKPOINT_NAME
        return legacy if not self.best_path.exists() and legacy.exists() else self.best_path

    def save(self, step: int, state: dict, keep: int) -> Path:
        """Write ``step-<n>.safetensors`` and delete all but the newest ``keep`` periodic checkpoints."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"step-{step:09d}{CHECKPOINT_SUFFIX}"
        save_checkpoint(path, state)
        for _, old in self.periodic()[:-keep]:
            old.unlink(missing_ok=True)
        return path

    def save_best(self, state: dict) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.best_path, state)
        return self.best_path

    def load_latest(self) -> tuple[dict, Path, list[str]] | None:
        """The newest readable periodic checkpoint, and a warning for each unreadable newer one."""
        warnings = []
        for _, path in reversed(self.periodic()):
            try:
                return load_checkpoint(path), path, warnings
            except TrainingStateError as exc:
                warnings.append(f"skipped {exc}")
        if warnings:
            raise TrainingStateError(f"no readable checkpoint in {self.folder}: " + "; ".join(warnings))
        return None
