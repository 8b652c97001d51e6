"""Chunked inference equals the whole-signal computation; margins come from the layers."""
import torch

from model.codec import Codec
from model.receptive_field import span_of


def _signal(sr, seconds, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 1, int(sr * seconds) + 123, generator=g) * 0.3)


def test_codes_do_not_depend_on_chunk_size(small_codec):
    x = _signal(small_codec.sample_rate, 1.5)
    whole = small_codec.encode(x, chunk_seconds=1e3)
    assert whole.shape[-1] == -(-x.shape[-1] // small_codec.hop_length)
    for seconds in (0.03, 0.25, 1.1):
        assert torch.equal(small_codec.encode(x, chunk_seconds=seconds), whole)


def test_chunked_decode_equals_whole(small_codec):
    codes = small_codec.encode(_signal(small_codec.sample_rate, 1.5))
    whole = small_codec.decode(codes, chunk_seconds=1e3)
    for seconds in (0.03, 0.25, 1.1):
        chunked = small_codec.decode(codes, chunk_seconds=seconds)
        assert chunked.shape == whole.shape
        assert (chunked - whole).abs().max() < 1e-5


def test_decode_of_prefix_codes_is_chunk_exact(small_codec):
    codes = small_codec.encode(_signal(small_codec.sample_rate, 2.0))[:, :2]
    whole = small_codec.decode(codes, chunk_seconds=1e3)
    assert (small_codec.decode(codes, chunk_seconds=0.1) - whole).abs().max() < 1e-5


def test_too_small_margin_would_break_exactness(make_small_dac):
    """The derived margin is needed: with a quarter of it, chunk edges show."""
    codec = Codec(make_small_dac(), name="small", family="dac", config={})
    codes = codec.encode(_signal(44100, 2.0))
    whole = codec.decode(codes, chunk_seconds=1e3)
    codec.decoder_context //= 4
    assert (codec.decode(codes, chunk_seconds=0.1) - whole).abs().max() > 1e-4


def test_empirical_receptive_field_lies_within_derived_span(make_small_dac):
    """Perturb one input sample: only outputs whose derived span covers it may change."""
    net = make_small_dac().eval().double()
    x = torch.randn(1, 1, 512 * 40, dtype=torch.float64)
    pos = 512 * 20 + 77
    with torch.no_grad():
        base = net.encoder(x)
        y = x.clone()
        y[..., pos] += 1.0
        changed = (net.encoder(y) - base).abs().amax(1)[0] > 0
    span = span_of(net.encoder)
    frames = torch.nonzero(changed).flatten()
    assert len(frames) > 0
    for f in frames.tolist():
        assert span.scale * f + span.left <= pos <= span.scale * f + span.right
