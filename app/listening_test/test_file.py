"""The listening-test file: what is tested, the seed, and every listener's plan and answers.

One JSON file holds a whole test, so it can be paused after any trial and resumed later, by the
same listener or a new one, and the results of all listeners are summarised together. It is
written atomically after every answer (a crash or a full disk leaves the previous version) and
checked field by field on load: a damaged or foreign file is refused with one line saying what
is wrong, never half-loaded.

The file names the contestants behind every letter: it is the experimenter's record. The
window a listener sees never shows it (see ``ui/listening_test_window.py``). It also records the
excerpt of each clip the trials play (start and length in seconds): a test saved before excerpts
were chosen (version 1) played each clip's first 12 s, and is read so.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from app.listening_test.excerpts import HEAD, Excerpt
from app.listening_test.plan import LETTERS, AbxTrial, MushraTrial, abx_plan, listener_seed, mushra_plan
from model.atomic_file import write_bytes_atomic

FORMAT = "rvq-studio listening test"
VERSION = 2
READABLE_VERSIONS = (1, 2)
KINDS = ("mushra", "abx")


class ListeningTestFileError(ValueError):
    """A test file that cannot be used, with the reason in one line."""


@dataclass
class Listener:
    name: str
    seed: int
    trials: list  # MushraTrial or AbxTrial, in the order they are played
    answers: list[dict] = field(default_factory=list)  # one per finished trial, in order

    @property
    def finished(self) -> bool:
        return len(self.answers) >= len(self.trials)


@dataclass
class ListeningTest:
    kind: str  # "mushra" or "abx"
    clips: list[str]
    contestant_spec: str  # what the stimulus provider was asked for (e.g. the codebook counts)
    original: str  # name of the original among the provider's stimuli
    stimuli: list[str]  # MUSHRA: the letters' stimuli; ABX: the contestants compared with the original
    seed: int
    repeats: int = 1  # ABX trials per clip and contestant
    listeners: list[Listener] = field(default_factory=list)
    excerpts: list[Excerpt] = field(default_factory=list)  # one per clip, its start chosen; none given: the heads

    def __post_init__(self) -> None:
        self.excerpts = list(self.excerpts) or [HEAD] * len(self.clips)
        if len(self.excerpts) != len(self.clips) or any(e.start is None for e in self.excerpts):
            raise ListeningTestFileError("every clip needs one excerpt with its start chosen")

    def listener(self, name: str) -> Listener:
        """The listener called ``name``, added with a fresh plan if new (their seed comes from the test's)."""
        for listener in self.listeners:
            if listener.name == name:
                return listener
        seed = listener_seed(self.seed, len(self.listeners))
        if self.kind == "mushra":
            trials = mushra_plan(seed, len(self.clips), self.stimuli)
        else:
            trials = abx_plan(seed, len(self.clips), self.original, self.stimuli, self.repeats)
        listener = Listener(name, seed, trials)
        self.listeners.append(listener)
        return listener

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "kind": self.kind, "clips": self.clips,
                "contestant_spec": self.contestant_spec, "original": self.original, "stimuli": self.stimuli,
                "seed": self.seed, "repeats": self.repeats, "excerpts": [e.to_json() for e in self.excerpts],
                "listeners": [{"name": l.name, "seed": l.seed, "trials": [_trial_json(t) for t in l.trials],
                               "answers": l.answers} for l in self.listeners]}


def _trial_json(trial) -> dict:
    if isinstance(trial, MushraTrial):
        return {"clip": trial.clip, "order": list(trial.order)}
    return {"clip": trial.clip, "a": trial.a, "b": trial.b, "x": trial.x}


def save_test(test: ListeningTest, path: str | Path) -> None:
    write_bytes_atomic(path, [json.dumps(test.to_json(), indent=1).encode("utf-8")])


def load_test(path: str | Path) -> ListeningTest:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ListeningTestFileError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ListeningTestFileError(f"{path.name}: not a listening test (not JSON: {exc})") from None
    try:
        return parse_test(data)
    except ListeningTestFileError as exc:
        raise ListeningTestFileError(f"{path.name}: {exc}") from None


def _need(condition: bool, reason: str) -> None:
    if not condition:
        raise ListeningTestFileError(reason)


def _typed(data: dict, key: str, kind: type | tuple, where: str = "the test"):
    value = data.get(key)
    _need(isinstance(value, kind) and not isinstance(value, bool), f"{where} has no valid '{key}'")
    return value


def parse_test(data) -> ListeningTest:
    """A :class:`ListeningTest` from decoded JSON, every field checked."""
    _need(isinstance(data, dict) and data.get("format") == FORMAT, "not a listening test file")
    version = data.get("version")
    _need(version in READABLE_VERSIONS, f"version {version!r} is not supported (expected {VERSION})")
    kind = _typed(data, "kind", str)
    _need(kind in KINDS, f"unknown test kind {kind!r} (expected one of {', '.join(KINDS)})")
    clips = _typed(data, "clips", list)
    _need(bool(clips) and all(isinstance(c, str) and c for c in clips), "'clips' must list at least one file")
    stimuli = _typed(data, "stimuli", list)
    _need(bool(stimuli) and all(isinstance(s, str) and s for s in stimuli), "'stimuli' must name at least one")
    _need(len(set(stimuli)) == len(stimuli) and len(stimuli) <= len(LETTERS), "'stimuli' has repeated names or too many")
    excerpts = [_parse_excerpt(e, f"excerpt {i}") for i, e in enumerate(_typed(data, "excerpts", list), 1)] \
        if version >= 2 else []
    _need(version < 2 or len(excerpts) == len(clips), "'excerpts' must give one excerpt per clip")
    test = ListeningTest(kind, clips, _typed(data, "contestant_spec", str), _typed(data, "original", str), stimuli,
                         _typed(data, "seed", int), _typed(data, "repeats", int), excerpts=excerpts)
    _need(test.repeats >= 1, "'repeats' must be at least 1")
    listeners = _typed(data, "listeners", list)
    for number, item in enumerate(listeners, 1):
        where = f"listener {number}"
        _need(isinstance(item, dict), f"{where} is not an object")
        name = _typed(item, "name", str, where)
        _need(name not in {l.name for l in test.listeners}, f"listener {name!r} appears twice")
        trials = [_parse_trial(test, t, f"{where}, trial {i}") for i, t in enumerate(_typed(item, "trials", list, where), 1)]
        answers = _typed(item, "answers", list, where)
        _need(len(answers) <= len(trials), f"{where} has more answers than trials")
        for i, (trial, answer) in enumerate(zip(trials, answers), 1):
            _check_answer(test, trial, answer, f"{where}, answer {i}")
        test.listeners.append(Listener(name, _typed(item, "seed", int, where), trials, answers))
    return test


def _parse_excerpt(item, where: str) -> Excerpt:
    _need(isinstance(item, dict), f"{where} is not an object")
    start, seconds = (float(_typed(item, key, (int, float), where)) for key in ("start", "seconds"))
    try:
        return Excerpt(start, seconds)
    except ValueError as exc:
        raise ListeningTestFileError(f"{where}: {exc}") from None


def _parse_trial(test: ListeningTest, item, where: str):
    _need(isinstance(item, dict), f"{where} is not an object")
    clip = _typed(item, "clip", int, where)
    _need(0 <= clip < len(test.clips), f"{where} names clip {clip}, the test has {len(test.clips)}")
    if test.kind == "mushra":
        order = _typed(item, "order", list, where)
        _need(sorted(order) == sorted(test.stimuli), f"{where} does not play every stimulus exactly once")
        return MushraTrial(clip, tuple(order))
    a, b, x = (_typed(item, key, str, where) for key in ("a", "b", "x"))
    _need({a, b} - {test.original} <= set(test.stimuli) and test.original in (a, b) and a != b,
          f"{where} does not compare the original with a contestant")
    _need(x in ("A", "B"), f"{where} has X = {x!r} (expected 'A' or 'B')")
    return AbxTrial(clip, a, b, x)


def _check_answer(test: ListeningTest, trial, answer, where: str) -> None:
    _need(isinstance(answer, dict), f"{where} is not an object")
    seconds = _typed(answer, "seconds", (int, float), where)
    _need(math.isfinite(seconds) and seconds >= 0, f"{where} has an invalid time")
    if test.kind == "mushra":
        ratings = _typed(answer, "ratings", dict, where)
        _need(sorted(ratings) == sorted(trial.order), f"{where} does not rate every stimulus")
        _need(all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100 for v in ratings.values()),
              f"{where} has a rating outside 0-100")
    else:
        _need(answer.get("answer") in ("A", "B"), f"{where} has no answer 'A' or 'B'")
