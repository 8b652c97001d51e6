"""Where the Compare tab keeps its renderings: files in a temporary folder, mapped for reading.

Eight contestants of a 10-minute stereo clip at 48 kHz are 1.7 GB of float32: held as arrays
they grew the studio with every contestant and every minute. A :class:`RenderingFolder` writes
each rendering to its own ``.npy`` file (frames first, ``[frames, channels]``, so a player's read
of consecutive frames is one contiguous run of the file), block by block as it is made
(:meth:`RenderingFolder.keep_blocks`: the header last, once the length is known), as
``NAME.part`` renamed into place once complete, and hands back a read-only array mapped onto
that file. A rendering whose delay is known only once it is all made is written between zero
margins, and the array handed back starts where the delay is undone; :meth:`RenderingFolder.blocks`
reads a kept file back in blocks without mapping it (the clip, read for every rendering). What a mapping
holds in memory are pages of the file the kernel may drop and read again: the process's own
(anonymous) memory no longer grows with the contestants.

The player reads those arrays from its audio callback, which must not wait on a disk.
:meth:`RenderingFolder.prefetch` asks the kernel to read a range ahead (``MADV_WILLNEED``: it
returns at once, the reading happens in the background); the Compare tab calls it on its frame
timer for every contestant around the play position, so a switch finds its pages in memory, and
:meth:`RenderingFolder.release` unmaps what lies away from it (``MADV_DONTNEED``), so playing a
long clip through does not leave it all mapped in the process.

One folder per clip: a new clip or closing the tab deletes it (:meth:`close`). A rendering that
cannot be written (the disk is full, the folder is not writable) raises
:class:`RenderingNotKept` with one line saying where and why.
"""
from __future__ import annotations

import errno
import io
import mmap
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.compare.blocks import BLOCK_FRAMES, array_blocks

_HEADER_BYTES = 128  # room kept for a rendering's .npy header (written last, once its length is known)
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


class RenderingNotKept(RuntimeError):
    """A rendering that could not be written to the folder (a full disk, no permission)."""


class RenderingCancelled(RenderingNotKept):
    """A rendering stopped while it was written: its clip was closed or it is no longer wanted."""


@dataclass(frozen=True)
class _Mapped:
    mapping: mmap.mmap
    path: Path
    offset: int  # bytes before the first frame (the .npy header)
    frame_bytes: int  # bytes per frame (all channels)


def _mapping_of(array: np.ndarray) -> mmap.mmap | None:
    """The file mapping an array (or a view of one) reads, if any."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return base if isinstance(base, mmap.mmap) else None


class RenderingFolder:
    """One clip's renderings as files in a temporary folder (under ``parent``, else the system's)."""

    def __init__(self, parent: str | Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="rvq-compare-", dir=parent))
        self._lock = threading.Lock()  # keep() renames on the worker thread, close() removes on the GUI's
        self._closed = False
        self._count = 0
        self._maps: dict[int, _Mapped] = {}  # id of a kept rendering's mapping -> where it reads

    def keep(self, samples: np.ndarray) -> np.ndarray:
        """``samples`` ``[channels, frames]`` written to a file; the same samples read from it, as a
        ``[channels, frames]`` view of the mapped ``[frames, channels]`` file."""
        return self.keep_blocks(array_blocks(samples), samples.shape[0])

    def keep_blocks(self, blocks: Iterable[np.ndarray], channels: int, margin: int = 0,
                    shift: Callable[[], int] = lambda: 0, cancelled: Callable[[], bool] = lambda: False) -> np.ndarray:
        """A rendering given as consecutive ``[channels, k]`` blocks, written to a file as they come
        (memory: a block); read back as a ``[channels, frames]`` view of the mapped file.

        ``margin`` zero frames are written before and after the blocks, and the view starts
        ``shift()`` frames (asked once the blocks are all written, ``|shift()| <= margin``) after the
        first block's first frame: the rendering moved back by a delay known only at its end, with
        zeros where it has no samples, and nothing copied. ``cancelled()`` is asked before each block:
        True stops the writing (:class:`RenderingCancelled`), and no file is left.

        The mapping is copy-on-write, as arrays in memory were: nothing writes a rendering, but
        torch warns about every read-only array it is given (the players' sources make their own
        views read-only), and a write would never reach the file."""
        with self._lock:
            self._count += 1
            target = self.path / f"rendering{self._count}.npy"
        part = target.with_suffix(".part")
        try:
            frames = _write_frames_first(part, blocks, channels, margin, lambda: cancelled() or self._closed)
            offset = shift()
            if abs(offset) > margin:
                raise ValueError(f"a shift of {offset} frames reaches beyond the margin of {margin}")
            with self._lock:
                if self._closed:  # the clip was closed while this was written
                    part.unlink(missing_ok=True)
                    raise RenderingCancelled("the comparison was closed")
                os.replace(part, target)
            return self._mapped(target, margin + offset, frames).T
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise _not_kept(exc, self.path) from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    def _mapped(self, path: Path, first: int, frames: int) -> np.ndarray:
        """Frames ``first .. first + frames`` of the file, mapped."""
        with open(path, "rb") as stream:
            np.lib.format.read_magic(stream)
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            header = stream.tell()
            mapping = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_COPY)  # see keep_blocks()
        if fortran or dtype != np.float32 or len(shape) != 2 or first + frames > shape[0]:
            raise RenderingNotKept(f"{path.name}: not a rendering this folder wrote")
        offset = header + first * dtype.itemsize * shape[1]
        with self._lock:
            self._maps[id(mapping)] = _Mapped(mapping, path, offset, dtype.itemsize * shape[1])
        return np.ndarray((frames, shape[1]), dtype, buffer=mapping, offset=offset)

    def blocks(self, samples: np.ndarray, size: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """A kept rendering (any ``[channels, frames]`` view of it) as consecutive ``[channels, k]``
        blocks read from its file, not through its mapping: reading a whole clip to render from it
        leaves none of its pages mapped in the process."""
        with self._lock:
            record = self._maps.get(id(_mapping_of(samples)))
        if record is None:  # (the folder was closed)
            raise RenderingCancelled("the comparison was closed")
        channels, frames = record.frame_bytes // 4, samples.shape[1]
        with open(record.path, "rb") as stream:
            for start in range(0, frames, size):
                stream.seek(record.offset + start * record.frame_bytes)
                data = np.fromfile(stream, np.float32, min(size, frames - start) * channels)
                yield np.ascontiguousarray(data.reshape(-1, channels).T)

    def prefetch(self, samples: np.ndarray, start: int, frames: int) -> None:
        """Ask the kernel to read frames ``start .. start + frames`` of a kept rendering (any view of
        it) now, in the background -- this returns at once -- so the audio callback finds them in memory."""
        self._advise(samples, getattr(mmap, "MADV_WILLNEED", None), start, start + frames)

    def release(self, samples: np.ndarray, start: int, frames: int) -> None:
        """Unmap from this process the pages of a kept rendering outside frames ``start .. start +
        frames``: what was played stops counting as the process's memory. The kernel's page cache
        keeps them while it has room; a read maps them again (from the file if they were dropped).
        Nothing writes a rendering, so no write is lost."""
        advice = getattr(mmap, "MADV_DONTNEED", None)
        if start > 0:
            self._advise(samples, advice, 0, start)
        self._advise(samples, advice, max(0, start + frames), None)

    def _advise(self, samples: np.ndarray, advice: int | None, start: int, stop: int | None) -> None:
        """``madvise`` the pages of frames ``start .. stop`` (None: to the end)."""
        record = self._maps.get(id(_mapping_of(samples)))
        if record is None or advice is None:
            return
        size = record.mapping.size()
        first = record.offset + max(0, start) * record.frame_bytes
        last = size if stop is None else min(size, record.offset + max(0, stop) * record.frame_bytes)
        first -= first % mmap.PAGESIZE  # (a page shared with the kept range may go too: it is mapped again)
        if last > first:
            record.mapping.madvise(advice, first, last - first)

    def remove(self, samples: np.ndarray) -> None:
        """Delete the file behind a kept rendering (any view of it) nobody plays any more; the
        mapping stays readable for whoever still holds it, the space returns when the last lets go."""
        with self._lock:
            record = self._maps.pop(id(_mapping_of(samples)), None)
        if record is not None:
            record.path.unlink(missing_ok=True)

    @property
    def files(self) -> list[Path]:
        """The renderings on disk now (finished or being written)."""
        return sorted(self.path.iterdir()) if self.path.is_dir() else []

    def close(self) -> None:
        """Delete the folder and everything in it (mapped arrays stay readable until released)."""
        with self._lock:
            self._closed = True
            self._maps.clear()
            shutil.rmtree(self.path, ignore_errors=True)


def _write_frames_first(path: Path, blocks: Iterable[np.ndarray], channels: int, margin: int,
                        cancelled: Callable[[], bool]) -> int:
    """``blocks`` ``[channels, k]`` as a float32 ``.npy`` of shape ``[frames, channels]``, ``margin``
    zero frames before and after them; returns the blocks' frames. The header, whose shape is
    known only at the end, is written last into the room kept for it."""
    header = _HEADER_BYTES
    frames = 0
    zeros = bytes(margin * channels * 4)
    with open(path, "wb") as stream:
        stream.seek(header)
        stream.write(zeros)
        for block in blocks:
            if cancelled():
                raise RenderingCancelled("the rendering was cancelled")
            frames += block.shape[1]
            stream.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())
        stream.write(zeros)
        stream.seek(0)
        stream.write(_header(frames + 2 * margin, channels))
    return frames


def _header(frames: int, channels: int) -> bytes:
    """The ``.npy`` header of a float32 ``[frames, channels]`` array, padded to :data:`_HEADER_BYTES`."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                               "fortran_order": False, "shape": (frames, channels)})
    if len(out.getvalue()) != _HEADER_BYTES:  # numpy pads to 64 bytes: any 2-D float32 shape makes 128
        raise OSError(errno.EINVAL, f"a .npy header of {len(out.getvalue())} bytes, not {_HEADER_BYTES}")
    return out.getvalue()


def _not_kept(exc: OSError, folder: Path) -> RenderingNotKept:
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL_DISK:
        return RenderingNotKept(f"no room for the rendering in {folder} ({reason}): free some space there "
                                "or set TMPDIR to a folder on a larger disk")
    return RenderingNotKept(f"the rendering could not be written in {folder} ({reason})")
