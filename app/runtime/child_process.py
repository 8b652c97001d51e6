"""A helper process of our own that runs slow numerical functions away from the studio's interpreter.

The listening metrics (ViSQOL, STOI, DNSMOS) are Python and numba code that holds the
interpreter lock for up to 90 ms at a time; computed on a thread of the studio, every such
stretch is a stall of the window and the audio callback. In a process of their own they
cost the studio nothing but the transfer of the signals.

One persistent child, started lazily by the first :meth:`ChildProcess.call`, runs one call at
a time: ``module:function`` by name, called as ``function(*args, **arrays, **kwargs)``. The
arrays (the signals) travel as raw bytes behind a small pickled header, and the child keeps
the last set it received under the caller's key, so consecutive calls on the same signals (six
metrics of one rendering) send them once. It is a fresh interpreter (``python -m`` this
module: no fork of a process with Qt's threads, no re-import of the studio), at nice +10 with
one thread for OpenMP, BLAS and numba, so on a two-core machine it takes at most one core and
gives that one up to the studio.

Stopping: :meth:`ChildProcess.cancel` kills the child when a call is in progress (its result
is no longer wanted and a ViSQOL call cannot be interrupted any other way); the call then
raises :class:`ChildCancelled` and the next call starts a new child. :meth:`ChildProcess.close`
ends the child and waits for it. A child that dies on its own (killed, crashed, or a missing
package at start-up) or a function that raises makes the call raise :class:`ChildFailed` with a
one-line message; the next call starts a fresh child.
"""
from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

CHILD_NICENESS = 10
CLOSE_WAIT_S = 0.5  # a child that has not ended by then is killed: it holds nothing worth a clean exit
_ONE_THREAD = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
_LENGTH = struct.Struct("<Q")
_PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
_live: set[subprocess.Popen] = set()  # every child started here and not yet waited for
_live_lock = threading.Lock()


class ChildFailed(RuntimeError):
    """The call failed in the child, or the child ended; the message is one line."""


class ChildCancelled(RuntimeError):
    """The call was abandoned: :meth:`ChildProcess.cancel` or :meth:`ChildProcess.close`."""


def live_children() -> list[int]:
    """The process ids of children started here that have not been waited for (tests check none is left)."""
    with _live_lock:
        return [proc.pid for proc in _live if proc.returncode is None]


def _write(stream: BinaryIO, header: object, arrays: Mapping[str, np.ndarray] | None = None) -> None:
    """``header`` (pickled, length-prefixed), then each array's bytes as they are in memory."""
    data = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    for array in (arrays or {}).values():
        stream.write(memoryview(array).cast("B"))
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) < size:
        raise EOFError("the other end closed the pipe")
    return data


def _read_header(stream: BinaryIO) -> object:
    (size,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    return pickle.loads(_read_exactly(stream, size))


def _read_array(stream: BinaryIO, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(shape, dtype)
    view, done = memoryview(array).cast("B"), 0
    while done < view.nbytes:
        got = stream.readinto(view[done:])
        if not got:
            raise EOFError("the other end closed the pipe")
        done += got
    return array


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class ChildProcess:
    """A lazily started helper process for one caller thread at a time; see the module notes."""

    def __init__(self, what: str) -> None:
        """``what`` names the child in messages ("the listening metrics process")."""
        self.what = what
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._held: Hashable | None = None  # the key of the arrays the child holds
        self._busy = False
        self._cancelled = False
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before the first call and after it ended)."""
        with self._lock:
            return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def call(self, function: str, key: Hashable, arrays: Callable[[], Mapping[str, np.ndarray]],
             *args: object, **kwargs: object) -> object:
        """``function(*args, **arrays(), **kwargs)`` in the child; blocks the calling thread until it returns.

        ``arrays()`` is called (and its arrays sent) only when the child does not hold the arrays of ``key``.
        """
        with self._lock:
            if self._closed:
                raise ChildCancelled(f"{self.what} is closed")
            proc = self._started()
            send = self._held != key
        # made before the child is busy: a failure here is the caller's, not the child's
        payload = {name: np.ascontiguousarray(a) for name, a in arrays().items()} if send else {}
        meta = {name: (a.dtype.str, a.shape) for name, a in payload.items()} if send else None
        with self._lock:
            self._busy, self._cancelled = True, False
        try:
            _write(proc.stdin, (function, args, kwargs, meta), payload)
            with self._lock:
                self._held = key if send else self._held
            status, value = _read_header(proc.stdout)
        except (OSError, EOFError, ValueError) as exc:
            with self._lock:
                cancelled = self._cancelled or self._closed
                self._forget(proc)
            if cancelled:
                raise ChildCancelled(f"{self.what}: call abandoned") from None
            raise ChildFailed(self._ended(proc, exc)) from None
        finally:
            with self._lock:
                self._busy = False
        if status != "ok":
            raise ChildFailed(f"{self.what}: {value}")
        return value

    def cancel(self) -> None:
        """Abandon the call in progress, if any, by killing the child (the next call starts another)."""
        with self._lock:
            if self._busy and self._proc is not None:
                self._cancelled = True
                self._proc.kill()

    def close(self) -> None:
        """End the child and wait for it; a call in progress raises :class:`ChildCancelled`. Final."""
        with self._lock:
            self._closed = True
            proc = self._proc
            if proc is None:
                return
            if self._busy:
                proc.kill()
            else:
                try:
                    proc.stdin.close()  # the child's loop ends at the end of its input
                except OSError:  # the child is already gone
                    pass
        try:
            proc.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
        with self._lock:
            self._forget(proc)

    def _started(self) -> subprocess.Popen:
        """The child, started now if it is not running (lock held)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._proc is not None:
            self._forget(self._proc)
        env = dict(os.environ, **dict.fromkeys(_ONE_THREAD, "1"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH", "")]))
        proc = subprocess.Popen([sys.executable, "-m", __name__, str(CHILD_NICENESS)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, cwd=str(_PROJECT_ROOT))
        with _live_lock:
            _live.add(proc)
        self._proc, self._held = proc, None
        return proc

    def _forget(self, proc: subprocess.Popen) -> None:
        """``proc`` is over: reap it, close its pipes (lock held)."""
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:  # a pipe whose other end is gone may fail to flush
                pass
        with _live_lock:
            _live.discard(proc)
        if self._proc is proc:
            self._proc, self._held = None, None

    def _ended(self, proc: subprocess.Popen, exc: BaseException) -> str:
        code = proc.returncode
        if code is None:
            how = f"stopped answering ({_one_line(exc)})"
        elif code < 0:
            how = f"was stopped by signal {signal.Signals(-code).name}" if -code in signal.valid_signals() \
                else f"was stopped by signal {-code}"
        else:
            how = f"ended with exit code {code}"
        return f"{self.what} {how}; it starts again with the next measurement"


def _resolve(function: str) -> Callable:
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)


def serve(niceness: int) -> None:
    """The child's loop: read a call, run it, answer, until the parent closes the pipe."""
    if hasattr(os, "nice"):
        os.nice(niceness)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a library's print must not corrupt the answers
    requests = sys.stdin.buffer
    held: dict[str, np.ndarray] = {}
    while True:
        try:
            function, args, kwargs, meta = _read_header(requests)
            if meta is not None:
                held = {}
                held = {name: _read_array(requests, dtype, shape) for name, (dtype, shape) in meta.items()}
        except EOFError:
            return
        try:
            answer = ("ok", _resolve(function)(*args, **held, **kwargs))
        except Exception as exc:  # noqa: BLE001 -- any failure goes back to the caller as one line
            answer = ("error", _one_line(exc))
        _write(answers, answer)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
