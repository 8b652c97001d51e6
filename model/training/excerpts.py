"""Training examples: random excerpts, mono, at the model's rate, at a fixed loudness.

Every example is a pure function of ``(seed, index)``: the index seeds its own random
generator, which picks the group (``index mod groups``: balanced), the file (in proportion to
its length, so every second of a group's audio is equally likely), the channel (a random one:
a real recorded signal, never a mix that could cancel out between channels) and the offset.
Which worker process loads an example, how many workers there are and where a run was
resumed therefore never change the data -- the basis of exact resume and of sharding across
ranks.

Each excerpt is read with a small margin on both sides at the file's own rate, resampled
with soxr and cut, so the resampler's edge transients fall outside it.  Loudness follows the
DAC release (normalised to -16 LUFS, then scaled down if a peak exceeds full scale).  The
meter is pyloudnorm's BS.1770 K-weighting with one gating block as long as the excerpt
(at most the standard 0.4 s), about 1 ms per excerpt.  Excerpts below the silence threshold
are skipped and another is drawn; files that fail to decode are reported back to the caller
(the main process lists each once) and another file is drawn.  A failed file is avoided for
the rest of that example only, not remembered between examples: remembering would make the
data depend on which worker loaded what before.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import soundfile as sf

from model.audio_io import AudioFileError, read_audio, resample
from model.training.corpus import AudioSource, Corpus, DataError

MAX_TRIES = 16
_RESAMPLE_MARGIN_SECONDS = 0.01
_LOUDNESS_BLOCK_SECONDS = 0.4

Failure = tuple[str, str]  # (relative path, reason)


class SourcePicker:
    """Draws files: a group by index (balanced), then a file weighted by its duration."""

    def __init__(self, corpus: Corpus) -> None:
        self.groups = list(corpus.groups().values())
        if not self.groups:
            raise DataError(f"no usable audio in {corpus.root}")
        self._cumulative = [np.cumsum([s.seconds for s in items]) for items in self.groups]

    def pick(self, index: int, rng: np.random.Generator, exclude: frozenset[str] = frozenset()) -> AudioSource:
        """A file of group ``index mod groups``, never one whose relative path is in ``exclude``."""
        g = index % len(self.groups)
        items, cumulative = self.groups[g], self._cumulative[g]
        if exclude:
            kept = [s.seconds if s.relative not in exclude else 0.0 for s in items]
            if not any(kept):
                raise DataError(f"no file of the group {items[0].group!r} can be read (e.g. {sorted(exclude)[0]})")
            cumulative = np.cumsum(kept)
        position = rng.random() * cumulative[-1]
        k = min(int(np.searchsorted(cumulative, position, side="right")), len(cumulative) - 1)
        return items[k]


@dataclass(frozen=True)
class ExcerptSpec:
    sample_rate: int
    seconds: float
    loudness_lufs: float = -16.0
    silence_lufs: float = -40.0

    @property
    def length(self) -> int:
        return round(self.seconds * self.sample_rate)


class ExcerptReader:
    """Reads, resamples and normalises excerpts of :class:`ExcerptSpec`."""

    def __init__(self, spec: ExcerptSpec) -> None:
        self.spec = spec
        block = min(_LOUDNESS_BLOCK_SECONDS, spec.length / spec.sample_rate)
        self._meter = pyloudnorm.Meter(spec.sample_rate, block_size=block)

    def read(self, source: AudioSource, start: int, channel: int) -> np.ndarray:
        """``spec.length`` samples of ``channel`` from native frame ``start`` (zero-padded)."""
        rate_in, rate_out = source.sample_rate, self.spec.sample_rate
        needed = math.ceil(self.spec.length * rate_in / rate_out)
        margin = math.ceil(_RESAMPLE_MARGIN_SECONDS * rate_in) if rate_in != rate_out else 0
        first = max(0, start - margin)
        audio = read_audio(source.path, first, start + needed + margin - first)
        if audio.sample_rate != rate_in or audio.channels != source.channels:
            raise AudioFileError(f"{source.relative}: the file changed since it was scanned")
        mono = audio.samples[channel:channel + 1]
        out = resample(mono, rate_in, rate_out)[0]
        skip = round((start - first) * rate_out / rate_in)
        out = out[skip:skip + self.spec.length]
        if out.shape[0] < self.spec.length:
            out = np.pad(out, (0, self.spec.length - out.shape[0]))
        return out.astype(np.float32, copy=False)

    def loudness(self, samples: np.ndarray) -> float:
        return float(self._meter.integrated_loudness(samples.astype(np.float64)))

    def normalise(self, samples: np.ndarray, loudness: float) -> np.ndarray:
        gain = 10.0 ** ((self.spec.loudness_lufs - loudness) / 20.0)
        out = samples * gain
        peak = float(np.abs(out).max())
        if peak > 1.0:
            out = out / peak
        return out.astype(np.float32, copy=False)

    def draw(self, picker: SourcePicker, index: int, rng: np.random.Generator) -> tuple[np.ndarray, list[Failure]]:
        """One normalised excerpt for example ``index``, and the files that failed on the way.

        If every try is silent, the loudest one is returned unnormalised (training on rare
        near-silence is harmless; stopping the run is not).
        """
        failures: list[Failure] = []
        quietest_fallback: tuple[float, np.ndarray] | None = None
        for _ in range(MAX_TRIES):
            source = picker.pick(index, rng, frozenset(path for path, _ in failures))
            needed = math.ceil(self.spec.length * source.sample_rate / self.spec.sample_rate)
            start = int(rng.integers(0, max(0, source.frames - needed) + 1))
            channel = int(rng.integers(0, source.channels))
            try:
                samples = self.read(source, start, channel)
            except (AudioFileError, sf.LibsndfileError, RuntimeError, OSError) as exc:
                failures.append((source.relative, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
                continue
            loudness = self.loudness(samples)
            if loudness >= self.spec.silence_lufs:
                return self.normalise(samples, loudness), failures
            if quietest_fallback is None or loudness > quietest_fallback[0]:
                quietest_fallback = (loudness, samples)
        if quietest_fallback is None:
            reason = failures[-1][1] if failures else "unknown"
            raise DataError(f"no readable audio after {MAX_TRIES} tries (last: {reason})")
        return quietest_fallback[1], failures
