"""Regenerate docs/screenshots/compare_tab.png: the Compare tab on the bundled music demo clip.

    .venv/bin/python scripts/compare_screenshot.py

Offscreen, no sound, private settings. Opens the studio on the music demo clip with the bundled
model, adds six contestants in the Compare tab (the bundled model at two counts, Opus and MP3
near the same bitrate, the original and the 3.5 kHz anchor), waits until every contestant is
rendered and the chart's sweep is measured, selects the Opus contestant and grabs the window.
"""
from __future__ import annotations

import argparse
import sys

from screenshot_setup import ROOT, offscreen_studio

WORK = offscreen_studio("rvq-compare-shot-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "compare_tab.png"))
    args = parser.parse_args()

    from app.compare import contestants
    from app.main import create_window
    from screenshot_waits import settle, wait_until
    from app.studio.model_catalog import demo_clips
    from synthetic_audio import write_music_clip

    clip = next(iter(demo_clips()), None) or write_music_clip(WORK / "clip.wav", 8.0, 44100, seed=3)
    window = create_window(str(clip), "default")
    window.resize(1480, 900)
    window.show()
    tab = window.compare
    window.pages.setCurrentWidget(tab)

    ok = wait_until(lambda: window.session.clip is not None, 120)
    for spec in (contestants.codec("default", n_codebooks=3), contestants.codec("default", target_kbps=8.0),
                 contestants.opus(8), contestants.mp3(32), contestants.original(), contestants.anchor(3500.0)):
        tab.add(spec)
    comparison = tab.comparison
    ok &= wait_until(lambda: comparison.audio is not None and comparison.rendered(), 600)
    ok &= wait_until(lambda: {"default", "opus", "mp3"} <= set(tab._curves) and comparison.worker.idle(), 1200)
    settle()  # the last point's result, queued to the GUI thread when the worker went idle
    tab.select_index(2)
    ok &= wait_until(lambda: tab.switch_buttons[2].isChecked(), 10)
    window.grab().save(args.out)
    window.shutdown()
    print(f"{args.out}{'' if ok else ' (not everything was ready)'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
