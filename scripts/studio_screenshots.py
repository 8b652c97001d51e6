"""Regenerate the studio screenshots in docs/screenshots/ (offscreen, no sound).

    .venv/bin/python scripts/studio_screenshots.py [CLIP] [--model M] [--n 4]

Without CLIP, the first demo clip in resources/audio (the music one) is used, or else a
generated music clip. Writes studio.png (quality tab) and studio_codebooks.png (codebook
tab), taken while the clip plays (silently) from 2 s, so the meters show its level, once the
slow listening metrics of every count are in too.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from screenshot_setup import ROOT, offscreen_studio


PLAY_SECONDS = 0.8
LISTENING_TIMEOUT_S = 1800


def play_briefly(window, seconds: float) -> None:
    """Play for ``seconds`` of wall time, running the event loop, and leave it playing."""
    import time

    from PySide6.QtWidgets import QApplication

    window.session.player.play()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def wait_for_listening(window, timeout_s: float) -> bool:
    """Run the event loop until the listening metrics of every count are in (the table full)."""
    import time

    from PySide6.QtWidgets import QApplication

    session, end = window.session, time.monotonic() + timeout_s
    while not session.listening.complete(session.model.n_codebooks):
        if time.monotonic() > end:
            return False
        QApplication.processEvents()
        time.sleep(0.05)
    return True


def shown_playing(window, n: int, seconds: float = PLAY_SECONDS) -> bool:
    """Show ``window``, select ``n`` once its clip is ready, seek to 2 s and play (silently) for
    ``seconds``, so the playhead and the level meters show something; False if it never got ready."""
    window.show()
    ready = window.wait_until_ready()
    window.session.set_n(n)
    window.session.seek_seconds(2.0)
    ready = window.wait_until_ready() and ready
    play_briefly(window, seconds)
    return ready


def save_small(window, path: Path) -> bool:
    """The window as a 256-colour PNG (dithered): a few hundred KB instead of nearly a megabyte."""
    from PySide6.QtGui import QImage

    image = window.grab().toImage().convertToFormat(QImage.Format.Format_Indexed8)
    return image.save(str(path), "PNG", 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?")
    parser.add_argument("--model", default="default")
    parser.add_argument("--n", type=int, default=4, help="codebook count to show")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    offscreen_studio("rvq-studio-shot-")  # before anything imports Qt; the other scripts import this one's helpers

    from app.main import create_window
    from app.studio.model_catalog import demo_clips
    from synthetic_audio import write_music_clip

    clip = args.clip or next(iter(map(str, demo_clips())), None)
    if clip is None:
        clip = str(write_music_clip(Path(tempfile.mkdtemp()) / "generated music.wav", 8.0, 44100, 2))
    window = create_window(clip, args.model)
    if not shown_playing(window, args.n) or not wait_for_listening(window, LISTENING_TIMEOUT_S):
        print(f"not ready ({window.messages.text()})", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ok = save_small(window, out / "studio.png")
    window.tabs.setCurrentWidget(window.codebooks)
    ok &= save_small(window, out / "studio_codebooks.png")
    window.session.player.pause()
    window.close()
    print(f"wrote {out / 'studio.png'} and {out / 'studio_codebooks.png'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
