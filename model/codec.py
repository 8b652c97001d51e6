"""The one interface every codec family sits behind.

A :class:`Codec` wraps a family's network (an ``nn.Module`` implementing
:class:`CodecNetwork`) with what the rest of the program needs and nothing more: rates,
codebook geometry, a name, a weights digest, and exact chunked ``encode`` / ``decode`` in
inference mode. app/ and ui/ only ever see this class, so adding a family never touches them.

Stereo and side information: :attr:`Codec.channels` is the number of audio channels the
network codes jointly (1 unless the network says otherwise), so ``encode`` takes
``[B, channels, T]``. Some codecs need more than the codes to decode them -- per-segment
scales of a normalising codec, for instance. Such a network names that side information
(``side_info``) and implements ``encode_with_side`` / ``decode_with_side``;
:meth:`Codec.encode_audio` returns the codes with it as an :class:`EncodedAudio`, which
:meth:`Codec.decode` accepts in place of bare codes (and ``.rvq`` files store). ``encode``
still returns the bare codes for every codec; decoding bare codes of a codec with side
information is refused with a clear message rather than decoded at a wrong level.

A network whose receptive field is unbounded (recurrent layers, e.g. EnCodec's LSTMs)
reports no context; it is then given the whole signal (or the whole code sequence) at
once and bounds its memory itself. :attr:`Codec.chunkable` tells callers whether decoding
a slice of the codes equals the slice of the whole decoding.

Two optional network members serve families beyond a plain residual VQ at one rate:
``codebook_strides`` (multi-scale codes: codebook k holds each code for that many frames;
default all 1) and ``chunk_alignment()`` (layers counted from the first frame, such as
windowed attention or position-keyed noise: chunks start on multiples of that many frames
and ``decode_codes`` takes the first frame's index; default None, shift-invariant). Callers
that cut an aligned codec's signal or codes into excerpts themselves start and end them on
multiples of :attr:`Codec.chunk_alignment` (or at the end) and pass the excerpt's first
frame to :meth:`Codec.decode`.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from model import streaming, winograd
from model.chunked import decode_stream, encode_stream
from model.fast_mode import FAST_LABEL, half_precision_network
from model.inference_memory import prepare_for_inference
from model.transfer import to_device

ProgressFn = Callable[[int, int], None]


class CodecNetwork(Protocol):
    """What a family's network provides to the generic codec wrapper.

    Optional: ``channels`` (default 1); and, for a codec whose codes need side information,
    ``side_info`` (its names) with ``encode_with_side(blocks, length) -> (codes, side)`` (the
    signal as consecutive blocks) and ``decode_with_side(codes, side) -> pieces of the wave``,
    so the network can bound its memory however long the signal (EnCodec 48 kHz: by segments).
    """

    sample_rate: int
    hop_length: int
    n_codebooks: int
    codebook_size: int

    def encode_codes(self, wave: torch.Tensor) -> torch.Tensor:
        """Hop-aligned ``[B, 1, k*hop]`` -> all codes ``[B, N, k]`` (inference).

        Networks without context (see :meth:`context_frames`) get the raw signal, any
        length ``T``, and return ``ceil(T / hop)`` frames.
        """

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """``[B, n, k]`` -> ``[B, 1, ~k*hop]`` (inference)."""

    def context_frames(self) -> tuple[int | None, int | None]:
        """(encoder, decoder) context in frames on each side for exact chunking.

        ``None``: unbounded (recurrent layers); the network is run on whole signals.
        """

    def codebook_groups(self) -> dict[str, list[int]] | None:
        """``group_of_codebook`` and ``level_of_codebook`` lists for group-residual quantizers.

        None for a plain residual quantizer (every codebook refines the one before it).
        """

    def describe(self) -> dict:
        """Architecture summary (family-specific keys) for ``info`` and model cards."""


def weights_digest(network: nn.Module) -> str:
    """sha256 over ``network``'s state dict (names and float32 values, in name order)."""
    h = hashlib.sha256()
    for key, value in sorted(network.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().to("cpu", torch.float32).contiguous().numpy())
    return h.hexdigest()


@dataclass(frozen=True)
class EncodedAudio:
    """Codes ``[B, N, F]`` and the side information their codec needs to decode them.

    ``side`` maps each name of :attr:`Codec.side_info` to a tensor whose first dimension is
    the batch; it is empty for codecs whose codes are all they need. Dropping codebooks
    (:meth:`first`) keeps the side information: it does not depend on the codebook count.
    """

    codes: torch.Tensor
    side: dict[str, torch.Tensor] = field(default_factory=dict)

    def first(self, n: int) -> "EncodedAudio":
        """The first ``n`` codebooks, with the same side information."""
        return EncodedAudio(self.codes[:, :n], self.side)


class Codec:
    """A loaded codec, ready for inference on one device."""

    def __init__(
        self,
        network: nn.Module,
        *,
        name: str,
        family: str,
        config: dict,
        device: str | torch.device = "cpu",
        trained: bool = True,
        source: str = "",
    ) -> None:
        self.network = network.to(device).eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        # Taken before the network keeps only its inference weights, which do not give back the
        # parametrisation's values (model/inference_memory.py).
        self._n_parameters = sum(p.numel() for p in self.network.parameters())
        self._digest = weights_digest(self.network)
        prepare_for_inference(self.network)
        winograd.use_in_decoder(self.network)
        self.name = name if trained else f"{name} (untrained)"
        self.family = family
        self.config = dict(config)
        self.device = torch.device(device)
        self.trained = trained
        self.source = source
        self.encoder_context, self.decoder_context = network.context_frames()
        alignment = getattr(network, "chunk_alignment", None)
        self.chunk_alignment: int | None = alignment() if alignment is not None else None
        self._fast_network: nn.Module | None = None

    # -- geometry -------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.network.sample_rate)

    @property
    def hop_length(self) -> int:
        return int(self.network.hop_length)

    @property
    def n_codebooks(self) -> int:
        return int(self.network.n_codebooks)

    @property
    def codebook_size(self) -> int:
        return int(self.network.codebook_size)

    @property
    def channels(self) -> int:
        """Audio channels coded jointly: ``encode`` takes ``[B, channels, T]``."""
        return int(getattr(self.network, "channels", 1))

    @property
    def side_info(self) -> tuple[str, ...]:
        """Names of the side information decoding needs besides the codes (see :class:`EncodedAudio`)."""
        return tuple(getattr(self.network, "side_info", ()))

    @property
    def chunkable(self) -> bool:
        """Whether chunks of the signal (and of the codes) can be computed independently."""
        return self.encoder_context is not None and self.decoder_context is not None

    @property
    def codebook_strides(self) -> list[int]:
        """Frames each codebook holds a code for: ``codes[:, k, ::stride]`` are codebook k's own
        codes (a multi-scale codec's coarse scales), the rest repeat them. All 1 for most families."""
        strides = getattr(self.network, "codebook_strides", None)
        return [int(s) for s in strides] if strides is not None else [1] * self.n_codebooks

    @property
    def codebook_groups(self) -> dict[str, list[int]] | None:
        """The channel group and refinement level of every codebook, or None (one chain); see
        :meth:`CodecNetwork.codebook_groups`."""
        return self.network.codebook_groups()

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def n_frames(self, length: int) -> int:
        """Frames of the codes of a ``length``-sample signal: ``ceil(length / hop)``, or what the network
        says (a segmenting codec codes each segment's frames, overlaps included)."""
        frames = getattr(self.network, "n_frames", None)
        return int(frames(length)) if frames is not None else -(-length // self.hop_length)

    def segments(self, length: int) -> list[tuple[int, int, int, int]] | None:
        """The independent segments of a ``length``-sample signal as ``(first sample, stop sample,
        first frame, stop frame)``, for a network that codes its signal in segments with side
        information (one entry per segment on the side arrays' second dimension); None for others.
        Encoding an excerpt that starts on a segment gives those segments' codes, and decoding a run
        of segments (:meth:`segment_run`) the samples no segment outside the run reaches."""
        segments = getattr(self.network, "segments", None)
        return None if segments is None or not self.side_info else segments(length)

    @staticmethod
    def segment_run(encoded: EncodedAudio, segments: list[tuple[int, int, int, int]], first: int,
                    stop: int) -> EncodedAudio:
        """The codes and side information of segments ``first`` to ``stop - 1`` (see :meth:`segments`)."""
        frames = slice(segments[first][2], segments[stop - 1][3])
        return EncodedAudio(encoded.codes[..., frames], {k: v[:, first:stop] for k, v in encoded.side.items()})

    @property
    def bits_per_code(self) -> float:
        return math.log2(self.codebook_size)

    def kbps(self, n_codebooks: int) -> float:
        """Nominal bitrate with the first ``n_codebooks`` codebooks (each code counted once)."""
        codes_per_frame = sum(1.0 / s for s in self.codebook_strides[:n_codebooks])
        return codes_per_frame * self.bits_per_code * self.frame_rate / 1000.0

    def n_parameters(self) -> int:
        return self._n_parameters

    def digest(self) -> str:
        """sha256 over the weights as loaded (names and values): the identity ``.rvq`` files record."""
        return self._digest

    def describe(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "channels": self.channels,
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "n_codebooks": self.n_codebooks,
            "codebook_size": self.codebook_size,
            "frame_rate": self.frame_rate,
            "kbps_range": (self.kbps(1), self.kbps(self.n_codebooks)),
            "parameters": self.n_parameters(),
            "trained": self.trained,
            **self.network.describe(),
        }

    # -- fast mode (model/fast_mode.py) -----------------------------------------------------
    @property
    def fast_mode(self) -> str | None:
        """The reduced precision encode and decode run in ("bf16"), None for exact float32."""
        return FAST_LABEL if self._fast_network is not None else None

    def set_fast_mode(self, on: bool) -> None:
        """Switch bfloat16 inference on or off (off: the exact float32 results again). Codes may
        differ from float32 ones; raises ``FastModeUnavailable`` (a ValueError) for a network
        that cannot run it."""
        self._fast_network = half_precision_network(self.network) if on else None

    # -- inference ------------------------------------------------------------------------
    def encode(
        self,
        wave: torch.Tensor,
        n_codebooks: int | None = None,
        chunk_seconds: float = 20.0,
        progress: ProgressFn | None = None,
        workers: int | None = None,
    ) -> torch.Tensor:
        """``float32 [B, channels, T]`` at ``sample_rate`` -> ``int64 [B, n, F]``, ``F = ceil(T / hop)``
        (a segmenting codec: its segments' frames, in order).

        ``chunk_seconds`` bounds the memory in flight for chunkable codecs; others run whole.
        ``workers`` chunks are computed concurrently (default: the caller's torch thread
        count on CPU, one on other devices); the codes do not depend on it. Side information
        is not returned: :meth:`encode_audio` keeps it.
        """
        if self.side_info:
            return self.encode_audio(wave, n_codebooks, progress).codes
        wave = self._check_wave(wave)
        pieces = self.encode_blocks([wave], wave.shape[-1], n_codebooks, chunk_seconds, progress, workers)
        with torch.inference_mode():
            return torch.cat(list(pieces), dim=-1)

    def encode_audio(
        self,
        wave: torch.Tensor,
        n_codebooks: int | None = None,
        progress: ProgressFn | None = None,
        chunk_seconds: float = 20.0,
    ) -> EncodedAudio:
        """:meth:`encode` with the side information decoding needs: what :meth:`decode` takes."""
        if not self.side_info:
            return EncodedAudio(self.encode(wave, n_codebooks, chunk_seconds, progress))
        wave = self._check_wave(wave)
        return self.encode_audio_blocks([wave], wave.shape[-1], n_codebooks, progress)

    def encode_audio_blocks(
        self,
        blocks: Iterable[torch.Tensor],
        length: int,
        n_codebooks: int | None = None,
        progress: ProgressFn | None = None,
    ) -> EncodedAudio:
        """:meth:`encode_audio` of a signal given as consecutive blocks ``[B, channels, k]``
        (:meth:`encode_blocks` with the side information)."""
        if not self.side_info:
            with torch.inference_mode():
                return EncodedAudio(torch.cat(list(self.encode_blocks(blocks, length, n_codebooks,
                                                                        progress=progress)), dim=-1))
        if length < 1:
            raise ValueError("audio is empty")
        n = self.n_codebooks if n_codebooks is None else self._check_n(n_codebooks)
        if progress is not None:
            progress(0, 1)
        with torch.inference_mode():
            codes, side = self.network.encode_with_side((b.float().to(self.device) for b in blocks), length)
        if progress is not None:
            progress(1, 1)
        return EncodedAudio(codes[:, :n].cpu(), {k: v.cpu() for k, v in side.items()})

    def encode_blocks(
        self,
        blocks: Iterable[torch.Tensor],
        length: int,
        n_codebooks: int | None = None,
        chunk_seconds: float = 20.0,
        progress: ProgressFn | None = None,
        workers: int | None = None,
    ) -> Iterator[torch.Tensor]:
        """:meth:`encode` of a signal of ``length`` samples given as consecutive float32
        ``blocks [B, channels, k]``, yielding the codes chunk by chunk: a chunkable codec holds only
        the chunks in flight, however long the signal (others gather it and run whole).
        """
        if length < 1:
            raise ValueError("audio is empty")
        n = self.n_codebooks if n_codebooks is None else self._check_n(n_codebooks)
        if self.encoder_context is None:
            pieces = iter([self._whole(self._encode_codes, torch.cat(list(blocks), dim=-1), progress)])
        else:
            pieces = encode_stream(self._encode_codes, blocks, length, self.hop_length, self.encoder_context,
                                   self._chunk_frames(chunk_seconds), progress, workers=self._workers(workers),
                                   alignment=self.chunk_alignment or 1)
        return (piece[:, :n].cpu() for piece in pieces)

    def decode(
        self,
        codes: torch.Tensor | EncodedAudio,
        chunk_seconds: float = 10.0,
        progress: ProgressFn | None = None,
        workers: int | None = None,
        first_frame: int = 0,
    ) -> torch.Tensor:
        """``int64 [B, n, F]`` with ``1 <= n <= n_codebooks`` (or the :class:`EncodedAudio`
        :meth:`encode_audio` made) -> ``float32 [B, channels, T']``.

        ``chunk_seconds`` and ``workers`` as for :meth:`encode`. ``first_frame``: where the codes
        start in their signal, for excerpts (a multiple of :attr:`chunk_alignment`; it matters
        only to aligned codecs).
        """
        pieces = self.decode_blocks(codes, chunk_seconds, progress, workers, first_frame)
        with torch.inference_mode():
            return torch.cat(list(pieces), dim=-1)

    def decode_blocks(
        self,
        codes: torch.Tensor | EncodedAudio,
        chunk_seconds: float = 10.0,
        progress: ProgressFn | None = None,
        workers: int | None = None,
        first_frame: int = 0,
    ) -> Iterator[torch.Tensor]:
        """:meth:`decode` yielding the waveform chunk by chunk (any integer dtype of ``codes``),
        so a chunkable codec never holds the whole waveform."""
        encoded = codes if isinstance(codes, EncodedAudio) else EncodedAudio(codes)
        codes = encoded.codes
        if codes.dim() != 3:
            raise ValueError(f"codes must be [batch, codebooks, frames], got shape {tuple(codes.shape)}")
        self._check_n(codes.shape[1])
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"code indices must lie in 0..{self.codebook_size - 1}")
        if self.chunk_alignment is None:
            decode = self._decode_codes
        elif first_frame < 0 or first_frame % self.chunk_alignment:
            raise ValueError(f"codes must start on a multiple of {self.chunk_alignment} frames, not {first_frame}")
        else:
            def decode(excerpt: torch.Tensor, frame: int = 0) -> torch.Tensor:
                return self._decode_codes(excerpt, first_frame + frame)
        if self.side_info:
            pieces = self._decode_with_side(codes, self._check_side(encoded), progress)
        elif self.decoder_context is None:
            pieces = iter([self._whole(decode, codes, progress)])
        else:
            pieces = decode_stream(decode, codes, self.hop_length, self.decoder_context,
                                   self._chunk_frames(chunk_seconds), progress, workers=self._workers(workers),
                                   alignment=self.chunk_alignment)
        return (piece.float().cpu() for piece in pieces)

    # -- streaming (see model/streaming.py) ----------------------------------------------------
    def stream_encoder(self) -> streaming.StreamEncoder:
        """A streaming encoder: ``push(block)`` gives the codes already final, ``flush()`` the rest;
        concatenated they equal :meth:`encode` of the whole signal."""
        return streaming.stream_encoder(self)

    def stream_decoder(self, n_codebooks: int) -> streaming.StreamDecoder:
        """A streaming decoder of ``n_codebooks`` codebooks, equal to :meth:`decode` of the whole."""
        return streaming.stream_decoder(self, n_codebooks)

    @property
    def stream_latency(self) -> float:
        """Algorithmic latency of streamed encoding then decoding, in seconds (frame + lookahead)."""
        return streaming.stream_latency(self)

    def inference_network(self) -> nn.Module:
        """The network encode and decode run: :attr:`network`, or fast mode's bfloat16 copy of it."""
        return self.network if self._fast_network is None else self._fast_network

    def _encode_codes(self, wave: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.inference_network().encode_codes(to_device(wave, self.device))

    def _decode_codes(self, codes: torch.Tensor, *first_frame: int) -> torch.Tensor:
        with torch.inference_mode():
            return self.inference_network().decode_codes(to_device(codes, self.device, torch.long), *first_frame)

    def _decode_with_side(self, codes: torch.Tensor, side: dict[str, torch.Tensor],
                          progress: ProgressFn | None) -> Iterator[torch.Tensor]:
        """The network's pieces, each computed in inference mode (a generator runs outside the
        block that created it)."""
        pieces = self.network.decode_with_side(codes.to(self.device, torch.long),
                                               {k: v.to(self.device) for k, v in side.items()})
        if progress is not None:
            progress(0, 1)
        while True:
            with torch.inference_mode():
                piece = next(pieces, None)
            if piece is None:
                break
            yield piece
        if progress is not None:
            progress(1, 1)

    def _check_side(self, encoded: EncodedAudio) -> dict[str, torch.Tensor]:
        """The side information of ``encoded``, refused (ValueError) unless it is all there."""
        missing = [name for name in self.side_info if name not in encoded.side]
        if missing:
            raise ValueError(f"{self.name} needs its side information ({', '.join(missing)}) to decode: "
                             "decode what encode_audio returned, not bare codes")
        batch = encoded.codes.shape[0]
        for name in self.side_info:
            if encoded.side[name].dim() < 1 or encoded.side[name].shape[0] != batch:
                raise ValueError(f"side information {name!r} must have the codes' batch size {batch}")
        return {name: encoded.side[name] for name in self.side_info}

    @staticmethod
    def _whole(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
               progress: ProgressFn | None) -> torch.Tensor:
        if progress is not None:
            progress(0, 1)
        y = run(x)
        if progress is not None:
            progress(1, 1)
        return y

    def _workers(self, requested: int | None) -> int:
        if requested is not None:
            if requested < 1:
                raise ValueError(f"workers must be at least 1, got {requested}")
            return requested
        return torch.get_num_threads() if self.device.type == "cpu" else 1

    def _chunk_frames(self, seconds: float) -> int:
        return max(1, int(seconds * self.frame_rate))

    def _check_n(self, n: int) -> int:
        if not 1 <= n <= self.n_codebooks:
            raise ValueError(f"codebook count must be in 1..{self.n_codebooks}, got {n}")
        return n

    def _check_wave(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.dim() != 3 or wave.shape[1] != self.channels:
            raise ValueError(f"audio must be [batch, {self.channels}, samples], got shape {tuple(wave.shape)}")
        if wave.shape[-1] == 0:
            raise ValueError("audio is empty")
        return wave.float()
