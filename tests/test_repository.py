"""The repository stays lean: no large files and no training checkpoints under version control.

A file once committed stays in every clone's history for good, so the check runs on what git
tracks (the index, which is what the next commit holds), not on the working tree: training runs
live in the user's data folder, and the only model weights tracked are the bundled model in
``resources/models/`` and the small reference checkpoints in ``tests/fixtures/``.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_BYTES = 8 * 1024 * 1024
CHECKPOINT_SUFFIXES = {".pt", ".pth", ".th", ".ckpt", ".bin"}
FIXTURES = PurePosixPath("tests/fixtures")
SHIPPED_MODELS = PurePosixPath("resources/models")


def _git(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=REPO, input=stdin, capture_output=True, text=True,
                          check=True).stdout


def tracked_files() -> dict[str, int]:
    """Every path in the index with its blob's size in bytes (submodules left out)."""
    entries = []
    for record in _git("ls-files", "--stage", "-z").split("\0"):
        if record:
            meta, path = record.split("\t", 1)
            mode, blob, _stage = meta.split()
            if mode != "160000":
                entries.append((path, blob))
    sizes = _git("cat-file", "--batch-check=%(objectsize)",
                 stdin="".join(f"{blob}\n" for _, blob in entries)).split()
    return {path: int(size) for (path, _), size in zip(entries, sizes, strict=True)}


def oversized(files: dict[str, int], limit: int = MAX_BYTES) -> list[str]:
    return sorted(f"{path} ({size / 1e6:.1f} MB)" for path, size in files.items() if size > limit)


def misplaced_checkpoints(paths: list[str]) -> list[str]:
    """Model weights outside the places that may hold them."""
    found = []
    for name in paths:
        path = PurePosixPath(name)
        if FIXTURES in path.parents:
            continue
        suffix = path.suffix.lower()
        if suffix in CHECKPOINT_SUFFIXES or (suffix == ".safetensors" and SHIPPED_MODELS not in path.parents):
            found.append(name)
    return sorted(found)


@pytest.fixture(scope="module")
def files() -> dict[str, int]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the check reads what git tracks")
    return tracked_files()


def test_no_tracked_file_is_over_8_mb(files):
    assert oversized(files) == []


def test_checkpoints_are_tracked_only_as_test_fixtures_or_the_shipped_model(files):
    assert misplaced_checkpoints(list(files)) == []


def test_the_checks_name_what_they_refuse():
    # The rules themselves, on a listing like the one that once held a parked training run.
    listing = {"resources/training/run/checkpoints/step-000021999.pt": 57_000_000,
               "resources/models/default.safetensors": 4_000_000,
               "tests/fixtures/dac/dac44k.pth": 300_000,
               "runs/model.safetensors": 4_000_000,
               "weights/encoder.BIN": 1_000}
    assert oversized(listing) == ["resources/training/run/checkpoints/step-000021999.pt (57.0 MB)"]
    assert misplaced_checkpoints(list(listing)) == [
        "resources/training/run/checkpoints/step-000021999.pt", "runs/model.safetensors", "weights/encoder.BIN"]
