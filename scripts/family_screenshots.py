"""Screenshots of the studio with SNAC, Mimi and EnCodec 48 kHz loaded, in docs/screenshots/.

    .venv/bin/python scripts/family_screenshots.py [CLIP] [--seconds 8]

The models are the random-weight test fixtures in the official file layouts
(tests/fixtures/: tiny widths, the real rates and code structure), because the real
weights are not part of the repository: their reconstructions are noise-like, and the
pictures are about what the studio shows of each family -- SNAC's codebooks at their own
rates in the token view, Mimi's semantic codebook named apart from the acoustic ones,
EnCodec 48 kHz's joint stereo (one token block for both channels, a stereo clip, Opus
beside it at half the bitrate per channel). SNAC and Mimi open the first seconds of CLIP
(default: the music demo clip, mono); EnCodec 48 kHz a generated stereo music clip (its
voices panned apart). Mimi's picture shows the codebook tab, where its semantic codebook is
named. The slow listening metrics are left off. Writes family_snac.png, family_mimi.png
and family_encodec48.png.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from screenshot_setup import ROOT, offscreen_studio

WORK = offscreen_studio("rvq-family-shot-")
(WORK / "settings.ini").write_text("[quality]\nlistening=false\n")  # the studio's settings, unless the caller set its own

from studio_screenshots import play_briefly, save_small, shown_playing  # noqa: E402 (after the environment is set)

FIXTURES = ROOT / "tests" / "fixtures"
FAMILIES = {  # screenshot name -> (model, codebook count shown, stereo clip, codebook tab)
    "family_snac": (FIXTURES / "snac" / "snac44k", 3, False, False),
    "family_mimi": (FIXTURES / "mimi" / "mimi.safetensors", 8, False, True),
    "family_encodec48": (FIXTURES / "encodec" / "encodec48k.th", 8, True, False),
}


def excerpt(source: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``source`` as a WAV file of its own (the fixtures' models are slow per second)."""
    from model.audio_io import read_audio, write_audio

    audio = read_audio(source)
    out = Path(tempfile.mkdtemp()) / f"{source.stem}.wav"
    write_audio(out, audio.samples[:, : int(seconds * audio.sample_rate)], audio.sample_rate)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?")
    parser.add_argument("--seconds", type=float, default=8.0, help="how much of the clip to open")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()

    from app.main import create_window
    from app.studio.model_catalog import demo_clips
    from synthetic_audio import write_music_clip

    source = Path(args.clip) if args.clip else next(iter(demo_clips()))
    clips = {False: str(excerpt(source, args.seconds)),
             True: str(write_music_clip(Path(tempfile.mkdtemp()) / "stereo music.wav", args.seconds, 48000, 2))}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ok = True
    for name, (model, n, stereo, codebook_tab) in FAMILIES.items():
        window = create_window(clips[stereo], str(model))
        window.resize(1500, 1000)
        if not shown_playing(window, n):
            print(f"{name}: not ready ({window.messages.text()})", file=sys.stderr)
            ok = False
        window.messages.dismiss()  # "no sound" (the script plays silently)
        if codebook_tab:
            window.tabs.setCurrentWidget(window.codebooks)
        play_briefly(window, 0.3)  # the layout without the message bar, the tab's axes fitted to their labels
        ok &= save_small(window, out / f"{name}.png")
        window.close()
        print(f"wrote {out / name}.png")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
