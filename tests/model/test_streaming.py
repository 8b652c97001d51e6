"""Streaming encode/decode equals offline encode/decode, for every family, in bounded memory.

Each registry family (and the throwaway family only the tests register) is streamed with its
tiny recipe's network; the official layouts with their reference fixtures (DAC, EnCodec,
Mimi) and the bundled default model as well. Blocks have random sizes, single samples and
single frames included, and blocks longer than a whole streaming window.
"""
from pathlib import Path

import numpy as np
import pytest
import throwaway_family
import torch
from tiny_codecs import tiny_network

from model import load_codec
from model.causal_transformer import CausalTransformer
from model.codec import Codec
from model.layers import PaddedConv1d
from model.receptive_field import decoder_margins, encoder_margins
from model.registry import FAMILIES
from model.seanet import SkipLSTM
from model.streaming import LstmStage, TransformerStage, WindowStage

FIXTURES = Path(__file__).parent.parent / "fixtures"
OFFICIAL = {"dac": "dac/dac16k", "encodec": "encodec/encodec24k", "mimi": "mimi/mimi"}  # file, reference outputs
OFFICIAL_SUFFIX = {"dac": ".pth", "encodec": ".th", "mimi": ".safetensors"}
AUDIO_TOLERANCE = 1e-5


def _blocks(length: int, seed: int, largest: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` ranges of random sizes from 1 to ``largest``, starting with a single one."""
    g = torch.Generator().manual_seed(seed)
    ranges, start = [], 0
    while start < length:
        size = 1 if not ranges else int(torch.randint(1, largest + 1, (1,), generator=g))
        if len(ranges) % 5 == 4:
            size = 1
        ranges.append((start, min(length, start + size)))
        start += size
    return ranges


def _stream(streamer, x: torch.Tensor, ranges: list[tuple[int, int]]) -> torch.Tensor:
    pieces = [streamer.push(x[..., a:b]) for a, b in ranges]
    return torch.cat([*pieces, streamer.flush()], dim=-1)


def _signal(codec: Codec, seconds: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(2, 1, int(codec.sample_rate * seconds) + 19, generator=g)


def _check_round_trip(codec: Codec, x: torch.Tensor, seed: int) -> torch.Tensor:
    """Streams ``x`` through encoder and decoder; returns the streamed codes."""
    codes = codec.encode(x)
    streamed = _stream(codec.stream_encoder(), x, _blocks(x.shape[-1], seed, 8 * codec.hop_length))
    assert streamed.shape == codes.shape and streamed.dtype == codes.dtype
    assert torch.equal(streamed, codes)
    for n in sorted({1, codec.n_codebooks}):
        wave = codec.decode(codes[:, :n])
        audio = _stream(codec.stream_decoder(n), codes[:, :n], _blocks(codes.shape[-1], seed + n, 12))
        assert audio.shape == wave.shape
        assert (audio - wave).abs().max() <= AUDIO_TOLERANCE
    return streamed


@pytest.fixture(params=[*FAMILIES, throwaway_family.KEY])
def tiny_codec(request, monkeypatch) -> Codec:
    throwaway_family.register(monkeypatch)
    return Codec(tiny_network(request.param), name="tiny", family=request.param, config={})


@pytest.mark.parametrize("seed", [0, 1])
def test_streamed_codes_and_audio_equal_offline(tiny_codec, seed):
    _check_round_trip(tiny_codec, _signal(tiny_codec, 0.4, seed), seed)


@pytest.mark.parametrize("key", OFFICIAL)
def test_official_layouts_stream_to_the_reference_codes(key):
    """On the fixtures' reference input (whose codes the reference packages computed; random
    signals through 32 random codebooks meet float near-ties in the last ones)."""
    reference = np.load(FIXTURES / f"{OFFICIAL[key]}_expected.npz")
    codec = load_codec(FIXTURES / f"{OFFICIAL[key]}{OFFICIAL_SUFFIX[key]}")
    streamed = _check_round_trip(codec, torch.from_numpy(reference["input"]), 2)
    assert torch.equal(streamed, torch.from_numpy(reference["codes"]).long())


def test_snac_release_layout_streams_to_the_reference_codes():
    """Attention windows of 32 frames and four code rates (strides 8, 4, 2, 1), noise on: every
    scale's streamed codes are the reference package's (``codes[:, k, ::stride]``)."""
    reference = np.load(FIXTURES / "snac" / "snac44k_expected.npz")
    codec = load_codec(FIXTURES / "snac" / "snac44k")
    streamed = _check_round_trip(codec, torch.from_numpy(reference["input"]), 5)
    for k, stride in enumerate(codec.codebook_strides):
        ours = streamed[:, k, ::stride]
        assert torch.equal(ours, torch.from_numpy(reference[f"codes_{k}"][:, : ours.shape[-1]]).long())


def test_a_decoder_with_winograd_layers_streams_within_the_tolerance():
    """Wide kernel-7 decoder layers convolve by Winograd tiles (model/winograd.py) in both paths,
    over tiles placed differently: blocks of a few frames against whole chunks."""
    codec = Codec(tiny_network("dac", decoder_dim=256), name="wide", family="dac", config={})
    if not any(getattr(m, "_winograd", None) is not None for m in codec.network.modules()):
        pytest.skip("no native build here: the decoder convolves directly")
    _check_round_trip(codec, _signal(codec, 0.3, 5), 5)


@pytest.mark.slow
def test_default_model_streams_exactly():
    codec = load_codec("default")
    _check_round_trip(codec, _signal(codec, 1.0, 3), 3)


@pytest.mark.parametrize("key", ["dac", "soundstream"])
def test_a_chunkable_network_without_a_plan_streams_whole_on_windows(key):
    """A family that does not describe its layers still streams: its own encode (decode) on windows
    with the chunked engine's left margin and its receptive field's reach on the right."""
    network = tiny_network(key)
    network.streaming_plan = None  # as a network class without the method
    codec = Codec(network, name="tiny", family=key, config={})
    assert codec.chunkable
    _check_round_trip(codec, _signal(codec, 0.3, 4), 4)
    layered = Codec(tiny_network(key), name="tiny", family=key, config={})
    assert codec.stream_latency >= layered.stream_latency  # whole windows wait at least as long


def test_one_block_and_per_sample_blocks_give_the_same_codes(tiny_codec):
    x = _signal(tiny_codec, 0.05)
    whole = _stream(tiny_codec.stream_encoder(), x, [(0, x.shape[-1])])
    per_sample = _stream(tiny_codec.stream_encoder(), x, [(i, i + 1) for i in range(x.shape[-1])])
    assert torch.equal(whole, per_sample) and torch.equal(whole, tiny_codec.encode(x))


def test_flush_completes_the_stream_to_the_offline_length(tiny_codec):
    x = _signal(tiny_codec, 0.1)[..., : 5 * tiny_codec.hop_length + 3]  # ends inside a frame
    enc = tiny_codec.stream_encoder()
    before = enc.push(x)
    rest = enc.flush()
    assert before.shape[-1] + rest.shape[-1] == -(-x.shape[-1] // tiny_codec.hop_length)
    assert rest.shape[:2] == (2, tiny_codec.n_codebooks)
    with pytest.raises(ValueError, match="flushed"):
        enc.push(x)
    dec = tiny_codec.stream_decoder(1)
    codes = torch.cat([before, rest], dim=-1)[:, :1]
    assert dec.push(codes).shape[-1] + dec.flush().shape[-1] == tiny_codec.decode(codes).shape[-1]


@pytest.mark.parametrize("length", [1, 5])
def test_a_signal_shorter_than_a_frame_streams_like_offline(tiny_codec, length):
    x = _signal(tiny_codec, 0.01)[..., :length]
    codes = _stream(tiny_codec.stream_encoder(), x, [(0, 1), (1, length)])
    assert torch.equal(codes, tiny_codec.encode(x))
    audio = _stream(tiny_codec.stream_decoder(tiny_codec.n_codebooks), codes, [(0, 1), (1, codes.shape[-1])])
    wave = tiny_codec.decode(codes)
    assert audio.shape == wave.shape and (audio - wave).abs().max() <= AUDIO_TOLERANCE


def test_an_empty_stream_flushes_to_nothing(tiny_codec):
    enc = tiny_codec.stream_encoder()
    assert enc.push(torch.zeros(1, 1, 0)).shape == (1, tiny_codec.n_codebooks, 0)
    assert enc.flush().shape == (1, tiny_codec.n_codebooks, 0)


@pytest.mark.parametrize("extra", [0, 5])
def test_held_state_does_not_grow_with_the_stream(tiny_codec, extra):
    """The streamer keeps its margins and state, not the history: blocks of whole frames leave the
    same peak for 4x the pushes; other blocks at most the part of a frame still incomplete. The
    shorter signal outlasts the start-up, while the chain fills its margins (about twice the latency)."""
    def peak(seconds: float) -> int:
        x, block = _signal(tiny_codec, seconds), 3 * tiny_codec.hop_length + extra
        enc, dec, most = tiny_codec.stream_encoder(), tiny_codec.stream_decoder(tiny_codec.n_codebooks), 0
        for a in range(0, x.shape[-1] - block + 1, block):  # whole blocks only
            dec.push(enc.push(x[..., a:a + block]))
            most = max(most, enc.held() + dec.held())
        return most

    seconds = 0.1 + 2 * tiny_codec.stream_latency
    short = peak(seconds)
    assert 0 < short <= peak(4 * seconds) <= short + (2 * tiny_codec.hop_length if extra else 0)


def test_decoded_audio_trails_the_input_by_the_stated_latency(tiny_codec):
    """Encoder and decoder chained: past the start, every sample older than ``stream_latency``
    has come out of the decoder, and once in every frame (every block of the coarsest code's
    frames, for multi-scale codes) the latency is reached exactly."""
    hop = tiny_codec.hop_length
    period = hop * max(tiny_codec.codebook_strides)  # the coarsest code is final once its whole block is
    latency = round(tiny_codec.stream_latency * tiny_codec.sample_rate)
    assert latency >= period  # a frame's codes need the whole frame (block)
    x = _signal(tiny_codec, 0.1 + 2 * (latency + period) / tiny_codec.sample_rate)
    enc, dec = tiny_codec.stream_encoder(), tiny_codec.stream_decoder(tiny_codec.n_codebooks)
    start = x.shape[-1] - period - hop  # well past the start-up (reflection padding waits once)
    out = dec.push(enc.push(x[..., :start])).shape[-1]
    slack = []
    for pushed in range(start + 1, start + period + 1):  # one sample at a time through one period
        out += dec.push(enc.push(x[..., pushed - 1:pushed])).shape[-1]
        slack.append(out - (pushed - latency + 1))  # samples out beyond those older than the latency
    assert min(slack) == 0


# -- the stateful layers, one at a time, against the offline layer ----------------------------------

def _in_pieces(stage, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    out, start = [], 0
    for size in sizes:
        y = stage.push(x[..., start:start + size])
        out += [] if y is None else [y]
        start += size
    tail = stage.flush()
    return torch.cat(out + ([] if tail is None else [tail]), dim=-1)


def test_lstm_stage_carries_its_state_exactly():
    torch.manual_seed(0)
    layer = SkipLSTM(6, 2).eval()
    x = torch.randn(2, 6, 40)
    with torch.inference_mode():
        streamed = _in_pieces(LstmStage(layer.lstm), x, [1, 5, 13, 1, 20])
        assert (streamed - layer(x)).abs().max() < 1e-6


@pytest.mark.parametrize("context", [1, 3, 70])
def test_transformer_stage_with_a_rolling_cache_equals_the_whole(context):
    torch.manual_seed(0)
    transformer = CausalTransformer(dim=16, num_heads=2, num_layers=2, dim_feedforward=32, context=context,
                                    layer_scale=0.5, max_period=100.0).eval()
    x = torch.randn(2, 16, 150)
    with torch.inference_mode():
        stage = TransformerStage(transformer)
        streamed = _in_pieces(stage, x, [1, 2, 80, 1, 66])
        assert (streamed - transformer(x)).abs().max() < 1e-5
        assert stage.held() == 2 * 2 * 2 * 16 * (context - 1)  # layers x (keys, values) x batch x width x cache


def test_a_transformer_attending_to_all_the_past_is_refused():
    transformer = CausalTransformer(dim=8, num_heads=2, num_layers=1, dim_feedforward=16, context=None,
                                    layer_scale=None, max_period=100.0)
    with pytest.raises(ValueError, match="finite attention context"):
        TransformerStage(transformer)


@pytest.mark.parametrize("pad_mode", ["zero", "reflect"])
def test_causal_convolution_with_a_left_buffer_equals_the_whole(pad_mode):
    torch.manual_seed(0)
    conv = PaddedConv1d(3, 4, 7, stride=2, dilation=2, causal=True, pad_mode=pad_mode).eval()
    x = torch.randn(2, 3, 61)
    left, right = encoder_margins(conv, 2)
    assert (left, right) == (6, 0)  # ((7 - 1) * 2 - 1) / 2 input frames of past, rounded up; no future
    with torch.inference_mode():
        stage = WindowStage(conv, 2, 1, left, right, left + 1 if pad_mode == "reflect" else 0)
        streamed = _in_pieces(stage, x, [1, 1, 4, 9, 1, 30, 15])
        assert streamed.shape == conv(x).shape
        assert (streamed - conv(x)).abs().max() < 1e-6
        assert stage.held() <= 2 * 3 * (left + 1) * 2 + 2 * 3 * 30  # margin and one block, never the history


def test_mimi_resampling_streams_without_lookahead():
    """Mimi's learned down- and upsampling run on windows: their one-sided spans give no right margin."""
    network = tiny_network("mimi")
    down, up = network.encoder.downsample, network.decoder.upsample
    x = torch.randn(1, network.config.dimension, 12)
    assert encoder_margins(down, 2)[1] == 0 and decoder_margins(up)[1] == 0
    with torch.inference_mode():
        for layer, steps, (left, right) in ((down, (2, 1), encoder_margins(down, 2)), (up, (1, 2), decoder_margins(up))):
            streamed = _in_pieces(WindowStage(layer, *steps, left, right), x, [1, 3, 1, 7])
            assert (streamed - layer(x)).abs().max() < 1e-6
