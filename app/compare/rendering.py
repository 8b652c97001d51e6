"""Every contestant rendered on one clip, aligned to it: what is played, scored and blind-tested.

A rendering is the clip as a contestant makes it heard, at the clip's sample rate, length and
channel count, moved back by the contestant's delay (estimated by cross-correlation with the
original, :func:`model.delay.estimate_delay`), so switching between contestants at sample
``i`` always means the same instant of the music, and a listener cannot tell contestants
apart by their timing. The original needs no alignment, nor do the anchors (zero-phase).

A neural codec encodes the clip once (loudness-normalised, as ``rvq-studio encode`` does)
and decodes each count from those codes; loaded models are kept on a :class:`CodecShelf`
that several clips share.

For a blind test, :func:`render_stimuli` (or :meth:`ClipRenderer.stimuli` on a renderer kept
for the clip) returns ``[(contestant, samples)]`` for a list of specs: every one aligned, at the
clip's rate, length and channel count.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from app.compare import anchors, transcoders
from app.compare.bitrate import match_count, measured_kbps, nominal_kbps
from app.compare.blocks import array_blocks, joined
from app.compare.contestants import ContestantError, ContestantSpec
from app.compare.rendering_folder import RenderingCancelled, RenderingFolder
from model.audio_io import Audio
from model.codec import Codec
from model.compression import BlockSource, EncodedClip, decoded_blocks, encode_source, scan_source
from model.delay import DEFAULT_MAX_LAG_SECONDS, DelayEstimator, estimate_delay
from model.fast_mode import FastModeUnavailable
from model.loading import load_codec


@dataclass(frozen=True)
class Contestant:
    """A spec made concrete for a clip: a codec's count chosen, its nominal bitrate known."""

    spec: ContestantSpec
    n_codebooks: int | None = None
    nominal_kbps: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def model(self) -> str | None:
        return self.spec.model

    def describe(self) -> dict:
        """The JSON form: name, kind, model, n_codebooks, nominal_kbps."""
        return {"name": self.name, "kind": self.kind, "model": self.model, "n_codebooks": self.n_codebooks,
                "nominal_kbps": self.nominal_kbps}


@dataclass(frozen=True)
class Rendering:
    contestant: Contestant
    samples: np.ndarray  # [channels, frames] at the clip's rate and length, aligned
    delay: int  # samples the contestant's output lagged the clip by (undone in ``samples``)
    measured_kbps: float | None  # encoded bits per second, all channels; None for the original and anchors


class CodecShelf:
    """Loaded models by their source, loaded once (a model is large and slow to load), all in fast
    mode (bfloat16, :mod:`model.fast_mode`) or all exact, as :meth:`set_fast_mode` says: the studio's
    setting. A model without a fast mode computes exactly either way."""

    def __init__(self, device: str = "cpu", loader: Callable[..., Codec] = load_codec) -> None:
        self.device, self._loader = device, loader
        self._codecs: dict[str, Codec] = {}
        self.fast = False

    def get(self, model: str) -> Codec:
        if model not in self._codecs:
            codec = self._loader(model, device=self.device)
            _switch(codec, self.fast)
            self._codecs[model] = codec
        return self._codecs[model]

    def set_fast_mode(self, on: bool) -> None:
        """Every model loaded and to be loaded in fast mode, or exact (on the thread that renders:
        a codec must not switch in the middle of a rendering)."""
        self.fast = on
        for codec in self._codecs.values():
            _switch(codec, on)


def _switch(codec: Codec, fast: bool) -> None:
    try:
        codec.set_fast_mode(fast)
    except FastModeUnavailable:  # (only ever raised switching on) this model stays exact
        pass


def align(reference: np.ndarray, rendered: np.ndarray, sample_rate: int,
          max_lag_seconds: float = DEFAULT_MAX_LAG_SECONDS) -> tuple[np.ndarray, int]:
    """``rendered`` ``[C, T]`` moved back by its delay against ``reference`` (zeros where it has
    no samples), and that delay (positive: ``rendered`` was late)."""
    delay = estimate_delay(reference[:, None, :], rendered[:, None, :], round(max_lag_seconds * sample_rate))
    if delay == 0:  # (no copy: a long clip's rendering is large)
        return rendered, 0
    length = rendered.shape[1]
    out = np.zeros_like(rendered)
    if delay >= 0:
        out[:, :length - delay] = rendered[:, delay:]
    else:
        out[:, -delay:] = rendered[:, :length + delay]
    return out, delay


class ClipRenderer:
    """Renders contestants on one clip, encoding the clip once per model.

    Every contestant is made block by block from the clip's blocks (``blocks()``, read anew for
    each rendering: by default blocks of ``audio.samples``; the Compare tab reads its kept copy
    of the clip from the file). :meth:`render` joins the blocks into an array;
    :meth:`render_kept` writes them to a :class:`RenderingFolder` as they come, its delay
    estimated on the way (:class:`model.delay.DelayEstimator`) and undone by where the mapped view
    starts, so a clip of any length is rendered holding blocks and the model, not the clip. Both
    give the same samples to the bit.
    """

    def __init__(self, audio: Audio, shelf: CodecShelf | None = None,
                 blocks: Callable[[], Iterable[np.ndarray]] | None = None) -> None:
        self.audio = audio
        self.shelf = shelf or CodecShelf()
        self._blocks = blocks or (lambda: array_blocks(audio.samples))
        self._encoded: dict[str, EncodedClip] = {}

    def contestant(self, spec: ContestantSpec) -> Contestant:
        """``spec`` for this clip: a codec's count fixed (given, matched to its target, or all)."""
        if spec.kind in ("opus", "mp3"):
            return Contestant(spec, nominal_kbps=spec.target_kbps)
        if spec.kind != "codec":
            return Contestant(spec)
        codec = self.shelf.get(spec.model)
        n = spec.n_codebooks
        if n is None:
            n = codec.n_codebooks if spec.target_kbps is None else match_count(codec, spec.target_kbps,
                                                                                self.audio.channels)
        if n > codec.n_codebooks:
            raise ContestantError(f"{spec.name}: {codec.name} has {codec.n_codebooks} codebooks")
        return Contestant(spec, n, nominal_kbps(codec, n, self.audio.channels))

    def render(self, spec: ContestantSpec) -> Rendering:
        """``spec`` heard on the clip, aligned to it, in memory."""
        contestant = self.contestant(spec)
        made = self._made(contestant, self._blocks)
        samples = joined(made.blocks)
        if not made.aligned:
            return Rendering(contestant, samples, 0, made.kbps())
        aligned, delay = align(self.audio.samples, samples, self.audio.sample_rate)
        return Rendering(contestant, aligned, delay, made.kbps())

    def render_kept(self, spec: ContestantSpec, folder: RenderingFolder,
                    cancelled: Callable[[], bool] = lambda: False) -> Rendering:
        """``spec`` heard on the clip, aligned to it, written to ``folder`` as it is made and read
        from there; ``cancelled()`` (asked before each block read or written, a model's encoding
        included) stops it, leaving no file."""
        contestant, audio = self.contestant(spec), self.audio

        def read() -> Iterator[np.ndarray]:
            for block in self._blocks():
                if cancelled():
                    raise RenderingCancelled("the rendering was cancelled")
                yield block

        made = self._made(contestant, read, spool_dir=folder.path)
        if not made.aligned:
            return Rendering(contestant, folder.keep_blocks(made.blocks, audio.channels, cancelled=cancelled), 0,
                             made.kbps())
        estimator = DelayEstimator(audio.frames, round(DEFAULT_MAX_LAG_SECONDS * audio.sample_rate))
        measured = _measured(made.blocks, read(), estimator)
        samples = folder.keep_blocks(measured, audio.channels, estimator.max_lag, estimator.delay, cancelled)
        return Rendering(contestant, samples, estimator.delay(), made.kbps())

    def stimuli(self, specs: list[ContestantSpec]) -> list[tuple[Contestant, np.ndarray]]:
        """Each spec's contestant and its aligned samples ``[channels, frames]`` at the clip's
        rate and length: the stimuli of a listening test on this clip."""
        return [(rendering.contestant, rendering.samples) for rendering in map(self.render, specs)]

    def encoded(self, model: str, read: Callable[[], Iterable[np.ndarray]] | None = None) -> EncodedClip:
        """The clip's codes under ``model`` (all codebooks), encoded once, as it is read (by
        ``read()``, else the renderer's blocks), as ``rvq-studio encode`` does a file: the same codes
        as :func:`model.compression.encode_clip`."""
        if model not in self._encoded:
            codec, audio = self.shelf.get(model), self.audio
            source = BlockSource(audio.channels, audio.sample_rate, read or self._blocks)
            scan = scan_source(codec, source)
            codes, side = encode_source(codec, source, scan)
            self._encoded[model] = EncodedClip(torch.from_numpy(codes), audio.sample_rate, scan.length,
                                               scan.loudness_lufs, {k: torch.from_numpy(v) for k, v in side.items()})
        return self._encoded[model]

    def _made(self, contestant: Contestant, read: Callable[[], Iterator[np.ndarray]],
              spool_dir: str | Path | None = None) -> _Made:
        """How ``contestant`` is made from the clip's blocks (``read()``): its unaligned blocks at
        the clip's rate and length."""
        spec, audio = contestant.spec, self.audio
        if spec.kind == "original":
            return _Made(read(), aligned=False)
        if spec.kind == "anchor":
            return _Made(anchors.lowpass_blocks(read(), audio.sample_rate, spec.cutoff_hz), aligned=False)
        if spec.kind == "codec":
            return self._decoded(spec.model, contestant.n_codebooks, read)
        clip = (read(), audio.sample_rate, audio.channels, audio.frames, spec.target_kbps)
        coded = transcoders.opus_blocks(*clip) if spec.kind == "opus" else transcoders.mp3_blocks(*clip, spool_dir)
        return _Made(coded.blocks, lambda: coded.measured_kbps)

    def _decoded(self, model: str, n: int, read: Callable[[], Iterator[np.ndarray]]) -> _Made:
        codec, clip = self.shelf.get(model), self.encoded(model, read)
        channels = self.audio.channels

        def blocks() -> Iterator[np.ndarray]:
            for block in decoded_blocks(codec, clip, n):
                block = block.astype(np.float32, copy=False)
                # a mono clip through a stereo codec comes back stereo
                yield block.mean(axis=0, keepdims=True) if block.shape[0] != channels else block

        return _Made(blocks(), lambda: measured_kbps(codec, clip, n))


@dataclass(frozen=True)
class _Made:
    """A contestant being made: its blocks, its measured bitrate once they are through (None for
    the original and the anchors), and whether it needs aligning."""

    blocks: Iterator[np.ndarray]
    kbps: Callable[[], float | None] = lambda: None
    aligned: bool = True


def _measured(blocks: Iterable[np.ndarray], reference: Iterator[np.ndarray],
              estimator: DelayEstimator) -> Iterator[np.ndarray]:
    """``blocks`` passed through, each pushed to ``estimator`` with the reference's blocks read as
    far (so neither signal is held further than a block ahead of the other)."""
    for block in blocks:
        estimator.push(estimate=block)
        while estimator.reference_frames < estimator.estimate_frames and (piece := next(reference, None)) is not None:
            estimator.push(reference=piece)
        yield block
    for piece in reference:
        estimator.push(reference=piece)


def render_stimuli(audio: Audio, specs: list[ContestantSpec],
                   shelf: CodecShelf | None = None) -> list[tuple[Contestant, np.ndarray]]:
    """The stimuli of a listening test on ``audio``: each spec's contestant and its aligned samples
    ``[channels, frames]`` (float32) at ``audio``'s rate and length, in the order of ``specs``."""
    return ClipRenderer(audio, shelf).stimuli(specs)
