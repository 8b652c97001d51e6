"""One listener's run through a test: the current trial, its answer, the time it took.

The session speaks in letters (MUSHRA: A, B, C...; ABX: A, B, X) -- all a listener ever sees --
and translates them to stimulus names only when recording an answer in the test. Each answer
is saved to the test file at once, so stopping at any point loses at most the trial in
progress; opening the file again continues at the first unanswered trial.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from app.listening_test.plan import LETTERS, AbxTrial, MushraTrial
from app.listening_test.test_file import Listener, ListeningTest, save_test

FULL_MARK = 100


class AnswerRejected(ValueError):
    """An answer the rules do not accept (e.g. a MUSHRA trial with nothing rated 100)."""


class ListenerSession:
    def __init__(self, test: ListeningTest, listener: str, path: str | Path,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.test, self.path, self.clock = test, Path(path), clock
        self.listener: Listener = test.listener(listener)
        save_test(test, self.path)  # a new listener's plan is recorded before their first answer
        self._started = clock()

    @property
    def finished(self) -> bool:
        return self.listener.finished

    @property
    def index(self) -> int:
        """0-based number of the current trial."""
        return len(self.listener.answers)

    @property
    def total(self) -> int:
        return len(self.listener.trials)

    @property
    def trial(self) -> MushraTrial | AbxTrial:
        return self.listener.trials[self.index]

    @property
    def clip(self) -> int:
        return self.trial.clip

    def letters(self) -> list[str]:
        """The buttons of the current trial, in the order shown."""
        if isinstance(self.trial, MushraTrial):
            return list(LETTERS[: len(self.trial.order)])
        return ["A", "B", "X"]

    def stimulus_for(self, letter: str) -> str:
        """The stimulus a letter plays (for the player only: never shown)."""
        trial = self.trial
        if isinstance(trial, MushraTrial):
            return trial.order[LETTERS.index(letter)]
        return {"A": trial.a, "B": trial.b, "X": trial.x_stimulus}[letter]

    def begin_trial(self) -> None:
        """Start the current trial's clock (its first sound, or resuming after a pause)."""
        self._started = self.clock()

    def submit_mushra(self, ratings: Mapping[str, float]) -> None:
        """Record ``letter -> 0..100`` for every letter; at least one must be rated 100."""
        letters = self.letters()
        if sorted(ratings) != sorted(letters):
            raise AnswerRejected(f"rate every letter ({', '.join(letters)})")
        if any(not 0 <= value <= FULL_MARK for value in ratings.values()):
            raise AnswerRejected("ratings go from 0 to 100")
        if max(ratings.values()) < FULL_MARK:
            raise AnswerRejected("rate at least one sound 100: the reference is hidden among them")
        by_name = {self.stimulus_for(letter): float(value) for letter, value in ratings.items()}
        self._record({"ratings": by_name})

    def submit_abx(self, answer: str) -> bool:
        """Record "X is A" (``"A"``) or "X is B"; returns whether it was right."""
        if answer not in ("A", "B"):
            raise AnswerRejected("X is either A or B")
        self._record({"answer": answer})
        return answer == self.listener.trials[self.index - 1].x

    def _record(self, answer: dict) -> None:
        if self.finished:
            raise AnswerRejected("the test is finished")
        answer["seconds"] = round(max(0.0, self.clock() - self._started), 3)
        self.listener.answers.append(answer)
        try:
            save_test(self.test, self.path)
        except OSError:
            self.listener.answers.pop()  # not saved, not given: the trial stays open
            raise
        self._started = self.clock()
