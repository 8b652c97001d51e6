#!/usr/bin/env python3
"""Remake the default model card's evaluation sections on the shipped file, keeping the rest as it is.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/refresh_card_evaluation.py [--val VAL]

The card (resources/models/README.md) is made by scripts/make_model_card.py from the training
run's folder and log. When those are gone, the architecture, training, history and float16
sections cannot be made again; the per-domain evaluation, the targets and the padding check need
only the shipped file and audio, so this script measures them again (with the listening metrics
and Opus through libopus at constant bitrate, as ``rvq-studio eval`` and the studio) and puts
them in place of the old ones, between "## Per-domain evaluation" and "## Float16 storage".

With ``--val`` (the validation split) the documented set (30 x 3 s per domain,
release/domain_evaluation.py) replaces the sections between "## Per-domain evaluation" and
"## Float16 storage": tables, targets and padding check. Without it, on a machine without the
corpus, the demo clips of resources/audio (one clip per domain, cut from the validation split by
scripts/make_demo_clips.py) in 3-second excerpts are measured instead, and their tables go into a
section of their own (:data:`SUBSET_TITLE`, replaced when run again) before "## Float16
storage": 33 s of audio is too little to decide the targets (a codebook's usage entropy over
2,800 frames reads far below its value over the validation set), so those stay as measured on
the validation set. About 8 CPU-minutes for the demo clips.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from release.domain_evaluation import (  # noqa: E402
    DOMAINS, EXCERPT_SECONDS, EXCERPTS_PER_DOMAIN, DomainEvaluationError, DomainExcerpts, domain_excerpts,
    evaluate_domain, evaluate_domain_padded, real_length)
from release.model_card import CardInputs, render_evaluation, render_subset  # noqa: E402
from model.atomic_file import atomic_path  # noqa: E402
from model.audio_io import read_audio  # noqa: E402
from model.bundled_files import DEMO_CLIPS_FOLDER  # noqa: E402
from model.loading import load_codec  # noqa: E402
from model.training.validation import VALIDATION_SEED  # noqa: E402

CARD = ROOT / "resources" / "models" / "README.md"
FIRST, AFTER = "## Per-domain evaluation", "## Float16 storage"
SUBSET_TITLE = "## Listening metrics, and Opus through libopus, on the demo clips"


class CardLayoutError(ValueError):
    """A card without the sections this script replaces."""


def demo_excerpts(domain: str, sample_rate: int, seconds: float) -> tuple[DomainExcerpts, str]:
    """The demo clip of ``domain`` in ``seconds``-long excerpts (the last zero-padded), and its file name."""
    matches = sorted(DEMO_CLIPS_FOLDER.glob(f"*-{domain}-*.flac"))
    if len(matches) != 1:
        raise DomainEvaluationError(f"{DEMO_CLIPS_FOLDER}: expected one {domain} demo clip, found {len(matches)}")
    audio = read_audio(matches[0])
    if audio.sample_rate != sample_rate:
        raise DomainEvaluationError(f"{matches[0].name}: {audio.sample_rate} Hz, the model runs at {sample_rate} Hz")
    mono = torch.from_numpy(audio.samples.mean(axis=0))
    size = round(seconds * sample_rate)
    count = -(-mono.shape[-1] // size)
    padded = torch.nn.functional.pad(mono, (0, count * size - mono.shape[-1])).reshape(count, 1, size)
    return DomainExcerpts(padded, [real_length(x) for x in padded]), matches[0].name


def splice(card: str, section: str, start_title: str = FIRST) -> str:
    """``card`` with everything from ``start_title`` (or, if the card has none, from "## Float16
    storage") up to "## Float16 storage" replaced by ``section``."""
    end = card.find(AFTER)
    start = card.find(start_title)
    start = end if start < 0 else start
    if end < 0 or start > end:
        raise CardLayoutError(f"the card has no '{AFTER}' section after '{start_title}'")
    return card[:start] + section + card[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--val", type=Path, help="validation split (default: the demo clips, a subset)")
    parser.add_argument("--card", type=Path, default=CARD, help="the card to update in place")
    parser.add_argument("--no-listening", dest="listening", action="store_false",
                        help="leave the slow listening metrics out")
    args = parser.parse_args()
    codec = load_codec("default")
    started = time.process_time()
    domains, padded, sources = [], [], []
    try:
        for domain in DOMAINS:
            if args.val:
                excerpts = domain_excerpts(args.val, domain, codec.sample_rate, EXCERPTS_PER_DOMAIN, EXCERPT_SECONDS)
            else:
                excerpts, name = demo_excerpts(domain, codec.sample_rate, EXCERPT_SECONDS)
                sources.append(f"`{name}` ({len(excerpts.lengths)} excerpts)")
            print(f"{domain}: {len(excerpts.lengths)} excerpts", file=sys.stderr, flush=True)
            domains.append(evaluate_domain(codec, domain, excerpts, listening=args.listening,
                                           progress=lambda k, n, d=domain: print(f"  {d}: {k}/{n}", file=sys.stderr)))
            if args.val:
                padded.append(evaluate_domain_padded(codec, domain, excerpts))
        card = args.card.read_text(encoding="utf-8")
        command = shlex.join(["scripts/refresh_card_evaluation.py"] + (["--val", "VAL"] if args.val else []))
        note = (f"Made on the shipped file with `{command}`: the training run's folder and log are gone, so the "
                "architecture, training, history and float16 sections are as first written.")
        if args.val:
            inputs = CardInputs(None, codec, 0, 0, None, 1, domains, EXCERPTS_PER_DOMAIN, EXCERPT_SECONDS,
                                VALIDATION_SEED, None, time.process_time() - started, command, padded=padded,
                                evaluation_note=note)
            new = splice(card, render_evaluation(inputs))
        else:
            source = ("the demo clips of `resources/audio` (cut from the validation split by "
                      "`scripts/make_demo_clips.py`), one per domain, each in 3 s excerpts at its own level, the last "
                      "zero-padded: " + ", ".join(f"{d} {s}" for d, s in zip(DOMAINS, sources))
                      + ". A subset, for want of the corpus where this section was made: the tables and targets "
                      "above are measured on the documented validation set (their Opus columns with libopus "
                      "through libsndfile, at its variable bitrate), these on 33 s of audio.")
            inputs = CardInputs(None, codec, 0, 0, None, 1, domains, 0, EXCERPT_SECONDS, VALIDATION_SEED, None,
                                time.process_time() - started, command, excerpt_source=source, evaluation_note=note)
            new = splice(card, render_subset(inputs, SUBSET_TITLE), SUBSET_TITLE)
    except (DomainEvaluationError, CardLayoutError) as exc:
        print(f"refresh_card_evaluation: error: {exc}", file=sys.stderr)
        return 2
    with atomic_path(args.card) as tmp:
        Path(tmp).write_text(new, encoding="utf-8")
    print(f"wrote {args.card}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
