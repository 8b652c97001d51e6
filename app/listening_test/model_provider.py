"""A stimulus provider that needs nothing but a model: the clip decoded at chosen codebook counts.

Enough for a test of one codec against itself at several bitrates, and for the test suite; a
richer provider (other codecs, Opus, MP3) only has to return :class:`Stimulus` objects the same
way. The clip (its first ``max_seconds``: BS.1534-3 asks for short excerpts) goes through the
same path as ``rvq-studio encode`` / ``decode``: encoded once, loudness-normalised as the codec
expects, and decoded at each count back to the clip's own rate, length and level, so the
original and every contestant line up sample for sample.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from app.listening_test.stimuli import REFERENCE, Stimulus
from model import Codec, load_codec
from model.audio_io import audio_info, read_audio
from model.compression import decode_clip, encode_clip

DEFAULT_MAX_SECONDS = 12.0


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


def contestant_name(n: int) -> str:
    return f"{n} codebooks"


class ModelStimulusProvider:
    """The original and ``codec`` at each of ``counts`` codebooks (a :class:`StimulusProvider`)."""

    def __init__(self, codec: Codec, counts: list[int], max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        self.codec, self.counts, self.max_seconds = codec, counts, max_seconds

    @classmethod
    def from_spec(cls, model: str, spec: str, max_seconds: float = DEFAULT_MAX_SECONDS) -> "ModelStimulusProvider":
        codec = load_codec(model)
        return cls(codec, parse_counts(spec, codec.n_codebooks), max_seconds)

    def __call__(self, clip_path: str) -> list[Stimulus]:
        rate = audio_info(clip_path).samplerate
        audio = read_audio(clip_path, frames=int(self.max_seconds * rate))
        stimuli = [Stimulus("original", REFERENCE, audio.samples.astype(np.float32), rate)]
        with torch.inference_mode():
            clip = encode_clip(self.codec, audio)
            for n in self.counts:
                decoded = decode_clip(self.codec, clip, n).samples.astype(np.float32)
                stimuli.append(Stimulus(contestant_name(n), "codec", decoded, rate))
        return stimuli
