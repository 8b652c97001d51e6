"""The codec side of the live monitor: one stream encoder, a stream decoder at the chosen n.

Codes come from the encoder at all ``N`` codebooks (they are recorded whole); the decoder
reads the first ``n``. Changing ``n`` mid-stream starts a decoder for the new count from the
codes already seen: it is fed the last frames of codes that reach the current sample
(:attr:`~model.codec.Codec.decoder_context`, the chunked engine's exact margin), so from the
switch on it gives exactly what decoding all the codes at the new count gives, and the old
decoder runs beside it for one equal-power crossfade (:mod:`app.playback.crossfade`) before it
is dropped. Restarting from context costs decoding about 15 frames once; keeping a decoder per
count would cost ``N`` times the decoding at every block. Fed in one go, those frames took
about 50 ms on a busy two-core machine, a quarter of the output's jitter buffer, so the new decoder
catches up :data:`WARM_FRAMES` frames per block instead and the switch is heard a few blocks
(about 0.1 s) after it is asked for.

A decoder whose context is unbounded (an LSTM, a transformer's whole past) or counted from the
first frame (aligned windows, several code rates) cannot start from a recent frame and still
be exact; for those the new decoder replays every code since the start: exact, but its one-off
cost grows with the session.

Decoded sample ``j`` is input sample ``j`` delayed by the codec's latency, so the input is held
until its decoded sample exists and both come out together: the A/B switch and the residual
compare the same instants.
"""
from __future__ import annotations

import numpy as np
import torch

from app.playback.crossfade import FadeRamps, mix_crossfade
from model.codec import Codec


WARM_FRAMES = 4  # code frames an incoming decoder catches up per block, beyond those arriving


class _Voice:
    """A stream decoder at one count, with what it decoded but nobody took yet."""

    def __init__(self, codec: Codec, n: int, start: int) -> None:
        self.decoder, self.n = codec.stream_decoder(n), n
        self.pending = np.zeros(0, dtype=np.float32)
        self.start = start  # sample index of pending[0]

    def push(self, codes: torch.Tensor) -> None:
        if codes.shape[-1]:
            decoded = self.decoder.push(codes[:, : self.n])[0, 0].numpy()
            self.pending = np.concatenate([self.pending, decoded])

    def drop_before(self, sample: int) -> None:
        cut = min(max(0, sample - self.start), self.pending.shape[0])
        self.pending, self.start = self.pending[cut:], self.start + cut

    def take(self, k: int) -> np.ndarray:
        out, self.pending, self.start = self.pending[:k].copy(), self.pending[k:], self.start + k
        return out


class LiveCoder:
    """``push(input)`` -> ``(codes [N, f], input [m], decoded [m])``: the codes now final, and the
    input samples whose decoded samples are now final, beside them."""

    def __init__(self, codec: Codec, n: int, fade_seconds: float = 0.010) -> None:
        self.codec = codec
        self.encoder = codec.stream_encoder()
        self.ramps = FadeRamps.for_rate(codec.sample_rate, fade_seconds)
        self.wanted_n = self._check(n)
        self._voice = _Voice(codec, self.wanted_n, 0)
        self._fading: tuple[_Voice, int] | None = None  # the outgoing voice and the fade's progress
        self._warming: tuple[_Voice, int] | None = None  # the incoming voice and the next code frame it reads
        self.switched_at: int | None = None  # sample where the latest fade to a new count began
        self._held_input = np.zeros(0, dtype=np.float32)
        self.emitted = 0  # samples handed out
        self._history = torch.zeros(1, codec.n_codebooks, 0, dtype=torch.long)
        self._history_start = 0  # frame of history[..., 0]
        self.frames = 0  # code frames made
        self._restarts_from_context = codec.decoder_context is not None and codec.chunk_alignment is None \
            and max(codec.codebook_strides) == 1

    def _check(self, n: int) -> int:
        if not 1 <= n <= self.codec.n_codebooks:
            raise ValueError(f"codebook count must be in 1..{self.codec.n_codebooks}, got {n}")
        return n

    def set_n(self, n: int) -> None:
        """Decode at ``n`` from the next push on (safe from another thread: one assignment)."""
        self.wanted_n = self._check(n)

    @property
    def n(self) -> int:
        return self._voice.n

    def push(self, mono: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes = self.encoder.push(torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))[None, None])
        self._held_input = np.concatenate([self._held_input, mono.astype(np.float32, copy=False)])
        if self.wanted_n != (self._warming[0].n if self._warming else self._voice.n):
            self._start_warming(self.wanted_n)
        if self._warming is not None:
            self._warm(codes.shape[-1])  # from the codes before these: the voices all get these below
        self._remember(codes)
        return codes[0].numpy(), *self._decode(codes)

    def finish(self) -> np.ndarray:
        """Codes of the last frames (the end of the input completes them); the stream ends."""
        return self.encoder.flush()[0].numpy()

    def _remember(self, codes: torch.Tensor) -> None:
        """Keep the codes a restarted decoder needs: its context before the sample being emitted."""
        self._history = torch.cat([self._history, codes], dim=-1)
        self.frames += codes.shape[-1]
        keep_from = min(self._restart_frame(), self._warming[1] if self._warming else self.frames)
        if keep_from > self._history_start:
            self._history = self._history[..., keep_from - self._history_start:]
            self._history_start = keep_from

    def _restart_frame(self) -> int:
        """First frame a decoder started now reads, so that it is exact from the next sample on."""
        if not self._restarts_from_context:
            return 0
        return max(0, self.emitted // self.codec.hop_length - self.codec.decoder_context - 1)

    def _start_warming(self, n: int) -> None:
        if n == self._voice.n:  # back to the count heard before the new one was ready
            self._warming = None
            return
        start = self._restart_frame()
        self._warming = (_Voice(self.codec, n, start * self.codec.hop_length), start)

    def _warm(self, arriving: int) -> None:
        """Feed the incoming decoder the frames arriving now and a few more of the codes seen (all of
        them when it replays from the start), and once it has them all, fade over to it."""
        voice, frame = self._warming
        step = arriving + WARM_FRAMES if self._restarts_from_context else self.frames - frame
        stop = min(self.frames, frame + step)
        voice.push(self._history[..., frame - self._history_start: stop - self._history_start])
        if stop < self.frames:
            self._warming = (voice, stop)
            return
        voice.drop_before(self.emitted)
        self._fading = (self._voice, 0)  # a fade under way restarts from the voice mostly heard
        self._voice, self._warming = voice, None
        self.switched_at = self.emitted

    def _decode(self, codes: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        voices = [self._voice] + ([self._fading[0]] if self._fading else [])
        for voice in voices:
            voice.push(codes)
            voice.drop_before(self.emitted)
        k = min(voice.pending.shape[0] for voice in voices)
        decoded = self._voice.take(k)[:, None]
        if self._fading is not None:
            old, progress = self._fading
            progress = mix_crossfade(old.take(k)[:, None], decoded, self.ramps, progress)
            self._fading = None if progress >= self.ramps.length else (old, progress)
        self.emitted += k
        held, self._held_input = self._held_input[:k], self._held_input[k:]
        return held, decoded[:, 0]
