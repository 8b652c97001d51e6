"""The screenshot scripts' common start: the checkout importable, Qt offscreen, no sound, private settings.

Called before anything imports Qt or app/, since the environment decides the platform and settings.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def offscreen_studio(prefix: str) -> Path:
    """Prepare a screenshot run; the fresh working folder (settings and generated files go there)."""
    for folder in (ROOT, ROOT / "tests" / "support", ROOT / "scripts"):  # app/, synthetic audio, waits
        sys.path.insert(0, str(folder))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("RVQ_STUDIO_NO_AUDIO", "1")
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("RVQ_STUDIO_SETTINGS", str(work / "settings.ini"))
    return work
