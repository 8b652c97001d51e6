"""Chunked inference equals the whole-signal computation; margins come from the layers."""
import torch

from model.chunked import parallel_chunk_frames
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


def test_parallel_workers_give_the_same_codes_and_audio(small_codec):
    """Chunks computed concurrently (one thread each) equal the sequential computation."""
    x = _signal(small_codec.sample_rate, 4.0, batch=1)
    sequential = small_codec.encode(x, chunk_seconds=1.0, workers=1)
    parallel = small_codec.encode(x, chunk_seconds=1.0, workers=2)
    assert torch.equal(parallel, sequential)
    whole = small_codec.decode(sequential, chunk_seconds=1e3, workers=1)
    decoded = small_codec.decode(sequential, chunk_seconds=1.0, workers=2)
    assert decoded.shape == whole.shape
    assert (decoded - whole).abs().max() < 1e-5


def test_parallel_plan_is_balanced_and_falls_back_for_short_signals():
    # 30 s at 86 frames/s, 10 s chunks, 2 workers: each worker's chunk is at most 5 s (same
    # memory in flight), and the 7 such chunks become 8 equal ones so neither worker idles.
    frames, workers = parallel_chunk_frames(2584, 861, 13, 2)
    assert workers == 2 and frames <= 861 // 2 and -(-2584 // frames) == 8
    # Too short for the duplicated context to pay: one worker, chunk unchanged.
    assert parallel_chunk_frames(50, 861, 13, 2) == (861, 1)


def test_parallel_progress_is_in_order_and_cancellation_propagates(small_codec):
    x = _signal(small_codec.sample_rate, 4.0, batch=1)
    seen = []
    small_codec.encode(x, chunk_seconds=0.5, workers=2, progress=lambda done, total: seen.append(done))
    assert seen == sorted(seen) and seen[-1] == -(-x.shape[-1] // small_codec.hop_length)

    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop

    threads = torch.get_num_threads()
    try:
        small_codec.encode(x, chunk_seconds=0.5, workers=2, progress=stop)
    except Stop:
        pass
    else:
        raise AssertionError("the progress callback's exception must propagate")
    assert torch.get_num_threads() == threads
