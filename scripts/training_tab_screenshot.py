"""Regenerate docs/screenshots/training_tab.png: the training tab in the middle of a real run.

    .venv/bin/python scripts/training_tab_screenshot.py [--steps 120]

Offscreen, no sound, private settings. It writes a small folder of generated recordings
(speech-like and music-like groups, one unreadable file), saves an untrained copy of the
``tiny`` preset's architecture as the base model, opens the bundled music demo clip with it in
the studio, starts a quick (decoder-only) fine-tune of ``--steps`` steps from the tab and grabs
the window once that many steps have been reported, then stops the run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from screenshot_setup import ROOT, offscreen_studio

WORK = offscreen_studio("rvq-training-shot-")


def make_base(path: Path) -> None:
    import torch

    from model.export import save_model_file
    from model.registry import family
    from model.registry import preset

    torch.manual_seed(0)
    architecture = preset("tiny").architecture
    save_model_file(family("dac").build(architecture), path, family="dac", config=architecture,
                    name="tiny base", trained=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=120, help="grab after this many steps")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "training_tab.png"))
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from app.main import create_window
    from screenshot_waits import wait_until
    from app.studio.model_catalog import demo_clips
    from synthetic_audio import write_music_clip, write_recordings_folder
    from app.training.run import ACTIVE

    recordings = write_recordings_folder(WORK / "recordings", (("speech", 16000, 6.0), ("music", 44100, 9.0),
                                                               ("field", 22050, 5.0)), files_per_group=3)
    (recordings / "field" / "truncated.wav").write_bytes(b"RIFF....WAVEfmt not really audio")
    make_base(WORK / "tiny-base.safetensors")
    clip = next(iter(demo_clips()), None) or write_music_clip(WORK / "clip.wav", 6.0, 44100, channels=1, seed=3)
    window = create_window(str(clip), str(WORK / "tiny-base.safetensors"))
    window.show()
    tab = window.training
    window.pages.setCurrentWidget(tab)

    ok = wait_until(lambda: window.session.clip is not None, 120)
    tab.data_panel.set_folder(str(recordings))
    ok &= wait_until(lambda: tab.data is not None, 60)
    tab.setup.preset_box.setCurrentText("tiny")
    tab.setup.steps_box.setValue(2000)
    tab.start()
    ok &= wait_until(lambda: tab.history.step >= args.steps, 900)
    ok &= wait_until(lambda: window.session.comparison.clip is not None, 120)
    tab.details.setCurrentIndex(0)
    QApplication.processEvents()
    ok &= window.grab().save(args.out)
    tab.run.stop()
    wait_until(lambda: tab.run.state not in ACTIVE, 120)
    window.shutdown()
    print(f"wrote {args.out}" if ok else "failed", file=sys.stderr if not ok else sys.stdout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
