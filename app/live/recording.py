"""A live session's recording: the input and its codes, spooled to disk as they come.

A session can run for hours; held in memory its input would grow by about 10 MB a minute.
Instead the codec thread appends each block to two anonymous temporary files (the input as
float32, the codes as the smallest integer type that holds them), through large write
buffers, so the thread makes a system call every few seconds of audio and memory stays the
size of those buffers however long the session. Anonymous files vanish however the process
ends, and the files the user asked for are written only by :meth:`LiveRecording.save`, each
atomically (a temporary file renamed at the end): a session killed midway leaves no
half-written recording.

When the disk fills (or any write fails) the recording stops with :attr:`LiveRecording.error`
saying why, when, and that what came before is kept, and the monitor goes on: hearing the
codec does not depend on the recording. Nothing added before the failure is lost: the write
buffers are the recording's own (:class:`_Spool`), so what reached the disk and what is still
in memory are both known, and :meth:`LiveRecording.save` writes the input and the codes up to
the failure (the ``.rvq`` as long as its codes reach).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from model.audio_io import write_audio_blocks
from model.rvq_format import RvqMetadata, code_dtype, expected_frames, write_rvq

SPOOL_BUFFER_BYTES = 1 << 20  # a write to the disk every ~6 s of 44.1 kHz input
READ_BLOCK_FRAMES = 1 << 16  # saving copies the input in blocks of this many frames


class _Spool:
    """An anonymous file appended to through a fixed buffer of its own.

    A BufferedWriter whose flush fails keeps what it could not write out of reach (and tries
    again, and fails again, on close). Here a failed write leaves the unwritten bytes at the
    buffer's start and :attr:`on_disk` counts the bytes the file holds, so every byte appended
    before the failure can still be read back."""

    def __init__(self, directory: str | None, buffer_bytes: int) -> None:
        self._file = tempfile.TemporaryFile(dir=directory, buffering=0)
        self._buffer = bytearray(buffer_bytes)  # allocated once: memory stays flat
        self._filled = 0
        self.on_disk = 0

    def append(self, data: bytes) -> None:
        """Append ``data``; OSError when the disk refuses it (what fitted in before stays)."""
        if self._filled + len(data) > len(self._buffer):
            self.flush()
        if len(data) > len(self._buffer):
            self._write(memoryview(data))
            return
        self._buffer[self._filled:self._filled + len(data)] = data
        self._filled += len(data)

    def flush(self) -> None:
        before = self.on_disk
        try:
            self._write(memoryview(self._buffer)[:self._filled])
        finally:  # what did not get to the disk moves to the buffer's start
            written = self.on_disk - before
            self._buffer[:self._filled - written] = self._buffer[written:self._filled]
            self._filled -= written

    def _write(self, data: memoryview) -> None:
        """Write ``data`` to the file, counting every byte that got there (a write may be short)."""
        while data:
            written = self._file.write(data)
            self.on_disk += written
            data = data[written:]

    def read(self, size: int, block_bytes: int) -> Iterator[bytes]:
        """The first ``size`` bytes appended, in blocks of ``block_bytes`` (the last may be shorter)."""
        for at in range(0, size, block_bytes):
            yield self._read_at(at, min(block_bytes, size - at))

    def _read_at(self, at: int, length: int) -> bytes:
        """``length`` bytes from offset ``at``: from the file as far as it holds them, then from the buffer."""
        from_disk = os.pread(self._file.fileno(), min(length, self.on_disk - at), at) if at < self.on_disk else b""
        start = at + len(from_disk) - self.on_disk
        return from_disk + bytes(self._buffer[start:start + length - len(from_disk)])

    def close(self) -> None:
        self._file.close()


class LiveRecording:
    """Append ``(input block, its codes)`` while live, :meth:`save` once the input stopped."""

    def __init__(self, sample_rate: int, n_codebooks: int, codebook_size: int, directory: str | None = None) -> None:
        self.sample_rate, self.n_codebooks = sample_rate, n_codebooks
        self.code_dtype = code_dtype(codebook_size)
        self.frames = 0  # input samples recorded
        self.code_frames = 0
        self.error = ""  # why the recording stopped early ("" while it goes on)
        self._audio = _Spool(directory, SPOOL_BUFFER_BYTES)
        self._codes = _Spool(directory, SPOOL_BUFFER_BYTES)

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def add(self, mono: np.ndarray, codes: np.ndarray) -> None:
        """Append the input ``mono [m]`` and the codes ``[N, f]`` made so far from it (either may be empty)."""
        if self.error:
            return
        try:
            self._audio.append(np.ascontiguousarray(mono, dtype=np.float32).tobytes())
            self._codes.append(np.ascontiguousarray(codes.T, dtype=self.code_dtype).tobytes())
        except OSError as exc:  # this block is not recorded (the counts stay); everything before is
            self.error = (f"the recording stopped early, at {self.seconds:.1f} s: {exc.strerror or exc}; "
                          f"the {self.seconds:.1f} s before it are kept")
            return
        self.frames += mono.shape[0]
        self.code_frames += codes.shape[-1]

    def close(self) -> None:
        """Release the spool (idempotent); the recording can no longer be saved."""
        for spool in (self._audio, self._codes):
            spool.close()

    def save(self, wav_path: str | Path, rvq_path: str | Path, meta: RvqMetadata) -> None:
        """The input as a float WAV and its codes (``meta`` describes the codec) as ``.rvq``.

        After a failure the recording stopped with fewer codes than its input had made (the
        streaming encoder's lookahead was never flushed): the ``.rvq`` then says the length its
        codes reach, and the WAV keeps all of the input."""
        if not self.frames:
            raise ValueError(f"nothing was recorded{': ' + self.error if self.error else ''}")
        write_audio_blocks(wav_path, self._input_blocks(), self.sample_rate, "FLOAT")
        frames = self.code_frames
        if self.error:
            meta = replace(meta, length=min(meta.length, frames * meta.hop_length))
            frames = min(frames, expected_frames(meta.length, meta.original_sample_rate, meta.sample_rate,
                                                 meta.hop_length))
        row = self.n_codebooks * self.code_dtype.itemsize
        data = b"".join(self._codes.read(frames * row, max(frames * row, 1)))
        codes = np.frombuffer(data, dtype=self.code_dtype).reshape(-1, self.n_codebooks).T
        write_rvq(rvq_path, codes[None].astype(np.int64), meta)

    def _input_blocks(self) -> Iterator[np.ndarray]:
        for data in self._audio.read(self.frames * 4, READ_BLOCK_FRAMES * 4):
            yield np.frombuffer(data, dtype=np.float32)[None]
