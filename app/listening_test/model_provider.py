"""A stimulus provider that needs nothing but a model: the clip decoded at chosen codebook counts.

Enough for a test of one codec against itself at several bitrates, and for the test suite; a
richer provider (other codecs, Opus, MP3) only has to return :class:`Stimulus` objects the same
way. The clip is read at the model's rate (the first ``max_seconds``: BS.1534-3 asks for short
excerpts), loudness-normalised for the encoder as the studio does, encoded once and decoded at
each count; the decodings are brought back to the clip's own level and length, so the original
and every contestant line up sample for sample.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from app.listening_test.stimuli import REFERENCE, Stimulus
from model import Codec, load_codec
from model.audio_io import audio_info, read_audio
from model.compression import model_input, normalisation_gain

DEFAULT_MAX_SECONDS = 12.0


def parse_counts(spec: str, n_codebooks: int) -> list[int]:
    """Codebook counts from text such as ``"2, 4, 8"``; ValueError naming what is wrong."""
    counts = [int(part) for part in re.split(r"[,\s]+", spec.strip()) if part] if spec.strip() else []
    if not counts:
        raise ValueError("name at least one codebook count, e.g. 2, 4, 8")
    bad = [n for n in counts if not 1 <= n <= n_codebooks]
    if bad:
        raise ValueError(f"codebook counts must be between 1 and {n_codebooks}, got {bad[0]}")
    return sorted(set(counts))


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
        codec = self.codec
        rate_in = audio_info(clip_path).samplerate
        audio = read_audio(clip_path, frames=int(self.max_seconds * rate_in))
        wave, loudness = model_input(codec, audio)
        length = wave.shape[-1]
        channels = wave.shape[0] * wave.shape[1]
        gain = normalisation_gain(loudness)
        original = (wave.reshape(channels, length) / gain).numpy().astype(np.float32)
        stimuli = [Stimulus("original", REFERENCE, original, codec.sample_rate)]
        with torch.inference_mode():
            encoded = codec.encode_audio(wave)
            for n in self.counts:
                decoded = codec.decode(encoded.first(n))[..., :length]
                audio_n = np.zeros_like(original)
                audio_n[:, : decoded.shape[-1]] = (decoded.reshape(channels, -1) / gain).numpy()
                stimuli.append(Stimulus(contestant_name(n), "codec", audio_n, codec.sample_rate))
        return stimuli
