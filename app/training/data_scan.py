"""What a folder of recordings offers for training, found in the background before a run.

The scan is the trainer's own (:func:`model.training.corpus.scan_folder`, headers only, and
the same hash-chosen held-out split), so the minutes shown before a run are the minutes the
run's ``data`` event will report.  On top of it: sample rates, and the reasons a run would be
refused (:attr:`DataSummary.problem`) or would be weak (:func:`data_warnings`).

"Too little audio for the preset" is judged by what the preset itself needs, not by a
rule of thumb: its fixed validation set is ``val_examples`` excerpts of ``val_seconds`` drawn
from the held-out files, so held-out audio shorter than that repeats itself in validation
(the quality curves then measure a few seconds many times over); and a training batch is
``batch_size`` excerpts of ``excerpt_seconds``, so training audio shorter than one batch is
seen several times within every single step.  How often each second of training audio is
drawn over the whole run is reported as information (:func:`passes_over_data`), since the
right number of passes depends on what the user wants (a decoder fine-tuned on one voice may
well go over it hundreds of times).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from app.training.request import TrainingPreset
from model.training.corpus import DataError, require_usable, scan_folder, split_held_out
from model.training.run_config import HELD_OUT_FRACTION


@dataclass(frozen=True)
class GroupSummary:
    name: str  # the top-level sub-folder ("." for files in the root)
    files: int
    minutes: float


@dataclass(frozen=True)
class DataSummary:
    root: str
    files: int
    minutes: float
    groups: list[GroupSummary]
    sample_rates: dict[int, int]  # rate -> number of files
    unreadable: list[tuple[str, str]]  # (relative path, reason)
    train_minutes: float = 0.0
    validation_minutes: float = 0.0
    validation_files: int = 0
    problem: str | None = None  # why a run on this folder would be refused


def scan_data(root: str | Path) -> DataSummary:
    """Scan ``root`` as the trainer will; raises :class:`DataError` for a missing folder."""
    corpus = scan_folder(root, "training")
    groups = [GroupSummary(name, len(items), sum(s.seconds for s in items) / 60.0)
              for name, items in corpus.groups().items()]
    rates = dict(sorted(Counter(s.sample_rate for s in corpus.sources).items()))
    summary = dict(root=corpus.root, files=len(corpus.sources), minutes=corpus.minutes, groups=groups,
                   sample_rates=rates, unreadable=list(corpus.skipped))
    try:
        require_usable(corpus, "training")
        train, held_out = split_held_out(corpus, HELD_OUT_FRACTION)
    except DataError as exc:
        return DataSummary(**summary, problem=str(exc))
    return DataSummary(**summary, train_minutes=train.minutes, validation_minutes=held_out.minutes,
                       validation_files=len(held_out.sources))


def data_warnings(summary: DataSummary, recipe: TrainingPreset) -> list[str]:
    """What is too little in ``summary`` for ``recipe`` (its batch and validation set)."""
    if summary.problem:
        return []
    warnings = []
    needed_validation = recipe.val_examples * recipe.val_seconds
    if summary.validation_minutes * 60 < needed_validation:
        warnings.append(
            f"Too little audio for validation: the {summary.validation_files} held-out file(s) hold "
            f"{summary.validation_minutes * 60:.0f} s, and preset {recipe.name} validates on "
            f"{recipe.val_examples} excerpts of {recipe.val_seconds:g} s ({needed_validation:.0f} s), so its "
            f"quality curves would measure the same seconds several times. About "
            f"{needed_validation / HELD_OUT_FRACTION / 60:.0f} min of audio in total avoids that.")
    batch_seconds = recipe.batch_size * recipe.excerpt_seconds
    if summary.train_minutes * 60 < batch_seconds:
        warnings.append(
            f"Too little audio for training: {summary.train_minutes * 60:.1f} s, less than one batch of preset "
            f"{recipe.name} ({recipe.batch_size} x {recipe.excerpt_seconds:g} s = {batch_seconds:g} s).")
    if summary.unreadable:
        warnings.append(f"{len(summary.unreadable)} file(s) cannot be read and will be skipped.")
    return warnings


def passes_over_data(summary: DataSummary, recipe: TrainingPreset, steps: int) -> float | None:
    """How many times the run draws each second of training audio, on average."""
    if summary.train_minutes <= 0:
        return None
    return steps * recipe.batch_size * recipe.excerpt_seconds / (summary.train_minutes * 60)


class DataScan(QThread):
    """Scans one folder off the GUI thread; the result comes with the folder it is for."""

    scanned = Signal(str, object)  # folder, DataSummary
    failed = Signal(str, str)  # folder, message

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.setObjectName("dataScan")
        self.folder = folder

    def run(self) -> None:
        try:
            summary = scan_data(self.folder)
        except (ValueError, OSError) as exc:
            self.failed.emit(self.folder, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        else:
            self.scanned.emit(self.folder, summary)
