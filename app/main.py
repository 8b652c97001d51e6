"""Starting the studio window.

app/ never imports ui/: the window is found through the ``rvq_studio.gui`` entry point that
the ui package declares in pyproject.toml. app/ depends only on that contract (a callable
``factory(path, model) -> QMainWindow``), which keeps the direction of dependencies
ui -> app -> model while still giving scripts and tests ``create_window``.

Starting the application also sets what is process-wide
(:func:`app.runtime.process_setup.configure_process`): the studio's threads are tuned for it,
and Qt's one harmless offscreen warning is kept off stderr (:mod:`app.runtime.qt_messages`).
A screenshot that cannot be taken -- the model or the file fails, or another error is shown
in the window -- raises with that error, which the command line prints as its one line.
"""
from __future__ import annotations

import sys
from importlib.metadata import entry_points

from app.runtime.process_setup import configure_process
from app.runtime.qt_messages import drop_harmless_qt_warnings


def _window_factory():
    for ep in entry_points(group="rvq_studio.gui"):
        if ep.name == "studio":
            return ep.load()
    raise RuntimeError("the studio window is not installed (no 'rvq_studio.gui' entry point)")


def ensure_qt_application():
    """The process-wide QApplication, created on first use, in the process configuration the studio needs."""
    from PySide6.QtWidgets import QApplication

    configure_process()
    drop_harmless_qt_warnings()
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("RVQ Studio")
        app.setOrganizationName("RVQ Studio")
    return app


def create_window(path: str | None = None, model: str = "default"):
    """The main window (not yet shown), opening ``path`` when given."""
    ensure_qt_application()
    return _window_factory()(path=path, model=model)


def run_gui(path: str | None = None, model: str = "default", screenshot: str | None = None) -> int:
    app = ensure_qt_application()
    window = create_window(path, model)
    if screenshot:
        return window.save_screenshot_when_ready(screenshot)
    window.show()
    return app.exec()
