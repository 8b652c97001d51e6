"""The ``.rvq`` compressed-audio container: RVQ codes plus what is needed to decode them.

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic b"RVQ1"
    4       2     format version (uint16, currently 1)
    6       4     n = length of the JSON header (uint32)
    10      n     header: compact UTF-8 JSON object (see ``_HEADER_FIELDS``)
    10+n    4     CRC32 of bytes [0, 10+n)
    14+n    ...   payload: exactly ``payload_bytes`` bytes, CRC32 in the header

Design decisions:
  * JSON for the header: self-describing, debuggable with ``head -c``, extensible with
    new keys (readers ignore unknown keys); a typical header is ~350 bytes.  Nothing is
    ever unpickled.  The header carries its own CRC so a flipped bit in the metadata is
    caught before it is interpreted, and the payload has a CRC32 recorded in the header.
    CRCs detect accidents, not forgery; the size limits below keep even a crafted file from
    exhausting memory.
  * Raw payload: codes ``[C, N, F]`` in C order, each packed MSB-first into exactly
    ``ceil(log2(codebook_size))`` bits (so 1000 entries -> 10 bits), zero-padded to a
    whole byte.  The size is therefore known from the header alone and checked exactly.
  * Entropy-coded payload (``model.entropy_coding``): one adaptive range-coded stream per
    codebook (channels concatenated), since code statistics differ per codebook but not
    per channel.  The writer falls back to the raw payload whenever coding would not make
    it smaller, so enabling coding never costs more than a few header bytes.
  * Multi-scale codes (``codebook_strides``, e.g. SNAC's): codebook ``k`` holds each code for
    ``stride_k`` frames, so only ``codes[:, k, ::stride_k]`` are stored -- codebook by codebook,
    ``[C, ceil(F / stride_k)]`` each, in the raw payload as in the coded streams -- and the
    reader repeats them back. The optional header field is written only when some stride
    exceeds 1, so files of single-rate codecs are unchanged.
  * Side information (codecs whose codes need more to decode, e.g. EnCodec 48 kHz's
    per-segment scales): the optional header key ``side`` maps each name to its ``dtype``
    (``float32`` or ``int64``) and ``shape`` ``[C, K]`` (``1 <= K <= frames``); the arrays
    follow the codes inside the payload, little-endian in C order, in the header's order,
    covered by the payload CRC. Files without it are laid out exactly as before. A codec with
    side information may code overlapping segments, so such a file may hold up to twice the
    frames its length implies (plus one).
  * Versioning: the magic names the container family; ``version`` governs layout and
    payload coding.  Files from a newer version are refused with a clear message rather
    than misread.
  * Writes are atomic (temp file in the destination directory, fsync, ``os.replace``).

Limits (checked on writing and on reading, before anything is allocated):
  * ``sample_rate`` and ``original_sample_rate``: 1,000 .. 768,000 Hz; ``channels``: 1 .. 64
    (what the encoder accepts); ``codebook_size``: 2 .. 2**32 (range coding: .. 2**16).
  * ``frames`` is the encoder's ``ceil(length * sample_rate / original_sample_rate / hop_length)``
    (one frame of tolerance); ``length`` is at most 24 hours at ``original_sample_rate``;
    ``channels * n_codebooks * frames`` is at most ``MAX_CODES`` (2**28).
  * ``loudness_lufs``: null or -70 .. +10 LUFS (from BS.1770's absolute gate to a ceiling
    the encoder records louder input at, with the matching gain), so restoring the level
    is a bounded gain and never writes infinities or silence.
  * The payload must hold the codes the header claims: a raw payload exactly
    ``ceil(codes * bits / 8)`` bytes; a range-coded one at least the fewest bits any stream
    of that length codes to, and it must be the coding of the codes it decodes to (a header
    claiming more channels than were coded is refused, not decoded into garbage).
  * A reader given the decoding model (``DecoderSpec``) also requires its weights digest,
    ``sample_rate``, ``hop_length`` and ``codebook_size``, and at most its ``n_codebooks``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from model.atomic_file import write_bytes_atomic
from model.audio_io import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from model.entropy_coding import (
    MAX_ALPHABET_SIZE,
    EntropyCodingError,
    decode_streams,
    encode_streams,
    min_coded_bits,
)

MAGIC = b"RVQ1"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHI")
_CRC = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 16
MAX_CODEBOOK_SIZE = 1 << 32
MAX_CODES = 1 << 28  # ~48 h of stereo 44.1 kHz DAC at 9 codebooks; bounds decode memory
MAX_SECONDS = 24 * 3600
MIN_LOUDNESS_LUFS = -70.0
MAX_LOUDNESS_LUFS = 10.0
_RANGE_CODER_SLACK_BITS = 64  # the coder's final state: a payload may end before its last bits
_PACK_CHUNK = 1 << 16  # codes per bit-packing chunk (multiple of 8: chunks end on byte boundaries)


class RvqFormatError(ValueError):
    """A ``.rvq`` file is not readable: wrong magic, newer version, truncated or corrupt."""


class CodecMismatchError(ValueError):
    """Codes made by one codec offered to another."""


@dataclasses.dataclass(frozen=True)
class DecoderSpec:
    """The model a file is about to be decoded with; the header must fit it."""

    codec_name: str
    codec_id: str
    sample_rate: int
    hop_length: int
    codebook_size: int
    n_codebooks: int


@dataclasses.dataclass(frozen=True)
class RvqMetadata:
    """What a decoder needs besides the codes.

    ``codec_id`` is the sha256 of the codec weights (hex, as given by the caller), so a file
    is never decoded with different weights by accident.  ``length`` counts samples at
    ``original_sample_rate``.  ``loudness_lufs`` is the original integrated loudness when
    the encoder normalised the input, so the decoder can restore the level; None otherwise.
    """

    codec_name: str
    codec_id: str
    sample_rate: int
    original_sample_rate: int
    length: int
    hop_length: int
    codebook_size: int
    loudness_lufs: float | None = None
    codebook_strides: tuple[int, ...] | None = None  # per codebook (see the module docstring); None: all 1


@dataclasses.dataclass(frozen=True)
class RvqWriteReport:
    """Sizes of a written file; ``saving_percent`` is payload saving versus raw packing."""

    file_bytes: int
    header_bytes: int
    payload_bytes: int
    nominal_payload_bits: int
    entropy_coded: bool

    @property
    def saving_percent(self) -> float:
        if self.nominal_payload_bits == 0:
            return 0.0
        return 100.0 * (1.0 - 8 * self.payload_bytes / self.nominal_payload_bits)


def code_dtype(codebook_size: int) -> np.dtype:
    """The smallest signed integer type holding codes below ``codebook_size``: codes are read
    into it (2 bytes a code for codebooks up to 32768), so hours of codes stay small."""
    for dtype in (np.int16, np.int32):
        if codebook_size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def bits_per_code(codebook_size: int) -> int:
    """Bits of a raw packed code: ``ceil(log2(codebook_size))``."""
    return (int(codebook_size) - 1).bit_length()


# ---------------------------------------------------------------------------- bit packing


def pack_codes(values: np.ndarray, bits: int) -> bytes:
    """Pack non-negative integers (< 2**bits) MSB-first at ``bits`` bits each."""
    flat = np.ravel(values)  # widened chunk by chunk, never as a whole
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    chunks = []
    for start in range(0, flat.size, _PACK_CHUNK):
        chunk = flat[start : start + _PACK_CHUNK].astype(np.uint64)
        bit_matrix = (chunk[:, None] >> shifts) & np.uint64(1)
        chunks.append(np.packbits(bit_matrix.astype(np.uint8).ravel()))
    return b"".join(chunk.tobytes() for chunk in chunks)


def unpack_codes(data: bytes, count: int, bits: int, dtype: np.dtype = np.dtype(np.int64)) -> np.ndarray:
    """Inverse of ``pack_codes``: ``count`` integers of ``dtype`` (wide enough for ``bits``)."""
    packed = np.frombuffer(data, dtype=np.uint8)
    weights = np.left_shift(np.int64(1), np.arange(bits - 1, -1, -1, dtype=np.int64))
    out = np.empty(count, dtype=dtype)
    chunk_bytes = _PACK_CHUNK * bits // 8
    for index, start in enumerate(range(0, count, _PACK_CHUNK)):
        n = min(_PACK_CHUNK, count - start)
        chunk_bits = np.unpackbits(packed[index * chunk_bytes : index * chunk_bytes + math.ceil(n * bits / 8)])
        out[start : start + n] = chunk_bits[: n * bits].reshape(n, bits).astype(np.int64) @ weights
    return out


# ---------------------------------------------------------------------------- header


_HEADER_FIELDS = {  # key -> (type, lower bound, upper bound); None: unbounded
    "codec_name": (str, None, None),
    "codec_id": (str, None, None),
    "sample_rate": (int, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
    "original_sample_rate": (int, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
    "channels": (int, 1, MAX_CHANNELS),
    "length": (int, 0, None),
    "hop_length": (int, 1, None),
    "codebook_size": (int, 2, MAX_CODEBOOK_SIZE),
    "n_codebooks": (int, 1, None),
    "frames": (int, 0, None),
    "loudness_lufs": (float, MIN_LOUDNESS_LUFS, MAX_LOUDNESS_LUFS),
    "entropy_coded": (bool, None, None),
    "payload_bytes": (int, 0, None),
    "payload_crc32": (int, 0, (1 << 32) - 1),
}


def _normalised_field(key: str, value: object) -> object:
    """``value`` as the plain Python type of header field ``key``; raises if invalid."""
    kind, lower, upper = _HEADER_FIELDS[key]
    if key == "loudness_lufs" and value is None:
        return None
    if kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        value = float(value)
    elif kind is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    elif kind not in (int, float) and isinstance(value, kind):
        pass
    else:
        raise RvqFormatError(f"header field {key!r} has invalid value {value!r}")
    if lower is not None and value < lower:
        raise RvqFormatError(f"header field {key!r} must be >= {lower}, got {value}")
    if upper is not None and value > upper:
        raise RvqFormatError(f"header field {key!r} is out of range: {value} > {upper}")
    return value


MAX_CODEBOOK_STRIDE = 1 << 16
_STRIDES = "codebook_strides"  # the optional header field


def _normalised_strides(value: object, n_codebooks: int) -> tuple[int, ...] | None:
    """``codebook_strides`` as a tuple of one whole number in 1..2**16 per codebook (None: all 1)."""
    if value is None:
        return None
    if not (isinstance(value, (list, tuple)) and len(value) == n_codebooks
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                    and 1 <= v <= MAX_CODEBOOK_STRIDE for v in value)):
        raise RvqFormatError(f"{_STRIDES} must list one stride in 1..{MAX_CODEBOOK_STRIDE} for each of "
                             f"the {n_codebooks} codebooks, got {value!r}")
    strides = tuple(int(v) for v in value)
    return strides if any(v > 1 for v in strides) else None


def _stream_lengths(channels: int, n_codebooks: int, frames: int, strides: tuple[int, ...] | None) -> list[int]:
    """Codes stored for each codebook: ``channels * ceil(frames / stride)``."""
    return [channels * -(-frames // s) for s in (strides or (1,) * n_codebooks)]


SIDE_DTYPES = {"float32": np.dtype("<f4"), "int64": np.dtype("<i8")}
MAX_SIDE_ENTRIES = 8


def _check_side(side: object, channels: int, frames: int) -> dict[str, tuple[np.dtype, tuple[int, int]]]:
    """The header's ``side`` description as ``{name: (dtype, shape)}``; raises if invalid."""
    if not isinstance(side, dict) or not 1 <= len(side) <= MAX_SIDE_ENTRIES:
        raise RvqFormatError(f"header field 'side' must map 1..{MAX_SIDE_ENTRIES} names to arrays")
    checked = {}
    for name, spec in side.items():
        if not (isinstance(spec, dict) and set(spec) == {"dtype", "shape"} and spec["dtype"] in SIDE_DTYPES
                and isinstance(spec["shape"], list) and len(spec["shape"]) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) for n in spec["shape"])):
            raise RvqFormatError(f"side information {name!r}: needs a dtype of {', '.join(SIDE_DTYPES)} "
                                 "and a shape [channels, count]")
        if spec["shape"][0] != channels or not 1 <= spec["shape"][1] <= max(frames, 1):
            raise RvqFormatError(f"side information {name!r} has shape {spec['shape']}, expected "
                                 f"[{channels}, 1..{frames}]")
        checked[name] = (SIDE_DTYPES[spec["dtype"]], tuple(spec["shape"]))
    return checked


def _side_bytes(side: dict[str, tuple[np.dtype, tuple[int, int]]]) -> int:
    return sum(dtype.itemsize * math.prod(shape) for dtype, shape in side.values())


def expected_frames(length: int, original_rate: int, sample_rate: int, hop_length: int) -> int:
    """Frames the encoder makes of ``length`` samples at ``original_rate``: ``ceil(resampled / hop)``."""
    return -(-length * sample_rate // (original_rate * hop_length))


def _check_layout(fields: dict, channels: int, n_codebooks: int, frames: int, segmented: bool = False) -> None:
    """Shape against the limits and against ``length`` (raises before anything is allocated)."""
    if channels > MAX_CHANNELS:
        raise RvqFormatError(f"{channels} channels exceed the limit of {MAX_CHANNELS}")
    if channels * n_codebooks * frames > MAX_CODES:
        raise RvqFormatError(f"file claims more than {MAX_CODES} codes")
    if fields["length"] > MAX_SECONDS * fields["original_sample_rate"]:
        raise RvqFormatError(f"length {fields['length']} exceeds {MAX_SECONDS // 3600} hours "
                             f"at {fields['original_sample_rate']} Hz")
    expected = expected_frames(fields["length"], fields["original_sample_rate"], fields["sample_rate"],
                               fields["hop_length"])
    if not expected - 1 <= frames <= (2 * expected + 1 if segmented else expected + 1):
        raise RvqFormatError(f"{frames} frames do not match length {fields['length']} "
                             f"(expected {expected} frames of {fields['hop_length']} samples)")


def _validate_header(header: dict) -> None:
    missing = [key for key in _HEADER_FIELDS if key not in header]
    if missing:
        raise RvqFormatError(f"header lacks field(s) {', '.join(missing)}")
    for key in _HEADER_FIELDS:
        header[key] = _normalised_field(key, header[key])
    header[_STRIDES] = _normalised_strides(header.get(_STRIDES), header["n_codebooks"])
    if "side" in header:
        header["side"] = _check_side(header["side"], header["channels"], header["frames"])
    _check_layout(header, header["channels"], header["n_codebooks"], header["frames"], "side" in header)
    _check_payload_size(header)


def _check_payload_size(header: dict) -> None:
    """The payload size the header announces must be able to hold the codes it claims."""
    channels, n_codebooks, frames = header["channels"], header["n_codebooks"], header["frames"]
    size = header["codebook_size"]
    payload_bytes = header["payload_bytes"] - _side_bytes(header.get("side", {}))
    if payload_bytes < 0:
        raise RvqFormatError(f"payload of {header['payload_bytes']} bytes cannot hold the side information")
    lengths = _stream_lengths(channels, n_codebooks, frames, header[_STRIDES])
    count = sum(lengths)
    if not header["entropy_coded"]:
        expected = math.ceil(count * bits_per_code(size) / 8)
        if payload_bytes != expected:
            raise RvqFormatError(f"raw payload is {payload_bytes} bytes, expected {expected} for {count} codes")
        return
    if size > MAX_ALPHABET_SIZE:
        raise RvqFormatError(f"entropy-coded file with codebook_size {size} > {MAX_ALPHABET_SIZE} is invalid")
    needed = sum(min_coded_bits(length, size) for length in lengths) - _RANGE_CODER_SLACK_BITS
    if 8 * payload_bytes < needed:
        raise RvqFormatError(f"range-coded payload of {payload_bytes} bytes cannot hold the {count} codes "
                             f"the header claims (at least {math.ceil(needed / 8)} bytes)")


def _check_decoder(header: dict, decoder: DecoderSpec, name: str) -> None:
    """The header against the model about to decode it."""
    if header["codec_id"] != decoder.codec_id:
        raise CodecMismatchError(
            f"{name} was encoded with '{header['codec_name']}' (weights {header['codec_id'][:12]}), "
            f"not with '{decoder.codec_name}' (weights {decoder.codec_id[:12]})")
    for key in ("sample_rate", "hop_length", "codebook_size"):
        if header[key] != getattr(decoder, key):
            raise RvqFormatError(f"{name}: header {key} {header[key]} differs from the model's "
                                 f"{getattr(decoder, key)}")
    if header["n_codebooks"] > decoder.n_codebooks:
        raise RvqFormatError(f"{name}: {header['n_codebooks']} codebooks, the model has {decoder.n_codebooks}")


def _encode_header(header: dict) -> bytes:
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    if len(text) > MAX_HEADER_BYTES:
        raise RvqFormatError(f"header of {len(text)} bytes exceeds {MAX_HEADER_BYTES}")
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text
    return prefix + _CRC.pack(zlib.crc32(prefix))


def _reject_constant(name: str) -> None:
    raise RvqFormatError(f"header contains non-finite number {name}")


def _read_header(stream: BinaryIO) -> dict:
    """Read, parse and validate the header; leaves ``stream`` at the payload."""
    prefix = stream.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        if MAGIC.startswith(prefix[: len(MAGIC)]):
            raise RvqFormatError(f"file is truncated ({len(prefix)} bytes, header incomplete)")
        raise RvqFormatError("not an .rvq file (bad magic bytes)")
    magic, version, text_length = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise RvqFormatError("not an .rvq file (bad magic bytes)")
    if version > FORMAT_VERSION:
        raise RvqFormatError(
            f".rvq format version {version} is newer than this reader supports ({FORMAT_VERSION}); "
            "update RVQ Studio"
        )
    if version < 1:
        raise RvqFormatError(f"invalid .rvq format version {version}")
    if text_length > MAX_HEADER_BYTES:
        raise RvqFormatError(f"header length {text_length} exceeds {MAX_HEADER_BYTES} bytes (corrupt file)")
    rest = stream.read(text_length + _CRC.size)
    if len(rest) < text_length + _CRC.size:
        raise RvqFormatError(f"file is truncated ({len(prefix) + len(rest)} bytes, header needs "
                             f"{_PREFIX.size + text_length + _CRC.size})")
    (stored_crc,) = _CRC.unpack_from(rest, text_length)
    if zlib.crc32(prefix + rest[:text_length]) != stored_crc:
        raise RvqFormatError("header checksum mismatch (file is corrupt)")
    try:
        header = json.loads(rest[:text_length].decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise RvqFormatError(f"header is not valid UTF-8 JSON: {error}") from error
    if not isinstance(header, dict):
        raise RvqFormatError("header is not a JSON object")
    _validate_header(header)
    return header


# ---------------------------------------------------------------------------- payload


def _check_codes(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 3 or not np.issubdtype(codes.dtype, np.integer):
        raise RvqFormatError(f"codes must be an integer array [C, N, F], got {codes.dtype} {codes.shape}")
    if codes.shape[0] < 1 or codes.shape[1] < 1:
        raise RvqFormatError(f"codes need at least one channel and one codebook, got shape {codes.shape}")
    if codes.size > MAX_CODES:
        raise RvqFormatError(f"{codes.size} codes exceed the format limit of {MAX_CODES}")
    if codes.size and (codes.min() < 0 or codes.max() >= codebook_size):
        raise RvqFormatError(f"codes must lie in [0, {codebook_size}), found [{codes.min()}, {codes.max()}]")
    return codes


def _stored_codes(codes: np.ndarray, strides: tuple[int, ...] | None) -> list[np.ndarray]:
    """The codes a file stores, one ``[C, ceil(F / stride)]`` array per codebook."""
    return [codes[:, n, :: strides[n] if strides else 1] for n in range(codes.shape[1])]


def _check_strides(codes: np.ndarray, strides: tuple[int, ...]) -> None:
    """Refuse codes that change within a codebook's stride: storing one code a block would lose them."""
    frames = codes.shape[-1]
    for n, (kept, stride) in enumerate(zip(_stored_codes(codes, strides), strides)):
        if not np.array_equal(np.repeat(kept, stride, axis=-1)[:, :frames], codes[:, n]):
            raise RvqFormatError(f"codebook {n} changes within its stride of {stride} frames")


def _entropy_coded_payload(codes: np.ndarray, codebook_size: int, strides: tuple[int, ...] | None) -> bytes:
    return encode_streams([kept.ravel() for kept in _stored_codes(codes, strides)], codebook_size)


def _raw_payload(codes: np.ndarray, codebook_size: int, strides: tuple[int, ...] | None) -> bytes:
    """Codes bit-packed in C order; a multi-scale file packs its stored codes codebook by codebook."""
    flat = codes if strides is None else np.concatenate([kept.ravel() for kept in _stored_codes(codes, strides)])
    return pack_codes(flat, bits_per_code(codebook_size))


def _spread(streams: list[np.ndarray], channels: int, frames: int, strides: tuple[int, ...] | None,
            dtype: np.dtype) -> np.ndarray:
    """``[C, N, F]`` codes from each codebook's stored codes, repeated over its stride."""
    codes = np.empty((channels, len(streams), frames), dtype=dtype)
    for n, stream in enumerate(streams):
        stride = strides[n] if strides else 1
        codes[:, n, :] = np.repeat(stream.reshape(channels, -1), stride, axis=-1)[:, :frames]
    return codes


def _split_side(payload: bytes, header: dict) -> tuple[bytes, dict[str, np.ndarray]]:
    """The codes' part of the payload and the side arrays after it (native dtype, finite)."""
    side = header.get("side", {})
    offset = len(payload) - _side_bytes(side)
    codes_part, arrays = payload[:offset], {}
    for name, (dtype, shape) in side.items():
        count = math.prod(shape)
        array = np.frombuffer(payload, dtype, count, offset).reshape(shape).astype(dtype.newbyteorder("="))
        if not np.isfinite(array).all():
            raise RvqFormatError(f"side information {name!r} holds non-finite values")
        arrays[name], offset = array, offset + count * dtype.itemsize
    return codes_part, arrays


def _side_payload(side: dict[str, np.ndarray], channels: int, frames: int) -> tuple[dict, bytes]:
    """The header's ``side`` description and the bytes that follow the codes."""
    description, parts = {}, []
    for name, array in side.items():
        array = np.asarray(array)
        kind = next((k for k, d in SIDE_DTYPES.items() if np.can_cast(array.dtype, d, "same_kind")
                     and array.dtype.kind == d.kind), None)
        if kind is None or array.ndim != 2:
            raise RvqFormatError(f"side information {name!r} must be a 2-D float32 or integer array, "
                                 f"got {array.dtype} {array.shape}")
        description[name] = {"dtype": kind, "shape": list(array.shape)}
        parts.append(np.ascontiguousarray(array, SIDE_DTYPES[kind]).tobytes())
    _check_side(description, channels, frames)
    return description, b"".join(parts)


def _decode_payload(payload: bytes, header: dict) -> np.ndarray:
    channels, n_codebooks, frames = header["channels"], header["n_codebooks"], header["frames"]
    size, strides = header["codebook_size"], header[_STRIDES]
    dtype = code_dtype(size)
    lengths = _stream_lengths(channels, n_codebooks, frames, strides)
    if header["entropy_coded"]:
        try:
            streams = list(decode_streams(payload, lengths, size, dtype))
        except EntropyCodingError as error:
            raise RvqFormatError(str(error)) from error
        codes = _spread(streams, channels, frames, strides, dtype)
        # The range decoder pads exhausted data with zeros, so a header claiming more codes than
        # were coded would decode; only the encoder's own output re-encodes to itself.
        if _entropy_coded_payload(codes, size, strides) != payload:
            raise RvqFormatError("range-coded payload does not hold the codes the header describes "
                                 f"({channels} channels x {n_codebooks} codebooks x {frames} frames)")
        return codes
    count = sum(lengths)
    bits = bits_per_code(size)
    # a raw code can exceed the codebook (checked next): read it into a type its bits fit
    codes = unpack_codes(payload, count, bits, code_dtype(1 << bits))
    if count and codes.max() >= size:
        raise RvqFormatError(f"payload holds code {codes.max()} outside the codebook of {size}")
    if strides is None:
        return codes.reshape(channels, n_codebooks, frames).astype(dtype, copy=False)
    return _spread(np.split(codes, np.cumsum(lengths)[:-1]), channels, frames, strides, dtype)


# ---------------------------------------------------------------------------- public API


def _check_metadata(meta: RvqMetadata) -> dict:
    """Metadata as a dict of plain JSON-able values (numpy scalars accepted)."""
    try:
        fields = {key: _normalised_field(key, value) for key, value in dataclasses.asdict(meta).items()
                  if key != _STRIDES}
    except RvqFormatError as error:
        raise RvqFormatError(f"metadata: {error}") from None
    return fields


def write_rvq(
    path: str | os.PathLike, codes: np.ndarray, meta: RvqMetadata, entropy_coding: bool = True,
    side: dict[str, np.ndarray] | None = None,
) -> RvqWriteReport:
    """Write ``codes`` ``[C, N, F]`` (ints in ``[0, codebook_size)``), ``meta`` and the codec's
    ``side`` information (arrays ``[C, K]``, see the module docstring) to ``path``."""
    fields = _check_metadata(meta)
    codes = _check_codes(codes, meta.codebook_size)
    side_fields, side_bytes = _side_payload(side, codes.shape[0], codes.shape[2]) if side else ({}, b"")
    try:
        _check_layout(fields, *codes.shape, bool(side))
        strides = _normalised_strides(meta.codebook_strides, codes.shape[1])
    except RvqFormatError as error:
        raise RvqFormatError(f"metadata: {error}") from None
    if strides is not None:
        _check_strides(codes, strides)
    channels, n_codebooks, frames = codes.shape
    nominal_bits = sum(_stream_lengths(channels, n_codebooks, frames, strides)) * bits_per_code(meta.codebook_size)
    payload = None
    if entropy_coding and codes.size and meta.codebook_size <= MAX_ALPHABET_SIZE:
        payload = _entropy_coded_payload(codes, meta.codebook_size, strides)
        if len(payload) >= math.ceil(nominal_bits / 8):
            payload = None
    entropy_coded = payload is not None
    if payload is None:
        payload = _raw_payload(codes, meta.codebook_size, strides)
    payload += side_bytes
    header = _encode_header(
        {
            **fields,
            **({_STRIDES: list(strides)} if strides is not None else {}),
            **({"side": side_fields} if side_fields else {}),
            "channels": channels,
            "n_codebooks": n_codebooks,
            "frames": frames,
            "entropy_coded": entropy_coded,
            "payload_bytes": len(payload),
            "payload_crc32": zlib.crc32(payload),
        }
    )
    write_bytes_atomic(path, [header, payload])
    return RvqWriteReport(
        file_bytes=len(header) + len(payload),
        header_bytes=len(header),
        payload_bytes=len(payload),
        nominal_payload_bits=nominal_bits,
        entropy_coded=entropy_coded,
    )


def read_rvq(path: str | os.PathLike, decoder: DecoderSpec | None = None) -> tuple[np.ndarray, RvqMetadata]:
    """Read an ``.rvq`` file: codes ``[C, N, F]`` (of ``code_dtype(codebook_size)``) and its metadata.

    Everything the header claims is checked (against ``decoder`` too, when given) before the
    payload is read or decoded, so a crafted header cannot make the reader allocate more than
    the file's own size plus the codes the limits allow.
    """
    codes, meta, _ = read_rvq_with_side(path, decoder)
    return codes, meta


def read_rvq_with_side(
    path: str | os.PathLike, decoder: DecoderSpec | None = None
) -> tuple[np.ndarray, RvqMetadata, dict[str, np.ndarray]]:
    """:func:`read_rvq` plus the side information (empty for codecs without any)."""
    with open(path, "rb") as stream:
        header = _read_header(stream)
        if decoder is not None:
            _check_decoder(header, decoder, Path(path).name)
        available = os.fstat(stream.fileno()).st_size - stream.tell()
        if available < header["payload_bytes"]:
            raise RvqFormatError(f"file is truncated (payload {max(available, 0)} of {header['payload_bytes']} bytes)")
        if available > header["payload_bytes"]:
            raise RvqFormatError(f"file has {available - header['payload_bytes']} unexpected trailing bytes")
        payload = stream.read(header["payload_bytes"])
    if len(payload) != header["payload_bytes"] or zlib.crc32(payload) != header["payload_crc32"]:
        raise RvqFormatError("payload checksum mismatch (file is corrupt)")
    codes_part, side = _split_side(payload, header)
    codes = _decode_payload(codes_part, header)
    meta = RvqMetadata(**{field.name: header[field.name] for field in dataclasses.fields(RvqMetadata)})
    return codes, meta, side
