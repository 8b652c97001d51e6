"""Streaming encode and decode: blocks of any size in, codes (or audio) out as soon as they are final.

A streamer equals the offline :meth:`~model.codec.Codec.encode` / ``decode`` on the whole
signal (codes identical, audio within float rounding) while holding only what the next
outputs need, so its memory and its work per block do not grow with the stream.

Two ways to get there, chosen by what the network reports:

* **Chunkable codecs** (every layer has a finite receptive field: DAC, the default model,
  SoundStream, HiFi-Codec) run their whole encoder (decoder) on windows: a frame is computed
  once the ``Codec.encoder_context`` frames after it have arrived, from a window that also
  holds the context frames before it -- the very margins the chunked engine uses, so
  streamed and chunked results agree for the same reason. The lookahead is that context.
* **Codecs with unbounded context** (EnCodec's LSTMs; Mimi's stacked attention) describe
  their layers in a :class:`StreamingPlan`. Runs of finite-span layers become the same
  windowed stages, with the exact one-sided margins of :mod:`model.receptive_field` (a
  causal stack has no right margin, hence no lookahead: a left buffer of past input); an
  LSTM carries its ``(h, c)`` state from block to block; a windowed causal transformer keeps
  a rolling cache of the keys and values of its last ``context - 1`` frames per layer.

Reflection padding (EnCodec's causal convolutions) makes the *first* outputs read a few
samples ahead of them; a stage with such padding therefore waits, once at the start, until
its first window is as long as its margins. That start-up delay is not part of
:func:`stream_latency`, the steady-state algorithmic latency.

Only mono ``[B, 1, T]`` audio is streamed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

from model.causal_transformer import CausalTransformer, apply_rope, attend
from model.receptive_field import decoder_margins, encoder_margins, span_of
from model.tiled import run_fast

if TYPE_CHECKING:
    from model.codec import Codec


@dataclass
class StreamingPlan:
    """How a network with unbounded context streams: its layers in order, and its quantizer.

    An ``nn.Sequential`` entry is a convolutional stack run in the fast inference layout
    (:func:`~model.tiled.run_fast`), any other finite-span layer runs as itself; recurrent
    layers (``SkipLSTM``) and :class:`CausalTransformer` carry state between blocks.
    """

    encoder: list[nn.Module]
    quantize: Callable[[torch.Tensor], torch.Tensor]  # latents [B, D, k] -> codes [B, N, k]
    dequantize: Callable[[torch.Tensor], torch.Tensor]  # codes [B, n, k] -> latents [B, D, k]
    decoder: list[nn.Module]
    pad_to_hop: bool  # whether the offline encoder zero-pads the signal to the hop first


class Stage(Protocol):
    """One step of a streaming pipeline on ``[B, C, t]`` tensors (None: nothing yet)."""

    def push(self, x: torch.Tensor) -> torch.Tensor | None: ...

    def flush(self) -> torch.Tensor | None: ...

    def held(self) -> int: ...


class WindowStage:
    """A finite-receptive-field function run on windows of its input.

    The output is cut into *window frames*: one output per ``in_step`` inputs (encoders) or
    ``out_step`` outputs per input (decoders). Frame ``f`` is computed once frames up to
    ``f + right`` have arrived, from a window starting ``left`` frames before it; only the
    frames of that window that are final are kept, and input older than ``left`` frames
    before the next one is released.
    """

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor], in_step: int, out_step: int, left: int,
                 right: int, min_start: int = 0) -> None:
        self.run, self.in_step, self.out_step, self.left, self.right = run, in_step, out_step, left, right
        self.min_start = min_start  # frames the first window must hold (start-of-signal reflection)
        self._buffer: torch.Tensor | None = None
        self._first = 0  # input index of the buffer's first unit
        self._received = 0
        self._next = 0  # first window frame not yet output

    def push(self, x: torch.Tensor) -> torch.Tensor | None:
        self._buffer = x if self._buffer is None else torch.cat([self._buffer, x], dim=-1)
        self._received += x.shape[-1]
        available = self._received // self.in_step
        ready = available - self.right
        if ready <= self._next or (self._next == 0 and available < self.min_start):
            return None
        return self._compute(ready, available * self.in_step)

    def flush(self) -> torch.Tensor | None:
        if self._buffer is None or -(-self._received // self.in_step) <= self._next:
            return None
        return self._compute(None, self._received)

    def held(self) -> int:
        return 0 if self._buffer is None else self._buffer.numel()

    def _compute(self, stop: int | None, input_end: int) -> torch.Tensor:
        """Frames ``next .. stop`` (``None``: to the end of the signal, whose true end the window holds)."""
        start = max(0, self._next - self.left)
        y = self.run(self._buffer[..., start * self.in_step - self._first: input_end - self._first])
        first = (self._next - start) * self.out_step
        out = y[..., first:] if stop is None else y[..., first:(stop - start) * self.out_step]
        if stop is not None:
            self._next = stop
            keep = max(0, stop - self.left) * self.in_step
            self._buffer = self._buffer[..., keep - self._first:].clone()
            self._first = keep
        else:
            self._buffer, self._next = None, -(-self._received // self.in_step)
        return out


class PointwiseStage:
    """A frame-by-frame function (quantizing, dequantizing): no margins, no state."""

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.run = run

    def push(self, x: torch.Tensor) -> torch.Tensor | None:
        return self.run(x)

    def flush(self) -> None:
        return None

    def held(self) -> int:
        return 0


class LstmStage:
    """A residual LSTM (``out + input``) carrying its hidden and cell states across blocks."""

    def __init__(self, lstm: nn.LSTM) -> None:
        self.lstm = lstm
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None

    def push(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.permute(2, 0, 1)
        out, self._state = self.lstm(steps, self._state)
        return (out + steps).permute(1, 2, 0)

    def flush(self) -> None:
        return None

    def held(self) -> int:
        return 0 if self._state is None else sum(s.numel() for s in self._state)


class TransformerStage:
    """A windowed causal transformer fed a few frames at a time.

    Each layer keeps the rotary-embedded keys and values of its last ``context - 1`` frames,
    all a new frame's attention can read; positions continue from the frames already seen.
    """

    def __init__(self, transformer: CausalTransformer) -> None:
        self.layers = list(transformer.layers)
        contexts = {layer.self_attn.context for layer in self.layers}
        if None in contexts:
            raise ValueError("streaming needs a finite attention context (this transformer attends to all the past)")
        self._cache: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.layers)
        self._position = 0

    def push(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)
        for i, layer in enumerate(self.layers):
            h = self._layer(i, layer, h)
        self._position += h.shape[1]
        return h.transpose(1, 2)

    def _layer(self, i: int, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        attn = layer.self_attn
        b, t, _ = x.shape
        q, k, v = attn.in_proj(layer.norm1(x)).view(b, t, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, k, attn.max_period, self._position)
        if self._cache[i] is not None:
            k, v = torch.cat([self._cache[i][0], k], dim=2), torch.cat([self._cache[i][1], v], dim=2)
        out = attn.out_proj(attend(q, k, v, attn.context, k.shape[2] - t))
        keep = min(attn.context - 1, k.shape[2])
        self._cache[i] = (k[:, :, k.shape[2] - keep:].clone(), v[:, :, v.shape[2] - keep:].clone()) if keep else None
        return layer.feed_forward(x + layer.layer_scale_1(out))

    def flush(self) -> None:
        return None

    def held(self) -> int:
        return sum(k.numel() + v.numel() for k, v in filter(None, self._cache))


class Pipeline:
    """Stages applied in order; ``lookahead`` is in samples of the stream's time axis."""

    def __init__(self, stages: list[Stage], lookahead: int) -> None:
        self.stages, self.lookahead = stages, lookahead

    def push(self, x: torch.Tensor | None) -> torch.Tensor | None:
        for stage in self.stages:
            if x is None or x.shape[-1] == 0:
                return None
            x = stage.push(x)
        return x

    def flush(self) -> torch.Tensor | None:
        x = None
        for stage in self.stages:
            pieces = [y for y in (Pipeline([stage], 0).push(x), stage.flush()) if y is not None]
            x = None if not pieces else pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)
        return x

    def held(self) -> int:
        return sum(stage.held() for stage in self.stages)


class _Streamer:
    """Validation, device and inference mode around a pipeline; empty results keep their shape."""

    def __init__(self, codec: Codec, pipeline: Pipeline, channels: int, dtype: torch.dtype) -> None:
        self.codec, self.pipeline, self.channels, self.dtype = codec, pipeline, channels, dtype
        self._batch: int | None = None
        self._done = False

    def held(self) -> int:
        """Elements of input, activations and state held between pushes (bounded by the margins)."""
        return self.pipeline.held()

    def _run(self, x: torch.Tensor | None) -> torch.Tensor:
        if self._done:
            raise ValueError("the stream was flushed; start a new one")
        with torch.inference_mode():
            y = self.pipeline.flush() if x is None else self.pipeline.push(x.to(self.codec.device))
        if y is None:
            return torch.zeros(self._batch or 0, self.channels, 0, dtype=self.dtype)
        return y.to("cpu", self.dtype)

    def _check_batch(self, batch: int) -> None:
        if self._batch is not None and batch != self._batch:
            raise ValueError(f"this stream carries {self._batch} signals; a block of {batch} was pushed")
        self._batch = batch


class StreamEncoder(_Streamer):
    """``push(wave [B, 1, k])`` -> the codes ``[B, N, f]`` now final; ``flush()`` -> the rest."""

    def __init__(self, codec: Codec, pipeline: Pipeline, pad_to_hop: bool) -> None:
        super().__init__(codec, pipeline, codec.n_codebooks, torch.int64)
        self._pad_to_hop = pad_to_hop
        self._received = 0

    def push(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.dim() != 3 or wave.shape[1] != 1:
            raise ValueError(f"audio must be [batch, 1, samples], got shape {tuple(wave.shape)}")
        self._check_batch(wave.shape[0])
        self._received += wave.shape[-1]
        return self._run(wave.float())

    def flush(self) -> torch.Tensor:
        """Codes of the last frames (the end of the signal completes them); ends the stream."""
        pad = -self._received % self.codec.hop_length
        head = self.push(torch.zeros(self._batch, 1, pad)) if self._pad_to_hop and pad else None
        tail = self._run(None)
        self._done = True
        return tail if head is None else torch.cat([head, tail], dim=-1)


class StreamDecoder(_Streamer):
    """``push(codes [B, n, f])`` -> the audio ``[B, 1, k]`` now final; ``flush()`` -> the rest."""

    def __init__(self, codec: Codec, pipeline: Pipeline, n_codebooks: int) -> None:
        super().__init__(codec, pipeline, 1, torch.float32)
        self.n_codebooks = n_codebooks

    def push(self, codes: torch.Tensor) -> torch.Tensor:
        if codes.dim() != 3 or codes.shape[1] != self.n_codebooks:
            raise ValueError(f"codes must be [batch, {self.n_codebooks}, frames], got shape {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codec.codebook_size):
            raise ValueError(f"code indices must lie in 0..{self.codec.codebook_size - 1}")
        self._check_batch(codes.shape[0])
        return self._run(codes.long())

    def flush(self) -> torch.Tensor:
        """Audio of the last frames; ends the stream."""
        tail = self._run(None)
        self._done = True
        return tail


# -- building the pipelines ---------------------------------------------------------------------

def stream_encoder(codec: Codec) -> StreamEncoder:
    if codec.chunkable:
        return StreamEncoder(codec, _whole_network(codec, encoder=True), pad_to_hop=True)
    plan = _plan(codec)
    return StreamEncoder(codec, _layer_pipeline(plan.encoder, [PointwiseStage(plan.quantize)], unit=1),
                         pad_to_hop=plan.pad_to_hop)


def stream_decoder(codec: Codec, n_codebooks: int) -> StreamDecoder:
    if not 1 <= n_codebooks <= codec.n_codebooks:
        raise ValueError(f"codebook count must be in 1..{codec.n_codebooks}, got {n_codebooks}")
    if codec.chunkable:
        return StreamDecoder(codec, _whole_network(codec, encoder=False), n_codebooks)
    plan = _plan(codec)
    pipeline = _layer_pipeline(plan.decoder, [], unit=codec.hop_length, first=[PointwiseStage(plan.dequantize)])
    return StreamDecoder(codec, pipeline, n_codebooks)


def stream_latency(codec: Codec) -> float:
    """Seconds from a sample entering the encoder to its decoded sample leaving the decoder, in
    steady state: one frame (a frame's codes need all its samples) plus both lookaheads."""
    lookahead = stream_encoder(codec).pipeline.lookahead + stream_decoder(codec, 1).pipeline.lookahead
    return (codec.hop_length + lookahead) / codec.sample_rate


def _plan(codec: Codec) -> StreamingPlan:
    make = getattr(codec.network, "streaming_plan", None)
    if make is None:
        raise ValueError(f"the {codec.family} codec has an unbounded context and no streaming plan")
    return make()


def _whole_network(codec: Codec, encoder: bool) -> Pipeline:
    """The network's own encode (decode) on windows with the chunked engine's margins."""
    network, hop = codec.network, codec.hop_length
    if encoder:
        m, run, in_step, out_step = codec.encoder_context, network.encode_codes, hop, 1
    else:
        m, run, in_step, out_step = codec.decoder_context, network.decode_codes, 1, hop
    stage = WindowStage(run, in_step, out_step, m, m, 2 * m + 1 if _reflection_start(network) else 0)
    return Pipeline([stage], stage.right * hop)


def _layer_pipeline(layers: list[nn.Module], last: list[Stage], unit: int, first: list[Stage] = ()) -> Pipeline:
    """Stages for ``layers``; ``unit`` is the input's samples per element (1 for audio, hop for codes)."""
    stages: list[Stage] = list(first)
    lookahead = 0
    plain: list[nn.Module] = []

    def add_window(stack: nn.Module, run: Callable[[torch.Tensor], torch.Tensor]) -> None:
        nonlocal unit, lookahead
        scale = span_of(stack).scale
        if scale >= 1:
            in_step, out_step = round(scale), 1
            left, right = encoder_margins(stack, in_step)
        else:
            in_step, out_step = 1, round(1 / scale)
            left, right = decoder_margins(stack)
        stage = WindowStage(run, in_step, out_step, left, right,
                            left + right + 1 if _reflection_start(stack) else 0)
        stages.append(stage)
        lookahead += right * in_step * unit
        unit = unit * in_step // out_step

    def close_plain() -> None:
        if plain:
            stack = nn.Sequential(*plain)
            add_window(stack, stack)
            plain.clear()

    for layer in layers:
        stateful = _stateful_stage(layer)
        if stateful is None and not isinstance(layer, nn.Sequential):
            plain.append(layer)
            continue
        close_plain()
        if stateful is not None:
            stages.append(stateful)
        else:
            add_window(layer, lambda x, stack=layer: run_fast(stack, x))
    close_plain()
    return Pipeline(stages + last, lookahead)


def _stateful_stage(layer: nn.Module) -> Stage | None:
    if isinstance(layer, CausalTransformer):
        return TransformerStage(layer)
    lstm = getattr(layer, "lstm", None)  # SEANet's residual LSTM
    if isinstance(lstm, nn.LSTM):
        return LstmStage(lstm)
    return None


def _reflection_start(module: nn.Module) -> bool:
    """Whether some layer pads by reflection, so that the first outputs read ahead of themselves."""
    return any(getattr(m, "pad_mode", None) == "reflect" for m in module.modules())

