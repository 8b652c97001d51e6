"""The studio's stimulus provider: the clip decoded by a model at chosen codebook counts, and
any other contestant of the Compare engine (Opus or MP3 at a bitrate, another model).

The setup text lists the contestants: a bare number is the studio's model at that many codebooks
(``2, 4, 8``); ``opus:12`` and ``mp3:64`` are those coders at a bitrate in kbps; anything else
is a model as ``rvq-studio compare --codec`` takes it (``MODEL:n`` or ``MODEL@kbps``), rendered
and aligned by :mod:`app.compare.rendering`. The clip's excerpt (chosen per clip,
:mod:`app.listening_test.excerpts`) goes through the same path as ``rvq-studio encode`` /
``decode``: encoded once, loudness-normalised as the codec expects, and decoded at each count
back to the clip's own rate, length and level, so the original and every contestant line up
sample for sample.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from app.compare import contestants
from app.compare.rendering import ClipRenderer, CodecShelf
from app.listening_test.excerpts import Excerpt
from app.listening_test.stimuli import REFERENCE, Stimulus
from model import Codec, load_codec
from model.audio_io import audio_info, read_audio
from model.compression import decode_clip, encode_clip


def parse_counts(spec: str, n_codebooks: int) -> list[int]:
    """Codebook counts from text such as ``"2, 4, 8"``; ValueError naming what is wrong."""
    try:
        counts = sorted({int(part) for part in re.split(r"[,\s]+", spec.strip()) if part})
    except ValueError:
        raise ValueError(f"codebook counts are whole numbers separated by commas, got {spec!r}") from None
    if not counts:
        raise ValueError("name at least one codebook count, e.g. 2, 4, 8")
    bad = [n for n in counts if not 1 <= n <= n_codebooks]
    if bad:
        raise ValueError(f"codebook counts must be between 1 and {n_codebooks}, got {bad[0]}")
    return counts


_CODER = re.compile(r"^(?P<kind>opus|mp3):(?P<kbps>\d+(?:\.\d*)?)$", re.IGNORECASE)


def parse_contestants(spec: str, n_codebooks: int) -> tuple[list[int], list[contestants.ContestantSpec]]:
    """The studio model's codebook counts and the other contestants named in ``spec``;
    ValueError naming what is wrong."""
    parts = [part for part in re.split(r"[,\s]+", spec.strip()) if part]
    numbers = " ".join(p for p in parts if p.isdigit())
    counts = parse_counts(numbers, n_codebooks) if numbers else []
    others: list[contestants.ContestantSpec] = []
    for part in (p for p in parts if not p.isdigit()):
        if match := _CODER.match(part):
            kbps = float(match["kbps"])
            other = contestants.opus(kbps) if match["kind"].lower() == "opus" else contestants.mp3(kbps)
        else:
            other = contestants.parse_codec(part)
        contestants.check_new(other, others)
        others.append(other)
    if not counts and not others:
        raise ValueError("name at least one contestant, e.g. 2, 4, 8, opus:12")
    return counts, others


def contestant_name(n: int) -> str:
    return f"{n} codebooks"


class ModelStimulusProvider:
    """The original, ``codec`` at each of ``counts`` codebooks and each of ``others`` (Compare
    contestants), in that order (a :class:`StimulusProvider`)."""

    def __init__(self, codec: Codec, counts: list[int], others: list[contestants.ContestantSpec] | None = None) -> None:
        self.codec, self.counts = codec, counts
        self.others = others or []
        self._shelf = CodecShelf()  # other models, loaded once for every clip of the test

    @classmethod
    def from_spec(cls, model: str, spec: str) -> "ModelStimulusProvider":
        codec = load_codec(model)
        counts, others = parse_contestants(spec, codec.n_codebooks)
        return cls(codec, counts, others)

    def __call__(self, clip_path: str, excerpt: Excerpt) -> list[Stimulus]:
        rate = audio_info(clip_path).samplerate
        start, frames = excerpt.frames(rate)
        audio = read_audio(clip_path, start=start, frames=frames)
        stimuli = [Stimulus("original", REFERENCE, audio.samples.astype(np.float32), rate)]
        with torch.inference_mode():
            clip = encode_clip(self.codec, audio)
            for n in self.counts:
                decoded = decode_clip(self.codec, clip, n).samples.astype(np.float32)
                stimuli.append(Stimulus(contestant_name(n), "codec", decoded, rate))
            renderer = ClipRenderer(audio, self._shelf)
            for contestant, samples in renderer.stimuli(self.others):
                stimuli.append(Stimulus(contestant.name, contestant.kind, samples, rate))
        return stimuli
