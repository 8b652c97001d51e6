"""Winograd convolution: the matrices are exact, the native kernel equals direct convolution to
float32 rounding at the scale the module documents, and only float32 decoders use it."""
import gc
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from model import native_kernels, tiled, winograd
from model.codec import Codec
from model.fast_mode import half_precision_network
from model.inference_memory import storage_bytes
from model.layers import WNConv1d, to_fast_layout
from model.streaming import stream_decoder
from tests.support.tiny_codecs import tiny_network

# F(6, 7) in float32 is off by 1-3e-5 of the output's scale (the module's claim, measured by
# benchmarks/bench_winograd.py); direct convolution by about 1e-6.
RELATIVE_ERROR = 5e-5


@pytest.fixture(scope="module")
def kernels():
    if native_kernels.build() is None:
        pytest.skip("no C++ toolchain: the native kernels are optional")


def _correlate(d: list, g: list, m: int) -> list:
    return [sum(g[k] * d[i + k] for k in range(len(g))) for i in range(m)]


@pytest.mark.parametrize("m, r, points", [
    (6, 7, winograd.POINTS),
    (2, 3, (0, 1, -1)),
    (4, 3, (0, 1, -1, 2, Fraction(-1, 2))),
])
def test_the_matrices_compute_the_correlation_exactly(m, r, points):
    at, g_matrix, bt = winograd.toom_cook(m, r, points)
    n = m + r - 1
    gen = torch.Generator().manual_seed(m * 10 + r)
    for _ in range(5):
        d = [Fraction(int(v)) for v in torch.randint(-9, 10, (n,), generator=gen)]
        g = [Fraction(int(v), 7) for v in torch.randint(-9, 10, (r,), generator=gen)]
        u = [sum(row[k] * g[k] for k in range(r)) for row in g_matrix]
        v = [sum(row[j] * d[j] for j in range(n)) for row in bt]
        y = [sum(row[p] * u[p] * v[p] for p in range(n)) for row in at]
        assert y == _correlate(d, g, m)


def test_a_wrong_number_of_points_is_refused():
    with pytest.raises(ValueError, match="needs 11 distinct finite points"):
        winograd.toom_cook(6, 7, (0, 1, -1))
    with pytest.raises(ValueError, match="distinct"):
        winograd.toom_cook(2, 3, (0, 1, 1))


def _direct64(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, dilation: int, padding: int) -> torch.Tensor:
    return F.conv1d(x.squeeze(2).double(), w.double(), None if b is None else b.double(),
                    padding=padding, dilation=dilation)


_GEOMETRIES = [(d, length, pad) for d in (1, 3, 9) for length in (1, 7, 50, 1001) for pad in (3, 0)
               if length + 2 * pad * d > 6 * d]


@pytest.mark.parametrize("dilation, length, padding_per_dilation", _GEOMETRIES)
def test_the_kernel_equals_direct_convolution(kernels, dilation, length, padding_per_dilation):
    padding = padding_per_dilation * dilation
    torch.manual_seed(length + dilation)
    x = to_fast_layout(torch.randn(2, 48, length))
    w = torch.randn(64, 48, 7) / (7 * 48) ** 0.5
    for bias in (None, torch.randn(64)):
        y = winograd.convolve(x, winograd.transformed_weight(w), bias, dilation, padding)
        reference = _direct64(x, w, bias, dilation, padding)
        assert y.shape == (2, 64, 1, reference.shape[-1]) and y.is_contiguous(memory_format=torch.channels_last)
        error = (y.squeeze(2).double() - reference).abs().max().item()
        assert error <= RELATIVE_ERROR * reference.abs().max().item()


def test_an_input_too_short_for_one_output_is_left_to_direct_convolution(kernels):
    x = to_fast_layout(torch.randn(1, 48, 18))
    assert winograd.convolve(x, winograd.transformed_weight(torch.randn(48, 48, 7)), None, 3, 0) is None


def test_a_folded_layer_uses_it_only_for_float32_inference_in_the_fast_layout(kernels):
    torch.manual_seed(0)
    conv = WNConv1d(64, 64, kernel_size=7, dilation=3, padding=9)
    x = torch.randn(1, 64, 300)
    with torch.no_grad():
        unfolded = conv(x)
    conv.enable_winograd()
    assert conv._winograd is None  # not folded yet: nothing transformed
    conv.fold()
    assert conv._winograd.shape == (12, 64, 64)
    calls = []
    real = winograd.convolve
    with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(winograd, "convolve", lambda *a: calls.append(1) or real(*a))
        plain = conv(x)  # [B, C, T]: direct
        fast = conv(to_fast_layout(x)).squeeze(2)
    assert len(calls) == 1 and torch.equal(plain, unfolded)
    assert (fast - unfolded).abs().max() <= RELATIVE_ERROR * unfolded.abs().max()
    with torch.enable_grad():  # training keeps direct convolution (no gradients through the kernel)
        xg = to_fast_layout(x).requires_grad_()
        assert winograd.convolve(xg, conv._winograd, conv.bias, 3, 9) is None
    conv.unfold()
    assert conv._winograd is None


def test_narrow_or_strided_layers_are_left_to_direct_convolution():
    assert winograd.eligible(WNConv1d(128, 128, 7, padding=3))
    assert not winograd.eligible(WNConv1d(96, 128, 7, padding=3))
    assert not winograd.eligible(WNConv1d(64, 64, 3, padding=1))
    assert not winograd.eligible(WNConv1d(64, 64, 7, stride=2))
    assert not winograd.eligible(WNConv1d(64, 64, 7, groups=64))


def _codec(network) -> Codec:
    return Codec(network, name="wide dac", family="dac", config={})


def test_a_decoder_uses_it_and_stays_within_rounding_while_the_codes_stay_identical(kernels, monkeypatch):
    net = tiny_network("dac", decoder_dim=256)
    codec = _codec(net)
    layers = [m for m in codec.network.decoder_stack().modules() if getattr(m, "_winograd", None) is not None]
    assert layers and not any(getattr(m, "_winograd", None) is not None for m in codec.network.encoder_stack().modules())
    wave = 0.3 * torch.randn(1, 1, codec.hop_length * 40)
    codes = codec.encode(wave)
    audio = codec.decode(codes)
    monkeypatch.setenv("RVQ_NO_WINOGRAD", "1")
    assert torch.equal(codec.encode(wave), codes)
    direct = codec.decode(codes)
    assert not torch.equal(audio, direct)  # it ran: rounding differs
    assert (audio - direct).abs().max() <= RELATIVE_ERROR * direct.abs().max()


def test_new_weights_are_transformed_again(kernels):
    codec = _codec(tiny_network("dac", decoder_dim=256))
    layer = next(m for m in codec.network.decoder_stack().modules() if getattr(m, "_winograd", None) is not None)
    before = layer._winograd.clone()
    state = {k: v * 2 if k.endswith("weight_g") else v for k, v in codec.network.state_dict().items()}
    codec.network.load_state_dict(state)
    torch.testing.assert_close(layer._winograd, 2 * before, rtol=1e-6, atol=0)
    torch.testing.assert_close(layer._winograd, winograd.transformed_weight(layer._folded), rtol=0, atol=0)


def test_fast_mode_holds_no_transformed_weights(kernels):
    codec = _codec(tiny_network("dac", decoder_dim=256))
    fast = half_precision_network(codec.network)
    assert not any(getattr(m, "_winograd", None) is not None for m in fast.modules())
    assert any(getattr(m, "_winograd", None) is not None for m in codec.network.modules())


def test_without_the_native_build_no_weight_is_transformed(monkeypatch):
    monkeypatch.setattr(native_kernels, "load", lambda: None)
    codec = _codec(tiny_network("dac", decoder_dim=256))
    assert not any(getattr(m, "_winograd", None) is not None for m in codec.network.modules())


@pytest.mark.parametrize("c_out, c_in", [(130, 64), (64, 200), (768, 16)])
def test_the_transform_by_blocks_gives_one_whole_products_bits(c_out, c_in):
    torch.manual_seed(c_out)
    w = torch.randn(c_out, c_in, 7) / (7 * c_in) ** 0.5
    _, g, _ = winograd.transforms()
    whole = torch.einsum("pk,ock->pco", g, w.double()).float().contiguous()
    assert torch.equal(winograd.transformed_weight(w), whole)


def _fast_output(conv: WNConv1d, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return conv(to_fast_layout(x))


def test_a_per_call_layer_holds_one_copy_and_computes_the_held_ones_bits(kernels):
    torch.manual_seed(1)
    conv = WNConv1d(128, 128, kernel_size=7, dilation=3, padding=9)
    x = torch.randn(1, 128, 400)
    conv.enable_winograd()
    conv.fold()
    held = _fast_output(conv, x)
    state = conv.state_dict()
    conv.enable_winograd(per_call=True)
    assert conv._winograd is None and conv.uses_winograd()
    assert torch.equal(_fast_output(conv, x), held)
    assert state.keys() == conv.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in conv.state_dict().items())
    conv.hold_winograd()
    conv.hold_winograd()
    assert conv._winograd is not None and torch.equal(_fast_output(conv, x), held)
    conv.release_winograd()
    assert conv._winograd is not None  # one holder left
    conv.release_winograd()
    assert conv._winograd is None
    conv.load_state_dict(state)  # folded again: still per call
    assert conv._winograd is None and torch.equal(_fast_output(conv, x), held)


def test_the_head_before_the_tail_tiles_transforms_per_call_and_decodes_as_before(kernels, monkeypatch):
    """A decoder's low-rate head (before :func:`model.tiled.tail_start`) runs once per chunk: its
    layers transform their weight per call; the output keeps its bits, the held memory drops."""
    monkeypatch.setattr(tiled, "TAIL_ELEMENTS", 1 << 15)  # a tiny decoder's tail then starts after a block
    codec = _codec(tiny_network("dac", decoder_dim=512))
    stack = codec.network.decoder_stack()
    head = tiled.tail_start(stack, 64)
    assert head is not None and head >= 2
    stages = [[m for m in stage.modules() if isinstance(m, WNConv1d) and m.uses_winograd()] for stage in stack]
    per_call = [m for stage in stages[:head] for m in stage]
    assert per_call and all(m._winograd is None for m in per_call)
    assert all(m._winograd is not None for stage in stages[head:] for m in stage)
    codes = codec.encode(0.3 * torch.randn(1, 1, codec.hop_length * 40))
    audio = codec.decode(codes)
    one_copy = storage_bytes(codec.network)
    for layer in per_call:
        layer.enable_winograd()
    assert storage_bytes(codec.network) == one_copy + sum(m._winograd.untyped_storage().nbytes() for m in per_call)
    assert torch.equal(codec.decode(codes), audio)


def test_a_stream_decoder_holds_the_per_call_transforms_while_it_lives(kernels):
    codec = _codec(tiny_network("dac", decoder_dim=256))
    layers = [m for m in codec.network.modules() if isinstance(m, WNConv1d) and m.uses_winograd()]
    codes = codec.encode(0.3 * torch.randn(1, 1, codec.hop_length * 12))
    held = stream_decoder(codec, codec.n_codebooks)
    streamed = torch.cat([held.push(codes[..., :5]), held.push(codes[..., 5:]), held.flush()], dim=-1)
    del held  # it holds too (a count per layer): gone, so that only the next one holds
    for layer in layers:
        layer.enable_winograd(per_call=True)
    streamer = stream_decoder(codec, codec.n_codebooks)
    assert all(m._winograd is not None for m in layers)
    again = torch.cat([streamer.push(codes[..., :5]), streamer.push(codes[..., 5:]), streamer.flush()], dim=-1)
    assert torch.equal(again, streamed)
    del streamer
    gc.collect()
    assert all(m._winograd is None for m in layers)


@pytest.mark.slow
def test_dac_44k_transforms_its_first_block_per_call_and_decodes_as_when_holding_it(kernels):
    """The release's architecture (seeded random weights): the 768-channel block before the tail
    tiles holds no transformed weight, and decoding keeps the bits of holding it."""
    from model.registry import family, preset

    torch.manual_seed(0)
    recipe = preset("dac-44k")
    codec = Codec(family(recipe.family).build(recipe.architecture), name="dac 44k", family="dac", config={})
    stack = codec.network.decoder_stack()
    head = tiled.tail_start(stack, 1024)
    winograd_layers = [[m for m in stage.modules() if isinstance(m, WNConv1d) and m.uses_winograd()]
                       for stage in stack]
    per_call = [m for stage in winograd_layers[:head] for m in stage]
    assert {m.in_channels for m in per_call} == {768} and all(m._winograd is None for m in per_call)
    assert all(m._winograd is not None for stage in winograd_layers[head:] for m in stage)
    codes = torch.randint(0, codec.codebook_size, (1, codec.n_codebooks, 40), generator=torch.Generator().manual_seed(1))
    audio = codec.decode(codes)
    for layer in per_call:
        layer.enable_winograd()
    assert torch.equal(codec.decode(codes), audio)
