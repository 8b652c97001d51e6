"""One training process per run folder, for the whole life of the run.

Two trainers writing one folder interleave their checkpoints and overwrite each other's best
model; a second ``--resume`` started by mistake (a second terminal, a second studio window)
would do exactly that. The trainer therefore holds an exclusive, non-blocking lock on a file
in the run folder from before it reads ``config.json`` until it returns. The operating system
drops the lock when the process dies, however it dies (``kill -9`` included), so a crashed run
never leaves a stale lock behind: the lock file may stay, the lock does not. Taking it before
the "new run or resume?" decision also closes the race of two new runs started at once.

The lock (``flock``) belongs to the open file, which a forked child shares: a data-loading
worker forked during the run would keep the folder locked after its trainer was killed. So a
forked child closes its copy at once; the trainer's own copy keeps the lock.
"""
from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import IO

from model.training.checkpoint import TrainingStateError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


class RunLock:
    """An exclusive lock on ``path`` (the run folder's lock file), taken or refused at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`TrainingStateError` naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            _lock(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            who = f" (process {holder})" if holder.isdigit() else ""
            raise TrainingStateError(f"{self.path.parent} is in use by another training process{who}: "
                                     "wait for it to end, or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        _HELD.add(self)

    def release(self) -> None:
        _HELD.discard(self)
        if self._file is not None:
            self._file.close()  # closing the last copy of the file drops the lock
            self._file = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


_HELD: "weakref.WeakSet[RunLock]" = weakref.WeakSet()


def _close_copies_in_child() -> None:
    for lock in list(_HELD):
        lock.release()  # the child's copy only: the parent's stays open and locked


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_copies_in_child)


def _lock(handle: IO[str]) -> None:
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
