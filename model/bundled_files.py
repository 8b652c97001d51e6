"""Where the files bundled with the application are: the default model, its card, the demo clips.

They live in resources/ at the repository root, which the wheel installs as the package
``rvq_studio_resources`` (setup.py) and an editable install maps back to the checkout. So they are
found through the import system, like code, not relative to this file: an installed copy's
``model/`` has no ``resources/`` beside it.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _bundled_folder() -> Path:
    # pip installs wheels unzipped, so the package is a real folder
    try:
        return Path(str(files("rvq_studio_resources")))
    except ModuleNotFoundError:  # a source checkout used without installing it
        return Path(__file__).resolve().parent.parent / "resources"


BUNDLED_FOLDER = _bundled_folder()
DEFAULT_MODEL_PATH = BUNDLED_FOLDER / "models" / "default.safetensors"
DEMO_CLIPS_FOLDER = BUNDLED_FOLDER / "audio"
