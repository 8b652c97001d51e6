"""Trainer tests: generated audio folders; helpers in training_helpers.py (importable from tests here)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from training_helpers import make_audio_folder  # noqa: E402


@pytest.fixture
def audio_folder(tmp_path) -> Path:
    return make_audio_folder(tmp_path / "data")
