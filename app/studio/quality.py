"""Quality of one rendering against the codec's input, and Opus at the same bitrates.

The codec rows use the same metric functions as :func:`model.evaluation.evaluate` (the DAC
paper's mel and STFT distances, SI-SDR, against the loudness-normalised input), but on
reconstructions the studio has already rendered, so the quality panel costs no extra decode.

Opus reference: libopus itself (through ``opuslib``), with its bitrate set exactly: each
channel is coded on its own in 20 ms frames (as the codec codes each channel on its own), at a
constant bitrate: the codec spends the same bits on every frame, and libopus's VBR mode can
land well under its target on music at these rates, so CBR is what "the same bitrate" means. The
reported bitrate is *measured* from the packets' sizes (no container; whole bytes per packet,
so within 0.4 kbit/s of the target), and each point is plotted where Opus actually landed. The
encoder's lookahead is dropped from the decoded stream, so Opus output is sample-aligned with
the input. Below 6 kbit/s per channel Opus has no useful mode; lower bitrates get no point.

The studio measures in pieces (:func:`rate_row_in_pieces`, :func:`opus_row_in_pieces`): a
generator yields after each piece, so the thread running it can put a view update first or
drop the measurement when the clip changes. The metrics cost about a quarter of a second per
second of audio (seven mel and two STFT scales of both signals), so a three-minute clip cost
45 s per row -- twice per codebook count with Opus beside it. A row is therefore measured on
at most :data:`MEASURED_SECONDS` of the clip (:func:`measured_spans`): a short clip whole, a
longer one in excerpts spread evenly over it, and the studio says so. Each piece's distances
count in proportion to its length; SI-SDR is taken over all measured samples at once.
"""
from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from app.studio.render_cache import ChunkGrid
from model.audio_io import resample
from model.evaluation import RateRow
from model.metrics import si_sdr, spectral_distances

OPUS_RATE = 48_000
OPUS_FRAME = 960  # 20 ms at 48 kHz: libopus's default frame for music and speech
OPUS_MIN_BPS = 6_000
OPUS_CONTEXT_S = 0.5  # audio coded before and after an excerpt: the encoder settles, the resampler has context
PIECE_SECONDS = 4.0  # one step of a measurement: about a second of the metrics' work
MEASURED_SECONDS = 20.0  # a clip up to this long is measured whole; a longer one on this much of it

Spans = tuple[tuple[int, int], ...]


class OpusUnavailable(RuntimeError):
    """libopus could not be loaded, so there is no Opus reference on this machine."""


def rate_row(reference: np.ndarray, decoded: np.ndarray, sample_rate: int, n: int, kbps: float) -> RateRow:
    """Metrics of ``decoded`` against ``reference`` (both ``[C, 1, T]`` at ``sample_rate``)."""
    return finish(rate_row_in_pieces([(reference, decoded)], sample_rate, n, kbps))


def rate_row_in_pieces(pieces: Iterable[tuple[np.ndarray, np.ndarray]], sample_rate: int, n: int,
                       kbps: float) -> Generator[None, None, RateRow]:
    """The metrics of ``(reference, decoded)`` pieces (each ``[C, 1, L]``), yielding after each piece.

    Mel and STFT distances are the pieces' own, weighted by their lengths; SI-SDR is that of
    all the pieces' samples together. One piece gives exactly :func:`rate_row`'s numbers.
    """
    mel = stft = weight = 0.0
    references, estimates = [], []
    for reference, decoded in pieces:
        ref = torch.from_numpy(np.ascontiguousarray(reference))
        est = torch.from_numpy(np.ascontiguousarray(decoded))
        piece_mel, piece_stft = spectral_distances(ref, est, sample_rate)
        length = ref.shape[-1]
        mel += float(piece_mel.mean()) * length
        stft += float(piece_stft.mean()) * length
        weight += length
        references.append(ref)
        estimates.append(est)
        yield
    sdr = si_sdr(torch.cat(references, dim=-1), torch.cat(estimates, dim=-1)).mean()
    return RateRow(n, kbps, mel / weight, stft / weight, float(sdr))


def finish(steps: Generator[None, None, object]) -> object:
    """Run a measurement in pieces to its end at once and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def measured_spans(length: int, sample_rate: int) -> Spans:
    """The ``[start, stop)`` sample ranges a clip of ``length`` samples is measured on, one piece each.

    Up to :data:`MEASURED_SECONDS`, the whole clip in consecutive pieces of at most
    :data:`PIECE_SECONDS`; beyond, excerpts of :data:`PIECE_SECONDS` at the centres of equal
    sections of the clip, :data:`MEASURED_SECONDS` in all.
    """
    piece = int(PIECE_SECONDS * sample_rate)
    if length <= MEASURED_SECONDS * sample_rate:
        edges = np.linspace(0, length, -(-length // piece) + 1).round().astype(int).tolist()
        return tuple(zip(edges[:-1], edges[1:]))
    count = round(MEASURED_SECONDS / PIECE_SECONDS)
    starts = [round((k + 0.5) * length / count) - piece // 2 for k in range(count)]
    return tuple((start, start + piece) for start in starts)


def describe_spans(spans: Spans, length: int, sample_rate: int) -> str:
    """What the quality rows were measured on, for the user: the whole clip, or which excerpts."""
    measured = sum(stop - start for start, stop in spans)
    if measured >= length:
        return "Measured on the whole clip."
    minutes, seconds = divmod(round(length / sample_rate), 60)
    return (f"Measured on {measured / sample_rate:.0f} s of the {minutes}:{seconds:02d} clip: "
            f"{len(spans)} excerpts of {PIECE_SECONDS:g} s spread evenly over it.")


def span_chunks(spans: Spans, grid: ChunkGrid) -> list[int]:
    """The chunks of ``grid`` that ``spans`` reach into, in order."""
    return sorted({c for start, stop in spans for c in range(grid.chunk_at(start), grid.chunk_at(stop - 1) + 1)})


def rendering_pieces(samples: np.ndarray, gain: float, spans: Spans, chunks: Mapping[int, np.ndarray],
                     grid: ChunkGrid) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(reference, decoded)`` ``[C, 1, L]`` of each span: ``samples`` ``[T, C]`` against the rendered ``chunks``.

    Both are scaled by ``gain`` (the codec's input is loudness-normalised); ``chunks`` holds
    at least :func:`span_chunks` of ``spans`` on ``grid``.
    """
    for start, stop in spans:
        first, last = grid.chunk_at(start), grid.chunk_at(stop - 1)
        rendered = np.concatenate([chunks[c] for c in range(first, last + 1)], axis=0)
        offset = start - grid.samples(first)[0]
        yield (_as_channels(samples[start:stop], gain), _as_channels(rendered[offset:offset + stop - start], gain))


def _as_channels(samples: np.ndarray, gain: float) -> np.ndarray:
    """``[L, C]`` to ``[C, 1, L]`` times ``gain``."""
    return (samples.T * np.float32(gain))[:, None, :]


def opus_row_in_pieces(reference: np.ndarray, sample_rate: int, n: int, kbps: float,
                       spans: Spans, joint_channels: int = 1) -> Generator[None, None, tuple[float, RateRow] | None]:
    """Opus at ``kbps`` measured on ``spans`` of ``reference`` ``[C, 1, T]``: ``(measured kbps, row)``.

    ``kbps`` is the codec's for ``joint_channels`` channels coded together (2 for a joint stereo
    codec): Opus gets its share per channel, and the measured bitrate is counted for as many
    channels, so the point sits beside the codec's at the same total. Each run of adjoining spans is coded with :data:`OPUS_CONTEXT_S` of the clip around it
    (dropped again), one run per step, then measured piece by piece as
    :func:`rate_row_in_pieces`. None below Opus's lowest bitrate.
    """
    kbps /= joint_channels
    if kbps * 1000 < OPUS_MIN_BPS:
        return None
    length, context = reference.shape[-1], int(OPUS_CONTEXT_S * sample_rate)
    decoded: dict[tuple[int, int], np.ndarray] = {}
    kilobits = seconds = 0.0
    for run in _runs(spans):
        lo, hi = max(0, run[0][0] - context), min(length, run[-1][1] + context)
        point = opus_round_trip(reference[:, :, lo:hi], sample_rate, kbps)
        kilobits += point.measured_kbps * (hi - lo) / sample_rate
        seconds += (hi - lo) / sample_rate
        for start, stop in run:
            decoded[(start, stop)] = point.decoded[:, :, start - lo:stop - lo]
        yield
    measured = kilobits / seconds * joint_channels
    pieces = ((reference[:, :, start:stop], decoded[(start, stop)]) for start, stop in spans)
    row = yield from rate_row_in_pieces(pieces, sample_rate, n, measured)
    return measured, row


def _runs(spans: Spans) -> list[list[tuple[int, int]]]:
    """``spans`` grouped into runs of adjoining ones."""
    runs: list[list[tuple[int, int]]] = []
    for span in spans:
        if runs and runs[-1][-1][1] == span[0]:
            runs[-1].append(span)
        else:
            runs.append([span])
    return runs


@dataclass(frozen=True)
class OpusPoint:
    target_kbps: float
    measured_kbps: float
    decoded: np.ndarray  # [C, 1, T] at the reference's rate


def opus_round_trip(reference: np.ndarray, sample_rate: int, kbps: float) -> OpusPoint | None:
    """Code ``reference`` ``[C, 1, T]`` with Opus at ``kbps`` per channel and decode it back.

    Per channel, like the codec's nominal bitrate; ``measured_kbps`` is per channel too (the
    mean over channels of their packets' bits per second of audio).
    """
    channels, _, length = reference.shape
    if kbps * 1000 < OPUS_MIN_BPS:
        return None
    at48 = resample(reference[:, 0], sample_rate, OPUS_RATE).astype(np.float32)
    coded = [_opus_channel(channel, round(kbps * 1000)) for channel in at48]
    seconds = at48.shape[1] / OPUS_RATE
    measured = sum(bits for _, bits in coded) / channels / seconds / 1000
    back = resample(np.stack([audio for audio, _ in coded]), OPUS_RATE, sample_rate)
    back = back[:, :length] if back.shape[1] >= length else np.pad(back, ((0, 0), (0, length - back.shape[1])))
    return OpusPoint(kbps, measured, back[:, None, :].astype(np.float32, copy=False))


def _opus_channel(signal: np.ndarray, bits_per_second: int) -> tuple[np.ndarray, int]:
    """One channel at 48 kHz through libopus: (decoded, aligned to ``signal``; bits spent)."""
    stream = OpusStream(1, bits_per_second)
    decoded = np.concatenate([stream.push(signal[None]), stream.flush()], axis=1)
    return decoded[0], stream.bits


class OpusStream:
    """Channels at 48 kHz through libopus as they come, each its own constant-bitrate stream,
    decoded back and aligned: what :func:`opus_round_trip` does to a whole signal, a block at a
    time (the same frames coded, so the same packets and samples), for clips too long to hold.

    :meth:`push` codes every whole 20 ms frame it has and returns what was decoded, the
    encoder's lookahead dropped; :meth:`flush` codes the rest, zero-padded, so that the decoded
    signal is exactly as long as the one pushed. ``bits`` counts the packets' bits, all channels.
    """

    def __init__(self, channels: int, bits_per_second: int) -> None:
        opuslib = _opuslib()
        self._coders = []
        for _ in range(channels):
            encoder = opuslib.Encoder(OPUS_RATE, 1, "audio")
            encoder.bitrate = bits_per_second
            encoder.vbr = 0  # constant bitrate, like the codec's frames
            self._coders.append((encoder, opuslib.Decoder(OPUS_RATE, 1)))
        self.delay = self._coders[0][0].lookahead
        self.bits = 0
        self._held = np.zeros((channels, 0), np.float32)  # less than a frame, not coded yet
        self._pushed = self._coded = 0  # frames pushed, coded

    def push(self, block: np.ndarray) -> np.ndarray:
        """``block`` ``[channels, k]`` at 48 kHz in; what is decoded so far out (maybe nothing)."""
        self._pushed += block.shape[1]
        held = np.concatenate([self._held, block.astype(np.float32, copy=False)], axis=1)
        whole = held.shape[1] - held.shape[1] % OPUS_FRAME
        self._held = held[:, whole:]
        return self._decoded(held[:, :whole])

    def flush(self) -> np.ndarray:
        """The rest: the held samples and zeros up to the frame that covers the lookahead."""
        total = -(-(self._pushed + self.delay) // OPUS_FRAME) * OPUS_FRAME
        rest = np.zeros((self._held.shape[0], total - self._coded), np.float32)
        rest[:, :self._held.shape[1]] = self._held
        self._held = self._held[:, :0]
        return self._decoded(rest)

    def _decoded(self, frames: np.ndarray) -> np.ndarray:
        out = np.empty(frames.shape, np.float32)
        for channel, (encoder, decoder) in enumerate(self._coders):
            for start in range(0, frames.shape[1], OPUS_FRAME):
                packet = encoder.encode_float(np.ascontiguousarray(frames[channel, start:start + OPUS_FRAME]).tobytes(),
                                              OPUS_FRAME)
                self.bits += 8 * len(packet)
                out[channel, start:start + OPUS_FRAME] = np.frombuffer(decoder.decode_float(packet, OPUS_FRAME),
                                                                       np.float32)
        first = self._coded
        self._coded += frames.shape[1]
        lo = max(0, self.delay - first)  # the lookahead: decoded samples before the signal's first
        hi = max(lo, min(frames.shape[1], self.delay + self._pushed - first))  # the padding after its last
        return out[:, lo:hi]


def _opuslib():
    """``opuslib``, which raises a bare ``Exception`` at import when libopus is missing."""
    try:
        import opuslib
    except Exception as exc:  # noqa: BLE001 -- opuslib's own failure type
        raise OpusUnavailable("no Opus reference: libopus is not installed (Debian: libopus0)") from exc
    return opuslib
