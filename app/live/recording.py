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
saying why and when, its spool is released, and the monitor goes on: hearing the codec does
not depend on the recording.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model.audio_io import write_audio_blocks
from model.rvq_format import RvqMetadata, code_dtype, write_rvq

SPOOL_BUFFER_BYTES = 1 << 20  # a write to the disk every ~6 s of 44.1 kHz input
READ_BLOCK_FRAMES = 1 << 16  # saving copies the input in blocks of this many frames


class LiveRecording:
    """Append ``(input block, its codes)`` while live, :meth:`save` once the input stopped."""

    def __init__(self, sample_rate: int, n_codebooks: int, codebook_size: int, directory: str | None = None) -> None:
        self.sample_rate, self.n_codebooks = sample_rate, n_codebooks
        self.code_dtype = code_dtype(codebook_size)
        self.frames = 0  # input samples recorded
        self.code_frames = 0
        self.error = ""  # why the recording stopped early ("" while it goes on)
        self._audio = tempfile.TemporaryFile(dir=directory, buffering=SPOOL_BUFFER_BYTES)
        self._codes = tempfile.TemporaryFile(dir=directory, buffering=SPOOL_BUFFER_BYTES)

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def add(self, mono: np.ndarray, codes: np.ndarray) -> None:
        """Append the input ``mono [m]`` and the codes ``[N, f]`` made so far from it (either may be empty)."""
        if self.error:
            return
        try:
            self._audio.write(np.ascontiguousarray(mono, dtype=np.float32).tobytes())
            self._codes.write(np.ascontiguousarray(codes.T, dtype=self.code_dtype).tobytes())
        except OSError as exc:
            self._fail(exc)
            return
        self.frames += mono.shape[0]
        self.code_frames += codes.shape[-1]

    def _fail(self, exc: OSError) -> None:
        self.error = f"the recording stopped at {self.seconds:.1f} s: {exc.strerror or exc}"
        self.close()

    def close(self) -> None:
        """Release the spool (idempotent); the recording can no longer be saved."""
        for spool in (self._audio, self._codes):
            try:
                spool.close()
            except OSError:  # the buffer it could not flush is dropped with the file
                pass

    def save(self, wav_path: str | Path, rvq_path: str | Path, meta: RvqMetadata) -> None:
        """The input as a float WAV and its codes (``meta`` describes the codec) as ``.rvq``."""
        if self.error:
            raise ValueError(f"nothing to save: {self.error}")
        if not self.frames:
            raise ValueError("nothing was recorded")
        self._audio.flush()
        self._codes.flush()
        write_audio_blocks(wav_path, self._input_blocks(), self.sample_rate, "FLOAT")
        self._codes.seek(0)
        codes = np.frombuffer(self._codes.read(), dtype=self.code_dtype).reshape(-1, self.n_codebooks).T
        write_rvq(rvq_path, codes[None].astype(np.int64), meta)

    def _input_blocks(self) -> Iterator[np.ndarray]:
        self._audio.seek(0)
        while data := self._audio.read(READ_BLOCK_FRAMES * 4):
            yield np.frombuffer(data, dtype=np.float32)[None]
