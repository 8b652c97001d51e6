"""The fast inference path (folded, channels-last, polyphase, tiled) equals the exact one."""
import pytest
import torch
from torch import nn

from model.layers import (WNConvTranspose1d, fold_weight_norm, from_fast_layout, polyphase_groups, to_fast_layout,
                          unfold_weight_norm)
from model.tiled import run_sequential_tiled


@pytest.mark.parametrize("stride", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("length", [1, 2, 9, 64])
@pytest.mark.parametrize("centred", [True, False], ids=["dac-padding", "no-padding"])
def test_polyphase_transposed_conv_equals_conv_transpose(stride, length, centred):
    torch.manual_seed(stride * 100 + length)
    layer = WNConvTranspose1d(6, 4, 2 * stride, stride, (stride + 1) // 2 if centred else 0)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 6, length)
    exact = layer(x)
    fold_weight_norm(layer)
    assert exact.shape[-1] == (length - 1) * stride - 2 * layer.padding + 2 * stride
    torch.testing.assert_close(layer(x), exact, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(from_fast_layout(layer(to_fast_layout(x))), exact, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("stride", [2, 3, 4, 8])
def test_polyphase_groups_multiply_no_zero_taps(stride):
    """A kernel of two strides reads two inputs per output sample; DAC's centring padding shifts
    which two for some phases, and each phase group's convolution covers only its own two."""
    weight = torch.randn(6, 4, 2 * stride)
    groups = polyphase_groups(weight, None, stride, (stride + 1) // 2)
    assert [g.taps for g in groups] == [2] * len(groups)
    assert sum(g.weight.shape[0] for g in groups) == stride * 4
    assert len(polyphase_groups(weight, None, stride, 0)) == 1


def test_unfolding_a_transposed_conv_restores_the_exact_path():
    torch.manual_seed(0)
    layer = WNConvTranspose1d(6, 4, 8, 4, 2)
    x = torch.randn(1, 6, 20)
    exact = layer(x)
    fold_weight_norm(layer)
    unfold_weight_norm(layer)
    assert torch.equal(layer(x), exact)
    fold_weight_norm(layer)
    torch.testing.assert_close(layer(x), exact, atol=1e-5, rtol=1e-5)


def test_fast_layout_network_equals_training_layout(make_small_dac):
    net = make_small_dac().eval()
    x = torch.randn(2, 1, 512 * 30) * 0.3
    with torch.no_grad():
        z = net.encoder(x)
        codes = net.quantizer(z).codes
        wave = net.decoder(net.quantizer.decode(codes))
        fold_weight_norm(net)
        assert torch.equal(net.encode_codes(x), codes)
        torch.testing.assert_close(net.decode_codes(codes), wave, atol=1e-5, rtol=1e-5)


def test_tiled_stack_equals_whole_stack(make_small_dac, monkeypatch):
    import model.tiled as tiled

    net = make_small_dac().eval()
    fold_weight_norm(net)
    x = to_fast_layout(torch.randn(1, 1, 512 * 200) * 0.3)
    with torch.no_grad():
        monkeypatch.setattr(tiled, "TILE_ELEMENTS", 1 << 40)
        whole = run_sequential_tiled(net.encoder.block, x)
        monkeypatch.setattr(tiled, "TILE_ELEMENTS", 1 << 12)
        monkeypatch.setattr(tiled, "MIN_TILE", 256)
        tiles = run_sequential_tiled(net.encoder.block, x)
    assert tiles.shape == whole.shape
    torch.testing.assert_close(tiles, whole, atol=1e-5, rtol=1e-5)


def test_tiling_actually_splits_long_narrow_stages(make_small_dac, monkeypatch):
    import model.tiled as tiled

    net = make_small_dac().eval()
    fold_weight_norm(net)
    calls = []
    first = net.encoder.block[0]
    hook = first.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[-1]))
    monkeypatch.setattr(tiled, "MIN_TILE", 256)
    with torch.no_grad():
        tiled.run_tiled(first, to_fast_layout(torch.randn(1, 1, 20000)), tile_elements=1024)
    hook.remove()
    assert len(calls) > 1 and max(calls) < 20000


def _decoder_pass(net, latents: torch.Tensor, monkeypatch, **settings) -> tuple[torch.Tensor, list[int]]:
    """The fast decoder stack on ``latents`` with ``model.tiled``'s ``settings``, and the sizes of
    the outputs its leaf layers produced."""
    import model.tiled as tiled

    for name, value in settings.items():
        monkeypatch.setattr(tiled, name, value)
    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.numel()))
             for m in net.decoder_stack().modules() if not list(m.children())]
    try:
        with torch.no_grad():
            out = from_fast_layout(run_sequential_tiled(net.decoder_stack(), to_fast_layout(latents)))
    finally:
        for hook in hooks:
            hook.remove()
    return out, sizes


UNTILED = dict(TILE_ELEMENTS=1 << 40, MIN_TILE=1 << 40, TAIL_ELEMENTS=0)  # every stage whole, no tail
SMALL_TAIL = dict(TAIL_ELEMENTS=1 << 15, MAX_HALO_SHARE=1 / 2)  # a tail of ~1k-sample tiles in a small decoder


@pytest.mark.parametrize("frames", [1, 7, 120])
def test_a_decoder_tail_on_tiles_equals_the_untiled_decoder(make_small_dac, monkeypatch, frames):
    """Tail tiles (each read with the tail's joint halo, written into one output) give the whole pass's
    audio, at every length: shorter than a tile, a few tiles, and a last tile cut short."""
    net = make_small_dac().eval()
    fold_weight_norm(net)
    latents = torch.randn(1, net.config.resolved_latent_dim, frames, generator=torch.Generator().manual_seed(frames))
    whole, whole_sizes = _decoder_pass(net, latents, monkeypatch, **UNTILED)
    tiles, tile_sizes = _decoder_pass(net, latents, monkeypatch, **SMALL_TAIL)
    assert tiles.shape == whole.shape == (1, 1, frames * net.hop_length)
    torch.testing.assert_close(tiles, whole, atol=1e-6 * whole.abs().max().item(), rtol=0)
    if frames == 120:  # long enough to be cut: no layer of the tail saw the whole signal
        assert max(tile_sizes) < max(whole_sizes) / 4


@pytest.mark.parametrize("key", ["hificodec", "soundstream"])
def test_other_decoders_tails_on_tiles_equal_their_untiled_decoders(key, monkeypatch):
    """The same for the other families whose decoder runs as one stack (their own layers: multi-receptive
    field blocks, reflect-padded convolutions)."""
    from model.inference_memory import prepare_for_inference
    from tests.support.tiny_codecs import tiny_network

    net = tiny_network(key)
    prepare_for_inference(net)
    latents = net.quantizer.decode(torch.randint(0, net.codebook_size, (1, net.n_codebooks, 400),
                                                 generator=torch.Generator().manual_seed(1)))
    whole, whole_sizes = _decoder_pass(net, latents, monkeypatch, **UNTILED)
    tiles, tile_sizes = _decoder_pass(net, latents, monkeypatch, **{**SMALL_TAIL, "TAIL_ELEMENTS": 1 << 13})
    torch.testing.assert_close(tiles, whole, atol=1e-6 * whole.abs().max().item(), rtol=0)
    assert max(tile_sizes) < max(whole_sizes) / 2
