"""Atomic file writes: a temporary file in the destination folder, renamed into place.

Whatever happens during a write (an exception, a full disk, a killed process), the
destination either keeps its previous content or holds the complete new one; a partial
temporary file is removed when Python gets the chance, and is never mistaken for output.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
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
    temp = None
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
        os.close(handle)
        yield temp
        with open(temp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(temp, target)
    except BaseException as error:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, error.strerror, str(target)) from None  # the errno's subclass
        raise


def write_bytes_atomic(path: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    with atomic_path(path) as temp, open(temp, "wb") as stream:
        for chunk in chunks:
            stream.write(chunk)
