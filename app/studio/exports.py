"""Writing the open clip out: its reconstruction (WAV/FLAC), its codes at n (``.rvq``), the quality table (CSV).

The reconstruction and the codes need the model and every code of the clip, so they are
written on the inference worker, as jobs the user asked for by name. Before the clip's encode
is complete its codes are partly zeros: an export asked for then waits in :class:`Exports`
(said at once) until the encode has finished; if the clip gives way first -- Cancel, another
file or model, a failed encode -- the export is reported as cancelled. A queued export that a
newer request drops is reported cancelled by the worker. Nothing is ever lost silently.

The quality table is written at once, from the rows the studio has measured so far.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.studio.clip import StudioClip
from app.studio.inference_worker import InferenceWorker, ModelInfo
from model.atomic_file import atomic_path
from model.audio_io import resample, write_audio
from model.evaluation import RateRow
from model.rvq_format import RvqMetadata, write_rvq

OpusPoint = tuple[float, RateRow] | None  # (measured kbps, row) at a count; None: below Opus's range


class Exports:
    """The exports of one studio: written on ``worker`` once their clip is encoded.

    ``tell(level, text)`` says that an export waits or was cancelled; ``exported(path)`` says
    that a file was written (called on the worker's thread: connect it through a Qt signal).
    """

    def __init__(self, worker: InferenceWorker, tell: Callable[[str, str], None],
                 exported: Callable[[str], None]) -> None:
        self._worker = worker
        self._tell = tell
        self._exported = exported
        self._waiting: list[tuple[StudioClip, str, Callable[[], None]]] = []  # (clip, name, job): until encoded

    def reconstruction(self, clip: StudioClip, n: int, sample_rate: int, path: Path) -> None:
        """Write the reconstruction at ``n`` (rendered at ``sample_rate``) at the file's own rate and length."""
        worker = self._worker

        def job() -> None:
            samples = worker.full_rendering(clip, n).T
            out = resample(samples, sample_rate, clip.original_rate)[:, : clip.original_length]
            if out.shape[1] < clip.original_length:
                out = np.pad(out, ((0, 0), (0, clip.original_length - out.shape[1])))
            write_audio(path, out, clip.original_rate)
            self._exported(str(path))

        self._when_encoded(clip, path, job)

    def rvq(self, clip: StudioClip, n: int, info: ModelInfo, path: Path) -> None:
        """Write the clip's codes at ``n`` as a ``.rvq`` file (no re-encoding)."""
        worker = self._worker

        def job() -> None:
            codec = worker.codec
            meta = RvqMetadata(codec_name=codec.name, codec_id=codec.digest(), sample_rate=info.sample_rate,
                               original_sample_rate=clip.original_rate, length=clip.original_length,
                               hop_length=info.hop_length, codebook_size=info.codebook_size,
                               loudness_lufs=clip.loudness_lufs, codebook_strides=tuple(codec.codebook_strides[:n]))
            write_rvq(path, clip.codes[:, :n], meta, side=clip.side)
            self._exported(str(path))

        self._when_encoded(clip, path, job)

    def settle(self, current: StudioClip | None) -> None:
        """The studio's clip is now ``current``: start the exports whose clip is encoded, cancel
        those whose clip gave way, keep the others waiting."""
        waiting, self._waiting = self._waiting, []
        for clip, name, job in waiting:
            if clip is not current:
                self._tell("warning", f"{name} was cancelled: its clip was closed before it was encoded.")
            elif clip.encoding.complete:
                self._worker.run_control(job, name=name)
            else:
                self._waiting.append((clip, name, job))

    def _when_encoded(self, clip: StudioClip, path: Path, job: Callable[[], None]) -> None:
        """Run ``job`` on the worker once ``clip`` is encoded: before that its codes are partly zeros."""
        name = f"Export to {path.name}"
        if clip.encoding.complete:
            self._worker.run_control(job, name=name)
            return
        self._waiting.append((clip, name, job))
        self._tell("info", f"{path.name} will be written when the clip is encoded.")


def metrics_csv(quality: dict[int, RateRow], opus: dict[int, OpusPoint]) -> str:
    """The quality table: a row per measured count, with Opus at the same bitrate where it was measured."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["n_codebooks", "kbps", "mel_distance", "stft_distance", "si_sdr_db",
                     "opus_kbps", "opus_mel_distance", "opus_stft_distance", "opus_si_sdr_db"])
    for n in sorted(quality):
        r = quality[n]
        point = opus.get(n)
        tail = [f"{point[0]:.3f}", f"{point[1].mel_distance:.4f}", f"{point[1].stft_distance:.4f}",
                f"{point[1].si_sdr:.3f}"] if point else ["", "", "", ""]
        writer.writerow([n, f"{r.kbps:.4f}", f"{r.mel_distance:.4f}", f"{r.stft_distance:.4f}",
                         f"{r.si_sdr:.3f}", *tail])
    return out.getvalue()


def write_metrics_csv(path: str | Path, quality: dict[int, RateRow], opus: dict[int, OpusPoint]) -> None:
    """Write :func:`metrics_csv` to ``path`` atomically (a crash never leaves half a table)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(metrics_csv(quality, opus))
