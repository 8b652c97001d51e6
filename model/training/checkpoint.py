"""Training checkpoints: everything needed to continue a run exactly, in a safe file format.

A checkpoint is a ``torch.save`` of plain containers (dicts, lists, numbers, strings) and
tensors only -- generator, discriminator, both optimisers and schedulers, the step, every
rank's random-number states (Python, numpy, torch, CUDA) and the sampler position -- so
``torch.load(weights_only=True)`` reads it back and opening a checkpoint can never run code.
Random states are converted to tensors and lists for the same reason.

Files are written through :func:`model.atomic_file.atomic_path` (temporary file, fsync,
rename): a run killed with SIGKILL mid-write leaves the previous checkpoints intact and at most
a ``.part`` file, which is never mistaken for a checkpoint.  ``step-<n>.pt`` files are kept
for the last K steps; ``best.pt`` holds the state with the best validation mel distance.
"""
from __future__ import annotations

import pickle
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from model.atomic_file import atomic_path
from model.training.run_folder import BEST_CHECKPOINT_NAME

FORMAT_TAG = "rvq-studio-training-checkpoint"
FORMAT_VERSION = 1
_PERIODIC = re.compile(r"^step-(\d+)\.pt$")


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
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT_TAG, "version": FORMAT_VERSION, **state}, tmp)


def load_checkpoint(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TrainingStateError(f"{path.name}: refused: not a plain training checkpoint") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise TrainingStateError(f"{path.name}: unreadable checkpoint ({str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_TAG:
        raise TrainingStateError(f"{path.name}: not an RVQ Studio training checkpoint")
    if state.get("version") != FORMAT_VERSION:
        raise TrainingStateError(f"{path.name}: checkpoint format {state.get('version')} is not supported "
                                 f"(this version reads {FORMAT_VERSION})")
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
        return self.folder / BEST_CHECKPOINT_NAME

    def save(self, step: int, state: dict, keep: int) -> Path:
        """Write ``step-<n>.pt`` and delete all but the newest ``keep`` periodic checkpoints."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"step-{step:09d}.pt"
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
