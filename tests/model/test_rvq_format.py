"""model.rvq_format: round trips, exact raw sizes, entropy-coding gains, corruption handling."""

import dataclasses
import math
import struct
import zlib

import numpy as np
import pytest

from crafted_rvq import rebuild, split
from model import rvq_format
from model.rvq_format import DecoderSpec, RvqFormatError, RvqMetadata, bits_per_code, code_dtype, read_rvq, write_rvq


def _meta(codebook_size=1024, loudness=-18.25, frames=222):
    """Metadata of ``frames`` frames: 48 kHz audio coded at 44.1 kHz, hop 512."""
    return RvqMetadata(
        codec_name="dac_44khz",
        codec_id="9f" * 32,
        sample_rate=44100,
        original_sample_rate=48000,
        length=frames * 512 * 48000 // 44100,
        hop_length=512,
        codebook_size=codebook_size,
        loudness_lufs=loudness,
    )


def _skewed_codes(rng, shape, size, scale=20.0):
    probs = np.exp(-np.arange(size) / scale)
    return rng.choice(size, size=shape, p=probs / probs.sum())


@pytest.mark.parametrize("size", [2, 3, 1000, 1024, 4096, 65536, 1 << 20])
@pytest.mark.parametrize("shape", [(1, 1, 0), (1, 1, 1), (2, 9, 50), (3, 4, 17)])
@pytest.mark.parametrize("entropy_coding", [False, True])
def test_round_trip(tmp_path, size, shape, entropy_coding):
    rng = np.random.default_rng(size + shape[2])
    codes = rng.integers(0, size, size=shape)
    if shape[2]:
        codes.flat[0] = size - 1  # the largest code must survive packing
    path = tmp_path / "clip.rvq"
    report = write_rvq(path, codes, _meta(size, frames=shape[2]), entropy_coding=entropy_coding)
    restored, meta = read_rvq(path)
    assert restored.dtype == code_dtype(size) and restored.shape == shape
    np.testing.assert_array_equal(restored, codes)
    assert meta == _meta(size, frames=shape[2])
    assert report.file_bytes == path.stat().st_size


def test_codes_are_read_into_the_smallest_type_of_their_codebook():
    """Two bytes a code for the usual codebooks: hours of codes stay a few megabytes."""
    assert code_dtype(1024) == np.int16 and code_dtype(1 << 15) == np.int16
    assert code_dtype((1 << 15) + 1) == np.int32 and code_dtype(1 << 16) == np.int32
    assert code_dtype(1 << 32) == np.int64


@pytest.mark.parametrize("size", [2, 1000, 1024, 1 << 20])
def test_raw_file_size_is_header_plus_packed_bits(tmp_path, size):
    shape = (2, 7, 333)
    codes = np.random.default_rng(0).integers(0, size, size=shape)
    report = write_rvq(tmp_path / "raw.rvq", codes, _meta(size, frames=333), entropy_coding=False)
    data = (tmp_path / "raw.rvq").read_bytes()
    (json_length,) = struct.unpack_from("<I", data, 6)
    assert report.header_bytes == 4 + 2 + 4 + json_length + 4 < 512
    assert len(data) == report.header_bytes + math.ceil(np.prod(shape) * bits_per_code(size) / 8)
    assert report.nominal_payload_bits == np.prod(shape) * bits_per_code(size)
    assert not report.entropy_coded
    assert report.saving_percent == pytest.approx(100 * (1 - 8 * report.payload_bytes / report.nominal_payload_bits))


def test_bits_per_code():
    assert [bits_per_code(k) for k in (2, 3, 4, 5, 1000, 1024, 1025, 1 << 32)] == [1, 2, 2, 3, 10, 10, 11, 32]


def test_entropy_coding_shrinks_skewed_codes(tmp_path):
    codes = _skewed_codes(np.random.default_rng(1), (2, 9, 2000), 1024)
    raw = write_rvq(tmp_path / "raw.rvq", codes, _meta(frames=2000), entropy_coding=False)
    coded = write_rvq(tmp_path / "coded.rvq", codes, _meta(frames=2000), entropy_coding=True)
    assert coded.entropy_coded
    assert coded.file_bytes < 0.75 * raw.file_bytes
    assert coded.saving_percent > 25
    np.testing.assert_array_equal(read_rvq(tmp_path / "coded.rvq")[0], codes)


@pytest.mark.parametrize("frames", [1, 10, 3000])
def test_entropy_coding_never_costs_more_than_a_few_bytes(tmp_path, frames):
    codes = np.random.default_rng(frames).integers(0, 1024, size=(1, 9, frames))  # incompressible
    raw = write_rvq(tmp_path / "raw.rvq", codes, _meta(frames=frames), entropy_coding=False)
    coded = write_rvq(tmp_path / "coded.rvq", codes, _meta(frames=frames), entropy_coding=True)
    assert coded.file_bytes <= raw.file_bytes + 4
    np.testing.assert_array_equal(read_rvq(tmp_path / "coded.rvq")[0], codes)


def test_metadata_round_trips_optional_loudness_and_numpy_scalars(tmp_path):
    codes = np.zeros((1, 2, 3), dtype=np.uint16)
    meta = RvqMetadata("tiny", "ab", np.int64(16000), 16000, np.int32(960), 320, 8, None)
    write_rvq(tmp_path / "a.rvq", codes, meta)
    _, restored = read_rvq(tmp_path / "a.rvq")
    assert restored == RvqMetadata("tiny", "ab", 16000, 16000, 960, 320, 8, None)
    assert type(restored.sample_rate) is int


@pytest.mark.parametrize(
    "codes,meta,match",
    [
        (np.zeros((1, 2, 3)), _meta(), "integer array"),
        (np.zeros((2, 3), dtype=int), _meta(), "integer array"),
        (np.zeros((0, 2, 3), dtype=int), _meta(), "at least one channel"),
        (np.full((1, 1, 2), 1024), _meta(), r"lie in \[0, 1024\)"),
        (np.full((1, 1, 2), -1), _meta(), r"lie in"),
        (np.zeros((1, 1, 2), dtype=int), _meta(codebook_size=1), "codebook_size"),
        (np.zeros((1, 1, 2), dtype=int), _meta(loudness=float("nan")), "loudness_lufs"),
    ],
)
def test_bad_write_arguments_raise(tmp_path, codes, meta, match):
    with pytest.raises(RvqFormatError, match=match):
        write_rvq(tmp_path / "bad.rvq", codes, meta)
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "clip.rvq"
    write_rvq(path, np.zeros((1, 1, 5), dtype=int), _meta(frames=5))
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(rvq_format.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_rvq(path, np.ones((1, 1, 5), dtype=int), _meta(frames=5))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.rvq"]


@pytest.fixture
def coded_file(tmp_path):
    path = tmp_path / "coded.rvq"
    report = write_rvq(path, _skewed_codes(np.random.default_rng(5), (1, 4, 200), 1024), _meta(frames=200))
    assert report.entropy_coded
    return path.read_bytes()


@pytest.fixture
def raw_file(tmp_path):
    path = tmp_path / "raw.rvq"
    write_rvq(path, np.random.default_rng(6).integers(0, 1000, size=(2, 3, 40)), _meta(1000, frames=40), entropy_coding=False)
    return path.read_bytes()


def _read_bytes(tmp_path, data: bytes):
    path = tmp_path / "probe.rvq"
    path.write_bytes(data)
    return read_rvq(path)


@pytest.mark.parametrize("which", ["coded_file", "raw_file"])
def test_every_truncation_is_reported(tmp_path, request, which):
    data = request.getfixturevalue(which)
    for cut in range(len(data)):
        with pytest.raises(RvqFormatError, match="truncated|checksum"):
            _read_bytes(tmp_path, data[:cut])


def test_tampering_is_reported(tmp_path, coded_file):
    header_end = len(coded_file) - split(coded_file)[0]["payload_bytes"]
    payload_flip = bytearray(coded_file)
    payload_flip[header_end + 3] ^= 0x10
    with pytest.raises(RvqFormatError, match="payload checksum"):
        _read_bytes(tmp_path, bytes(payload_flip))
    header_flip = bytearray(coded_file)
    header_flip[30] ^= 0x01
    with pytest.raises(RvqFormatError, match="header checksum"):
        _read_bytes(tmp_path, bytes(header_flip))
    with pytest.raises(RvqFormatError, match="trailing"):
        _read_bytes(tmp_path, coded_file + b"\0")


def test_wrong_magic_and_newer_version(tmp_path, raw_file):
    with pytest.raises(RvqFormatError, match="not an .rvq file"):
        _read_bytes(tmp_path, b"RIFF" + raw_file[4:])
    with pytest.raises(RvqFormatError, match="not an .rvq file"):
        _read_bytes(tmp_path, b"OggS")
    header, payload = split(raw_file)
    with pytest.raises(RvqFormatError, match="version 2 is newer"):
        _read_bytes(tmp_path, rebuild(header, payload, version=2))


@pytest.mark.parametrize(
    "change,match",
    [
        ({"frames": -1}, "frames"),
        ({"channels": True}, "channels"),
        ({"codebook_size": "1000"}, "codebook_size"),
        ({"loudness_lufs": "loud"}, "loudness_lufs"),
        ({"entropy_coded": 1}, "entropy_coded"),
        ({"frames": 41}, "expected"),  # raw payload size no longer matches the shape
        ({"frames": 1 << 40}, "more than"),
        ({"codebook_size": 1 << 33}, "out of range"),
        ({"codebook_size": 1 << 17, "entropy_coded": True}, "entropy-coded"),
    ],
)
def test_inconsistent_headers_with_valid_checksums_are_rejected(tmp_path, raw_file, change, match):
    header, payload = split(raw_file)
    with pytest.raises(RvqFormatError, match=match):
        _read_bytes(tmp_path, rebuild({**header, **change}, payload))


def test_missing_field_non_object_and_non_finite_headers(tmp_path, raw_file):
    header, payload = split(raw_file)
    with pytest.raises(RvqFormatError, match="lacks field"):
        _read_bytes(tmp_path, rebuild({k: v for k, v in header.items() if k != "hop_length"}, payload))
    with pytest.raises(RvqFormatError, match="not a JSON object"):
        _read_bytes(tmp_path, rebuild([1, 2], payload))
    with pytest.raises(RvqFormatError, match="non-finite"):
        _read_bytes(tmp_path, rebuild({**header, "loudness_lufs": float("nan")}, payload))


def test_out_of_range_raw_code_is_rejected(tmp_path):
    # 1000-entry codebook packs at 10 bits; the bit pattern for 1023 is representable but invalid.
    payload = rvq_format.pack_codes(np.array([1023, 0, 0]), 10)
    header = {
        **dataclasses.asdict(_meta(1000, frames=3)),
        "channels": 1,
        "n_codebooks": 1,
        "frames": 3,
        "entropy_coded": False,
        "payload_bytes": len(payload),
        "payload_crc32": zlib.crc32(payload),
    }
    with pytest.raises(RvqFormatError, match="outside the codebook"):
        _read_bytes(tmp_path, rebuild(header, payload))


def test_corrupt_entropy_payload_with_valid_checksums_is_rejected(tmp_path, coded_file):
    header, payload = split(coded_file)
    rng = np.random.default_rng(11)
    for _ in range(50):
        garbage = rng.integers(0, 256, size=len(payload) + 4 * int(rng.integers(-2, 3)), dtype=np.uint8).tobytes()
        forged = {**header, "payload_bytes": len(garbage), "payload_crc32": zlib.crc32(garbage)}
        try:
            codes, _ = _read_bytes(tmp_path, rebuild(forged, garbage))
        except RvqFormatError:
            continue
        # Garbage that happens to decode must still yield well-formed codes.
        assert codes.shape == (1, 4, 200) and codes.min() >= 0 and codes.max() < 1024


@pytest.mark.parametrize("which", ["coded_file", "raw_file"])
def test_random_corruption_only_ever_raises_rvq_format_error(tmp_path, request, which):
    data = request.getfixturevalue(which)
    rng = np.random.default_rng(sum(map(ord, which)))
    for _ in range(300):
        mutated = bytearray(data)
        kind = rng.integers(3)
        position = int(rng.integers(len(mutated)))
        if kind == 0:
            for _ in range(int(rng.integers(1, 6))):
                mutated[int(rng.integers(len(mutated)))] = int(rng.integers(256))
        elif kind == 1:
            del mutated[position : position + int(rng.integers(1, 20))]
        else:
            mutated[position:position] = rng.integers(0, 256, size=int(rng.integers(1, 20)), dtype=np.uint8).tobytes()
        if bytes(mutated) == data:
            continue
        with pytest.raises(RvqFormatError):
            _read_bytes(tmp_path, bytes(mutated))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_rvq(tmp_path / "absent.rvq")


def _spec(**change):
    """The model ``raw_file`` was written by."""
    fields = dict(codec_name="dac_44khz", codec_id="9f" * 32, sample_rate=44100, hop_length=512,
                  codebook_size=1000, n_codebooks=9)
    return DecoderSpec(**{**fields, **change})


@pytest.mark.parametrize(
    "change,match",
    [
        ({"length": 300_000_000}, "do not match length"),
        ({"length": 10**10}, "exceeds 24 hours"),
        ({"original_sample_rate": 10**9}, "out of range"),
        ({"original_sample_rate": 999}, "must be >="),
        ({"sample_rate": 10**9}, "out of range"),
        ({"channels": 1_000_000, "frames": 1}, "out of range"),
        ({"channels": 65}, "out of range"),
        ({"loudness_lufs": 1000}, "out of range"),
        ({"loudness_lufs": -1000}, "must be >="),
        ({"loudness_lufs": -1e308}, "must be >="),
        ({"loudness_lufs": 10.01}, "out of range"),
    ],
)
def test_header_fields_outside_the_format_limits_are_rejected(tmp_path, raw_file, change, match):
    header, payload = split(raw_file)
    with pytest.raises(RvqFormatError, match=match):
        _read_bytes(tmp_path, rebuild({**header, **change}, payload))


def test_writer_refuses_what_the_reader_would(tmp_path):
    codes = np.zeros((1, 1, 5), dtype=int)
    with pytest.raises(RvqFormatError, match="do not match length"):
        write_rvq(tmp_path / "a.rvq", codes, _meta(frames=50))
    with pytest.raises(RvqFormatError, match="loudness_lufs"):
        write_rvq(tmp_path / "a.rvq", codes, _meta(frames=5, loudness=1000.0))
    with pytest.raises(RvqFormatError, match="channels exceed"):
        write_rvq(tmp_path / "a.rvq", np.zeros((65, 1, 5), dtype=int), _meta(frames=5))
    assert list(tmp_path.iterdir()) == []


def test_frames_within_one_of_the_encoders_count_are_accepted(tmp_path):
    meta = _meta(frames=100)
    expected = rvq_format.expected_frames(meta.length, 48000, 44100, 512)
    for frames in (expected - 1, expected, expected + 1):
        write_rvq(tmp_path / "a.rvq", np.zeros((1, 1, frames), dtype=int), meta)
        assert read_rvq(tmp_path / "a.rvq")[0].shape == (1, 1, frames)


def _constant_coded_file(tmp_path, frames=3000):
    """A mono range-coded file of constant codes: the most compressible payload there is."""
    path = tmp_path / "constant.rvq"
    report = write_rvq(path, np.zeros((1, 2, frames), dtype=int), _meta(frames=frames))
    assert report.entropy_coded
    return path.read_bytes()


def test_header_claiming_more_channels_than_were_range_coded_is_rejected(tmp_path):
    """The range decoder pads with zeros: 3 claimed channels of this mono file decode to garbage."""
    codes = np.minimum(np.random.default_rng(2).geometric(0.05, size=(1, 1, 200)), 1023)
    path = tmp_path / "mono.rvq"
    assert write_rvq(path, codes, _meta(frames=200)).entropy_coded
    header, payload = split(path.read_bytes())
    for channels in (2, 3):
        with pytest.raises(RvqFormatError, match="does not hold the codes"):
            _read_bytes(tmp_path, rebuild({**header, "channels": channels}, payload))


def test_range_coded_header_claiming_more_codes_than_its_payload_can_hold_is_rejected(tmp_path):
    header, payload = split(_constant_coded_file(tmp_path))
    with pytest.raises(RvqFormatError, match="cannot hold"):
        _read_bytes(tmp_path, rebuild({**header, "channels": 2}, payload))
    frames = 2_000_000  # consistent with its length, but a 2,000,000-code stream needs more bits
    length = frames * 512 * 48000 // 44100
    forged = {**header, "channels": 64, "frames": frames, "length": length}
    with pytest.raises(RvqFormatError, match="cannot hold"):
        _read_bytes(tmp_path, rebuild(forged, payload))


@pytest.mark.parametrize("length", [1, 31, 32, 1000, 100_000, 3_000_000])
@pytest.mark.parametrize("alphabet", [2, 3, 1024, 65536])
def test_min_coded_bits_bounds_the_most_compressible_streams(length, alphabet):
    """Constant streams are the likeliest under the adaptive model: none codes smaller."""
    from model.entropy_coding import encode_streams, min_coded_bits

    for symbol in (0, alphabet - 1):
        coded_bits = 8 * len(encode_streams([np.full(length, symbol)], alphabet))
        assert min_coded_bits(length, alphabet) <= coded_bits


@pytest.mark.parametrize(
    "change,match",
    [
        ({"codec_id": "00" * 32}, "was encoded with 'dac_44khz'"),
        ({"sample_rate": 16000}, "sample_rate 44100 differs"),
        ({"hop_length": 320}, "hop_length 512 differs"),
        ({"codebook_size": 1024}, "codebook_size 1000 differs"),
        ({"n_codebooks": 2}, "3 codebooks, the model has 2"),
    ],
)
def test_header_must_fit_the_decoding_model(tmp_path, raw_file, change, match):
    path = tmp_path / "raw.rvq"
    path.write_bytes(raw_file)
    with pytest.raises(ValueError, match=match):
        read_rvq(path, _spec(**change))
    codes, _ = read_rvq(path, _spec())
    assert codes.shape == (2, 3, 40)


# -- multi-scale codes ---------------------------------------------------------------------

STRIDES = (8, 4, 2, 1)


def _multi_scale_codes(rng, channels, frames, size, strides=STRIDES):
    """Codes whose codebook k changes only every ``strides[k]`` frames (a multi-scale codec's)."""
    blocks = [np.repeat(rng.integers(0, size, size=(channels, -(-frames // s))), s, axis=-1)[:, :frames]
              for s in strides]
    return np.stack(blocks, axis=1)


@pytest.mark.parametrize("entropy_coding", [False, True])
@pytest.mark.parametrize("frames", [1, 7, 64, 333])
def test_multi_scale_codes_round_trip_storing_each_code_once(tmp_path, entropy_coding, frames):
    codes = _multi_scale_codes(np.random.default_rng(frames), 2, frames, 4096)
    meta = dataclasses.replace(_meta(4096, frames=frames), codebook_strides=STRIDES)
    report = write_rvq(tmp_path / "ms.rvq", codes, meta, entropy_coding=entropy_coding)
    restored, read_meta = read_rvq(tmp_path / "ms.rvq")
    np.testing.assert_array_equal(restored, codes)
    assert read_meta == meta
    stored = sum(2 * -(-frames // s) for s in STRIDES)
    assert report.nominal_payload_bits == stored * 12
    if not entropy_coding:
        assert report.payload_bytes == math.ceil(stored * 12 / 8)


def test_all_unit_strides_write_the_single_rate_file(tmp_path):
    codes = np.random.default_rng(0).integers(0, 1024, size=(1, 3, 50))
    write_rvq(tmp_path / "a.rvq", codes, dataclasses.replace(_meta(frames=50), codebook_strides=(1, 1, 1)))
    write_rvq(tmp_path / "b.rvq", codes, _meta(frames=50))
    assert (tmp_path / "a.rvq").read_bytes() == (tmp_path / "b.rvq").read_bytes()
    assert read_rvq(tmp_path / "a.rvq")[1].codebook_strides is None


def test_codes_that_change_within_a_stride_are_refused(tmp_path):
    codes = _multi_scale_codes(np.random.default_rng(1), 1, 40, 64)
    codes[0, 0, 3] = (codes[0, 0, 3] + 1) % 64  # inside codebook 0's first block of 8
    meta = dataclasses.replace(_meta(64, frames=40), codebook_strides=STRIDES)
    with pytest.raises(RvqFormatError, match="codebook 0 changes within its stride of 8"):
        write_rvq(tmp_path / "bad.rvq", codes, meta)
    with pytest.raises(RvqFormatError, match="one stride"):
        write_rvq(tmp_path / "bad.rvq", codes, dataclasses.replace(meta, codebook_strides=(8, 4)))


@pytest.mark.parametrize("strides, match", [
    ([8, 4, 2], "one stride"), ([8, 4, 2, 0], "one stride"), ([8, 4, 2, True], "one stride"),
    ("8421", "one stride"), ([1 << 17, 4, 2, 1], "one stride"),
    ([16, 4, 2, 1], "payload"),  # fewer codes than the payload holds
])
def test_bad_stride_headers_are_rejected(tmp_path, strides, match):
    codes = _multi_scale_codes(np.random.default_rng(2), 1, 64, 256)
    write_rvq(tmp_path / "ms.rvq", codes, dataclasses.replace(_meta(256, frames=64), codebook_strides=STRIDES),
              entropy_coding=False)
    header, payload = split((tmp_path / "ms.rvq").read_bytes())
    with pytest.raises(RvqFormatError, match=match):
        _read_bytes(tmp_path, rebuild({**header, "codebook_strides": strides}, payload))
