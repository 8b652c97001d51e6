"""Results of a listening test: per-listener tables (CSV, JSON) and the summary over listeners.

MUSHRA scores are summarised per contestant, per clip and over all clips, as the mean with its
95 % t confidence interval, over the listeners that pass the post-screening
(:func:`app.listening_test.statistics.screen`); the excluded ones are listed with the reason.
ABX answers are summarised per contestant as right answers out of trials and the one-sided
binomial p-value of guessing that well, per listener and pooled.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from app.listening_test.plan import LETTERS
from app.listening_test.statistics import Interval, Screening, binomial_tail, mean_interval, screen
from app.listening_test.stimuli import HIDDEN_REFERENCE
from app.listening_test.test_file import Listener, ListeningTest
from model.atomic_file import write_bytes_atomic

MUSHRA_COLUMNS = ["listener", "trial", "clip", "letter", "stimulus", "score", "seconds"]
ABX_COLUMNS = ["listener", "trial", "clip", "a", "b", "x", "answer", "correct", "seconds"]


def listener_rows(test: ListeningTest, listener: Listener) -> list[dict]:
    """One row per rating (MUSHRA) or per answer (ABX), in the order they were given."""
    rows = []
    for number, (trial, answer) in enumerate(zip(listener.trials, listener.answers), 1):
        common = {"listener": listener.name, "trial": number, "clip": test.clips[trial.clip]}
        if test.kind == "mushra":
            for letter, name in zip(LETTERS, trial.order):
                rows.append({**common, "letter": letter, "stimulus": name, "score": answer["ratings"][name],
                             "seconds": answer["seconds"]})
        else:
            rows.append({**common, "a": trial.a, "b": trial.b, "x": trial.x, "answer": answer["answer"],
                         "correct": answer["answer"] == trial.x, "seconds": answer["seconds"]})
    return rows


def write_listener_results(test: ListeningTest, listener: Listener, folder: str | Path) -> tuple[Path, Path]:
    """``<listener>.csv`` and ``<listener>.json`` in ``folder`` (atomic); their paths."""
    folder = Path(folder)
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in listener.name) or "listener"
    rows = listener_rows(test, listener)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MUSHRA_COLUMNS if test.kind == "mushra" else ABX_COLUMNS,
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path, json_path = folder / f"{stem}.csv", folder / f"{stem}.json"
    write_bytes_atomic(csv_path, [text.getvalue().encode("utf-8")])
    document = {"kind": test.kind, "listener": listener.name, "seed": listener.seed,
                "finished": listener.finished, "rows": rows}
    if test.kind == "mushra" and listener.answers:
        screening = _screening(listener)
        document["post_screening"] = {"hidden_reference_below_90": screening.low_reference_trials,
                                      "trials": screening.trials, "excluded": screening.excluded}
    write_bytes_atomic(json_path, [json.dumps(document, indent=1).encode("utf-8")])
    return csv_path, json_path


def _screening(listener: Listener) -> Screening:
    """BS.1534-3 post-screening of a listener's answered MUSHRA trials."""
    return screen(listener.name, [a["ratings"][HIDDEN_REFERENCE] for a in listener.answers
                                  if HIDDEN_REFERENCE in a["ratings"]])


@dataclass(frozen=True)
class MushraSummary:
    screenings: list[Screening]  # every listener with answers, excluded or not
    clips: list[str]
    per_clip: dict[str, dict[str, Interval]]  # stimulus -> clip -> interval over included listeners
    overall: dict[str, Interval]  # stimulus -> interval over included listeners and all clips

    @property
    def excluded(self) -> list[str]:
        return [s.listener for s in self.screenings if s.excluded]


def mushra_summary(test: ListeningTest) -> MushraSummary:
    """Means and 95 % intervals of the listeners kept by the post-screening (finished trials only)."""
    screenings, scores = [], {name: {clip: [] for clip in test.clips} for name in test.stimuli}
    for listener in test.listeners:
        pairs = list(zip(listener.trials, listener.answers))
        if not pairs:
            continue
        screening = _screening(listener)
        screenings.append(screening)
        if screening.excluded:
            continue
        for trial, answer in pairs:
            for name, score in answer["ratings"].items():
                scores[name][test.clips[trial.clip]].append(score)
    per_clip = {name: {clip: mean_interval(values) for clip, values in clips.items() if values}
                for name, clips in scores.items()}
    overall = {name: mean_interval([v for values in clips.values() for v in values])
               for name, clips in scores.items() if any(clips.values())}
    return MushraSummary(screenings, list(test.clips), per_clip, overall)


@dataclass(frozen=True)
class AbxScore:
    listener: str  # "all listeners" for the pooled line
    contestant: str
    correct: int
    trials: int

    @property
    def p_value(self) -> float:
        return binomial_tail(self.correct, self.trials)


def abx_summary(test: ListeningTest) -> list[AbxScore]:
    """Right answers per listener and contestant, then pooled over listeners, contestants in test order."""
    counts: dict[tuple[str, str], list[int]] = {}
    for listener in test.listeners:
        for trial, answer in zip(listener.trials, listener.answers):
            contestant = trial.contestant(test.original)
            for who in (listener.name, "all listeners"):
                tally = counts.setdefault((who, contestant), [0, 0])
                tally[0] += answer["answer"] == trial.x
                tally[1] += 1
    names = [l.name for l in test.listeners if l.answers]
    order = names + (["all listeners"] if len(names) > 1 else [])
    return [AbxScore(who, name, *counts[(who, name)]) for who in order for name in test.stimuli
            if (who, name) in counts]
