#!/usr/bin/env python3
"""Ship a training run's best checkpoint as the bundled default model, with its model card.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python scripts/make_model_card.py --run RUN --log LOG --ship

RUN is the training run's folder (``rvq-studio train --out RUN``) and LOG its ``--json-progress``
output; both live in the user's data folder, never in the repository.

With --ship: writes resources/models/default.safetensors (float16, from the run's best checkpoint)
and resources/models/README.md (the card). Without it nothing in the repository changes: the
float16 file goes to a temporary folder and the card to stdout (or --card), for a preview.

The card's per-domain table evaluates the written file as load_codec loads it, on a fixed set of
validation excerpts per domain (release/domain_evaluation.py), next to Opus; the history, steps and
compute come from the log (release/training_log.py). About 15 CPU-minutes with the default set (the
real-audio evaluation and, for the card's padding check, the zero-padded one).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from release.domain_evaluation import (  # noqa: E402
    DOMAINS, EXCERPT_SECONDS, EXCERPTS_PER_DOMAIN, DomainEvaluationError, domain_excerpts, evaluate_domain,
    evaluate_domain_padded)
from release.model_card import CardInputs, render_card  # noqa: E402
from release.model_shipping import ShippingError, read_best, ship, storage_agreement  # noqa: E402
from release.training_log import TrainingLogError, read_training_log  # noqa: E402
from model.atomic_file import atomic_path  # noqa: E402
from model.loading import CheckpointError, load_codec  # noqa: E402
from model.bundled_files import DEFAULT_MODEL_PATH  # noqa: E402
from model.training.validation import VALIDATION_SEED  # noqa: E402

CARD_PATH = DEFAULT_MODEL_PATH.parent / "README.md"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="training run folder")
    parser.add_argument("--log", type=Path, required=True, help="the run's --json-progress log")
    parser.add_argument("--val", type=Path, help="validation folder (default: the run's)")
    parser.add_argument("--ship", action="store_true", help="write the model file and card into resources/models")
    parser.add_argument("--card", type=Path, help="where the card goes (default: resources/models/README.md "
                                                  "with --ship, else stdout)")
    parser.add_argument("--threads", type=int, default=1,
                        help="for CPU-hours: the training threads of launches of the trainer whose start event "
                             "does not record them (logged before the trainer recorded its thread count); "
                             "other launches count at their own")
    parser.add_argument("--excerpts", type=int, default=EXCERPTS_PER_DOMAIN, help="excerpts per domain")
    parser.add_argument("--seconds", type=float, default=EXCERPT_SECONDS, help="seconds per excerpt")
    parser.add_argument("--earlier", type=Path,
                        help="markdown record of the runs this one continues (a --from base model's own "
                             "history), shown verbatim under the history")
    args = parser.parse_args()
    if args.earlier is not None and not args.earlier.is_file():
        parser.error(f"--earlier {args.earlier}: no such file")
    return args


def shown(path: Path, role: str) -> str:
    """A path as the card's command shows it: relative inside the repository, else by its role.

    A path outside the repository names a folder of the machine that made the card, which means
    nothing to a reader; the role (RUN, LOG, ...) says what to put there.
    """
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return role


def command_line(args: argparse.Namespace) -> str:
    words = [".venv/bin/python", "scripts/make_model_card.py", "--run", shown(args.run, "RUN"),
             "--log", shown(args.log, "LOG")]
    if args.val:
        words += ["--val", shown(args.val, "VAL")]
    if args.earlier:
        words += ["--earlier", shown(args.earlier, "EARLIER")]
    if args.threads != 1:
        words += ["--threads", str(args.threads)]
    if args.excerpts != EXCERPTS_PER_DOMAIN:
        words += ["--excerpts", str(args.excerpts)]
    if args.seconds != EXCERPT_SECONDS:
        words += ["--seconds", f"{args.seconds:g}"]
    return "nice -n 10 env OMP_NUM_THREADS=1 " + shlex.join(words + (["--ship"] if args.ship else []))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def make(args: argparse.Namespace, model_path: Path) -> tuple[str, str]:
    """Write the float16 model to ``model_path``, evaluate it; the card and the model's digest."""
    log = read_training_log(args.log)
    best = read_best(args.run)
    validation = args.val or Path(best.config.val or best.config.data)
    size = ship(best, model_path)
    say(f"step {best.step}: {size / 1e6:.2f} MB in float16")
    codec = load_codec(model_path)
    started = time.process_time()
    domains, padded, music = [], [], None
    for domain in DOMAINS:
        excerpts = domain_excerpts(validation, domain, codec.sample_rate, args.excerpts, args.seconds)
        say(f"{domain}: {len(excerpts.lengths)} excerpts x {args.seconds:g} s, {excerpts.padded_share:.1%} padding")
        domains.append(evaluate_domain(codec, domain, excerpts,
                                       progress=lambda k, n, d=domain: say(f"  {d}: {k}/{n} excerpts")))
        padded.append(evaluate_domain_padded(codec, domain, excerpts))
        music = excerpts.audio if domain == "music" else music
    cpu = time.process_time() - started
    storage = storage_agreement(best.codec(), codec, music)
    earlier = args.earlier.read_text(encoding="utf-8") if args.earlier else ""
    card = render_card(CardInputs(best.config, codec, size, best.step, log, args.threads, domains, args.excerpts,
                                  args.seconds, VALIDATION_SEED, storage, cpu, command_line(args), earlier, padded))
    return card, codec.digest()


def main() -> int:
    args = parse_args()
    try:
        if args.ship:  # the file evaluated is the file shipped: renamed into place once the card is made
            DEFAULT_MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(DEFAULT_MODEL_PATH) as tmp:
                card, digest = make(args, Path(tmp))
            if load_codec("default").digest() != digest:
                raise ShippingError(f"load_codec('default') does not load the new {DEFAULT_MODEL_PATH}")
            say(f"shipped {DEFAULT_MODEL_PATH}")
        else:
            with tempfile.TemporaryDirectory() as folder:
                card, _ = make(args, Path(folder) / "default.safetensors")
    except (ShippingError, TrainingLogError, DomainEvaluationError, CheckpointError) as exc:
        say(f"make_model_card: error: {exc}")
        return 2
    target = args.card or (CARD_PATH if args.ship else None)
    if target is None:
        sys.stdout.write(card)
        return 0
    with atomic_path(target) as tmp:
        Path(tmp).write_text(card, encoding="utf-8")
    say(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
