"""Atomic writers shared by the reference-fixture scripts (make_dac_fixtures.py,
make_metric_fixtures.py).

Why a module of its own: both scripts write test fixtures that other engineers' tests load,
and a half-written .npz or .pth left by an interrupted run would fail those tests in
confusing ways.  Every write goes to a temporary file in the target directory and is then
moved into place with os.replace, which is atomic on one filesystem.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def _write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; fixtures are meant to be read
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as a compressed .npz that loads with np.load(allow_pickle=False)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"{key}: object arrays would need pickle to load")
    _write_atomically(path, lambda handle: np.savez_compressed(handle, **arrays))


def save_torch(path: Path, obj: object) -> None:
    """torch.save `obj` atomically (torch is imported lazily: only the DAC script needs it)."""
    import torch

    _write_atomically(path, lambda handle: torch.save(obj, handle))


def save_safetensors(path: Path, tensors: dict) -> None:
    """Write torch ``tensors`` as a safetensors file (the layout official releases publish)."""
    from safetensors.torch import save

    save_bytes(path, save(tensors))


def save_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` atomically (a compressed-audio file made by a reference package)."""
    _write_atomically(path, lambda handle: handle.write(data))
