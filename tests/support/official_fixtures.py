"""The two module fixtures every official-checkpoint test starts from: what the reference
package computed, and our codec loaded from the checkpoint in the official layout."""
from pathlib import Path

import numpy as np
import pytest

from model import load_codec


def official_fixtures(checkpoint: Path, expected: Path):
    """``(reference, codec)`` module-scoped fixtures: the ``expected`` .npz as a dict, and
    ``load_codec(checkpoint)``. Assign them to those names in the test module."""

    @pytest.fixture(scope="module")
    def reference() -> dict:
        return dict(np.load(expected, allow_pickle=False))

    @pytest.fixture(scope="module")
    def codec():
        return load_codec(checkpoint)

    return reference, codec
