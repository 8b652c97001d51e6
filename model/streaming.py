"""Streaming encode and decode: blocks of any size in, codes (or audio) out as soon as they are final.

A streamer equals the offline :meth:`~model.codec.Codec.encode` / ``decode`` on the whole
signal (codes identical, audio within float rounding) while holding only what its next
outputs need, so its memory and its work per block do not grow with the stream.

A network describes its layers in a :class:`StreamingPlan` (every family here does) and is
streamed layer by layer, each layer in its own way:

* a layer with a finite receptive field runs on windows of its input: an output is computed
  once the inputs its receptive field reaches on the right have arrived, from a window that
  also holds the inputs it reaches on the left. The margins are the exact one-sided reach
  of :func:`~model.receptive_field.encoder_margins` / ``decoder_margins`` -- the chunked
  engine's symmetric margins are made from the same reach -- so a causal layer has no
  lookahead, only a left buffer of past input. Each layer recomputes only its own margin,
  not the network's;
* a residual unit streams its block and holds back the skip input until the block answers;
* an LSTM carries its ``(h, c)`` state from block to block;
* a windowed causal transformer keeps a rolling cache of the rotary-embedded keys and values
  of its last ``context - 1`` frames per layer.

A chunkable network without a plan runs its whole encoder (decoder) on windows instead, with
the chunked engine's context (``Codec.encoder_context``) on the left and its receptive
field's reach on the right: exact as well, but each block recomputes the network's margins.
So does a network whose layers are counted from the first frame (``Codec.chunk_alignment``:
windowed attention, pooling blocks, noise keyed to positions) or whose codes run at several
rates (``Codec.codebook_strides``), since a layer's stage knows neither positions nor code
blocks: its windows start on multiples of the alignment, as the chunked engine's chunks do,
its decoder is told each window's first frame, and its encoder hands out frames only in whole
blocks of the coarsest code (only then is every codebook's code for them final; the latency
includes that block).

Reflection padding (EnCodec's causal convolutions) makes the *first* outputs read a few
samples ahead of them; a layer with such padding therefore waits, once at the start, until
its first window is as long as its margins. That start-up delay is not part of
:func:`stream_latency`, the steady-state algorithmic latency.

Only mono ``[B, 1, T]`` audio is streamed, and only codes that need no side information:
EnCodec 48 kHz (stereo, a scale per 1 s segment computed over the whole segment) is refused.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
from torch import nn

from model import winograd
from model.causal_transformer import CausalTransformer, apply_rope, attend
from model.layers import ResidualUnit, Snake1d, WeightNormMixin, from_fast_layout, to_fast_layout
from model.receptive_field import ReportsReceptiveSpan, Span, decoder_margins, encoder_margins, span_of

if TYPE_CHECKING:
    from model.codec import Codec


@dataclass
class StreamingPlan:
    """How a network streams layer by layer: its layers in order, and its quantizer.

    Containers are opened down to layers with a span of their own; each of those runs on
    windows of its own margins, residual units as a block plus a held-back skip, recurrent
    layers (SEANet's ``SkipLSTM``) and :class:`CausalTransformer` carrying state between blocks.
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

    def needs(self, j: int) -> int:
        """The last input element its output element ``j`` waits for (in steady state)."""
        ...

    def held(self) -> int:
        """Elements held between pushes."""
        ...


class WindowStage:
    """A finite-receptive-field function run on windows of its input.

    The output is cut into *window frames*: one output per ``in_step`` inputs (encoders) or
    ``out_step`` outputs per input (decoders). Frame ``f`` is computed once frames up to
    ``f + right`` have arrived, from a window starting ``left`` frames before it; only the
    frames of that window that are final are kept, and input older than ``left`` frames
    before the next one is released.

    A function counted from the first frame (windowed attention, pooling blocks, noise keyed
    to positions) gets windows that start on multiples of ``alignment`` frames -- called as
    ``run(window, first_frame)`` when ``positional`` -- and hands out frames in whole
    ``units`` (a coarse code is final only once its whole block of frames is).
    """

    def __init__(self, run: Callable[..., torch.Tensor], in_step: int, out_step: int, left: int, right: int,
                 min_start: int = 0, alignment: int = 1, unit: int = 1, positional: bool = False) -> None:
        self.run, self.in_step, self.out_step, self.left, self.right = run, in_step, out_step, left, right
        self.min_start = min_start  # frames the first window must hold (start-of-signal reflection)
        self.alignment, self.unit, self.positional = alignment, unit, positional
        self._buffer: torch.Tensor | None = None
        self._first = 0  # input index of the buffer's first unit
        self._received = 0
        self._next = 0  # first window frame not yet output

    def push(self, x: torch.Tensor) -> torch.Tensor | None:
        self._buffer = x if self._buffer is None else torch.cat([self._buffer, x], dim=-1)
        self._received += x.shape[-1]
        available = self._received // self.in_step
        ready = (available - self.right) // self.unit * self.unit
        if ready <= self._next or (self._next == 0 and available < self.min_start):
            return None
        return self._compute(ready, available * self.in_step)

    def flush(self) -> torch.Tensor | None:
        if self._buffer is None or -(-self._received // self.in_step) <= self._next:
            return None
        return self._compute(None, self._received)

    def held(self) -> int:
        return 0 if self._buffer is None else self._buffer.numel()

    def needs(self, j: int) -> int:
        return (-(-(j // self.out_step + 1) // self.unit) * self.unit + self.right) * self.in_step - 1

    def _window_start(self, frame: int) -> int:
        """The first frame of the window that computes ``frame`` onwards."""
        return max(0, frame - self.left) // self.alignment * self.alignment

    def _compute(self, stop: int | None, input_end: int) -> torch.Tensor:
        """Frames ``next .. stop`` (``None``: to the end of the signal, whose true end the window holds)."""
        start = self._window_start(self._next)
        window = self._buffer[..., start * self.in_step - self._first: input_end - self._first]
        y = self.run(window, start) if self.positional else self.run(window)
        first = (self._next - start) * self.out_step
        out = y[..., first:] if stop is None else y[..., first:(stop - start) * self.out_step]
        if stop is not None:
            self._next = stop
            keep = self._window_start(stop) * self.in_step
            self._buffer = self._buffer[..., keep - self._first:]
            self._first = keep
        else:
            self._buffer, self._next = None, -(-self._received // self.in_step)
        return out


class _InStep:
    """A stage whose output ``j`` is ready with input ``j``: it holds no input back, and has
    nothing left to give at the end."""

    def flush(self) -> None:
        return None

    def needs(self, j: int) -> int:
        return j


class PointwiseStage(_InStep):
    """A frame-by-frame function (quantizing, dequantizing, activations): no margins, no state."""

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.run = run

    def push(self, x: torch.Tensor) -> torch.Tensor | None:
        return self.run(x)

    def held(self) -> int:
        return 0


class ResidualStage:
    """``shortcut(x) + block(x)`` streamed: the block as its own pipeline, the input it has not
    answered yet held back for the sum (the block keeps lengths, so outputs pair up in order)."""

    def __init__(self, unit: ResidualUnit) -> None:
        self.branch = _layer_pipeline([unit.block])
        self.shortcut = unit.shortcut
        self._pending: torch.Tensor | None = None

    def push(self, x: torch.Tensor) -> torch.Tensor | None:
        self._pending = x if self._pending is None else torch.cat([self._pending, x], dim=-1)
        return self._add(self.branch.push(x))

    def flush(self) -> torch.Tensor | None:
        return self._add(self.branch.flush())

    def needs(self, j: int) -> int:
        return max(j, self.branch.needs(j))

    def held(self) -> int:
        return self.branch.held() + (0 if self._pending is None else self._pending.numel())

    def _add(self, y: torch.Tensor | None) -> torch.Tensor | None:
        if y is None:
            return None
        skip, self._pending = self._pending[..., : y.shape[-1]], self._pending[..., y.shape[-1]:]
        return in_layout(y, skip.dim() == 4) + (skip if self.shortcut is None else self.shortcut(skip))


class LstmStage(_InStep):
    """A residual LSTM (``out + input``) carrying its hidden and cell states across blocks."""

    def __init__(self, lstm: nn.LSTM) -> None:
        self.lstm = lstm
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None

    def push(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.permute(2, 0, 1)
        out, self._state = self.lstm(steps, self._state)
        return (out + steps).permute(1, 2, 0)

    def held(self) -> int:
        return 0 if self._state is None else sum(s.numel() for s in self._state)


class TransformerStage(_InStep):
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

    def held(self) -> int:
        return sum(k.numel() + v.numel() for k, v in filter(None, self._cache))


class Pipeline:
    """Stages applied in order."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    def needs(self, j: int) -> int:
        """The last input element output element ``j`` waits for (in steady state)."""
        for stage in reversed(self.stages):
            j = stage.needs(j)
        return j

    def push(self, x: torch.Tensor | None) -> torch.Tensor | None:
        """The stages' output (in either layout), or None while they wait for more input."""
        for stage in self.stages:
            if x is None or x.shape[-1] == 0:
                return None
            x = stage.push(in_layout(x, getattr(stage, "fast", False)))
        return x

    def flush(self) -> torch.Tensor | None:
        x = None
        for stage in self.stages:
            pieces = [y for y in (Pipeline([stage]).push(x), stage.flush()) if y is not None]
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
        return in_layout(y, False).to("cpu", self.dtype)

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
        self._transforms = winograd.HeldTransforms(codec.network)  # per block, a transform per call would cost more

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
    plan = _plan(codec)
    if plan is None:
        return StreamEncoder(codec, _whole_network(codec, encoder=True), pad_to_hop=True)
    return StreamEncoder(codec, _layer_pipeline(plan.encoder, last=[PointwiseStage(plan.quantize)]),
                         pad_to_hop=plan.pad_to_hop)


def stream_decoder(codec: Codec, n_codebooks: int) -> StreamDecoder:
    if not 1 <= n_codebooks <= codec.n_codebooks:
        raise ValueError(f"codebook count must be in 1..{codec.n_codebooks}, got {n_codebooks}")
    plan = _plan(codec)
    if plan is None:
        return StreamDecoder(codec, _whole_network(codec, encoder=False), n_codebooks)
    pipeline = _layer_pipeline(plan.decoder, first=[PointwiseStage(plan.dequantize)])
    return StreamDecoder(codec, pipeline, n_codebooks)


def stream_latency(codec: Codec) -> float:
    """Seconds from a sample entering the encoder to its decoded sample leaving the decoder, in
    steady state, for the sample that waits longest: a frame's first sample waits for the rest
    of its frame (of the coarsest code's block of frames, for multi-scale codes), then every
    layer's lookahead adds up (stages wait in their own units)."""
    encoder, decoder = stream_encoder(codec).pipeline, stream_decoder(codec, 1).pipeline
    period = codec.hop_length * math.lcm(*codec.codebook_strides)  # the waits repeat with the coarsest block
    steady = 1000 * period  # far past the start
    wait = max(encoder.needs(decoder.needs(j)) - j for j in range(steady, steady + period))
    return (wait + 1) / codec.sample_rate


def _plan(codec: Codec) -> StreamingPlan | None:
    """The network's layer-by-layer plan; None for a chunkable network without one, or one whose layers
    are counted from the first frame or whose codes run at several rates (it streams whole, on aligned
    windows: layer stages know neither positions nor code blocks); an error for one that can do neither."""
    if codec.side_info or codec.channels != 1:
        raise ValueError(f"the {codec.family} codec is not streamed: "
                         + (f"its codes need side information ({', '.join(codec.side_info)}) computed over "
                            "whole segments; use encode_audio and decode" if codec.side_info else
                            f"it codes {codec.channels} channels jointly and streaming takes mono audio"))
    make = getattr(codec.network, "streaming_plan", None)
    whole = make is None or codec.chunk_alignment is not None or max(codec.codebook_strides) > 1
    if whole and not codec.chunkable:
        raise ValueError(f"the {codec.family} codec has an unbounded context and no streaming plan for its layers")
    return None if whole else make()


def _whole_network(codec: Codec, encoder: bool) -> Pipeline:
    """The network's own encode (decode) on windows: the chunked engine's context as the left
    margin, the receptive field's exact future reach as the right one (none for a causal stack).
    An aligned network gets windows starting on its :attr:`~model.codec.Codec.chunk_alignment`
    (its decoder told the window's first frame); codes come out in whole blocks of the coarsest code."""
    network, hop, alignment = codec.network, codec.hop_length, codec.chunk_alignment
    if encoder:
        left, run, in_step, out_step = codec.encoder_context, network.encode_codes, hop, 1
        stack = getattr(network, "encoder_stack", None)
        right = left if stack is None else encoder_margins(stack(), hop)[1]
        unit = math.lcm(*codec.codebook_strides)
    else:
        left, run, in_step, out_step = codec.decoder_context, network.decode_codes, 1, hop
        stack = getattr(network, "decoder_stack", None)
        right = left if stack is None else decoder_margins(stack())[1]
        unit = 1
    stage = WindowStage(run, in_step, out_step, left, right, left + right + 1 if _reflection_start(network) else 0,
                        alignment=alignment or 1, unit=unit, positional=alignment is not None and not encoder)
    return Pipeline([stage])


def _layer_pipeline(layers: list[nn.Module], last: list[Stage] = (), first: list[Stage] = ()) -> Pipeline:
    """Stages for ``layers``, one per layer, between ``first`` and ``last``."""
    return Pipeline([*first, *(_stage(layer) for layer in _leaves(layers)), *last])


def _leaves(layers: list[nn.Module]) -> list[nn.Module]:
    """The layers as applied one after another: containers without a span of their own are opened
    (as :func:`~model.receptive_field.span_of` reads them), down to layers that stream as a whole."""
    out: list[nn.Module] = []
    for layer in layers:
        children = list(layer.children())
        opens = (isinstance(layer, nn.Sequential)
                 or (children and not isinstance(layer, (ReportsReceptiveSpan, CausalTransformer, nn.LSTM))
                     and not isinstance(getattr(layer, "lstm", None), nn.LSTM)))
        out += _leaves(children) if opens else [layer]
    return out


def _stage(layer: nn.Module) -> Stage:
    stateful = _stateful_stage(layer)
    if stateful is not None:
        return stateful
    stage = _finite_stage(layer)
    stage.fast = _runs_fast(layer)
    return stage


def _finite_stage(layer: nn.Module) -> Stage:
    if isinstance(layer, ResidualUnit) and (layer.shortcut is None or span_of(layer.shortcut) == Span()):
        return ResidualStage(layer)
    span = span_of(layer)
    if span == Span():
        return PointwiseStage(layer)
    if span.scale >= 1:
        in_step, out_step = round(span.scale), 1
        left, right = encoder_margins(layer, in_step)
    else:
        in_step, out_step = 1, round(1 / span.scale)
        left, right = decoder_margins(layer)
    return WindowStage(layer, in_step, out_step, left, right, left + right + 1 if _reflection_start(layer) else 0)


def _stateful_stage(layer: nn.Module) -> Stage | None:
    if isinstance(layer, CausalTransformer):
        return TransformerStage(layer)
    lstm = getattr(layer, "lstm", None)  # SEANet's residual LSTM
    if isinstance(lstm, nn.LSTM):
        return LstmStage(lstm)
    return None


def _runs_fast(layer: nn.Module) -> bool:
    """Whether the layer takes the fast inference layout (see :mod:`model.layers`): only our
    weight-normalised convolutions and Snake hold weights in it."""
    return all(isinstance(m, (WeightNormMixin, Snake1d)) or next(m.parameters(recurse=False), None) is None
               for m in layer.modules())


def in_layout(x: torch.Tensor, fast: bool) -> torch.Tensor:
    """``x`` in the fast inference layout ``[B, C, 1, T]`` or the plain ``[B, C, T]`` one."""
    if fast == (x.dim() == 4):
        return x
    return to_fast_layout(x) if fast else from_fast_layout(x)


def _reflection_start(module: nn.Module) -> bool:
    """Whether some layer pads by reflection, so that the first outputs read ahead of themselves."""
    return any(getattr(m, "pad_mode", None) == "reflect" for m in module.modules())

