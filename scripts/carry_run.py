#!/usr/bin/env python3
"""Carry a training run from one development machine to the next through the repository.

    scripts/carry_run.py park    --run /work/data/runs/default --log /work/data/runs/default.log
    scripts/carry_run.py restore --run /work/data/runs/default --log /work/data/runs/default.log

Why: the bundled default model trains for many CPU-hours, in sessions of a few hours on
machines that do not outlive the session. Only what is committed survives, so at the end of a
session the run is *parked* in ``resources/training/default-run/`` (by default) and the next
session *restores* it and continues with ``rvq-studio train --resume``.

What is parked is a run folder cut to what ``--resume`` and the model card need:
``config.json``, the newest periodic checkpoint (``checkpoints/step-<n>.pt``: weights,
optimisers, schedulers, random states, sampler position -- so the run continues exactly) and
the whole ``--json-progress`` log (the only complete history of the run). ``best.pt`` is not
parked: the best weights ship as ``resources/models/default.safetensors``, and the checkpoint
records the best step and mel distance, so the trainer keeps judging "best" correctly.

Both directions copy atomically and never replace newer state with older: restoring onto a
run folder that already holds a later checkpoint, or parking a run older than the one parked,
is refused with a message.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.atomic_file import atomic_path  # noqa: E402
from model.training.checkpoint import CheckpointFolder  # noqa: E402
from model.training.run_config import CONFIG_NAME, RunFolder  # noqa: E402

PARKED = ROOT / "resources" / "training" / "default-run"
LOG_NAME = "progress.jsonl"


class CarryError(RuntimeError):
    """The run cannot be carried as asked; the message says why."""


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def _newest(folder: Path) -> tuple[int, Path] | None:
    found = CheckpointFolder(folder / "checkpoints").periodic()
    return found[-1] if found else None


def _carry(source: Path, source_log: Path, target: Path, target_log: Path, force: bool) -> int:
    """Copy config, newest checkpoint and log from ``source`` to ``target``; the step carried."""
    newest = _newest(source)
    if newest is None or not (source / CONFIG_NAME).exists():
        raise CarryError(f"{source} holds no run (config.json and checkpoints/step-*.pt)")
    step, checkpoint = newest
    existing = _newest(target)
    if existing is not None and existing[0] > step and not force:
        raise CarryError(f"{target} already holds step {existing[0]}, newer than step {step}; "
                         f"use --force to replace it")
    if not source_log.exists():
        raise CarryError(f"{source_log}: no progress log to carry (the model card's history)")
    _copy(source / CONFIG_NAME, target / CONFIG_NAME)
    _copy(checkpoint, target / "checkpoints" / checkpoint.name)
    for _, old in CheckpointFolder(target / "checkpoints").periodic():
        if old.name != checkpoint.name:
            old.unlink()
    _copy(source_log, target_log)
    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("direction", choices=("park", "restore"))
    parser.add_argument("--run", type=Path, required=True, help="the working run folder")
    parser.add_argument("--log", type=Path, required=True, help="the working run's --json-progress log")
    parser.add_argument("--parked", type=Path, default=PARKED, help=f"parking folder (default: {PARKED})")
    parser.add_argument("--force", action="store_true", help="replace newer state")
    args = parser.parse_args()
    run, parked = RunFolder(args.run).path, args.parked.resolve()
    try:
        if args.direction == "park":
            step = _carry(run, args.log, parked, parked / LOG_NAME, args.force)
        else:
            step = _carry(parked, parked / LOG_NAME, run, args.log, args.force)
    except (CarryError, OSError) as exc:
        print(f"carry_run: {exc}", file=sys.stderr)
        return 2
    print(f"carry_run: {'parked' if args.direction == 'park' else 'restored'} step {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
