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
  * Versioning: the magic names the container family; ``version`` governs layout and
    payload coding.  Files from a newer version are refused with a clear message rather
    than misread.
  * Writes are atomic (temp file in the destination directory, fsync, ``os.replace``).
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

import numpy as np

from model.atomic_file import write_bytes_atomic
from model.entropy_coding import MAX_ALPHABET_SIZE, EntropyCodingError, decode_streams, encode_streams

MAGIC = b"RVQ1"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHI")
_CRC = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 16
MAX_CODEBOOK_SIZE = 1 << 32
MAX_CODES = 1 << 28  # ~48 h of stereo 44.1 kHz DAC at 9 codebooks; bounds decode memory
_PACK_CHUNK = 1 << 16  # codes per bit-packing chunk (multiple of 8: chunks end on byte boundaries)


class RvqFormatError(ValueError):
    """A ``.rvq`` file is not readable: wrong magic, newer version, truncated or corrupt."""


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


def bits_per_code(codebook_size: int) -> int:
    """Bits of a raw packed code: ``ceil(log2(codebook_size))``."""
    return (int(codebook_size) - 1).bit_length()


# ---------------------------------------------------------------------------- bit packing


def pack_codes(values: np.ndarray, bits: int) -> bytes:
    """Pack non-negative integers (< 2**bits) MSB-first at ``bits`` bits each."""
    flat = np.ascontiguousarray(values, dtype=np.uint64).ravel()
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    chunks = []
    for start in range(0, flat.size, _PACK_CHUNK):
        bit_matrix = (flat[start : start + _PACK_CHUNK, None] >> shifts) & np.uint64(1)
        chunks.append(np.packbits(bit_matrix.astype(np.uint8).ravel()))
    return b"".join(chunk.tobytes() for chunk in chunks)


def unpack_codes(data: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of ``pack_codes``: ``count`` integers as int64."""
    packed = np.frombuffer(data, dtype=np.uint8)
    weights = np.left_shift(np.int64(1), np.arange(bits - 1, -1, -1, dtype=np.int64))
    out = np.empty(count, dtype=np.int64)
    chunk_bytes = _PACK_CHUNK * bits // 8
    for index, start in enumerate(range(0, count, _PACK_CHUNK)):
        n = min(_PACK_CHUNK, count - start)
        chunk_bits = np.unpackbits(packed[index * chunk_bytes : index * chunk_bytes + math.ceil(n * bits / 8)])
        out[start : start + n] = chunk_bits[: n * bits].reshape(n, bits).astype(np.int64) @ weights
    return out


# ---------------------------------------------------------------------------- header


_HEADER_FIELDS = {  # key -> (type, lower bound or None)
    "codec_name": (str, None),
    "codec_id": (str, None),
    "sample_rate": (int, 1),
    "original_sample_rate": (int, 1),
    "channels": (int, 1),
    "length": (int, 0),
    "hop_length": (int, 1),
    "codebook_size": (int, 2),
    "n_codebooks": (int, 1),
    "frames": (int, 0),
    "loudness_lufs": (float, None),
    "entropy_coded": (bool, None),
    "payload_bytes": (int, 0),
    "payload_crc32": (int, 0),
}


def _normalised_field(key: str, value: object) -> object:
    """``value`` as the plain Python type of header field ``key``; raises if invalid."""
    kind, lower = _HEADER_FIELDS[key]
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
    return value


def _validate_header(header: dict) -> None:
    missing = [key for key in _HEADER_FIELDS if key not in header]
    if missing:
        raise RvqFormatError(f"header lacks field(s) {', '.join(missing)}")
    for key in _HEADER_FIELDS:
        header[key] = _normalised_field(key, header[key])
    if header["codebook_size"] > MAX_CODEBOOK_SIZE or header["payload_crc32"] >= 1 << 32:
        raise RvqFormatError("header field codebook_size or payload_crc32 out of range")
    if header["channels"] * header["n_codebooks"] * header["frames"] > MAX_CODES:
        raise RvqFormatError(f"file claims more than {MAX_CODES} codes")


def _encode_header(header: dict) -> bytes:
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    if len(text) > MAX_HEADER_BYTES:
        raise RvqFormatError(f"header of {len(text)} bytes exceeds {MAX_HEADER_BYTES}")
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text
    return prefix + _CRC.pack(zlib.crc32(prefix))


def _reject_constant(name: str) -> None:
    raise RvqFormatError(f"header contains non-finite number {name}")


def _decode_header(data: bytes) -> tuple[dict, int]:
    """Parse and validate the header; returns it and the payload offset."""
    if len(data) < _PREFIX.size:
        if MAGIC.startswith(data[: len(MAGIC)]):
            raise RvqFormatError(f"file is truncated ({len(data)} bytes, header incomplete)")
        raise RvqFormatError("not an .rvq file (bad magic bytes)")
    magic, version, text_length = _PREFIX.unpack_from(data)
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
    payload_offset = _PREFIX.size + text_length + _CRC.size
    if len(data) < payload_offset:
        raise RvqFormatError(f"file is truncated ({len(data)} bytes, header needs {payload_offset})")
    (stored_crc,) = _CRC.unpack_from(data, payload_offset - _CRC.size)
    if zlib.crc32(data[: payload_offset - _CRC.size]) != stored_crc:
        raise RvqFormatError("header checksum mismatch (file is corrupt)")
    try:
        text = data[_PREFIX.size : _PREFIX.size + text_length].decode("utf-8")
        header = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise RvqFormatError(f"header is not valid UTF-8 JSON: {error}") from error
    if not isinstance(header, dict):
        raise RvqFormatError("header is not a JSON object")
    _validate_header(header)
    return header, payload_offset


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


def _entropy_coded_payload(codes: np.ndarray, codebook_size: int) -> bytes:
    return encode_streams([codes[:, n, :].ravel() for n in range(codes.shape[1])], codebook_size)


def _decode_payload(payload: bytes, header: dict) -> np.ndarray:
    channels, n_codebooks, frames = header["channels"], header["n_codebooks"], header["frames"]
    size = header["codebook_size"]
    count = channels * n_codebooks * frames
    if header["entropy_coded"]:
        if size > MAX_ALPHABET_SIZE:
            raise RvqFormatError(f"entropy-coded file with codebook_size {size} > {MAX_ALPHABET_SIZE} is invalid")
        try:
            streams = decode_streams(payload, [channels * frames] * n_codebooks, size)
        except EntropyCodingError as error:
            raise RvqFormatError(str(error)) from error
        return np.stack([s.reshape(channels, frames) for s in streams], axis=1)
    bits = bits_per_code(size)
    expected = math.ceil(count * bits / 8)
    if len(payload) != expected:
        raise RvqFormatError(f"raw payload is {len(payload)} bytes, expected {expected} for {count} codes")
    codes = unpack_codes(payload, count, bits)
    if count and codes.max() >= size:
        raise RvqFormatError(f"payload holds code {codes.max()} outside the codebook of {size}")
    return codes.reshape(channels, n_codebooks, frames)


# ---------------------------------------------------------------------------- public API


def _check_metadata(meta: RvqMetadata) -> dict:
    """Metadata as a dict of plain JSON-able values (numpy scalars accepted)."""
    try:
        fields = {key: _normalised_field(key, value) for key, value in dataclasses.asdict(meta).items()}
    except RvqFormatError as error:
        raise RvqFormatError(f"metadata: {error}") from None
    if meta.codebook_size > MAX_CODEBOOK_SIZE:
        raise RvqFormatError(f"metadata: codebook_size {meta.codebook_size} exceeds {MAX_CODEBOOK_SIZE}")
    return fields


def write_rvq(
    path: str | os.PathLike, codes: np.ndarray, meta: RvqMetadata, entropy_coding: bool = True
) -> RvqWriteReport:
    """Write ``codes`` ``[C, N, F]`` (ints in ``[0, codebook_size)``) and ``meta`` to ``path``."""
    fields = _check_metadata(meta)
    codes = _check_codes(codes, meta.codebook_size)
    nominal_bits = codes.size * bits_per_code(meta.codebook_size)
    payload = None
    if entropy_coding and codes.size and meta.codebook_size <= MAX_ALPHABET_SIZE:
        payload = _entropy_coded_payload(codes, meta.codebook_size)
        if len(payload) >= math.ceil(nominal_bits / 8):
            payload = None
    entropy_coded = payload is not None
    if payload is None:
        payload = pack_codes(codes, bits_per_code(meta.codebook_size))
    channels, n_codebooks, frames = codes.shape
    header = _encode_header(
        {
            **fields,
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


def read_rvq(path: str | os.PathLike) -> tuple[np.ndarray, RvqMetadata]:
    """Read an ``.rvq`` file: codes as int64 ``[C, N, F]`` and its metadata."""
    data = Path(path).read_bytes()
    header, offset = _decode_header(data)
    payload = data[offset:]
    if len(payload) < header["payload_bytes"]:
        raise RvqFormatError(f"file is truncated (payload {len(payload)} of {header['payload_bytes']} bytes)")
    if len(payload) > header["payload_bytes"]:
        raise RvqFormatError(f"file has {len(payload) - header['payload_bytes']} unexpected trailing bytes")
    if zlib.crc32(payload) != header["payload_crc32"]:
        raise RvqFormatError("payload checksum mismatch (file is corrupt)")
    codes = _decode_payload(payload, header)
    meta = RvqMetadata(**{field.name: header[field.name] for field in dataclasses.fields(RvqMetadata)})
    return codes, meta
