"""`pip install .` gives a working studio: the wheel carries the bundled model, its card and the demo clips.

The wheel is built from a copy of the project (a stale build/ folder in the checkout would leak
into it), installed alone into an empty folder and run from elsewhere, with that folder the only
place the application can be imported from: the editable install in the test environment maps
app/, model/ and ui/ to the checkout, so the run also reports where its packages came from.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUNDLED = ["models/default.safetensors", "models/README.md", "audio/LICENSES.md",
           *(f"audio/{p.name}" for p in sorted((REPO / "resources" / "audio").glob("*.flac")))]
LOCAL_STATE = {".git", ".venv", "build", "dist", "runs", ".pytest_cache", "rvq_studio.egg-info"}


def _not_project_files(folder: str, names: list[str]) -> set[str]:
    """What a checkout holds besides the project: git's store, the environment, build and run output."""
    return {"__pycache__"} | (LOCAL_STATE if Path(folder) == REPO else set())


def _pip(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                   cwd=cwd, check=True, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("project") / "rvq-studio"
    shutil.copytree(REPO, project, ignore=_not_project_files)
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", ".", "--no-deps", "-w", str(out), cwd=project)
    (built,) = out.glob("rvq_studio-*.whl")
    return built


def test_the_wheel_carries_the_bundled_model_and_clips(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert BUNDLED[3:], "no demo clips in resources/audio"
    missing = [name for name in BUNDLED if f"rvq_studio_resources/{name}" not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not [name for name in names if name.startswith("rvq_studio_resources/training/")]
    assert "app/model_downloads/catalogue.json" in names  # package data the model manager reads


def test_the_installed_wheel_loads_the_trained_bundled_model(wheel, tmp_path):
    site = tmp_path / "site"
    _pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(*args: str) -> str:
        return subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, check=True,
                              capture_output=True, text=True, timeout=300).stdout

    installed_model = site / "rvq_studio_resources" / "models" / "default.safetensors"
    origins = run("-c", "import app, ui, model.bundled_files as b\n"
                        "print(app.__file__, ui.__file__, b.__file__, b.DEFAULT_MODEL_PATH)").split()
    assert all(Path(o).is_relative_to(site) for o in origins), origins
    assert Path(origins[-1]) == installed_model
    info = json.loads(run("-m", "app.cli", "info", "default", "--json"))
    assert info["trained"] is True, info
    assert installed_model.read_bytes() == (REPO / "resources" / "models" / "default.safetensors").read_bytes()
