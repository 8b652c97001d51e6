"""Atomic file writes: a temporary file in the destination folder, renamed into place.

Whatever happens during a write (an exception, a full disk, a killed process), the
destination either keeps its previous content or holds the complete new one; a partial
temporary file is removed when Python gets the chance, and is never mistaken for output.

A killed process (SIGKILL, power loss) gets no chance: its ``.NAME.XXXXXXXX.part`` file
stays. The next write into the same folder removes such leftovers. A writer holds an
exclusive ``flock`` on its temporary file for the write's whole life, so only files nobody
holds (and untouched for a minute, which covers the instant between creating a file and
locking it) are removed; where ``flock`` does not exist, nothing is.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: leftovers are not cleaned
    fcntl = None

_TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.part$")  # what mkstemp makes with our prefix/suffix
_STALE_SECONDS = 60.0


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path; on normal exit it is fsynced and renamed to ``path``.

    An ``OSError`` on the way (permission denied, no space left on device) is raised again
    naming ``path``: the temporary file is an implementation detail the user never chose.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    remove_stale_temporary_files(folder)
    temp = handle = None
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
        if fcntl is None:
            os.close(handle)  # nothing to lock with; an open handle would block the rename on Windows
            handle = None
        else:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield temp
        with open(temp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(temp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(temp, target)
    except BaseException as error:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, error.strerror, str(target)) from None  # the errno's subclass
        raise
    finally:
        if handle is not None:
            os.close(handle)  # releases the lock


def remove_stale_temporary_files(folder: str | os.PathLike) -> list[str]:
    """Remove the temporary files killed writers left in ``folder``; returns their names."""
    if fcntl is None:
        return []
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if _TEMPORARY_NAME.match(e.name) and e.is_file(follow_symlinks=False)]
    except OSError:
        return removed
    for entry in entries:
        try:
            if time.time() - entry.stat(follow_symlinks=False).st_mtime < _STALE_SECONDS:
                continue
            with open(entry.path, "rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while a writer holds it
                os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            continue
    return removed


def write_bytes_atomic(path: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    with atomic_path(path) as temp, open(temp, "wb") as stream:
        for chunk in chunks:
            stream.write(chunk)
