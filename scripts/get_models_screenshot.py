"""Regenerate docs/screenshots/get_models.png: the "Get models..." dialog with its catalogue.

    .venv/bin/python scripts/get_models_screenshot.py

Offscreen, with empty caches of its own (HOME, TORCH_HOME and HF_HOME in a temporary folder), so
every model reads "not downloaded" and nothing is fetched; the Mimi row is selected, as a user
reading its licence before clicking Download would have it.
"""
from __future__ import annotations

import os
import sys

from screenshot_setup import ROOT, offscreen_studio

WORK = offscreen_studio("rvq-get-models-shot-")
for variable, folder in (("HOME", "home"), ("TORCH_HOME", "torch"), ("HF_HOME", "hf")):
    os.environ[variable] = str(WORK / folder)

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
