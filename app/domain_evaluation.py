"""Rate-distortion of a codec on each domain of a validation folder, next to Opus at the same bitrates.

The trainer validates on a few dozen short excerpts of all domains mixed: enough to pick the best
checkpoint, not enough to say how a model does on speech as against music. A model card needs
the domains apart, so each top-level folder of the validation split (``speech/``, ``music/``,
``general/``) gets a fixed set of its own.

Excerpts are drawn exactly as the trainer draws its validation set
(:func:`model.training.batches.fixed_set`: inside a domain its sub-folders -- the source
packages -- take turns, files are picked in proportion to their length, a random channel, -16
LUFS, silent draws replaced), with the trainer's validation seed: the same audio on every
machine and every run, and a count divisible by the package count of each domain (30: 10 speech,
6 music, 5 general packages) gives each package the same number of excerpts. Clips shorter than
an excerpt are zero-padded, as in the trainer's validation.

Codec rows come from :func:`model.evaluation.evaluate`, Opus rows from
:func:`app.quality.rate_row` -- the same metric functions as ``rvq-studio eval`` and the studio.
Opus encodes one stream per bitrate: the domain's excerpts end to end, cut back apart after
decoding. Files of a few seconds each would each pay Ogg and Opus headers and the encoder's
start-up, a visible share at 6 kbit/s; the codec, which has no such overhead, would be
flattered. Opus cannot go below 6 kbit/s, so the lowest codebook counts have no Opus row.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from app.quality import opus_round_trip, rate_row
from model.codec import Codec
from model.evaluation import Evaluation, RateRow, evaluate
from model.training.batches import fixed_set
from model.training.corpus import scan_folder
from model.training.excerpts import ExcerptSpec
from model.training.validation import VALIDATION_SEED

DOMAINS = ("speech", "music", "general")
EXCERPTS_PER_DOMAIN = 30
EXCERPT_SECONDS = 3.0


class DomainEvaluationError(ValueError):
    """A validation folder that cannot give the documented excerpt set."""


@dataclass(frozen=True)
class OpusRow:
    measured_kbps: float  # from the file size, Ogg overhead included
    row: RateRow  # row.kbps is the codec bitrate Opus was asked for


@dataclass
class DomainResult:
    domain: str
    seconds: float  # each excerpt
    evaluation: Evaluation
    codes: torch.Tensor  # [excerpts, codebooks, frames], for code statistics across domains
    opus: dict[int, OpusRow]  # by the codebook count of the codec row at the same bitrate

    @property
    def excerpts(self) -> int:
        return int(self.codes.shape[0])


def domain_excerpts(validation_root: str | Path, domain: str, sample_rate: int,
                    count: int = EXCERPTS_PER_DOMAIN, seconds: float = EXCERPT_SECONDS) -> torch.Tensor:
    """The fixed excerpt set ``[count, 1, T]`` of ``validation_root/domain``."""
    folder = Path(validation_root) / domain
    if not folder.is_dir():
        raise DomainEvaluationError(f"{folder}: no such validation folder")
    corpus = scan_folder(folder, "validation")
    audio, failures = fixed_set(corpus, ExcerptSpec(sample_rate, seconds), count, VALIDATION_SEED)
    if failures:
        path, reason = failures[0]
        raise DomainEvaluationError(f"{folder}: {len(failures)} unreadable files (e.g. {path}: {reason})")
    return audio


def opus_rows(reference: torch.Tensor, sample_rate: int, rows: list[RateRow]) -> dict[int, OpusRow]:
    """Opus at each row's bitrate on ``reference [N, 1, T]`` (one stream, see the module notes)."""
    items, _, length = reference.shape
    stream = reference.numpy().reshape(1, 1, items * length)
    out = {}
    for row in rows:
        point = opus_round_trip(stream, sample_rate, row.kbps)
        if point is None:
            continue
        decoded = point.decoded.reshape(items, 1, length)
        out[row.n_codebooks] = OpusRow(point.measured_kbps,
                                       rate_row(reference.numpy(), decoded, sample_rate, row.n_codebooks, row.kbps))
    return out


def evaluate_domain(codec: Codec, domain: str, audio: torch.Tensor,
                    progress: Callable[[int, int], None] | None = None) -> DomainResult:
    """Codec rows for every codebook count and Opus rows beside them, on ``audio [N, 1, T]``."""
    codes = codec.encode(audio)
    evaluation = evaluate(codec, audio, codes, progress=progress)
    opus = opus_rows(audio, codec.sample_rate, evaluation.rows)
    return DomainResult(domain, audio.shape[-1] / codec.sample_rate, evaluation, codes, opus)
