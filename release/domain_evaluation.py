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
6 music, 5 general packages) gives each package the same number of excerpts.

Only real audio is scored. Clips shorter than an excerpt come back zero-padded at the end (the
trainer's validation batches them so), and in the short-clip packages that padding is a large
share: a fifth of the speech frames. Scoring it would measure the harness, not the codec, and
unevenly so: Opus is VBR and spends almost nothing on digital silence, so on a stream that is
one-fifth padding its nominal bitrate buys it more bits per second of speech, while the codec
spends the same bits on every frame; and codes spent on silence pile onto a few entries and
lower the usage entropy. So each excerpt is cut back to its last non-zero sample (padding and
any digital silence a file ends with alike: neither is audio anyone listens to), coded at that
length on its own, and the metrics are averaged over excerpts weighted by their duration; Opus
gets the cut excerpts end to end; entropy counts the codes of the cut excerpts. The padded
measure is kept beside it (:func:`evaluate_domain_padded`) so the card can show what the cut
changes.

Codec rows come from :func:`model.evaluation.evaluate`, Opus rows from
:func:`app.studio.quality.rate_row` -- the same metric functions as ``rvq-studio eval`` and the studio.
Opus encodes one stream per bitrate: the domain's excerpts end to end, cut back apart after
decoding. Files of a few seconds each would each pay Ogg and Opus headers and the encoder's
start-up, a visible share at 6 kbit/s; the codec, which has no such overhead, would be
flattered. Opus cannot go below 6 kbit/s, so the lowest codebook counts have no Opus row.

With ``listening=True`` each codec and Opus rendering also gets the listening metrics of
:data:`CARD_LISTENING` (:func:`model.listening_metrics.measure`, as ``rvq-studio eval --metrics``
and the studio), per excerpt, averaged weighted by duration over the excerpts where the metric is
defined (ViSQOL needs 1 s of audio, STOI 0.41 s: shorter cut excerpts do not count for them).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from app.studio.quality import opus_round_trip, rate_row
from model.codec import Codec
from model.evaluation import Evaluation, RateRow, evaluate
from model.listening_metrics import METRICS, measure
from model.metrics import bitrate_efficiency, codebook_entropy
from model.training.batches import fixed_set
from model.training.corpus import scan_folder
from model.training.excerpts import ExcerptSpec
from model.training.validation import VALIDATION_SEED

DOMAINS = ("speech", "music", "general")
EXCERPTS_PER_DOMAIN = 30
EXCERPT_SECONDS = 3.0
CARD_LISTENING = ("visqol", "visqol_speech", "stoi", "estoi", "dnsmos")
Listening = dict[str, float | None]  # metric key -> duration-weighted mean (None: defined on no excerpt)


class DomainEvaluationError(ValueError):
    """A validation folder that cannot give the documented excerpt set."""


@dataclass(frozen=True)
class OpusRow:
    measured_kbps: float  # from the file size, Ogg overhead included
    row: RateRow  # row.kbps is the codec bitrate Opus was asked for
    listening: Listening = field(default_factory=dict)


@dataclass(frozen=True)
class DomainExcerpts:
    """A domain's fixed excerpt set: ``audio [N, 1, T]`` (zero-padded) and each excerpt's real length."""

    audio: torch.Tensor
    lengths: list[int]  # samples up to and including the last non-zero one

    @property
    def clips(self) -> list[torch.Tensor]:
        """Each excerpt ``[1, 1, length]``, without its trailing digital silence."""
        return [self.audio[i:i + 1, :, :n] for i, n in enumerate(self.lengths)]

    @property
    def padded_share(self) -> float:
        """The share of samples in ``audio`` that are trailing digital silence."""
        return 1.0 - sum(self.lengths) / self.audio.numel()


@dataclass
class DomainResult:
    domain: str
    seconds: float  # of audio scored, all excerpts together
    evaluation: Evaluation
    codes: torch.Tensor  # [1, codebooks, frames]: every excerpt's codes end to end, for code statistics
    opus: dict[int, OpusRow]  # by the codebook count of the codec row at the same bitrate
    excerpts: int
    listening: dict[int, Listening] = field(default_factory=dict)  # by codebook count (listening=True)


def real_length(excerpt: torch.Tensor) -> int:
    """Samples of ``excerpt [..., T]`` up to its last non-zero one (at least one)."""
    nonzero = torch.nonzero(excerpt.reshape(-1, excerpt.shape[-1]).abs().amax(dim=0))
    return int(nonzero[-1]) + 1 if nonzero.numel() else 1


def domain_excerpts(validation_root: str | Path, domain: str, sample_rate: int,
                    count: int = EXCERPTS_PER_DOMAIN, seconds: float = EXCERPT_SECONDS) -> DomainExcerpts:
    """The fixed excerpt set of ``validation_root/domain``."""
    folder = Path(validation_root) / domain
    if not folder.is_dir():
        raise DomainEvaluationError(f"{folder}: no such validation folder")
    corpus = scan_folder(folder, "validation")
    audio, failures = fixed_set(corpus, ExcerptSpec(sample_rate, seconds), count, VALIDATION_SEED)
    if failures:
        path, reason = failures[0]
        raise DomainEvaluationError(f"{folder}: {len(failures)} unreadable files (e.g. {path}: {reason})")
    return DomainExcerpts(audio, [real_length(x) for x in audio])


def weighted_row(rows: list[RateRow], weights: list[float]) -> RateRow:
    """The rows' metrics averaged with ``weights`` (their excerpts' durations)."""
    total = sum(weights)

    def mean(name: str) -> float:
        return sum(getattr(r, name) * w for r, w in zip(rows, weights)) / total
    return RateRow(rows[0].n_codebooks, rows[0].kbps, mean("mel_distance"), mean("stft_distance"), mean("si_sdr"))


def weighted_listening(pairs: list[tuple[np.ndarray, np.ndarray]], sample_rate: int) -> Listening:
    """Each :data:`CARD_LISTENING` key averaged over ``(reference, rendering)`` pairs weighted by
    length, over the pairs where it is defined."""
    sums: dict[str, list[float]] = {}
    for reference, rendering in pairs:
        for name in CARD_LISTENING:
            for key, value in measure(name, reference, rendering, sample_rate).values.items():
                if value is not None:
                    acc = sums.setdefault(key, [0.0, 0.0])
                    acc[0] += value * reference.shape[-1]
                    acc[1] += reference.shape[-1]
    keys = [key for name in CARD_LISTENING for key in METRICS[name].keys]
    return {key: sums[key][0] / sums[key][1] if key in sums else None for key in keys}


def opus_rows(clips: list[np.ndarray], sample_rate: int, rows: list[RateRow],
              listening: bool = False) -> dict[int, OpusRow]:
    """Opus at each row's bitrate on ``clips`` (each ``[1, 1, T_i]``; one stream, see the module notes)."""
    lengths = [c.shape[-1] for c in clips]
    stream = np.concatenate(clips, axis=-1)
    cuts = np.cumsum(lengths)[:-1]
    out = {}
    for row in rows:
        point = opus_round_trip(stream, sample_rate, row.kbps)
        if point is None:
            continue
        decoded = np.split(point.decoded, cuts, axis=-1)
        per_clip = [rate_row(ref, est, sample_rate, row.n_codebooks, row.kbps) for ref, est in zip(clips, decoded)]
        heard = weighted_listening(list(zip(clips, decoded)), sample_rate) if listening else {}
        out[row.n_codebooks] = OpusRow(point.measured_kbps, weighted_row(per_clip, lengths), heard)
    return out


def codec_listening(codec: Codec, clips: list[torch.Tensor], codes: list[torch.Tensor]) -> dict[int, Listening]:
    """:func:`weighted_listening` of the codec's rendering of ``clips`` at each codebook count."""
    out = {}
    for n in range(1, codes[0].shape[1] + 1):
        pairs = [(clip.numpy(), codec.decode(c[:, :n])[..., :clip.shape[-1]].numpy()) for clip, c in zip(clips, codes)]
        out[n] = weighted_listening(pairs, codec.sample_rate)
    return out


def evaluate_domain(codec: Codec, domain: str, excerpts: DomainExcerpts,
                    progress: Callable[[int, int], None] | None = None, listening: bool = False) -> DomainResult:
    """Codec rows for every codebook count and Opus rows beside them, on the excerpts' real audio
    (``listening``: with the :data:`CARD_LISTENING` metrics of both)."""
    clips = excerpts.clips
    evaluations, codes = [], []
    for k, clip in enumerate(clips):
        clip_codes = codec.encode(clip)
        evaluations.append(evaluate(codec, clip, clip_codes))
        codes.append(clip_codes)
        if progress is not None:
            progress(k + 1, len(clips))
    lengths = excerpts.lengths
    rows = [weighted_row([e.rows[i] for e in evaluations], lengths) for i in range(len(evaluations[0].rows))]
    all_codes = torch.cat(codes, dim=-1)
    entropy = codebook_entropy(all_codes, codec.codebook_size)
    evaluation = Evaluation(rows, [float(h) for h in entropy], bitrate_efficiency(entropy, codec.codebook_size))
    opus = opus_rows([c.numpy() for c in clips], codec.sample_rate, rows, listening)
    heard = codec_listening(codec, clips, codes) if listening else {}
    return DomainResult(domain, sum(lengths) / codec.sample_rate, evaluation, all_codes, opus, len(clips), heard)


def evaluate_domain_padded(codec: Codec, domain: str, excerpts: DomainExcerpts) -> DomainResult:
    """The same on the zero-padded excerpts, padding scored (the card's measure up to step 17,000)."""
    audio = excerpts.audio
    codes = codec.encode(audio)
    evaluation = evaluate(codec, audio, codes)
    opus = opus_rows(list(audio.numpy()[:, None]), codec.sample_rate, evaluation.rows)
    flat = codes.transpose(0, 1).reshape(1, codes.shape[1], -1)
    return DomainResult(domain, audio.numel() / codec.sample_rate, evaluation, flat, opus, audio.shape[0])
