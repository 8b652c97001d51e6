"""Regenerate docs/screenshots/get_models.png: the "Get models..." dialog with its catalogue.

    .venv/bin/python scripts/get_models_screenshot.py

Offscreen, with empty caches of its own (HOME, TORCH_HOME and HF_HOME in a temporary folder), so
every model reads "not downloaded" and nothing is fetched; the Mimi row is selected, as a user
reading its licence before clicking Download would have it.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="rvq-get-models-shot-"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
for variable, folder in (("HOME", "home"), ("TORCH_HOME", "torch"), ("HF_HOME", "hf")):
    os.environ[variable] = str(WORK / folder)
os.environ["RVQ_STUDIO_SETTINGS"] = str(WORK / "settings.ini")


def main() -> None:
    from PySide6.QtWidgets import QApplication

    from ui import theme
    from ui.get_models_dialog import GetModelsDialog

    app = QApplication.instance() or QApplication([])
    theme.apply(app)
    dialog = GetModelsDialog()
    dialog.resize(980, 470)
    dialog.show()
    dialog.select("mimi")
    app.processEvents()
    out = ROOT / "docs" / "screenshots" / "get_models.png"
    ok = dialog.grab().save(str(out))
    dialog.shutdown()
    if not ok:
        sys.exit(f"could not write {out}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
