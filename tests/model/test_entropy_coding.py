"""model.entropy_coding: lossless round trips and compression close to the empirical entropy."""

import numpy as np
import pytest

from model.entropy_coding import MAX_ALPHABET_SIZE, EntropyCodingError, decode_streams, encode_streams


def _zipf(rng, size, n, exponent=1.1):
    probs = 1.0 / np.arange(1, size + 1) ** exponent
    probs /= probs.sum()
    return rng.choice(size, size=n, p=probs), -(probs * np.log2(probs)).sum()


@pytest.mark.parametrize("alphabet", [2, 3, 1000, 1024, MAX_ALPHABET_SIZE])
def test_round_trip_various_lengths(alphabet):
    rng = np.random.default_rng(alphabet)
    streams = [rng.integers(0, alphabet, size=n) for n in (0, 1, 31, 32, 33, 36, 37, 500, 3000)]
    payload = encode_streams(streams, alphabet)
    decoded = decode_streams(payload, [len(s) for s in streams], alphabet)
    assert len(decoded) == len(streams)
    for original, restored in zip(streams, decoded):
        assert restored.dtype == np.int64
        np.testing.assert_array_equal(restored, original)


def test_skewed_stream_costs_close_to_its_entropy():
    rng = np.random.default_rng(0)
    symbols, entropy = _zipf(rng, 1024, 100_000)
    payload = encode_streams([symbols], 1024)
    bits_per_symbol = 8 * len(payload) / len(symbols)
    assert entropy < bits_per_symbol < entropy + 0.1  # adaptation overhead under 0.1 bit/symbol
    assert bits_per_symbol < 0.75 * 10


def test_uniform_stream_costs_barely_more_than_raw():
    rng = np.random.default_rng(1)
    symbols = rng.integers(0, 1024, size=50_000)
    bits_per_symbol = 8 * len(encode_streams([symbols], 1024)) / len(symbols)
    assert 9.99 < bits_per_symbol < 10.05


def test_streams_have_independent_models():
    # Two streams with disjoint supports each compress as if coded alone.
    rng = np.random.default_rng(2)
    low, _ = _zipf(rng, 256, 20_000)
    high = 255 - _zipf(rng, 256, 20_000)[0]
    together = len(encode_streams([low, high], 256))
    apart = len(encode_streams([low], 256)) + len(encode_streams([high], 256))
    assert abs(together - apart) <= 8


def test_corrupt_or_inconsistent_data_raises():
    rng = np.random.default_rng(3)
    streams = [rng.integers(0, 16, size=300)]
    payload = encode_streams(streams, 16)
    with pytest.raises(EntropyCodingError, match="whole 32-bit words"):
        decode_streams(payload[:-1], [300], 16)
    with pytest.raises(EntropyCodingError, match="trailing"):  # the range decoder reads one word ahead
        decode_streams(payload + bytes(range(1, 9)), [300], 16)
    with pytest.raises(EntropyCodingError, match="trailing"):
        decode_streams(payload, [10], 16)


def test_invalid_alphabet_or_symbols_raise():
    with pytest.raises(EntropyCodingError, match="alphabet"):
        encode_streams([np.zeros(3, dtype=int)], 1)
    with pytest.raises(EntropyCodingError, match="alphabet"):
        decode_streams(b"", [], MAX_ALPHABET_SIZE + 1)
    with pytest.raises(EntropyCodingError, match="lie in"):
        encode_streams([np.array([0, 4])], 4)
