"""Regenerate docs/screenshots/live.png: the studio's Live tab monitoring a demo clip as its input.

    .venv/bin/python scripts/live_screenshot.py [--out PATH] [--seconds 6]

The input device is simulated (``RVQ_STUDIO_SIMULATED_INPUT``: the first demo clip, fed at
real-time pace), the output is a silent clock, and the window is offscreen unless
``QT_QPA_PLATFORM`` says otherwise. The shot is taken after ``--seconds`` of live input, so the
rolling spectrograms, the meters and the load are those of a running session.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from screenshot_setup import ROOT, offscreen_studio

offscreen_studio("rvq-live-shot-")


def run_events(seconds: float) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "live.png"))
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()

    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from app.studio.model_catalog import demo_clips
    from ui.main_window import build_main_window

    clip = str(demo_clips()[0])
    os.environ.setdefault("RVQ_STUDIO_SIMULATED_INPUT", clip)
    app = QApplication.instance() or QApplication([])
    window = build_main_window(clip)
    window.show()
    try:
        if not window.wait_until_ready():
            sys.exit(f"no screenshot: {window._last_error or 'the studio was not ready'}")
        window.tabs.setCurrentWidget(window.live)
        window.live.start_button.click()
        run_events(args.seconds)
        if not window.live.live.running:
            sys.exit(f"no screenshot: {window.live.state_label.text()}")
        app.processEvents()
        shot = window.grab().toImage().convertToFormat(QImage.Format.Format_Indexed8)  # half the bytes, same look
        if not shot.save(args.out):
            sys.exit(f"could not write {args.out}")
        print(f"wrote {args.out}")
    finally:
        window.shutdown()


if __name__ == "__main__":
    main()
