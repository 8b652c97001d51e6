"""Fast mode (bfloat16 stacks): opt-in, close to float32, refused where it cannot run, and
switched off it gives the exact float32 results again."""
import pytest
import throwaway_family
import torch
from tiny_codecs import tiny_network

from model.codec import Codec
from model.fast_mode import FastModeUnavailable
from model.layers import Snake1d, cast, to_fast_layout
from model.registry import FAMILIES

FAMILY_KEYS = [*FAMILIES, throwaway_family.KEY]


@pytest.fixture(params=FAMILY_KEYS)
def codec(request, monkeypatch) -> Codec:
    throwaway_family.register(monkeypatch)
    return Codec(tiny_network(request.param), name="tiny", family=request.param, config={})


def _signal(codec: Codec) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return 0.3 * torch.randn(2, codec.channels, int(codec.sample_rate * 0.4) + 19, generator=g)


def test_fast_mode_is_off_by_default_and_exact_again_when_switched_off(codec):
    assert codec.fast_mode is None
    x = _signal(codec)
    codes = codec.encode(x)
    wave = codec.decode(codes)
    try:
        codec.set_fast_mode(True)
    except FastModeUnavailable:
        assert codec.fast_mode is None
        return
    assert codec.fast_mode == "bf16"
    codec.encode(x)
    codec.set_fast_mode(False)
    assert codec.fast_mode is None
    assert torch.equal(codec.encode(x), codes)
    assert torch.equal(codec.decode(codes), wave)


def test_fast_mode_decodes_close_to_float32_or_is_refused(codec):
    x = _signal(codec)
    codes = codec.encode(x)
    exact = codec.decode(codes)
    try:
        codec.set_fast_mode(True)
    except FastModeUnavailable as exc:
        assert "not available" in str(exc)
        return
    fast_codes = codec.encode(x)
    fast = codec.decode(codes)
    assert fast.dtype == torch.float32 and fast.shape == exact.shape
    # bfloat16 keeps 8 bits of mantissa: errors near -40 dB; 25 dB leaves room for deep stacks.
    snr = 10 * torch.log10(exact.pow(2).sum() / (exact - fast).pow(2).sum())
    assert snr > 25
    assert fast_codes.shape == codes.shape
    # The first codebook decides between far-apart codewords; rounding moves few of its codes.
    assert (fast_codes[:, 0] == codes[:, 0]).float().mean() > 0.8


def test_fast_mode_keeps_the_float32_network_and_shares_the_quantizer(codec):
    try:
        codec.set_fast_mode(True)
    except FastModeUnavailable:
        pytest.skip(f"{codec.family}: fast mode is refused for this family")
    assert all(p.dtype == torch.float32 for p in codec.network.parameters())
    fast = codec.inference_network()
    assert fast.quantizer is codec.network.quantizer
    assert {p.dtype for p in fast.decoder_stack().parameters()} == {torch.bfloat16}


@pytest.mark.parametrize("fast_layout", [True, False], ids=["channels-last", "plain"])
def test_bfloat16_snake_is_the_float32_snake_rounded_once(fast_layout):
    torch.manual_seed(0)
    snake = Snake1d(5)
    with torch.no_grad():
        snake.alpha.uniform_(0.5, 2.0)
    x = torch.randn(2, 5, 300)
    x = to_fast_layout(x) if fast_layout else x
    x = cast(x, torch.bfloat16)
    with torch.inference_mode():
        out = snake.to(torch.bfloat16)(x)
        expected = snake.float()(x.float()).to(torch.bfloat16)  # alpha as rounded to bfloat16
    assert out.dtype == torch.bfloat16
    assert out.is_contiguous(memory_format=torch.channels_last) == fast_layout
    assert torch.equal(out, expected)
