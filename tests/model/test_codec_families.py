"""Every family behind the one interface: load_codec + Codec, exact chunking, files, SoundStream.

Every family of the registry is tested, and a throwaway family that only the tests enter in
the registry (nothing else is told about it), each with its tiny recipe's architecture and its
EMA codebooks initialised by one training step (k-means on the first batch); and EnCodec's
48 kHz configuration (stereo, time group norm, normalised segments: a codec with side
information) on the tiny recipe's widths, with segments of 0.1 s so a signal spans several.
"""
import pytest
import throwaway_family
from tiny_codecs import tiny_network, tiny_recipe
import torch
from tiny_codecs import tiny_network, tiny_recipe
from torch import nn

from model import load_codec
from model.causal_transformer import CausalTransformer
from model.codec import Codec
from model.encodec import RELEASE_48K_SETTINGS
from model.export import save_model_file
from model.layers import PaddedConv1d, ResidualUnit, fold_weight_norm, unfold_weight_norm
from model.receptive_field import span_of
from model.registry import FAMILIES
from model.soundstream import SoundStream, SoundStreamConfig


FAMILY_KEYS = [*FAMILIES, throwaway_family.KEY]
VARIANTS = {"encodec-48k": ("encodec", {**RELEASE_48K_SETTINGS, "segment_seconds": 0.1})}


def _signal(seconds=0.4, rate=16000, batch=2, seed=1, channels=1):
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(batch, channels, int(rate * seconds) + 19, generator=g)


@pytest.fixture(params=[*FAMILY_KEYS, *VARIANTS])
def codec(request, monkeypatch) -> Codec:
    throwaway_family.register(monkeypatch)
    key, changes = VARIANTS.get(request.param, (request.param, {}))
    return Codec(tiny_network(key, **changes), name="tiny", family=key, config=changes)


def test_encode_decode_through_the_common_interface(codec):
    x = _signal(channels=codec.channels)
    encoded = codec.encode_audio(x)
    codes = encoded.codes
    assert torch.equal(codec.encode(x), codes)
    assert set(encoded.side) == set(codec.side_info)
    frames = -(-x.shape[-1] // codec.hop_length)
    if codec.side_info:  # overlapping segments code more frames than the signal holds
        assert codes.shape[:2] == (2, codec.n_codebooks) and codes.shape[-1] > frames
    else:
        assert codes.shape == (2, codec.n_codebooks, frames)
    assert codes.dtype == torch.int64 and 0 <= int(codes.min()) and int(codes.max()) < codec.codebook_size
    assert len(codes[:, 0].unique()) > 1  # initialised codebooks: the codes vary
    for n in (1, codec.n_codebooks):
        wave = codec.decode(encoded.first(n))
        length = wave.shape[-1] if codec.side_info else codes.shape[-1] * codec.hop_length
        assert wave.shape == (2, codec.channels, length) and length >= x.shape[-1]
        assert torch.isfinite(wave).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_bare_codes_of_a_codec_with_side_information_are_refused(variant):
    key, changes = VARIANTS[variant]
    codec = Codec(tiny_network(key, **changes), name="tiny", family=key, config=changes)
    codes = codec.encode(_signal(channels=codec.channels))
    with pytest.raises(ValueError, match="needs its side information"):
        codec.decode(codes)


def test_chunking_is_exact_or_the_codec_runs_whole(codec):
    x = _signal(0.6, channels=codec.channels)
    whole = codec.encode_audio(x, chunk_seconds=100)
    decoded = codec.decode(whole, chunk_seconds=100)
    for seconds in (0.01, 0.07):
        assert torch.equal(codec.encode_audio(x, chunk_seconds=seconds).codes, whole.codes)
        assert (codec.decode(whole, chunk_seconds=seconds) - decoded).abs().max() < 1e-5
    # LSTMs: no finite context; windowed attention: a context too long to chunk (tens of seconds)
    long_memory = any(isinstance(m, (nn.LSTM, CausalTransformer)) for m in codec.network.modules())
    assert codec.chunkable == (not long_memory)


def test_own_model_file_round_trip_keeps_family_and_outputs(codec, tmp_path):
    path = tmp_path / "model.safetensors"
    save_model_file(codec.network, path, family=codec.family,
                    config={**tiny_recipe(codec.family).architecture, **codec.config}, name="tiny")
    loaded = load_codec(path)
    assert loaded.family == codec.family and loaded.describe() == {**codec.describe(), "name": "tiny"}
    x = _signal(channels=codec.channels)
    encoded = codec.encode_audio(x)
    again = loaded.encode_audio(x)
    assert torch.equal(again.codes, encoded.codes)
    assert all(torch.equal(again.side[k], encoded.side[k]) for k in codec.side_info)
    assert torch.equal(loaded.decode(encoded), codec.decode(encoded))


def test_training_forward_keeps_length_and_reports_quantizer_output(codec):
    net = codec.network
    for p in net.parameters():
        p.requires_grad_(True)
    x = _signal(0.1, channels=codec.channels)
    if codec.side_info:  # trained only in its unsegmented mono form, so refused clearly
        with pytest.raises(ValueError, match="training covers"):
            net.train()(x)
        return
    recon, q = net.train()(x)
    assert recon.shape == x.shape
    assert q.codes.shape[:2] == (2, codec.n_codebooks)
    (recon.abs().mean() + q.commitment_loss + q.codebook_loss).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.encoder.parameters())


def test_fast_inference_path_equals_the_training_layout(codec):
    """Folded weights, channels-last tiles and polyphase transposed convs change nothing."""
    net = codec.network
    x = _signal(channels=codec.channels)
    x = nn.functional.pad(x, (0, -x.shape[-1] % (codec.hop_length * (codec.chunk_alignment or 1))))
    if codec.side_info:  # runs whole segments in the plain layout: folding alone must change nothing
        encoded, decoded = codec.encode_audio(x), codec.decode(codec.encode_audio(x))
        unfold_weight_norm(net)
        assert torch.equal(codec.encode_audio(x).codes, encoded.codes)
        assert (codec.decode(encoded) - decoded).abs().max() < 1e-5
        return
    codes = codec.encode(x)
    unfold_weight_norm(net)
    with torch.no_grad():
        latents = net.encoder_stack()(x)
        plain_codes = net.quantizer(latents).codes
        plain = net.decoder_stack()(net.quantizer.decode(codes))
    assert torch.equal(plain_codes, codes)
    fold_weight_norm(net)
    assert (codec.decode(codes) - plain).abs().max() < 1e-5


# -- SoundStream ----------------------------------------------------------------------------

def test_soundstream_default_is_the_papers_architecture():
    c = SoundStreamConfig()
    assert (c.sample_rate, c.hop_length, c.frame_rate) == (24000, 320, 75)
    assert (c.n_codebooks, c.codebook_size, c.quantizer_dropout) == (24, 1024, 1.0)
    net = SoundStream(SoundStreamConfig(n_filters=2, dimension=8, n_codebooks=2, codebook_size=16))
    stack = list(net.encoder.model)
    strided = [m for m in stack if isinstance(m, PaddedConv1d) and m.conv.stride > 1]
    assert [m.conv.stride for m in strided] == [2, 4, 5, 8]
    units = [m for m in stack if isinstance(m, ResidualUnit)]
    assert [u.block[1].conv.dilation for u in units] == [1, 3, 9] * 4
    assert all(u.block[1].conv.kernel_size == 7 and u.shortcut is None for u in units)
    assert isinstance(stack[-2], nn.ELU) and stack[-1].conv.kernel_size == 3
    assert stack[0].conv.weight_v.shape[1] == 1 and [m.conv.weight_v.shape[0] for m in strided] == [4, 8, 16, 32]


def test_causal_soundstream_codes_and_audio_never_depend_on_the_future():
    net = tiny_network("soundstream")
    codec = Codec(net, name="tiny", family="soundstream", config={})
    x = _signal(0.3, batch=1)
    cut = 40 * codec.hop_length  # change everything from frame 40 on
    y = x.clone()
    y[..., cut:] = torch.randn_like(y[..., cut:])
    a, b = codec.encode(x), codec.encode(y)
    assert torch.equal(a[..., :40], b[..., :40]) and not torch.equal(a, b)
    wa, wb = codec.decode(a), codec.decode(b)
    assert torch.equal(wa[..., :cut], wb[..., :cut])
    span = span_of(net.encoder.model)
    assert span.right <= net.hop_length - 1  # a frame reads no sample after its own hop


def test_non_causal_soundstream_looks_ahead_and_still_chunks_exactly():
    net = tiny_network("soundstream", causal=False, pad_mode="reflect")
    assert span_of(net.encoder.model).right > net.hop_length
    codec = Codec(net, name="tiny", family="soundstream", config={})
    x = _signal(0.6)
    assert torch.equal(codec.encode(x, chunk_seconds=0.02), codec.encode(x, chunk_seconds=100))


@pytest.mark.parametrize("side", ["encoder", "decoder"])
def test_film_denoising_flag_conditions_the_chosen_side(side):
    net = tiny_network("soundstream", film=side)
    codec = Codec(net, name="tiny", family="soundstream", config={})
    x = _signal()
    plain_codes = codec.encode(x)
    net.denoise = True
    assert torch.equal(codec.encode(x), plain_codes)  # FiLM starts as the identity
    with torch.no_grad():
        net.film.gamma.weight[1].uniform_(0.2, 3.0)
        net.film.beta.weight[1].normal_(0, 0.5)
    denoise_codes = codec.encode(x)
    assert torch.equal(denoise_codes, plain_codes) == (side == "decoder")  # decoder side: same codes
    net.denoise = False
    plain = codec.decode(plain_codes)
    net.denoise = True
    changed = (codec.decode(plain_codes) - plain).abs().max() > 1e-3
    assert changed == (side == "decoder")  # encoder side: decoding ignores the flag
    # the training forward takes the flag per item
    recon, _ = net.eval()(x, denoise=torch.tensor([0, 1]))
    ref0, _ = net(x[:1], denoise=False)
    ref1, _ = net(x[1:], denoise=True)
    torch.testing.assert_close(recon, torch.cat([ref0, ref1]), atol=1e-5, rtol=1e-5)


def test_soundstream_dropout_draws_n_uniformly_for_every_example():
    net = tiny_network("soundstream")
    torch.manual_seed(5)
    kept = net.quantizer.sample_kept(30000, torch.device("cpu"))
    freq = torch.bincount(kept, minlength=4)[1:].float() / kept.numel()
    torch.testing.assert_close(freq, torch.full((3,), 1 / 3), atol=0.01, rtol=0)
