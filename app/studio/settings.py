"""Remembered choices: recent files, recent checkpoints, view settings (QSettings, no widgets).

``RVQ_STUDIO_SETTINGS`` may name an INI file to use instead of the user's settings store;
tests and scripts set it so they never read or change a person's preferences.  The app's data
folder (kept models, training runs) follows the same switch: beside that INI file when it is
set, else the platform's application-data folder, so a test never writes into a person's.
"""
from __future__ import annotations

import json
import os

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

MAX_RECENT = 10


class StudioSettings:
    def __init__(self, settings: QSettings | None = None) -> None:
        path = os.environ.get("RVQ_STUDIO_SETTINGS")
        self._data_folder = Path(path).parent if path else None
        if settings is None:
            settings = QSettings(path, QSettings.Format.IniFormat) if path else QSettings("RVQ Studio", "RVQ Studio")
        self._s = settings

    def _list(self, key: str) -> list[str]:
        value = self._s.value(key, [])
        if isinstance(value, str):
            return [value] if value else []
        return [str(v) for v in (value or [])]

    def _push(self, key: str, item: str) -> None:
        items = [item] + [v for v in self._list(key) if v != item]
        self._s.setValue(key, items[:MAX_RECENT])
        self._s.sync()

    def recent_files(self) -> list[str]:
        return self._list("recent/files")

    def add_recent_file(self, path: str) -> None:
        self._push("recent/files", path)

    def recent_models(self) -> list[str]:
        return self._list("recent/models")

    def add_recent_model(self, source: str) -> None:
        if source != "default":
            self._push("recent/models", source)

    def listening_metrics(self) -> bool:
        """Whether the studio measures the slow listening metrics: on until switched off. They run
        in a process of their own (:mod:`app.studio.listening_rows`), so the window does not feel
        them; switching them off saves a core's minutes of work per clip."""
        return str(self._s.value("quality/listening", "true")).lower() == "true"

    def set_listening_metrics(self, on: bool) -> None:
        self._s.setValue("quality/listening", "true" if on else "false")
        self._s.sync()

    def fast_mode(self) -> bool:
        """Whether models load in fast mode (bfloat16): off until switched on, exact float32 being the default."""
        return str(self._s.value("inference/fast", "false")).lower() == "true"

    def set_fast_mode(self, on: bool) -> None:
        self._s.setValue("inference/fast", "true" if on else "false")
        self._s.sync()

    def export_folder(self) -> str:
        """Where the last export went ("" before the first): the next export dialog opens there."""
        return str(self._s.value("export/folder", "") or "")

    def set_export_folder(self, folder: str) -> None:
        self._s.setValue("export/folder", folder)
        self._s.sync()

    def training_form(self) -> dict:
        """The training tab's last setup (mode, base, preset, steps...), {} before the first."""
        try:
            form = json.loads(str(self._s.value("training/form", "") or "{}"))
        except json.JSONDecodeError:
            return {}
        return form if isinstance(form, dict) else {}

    def set_training_form(self, form: dict) -> None:
        self._s.setValue("training/form", json.dumps(form))
        self._s.sync()

    def data_folder(self) -> Path:
        """Where the app keeps what it makes: ``models/`` (kept models) and ``runs/`` (training)."""
        if self._data_folder is not None:
            return self._data_folder
        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        return Path(location or Path.home() / ".rvq-studio")

    def models_folder(self) -> Path:
        return self.data_folder() / "models"

    def runs_folder(self) -> Path:
        return self.data_folder() / "runs"

    def model_mirror(self) -> str:
        """The server replacing the official sources' scheme and host when models are fetched
        (an organisation's offline copy), "" for the official sources; the environment variable
        ``RVQ_STUDIO_MODEL_MIRROR`` takes precedence (:func:`app.model_downloads.manager.model_mirror`)."""
        return str(self._s.value("models/mirror", "") or "")

    def set_model_mirror(self, url: str) -> None:
        self._s.setValue("models/mirror", url)
        self._s.sync()

    def value(self, key: str, default):
        value = self._s.value(key, default)
        return type(default)(value) if default is not None and value is not None else value

    def set_value(self, key: str, value) -> None:
        self._s.setValue(key, value)
