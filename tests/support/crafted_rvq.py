"""Taking .rvq files apart and putting them back with any header and valid checksums.

Tests use it to reach the reader's deep validation: a file rebuilt here passes both CRCs,
so only the checks on the header's content can refuse it.
"""
import json
import struct
import zlib

from model.rvq_format import FORMAT_VERSION


def rebuild(header: object, payload: bytes, version: int = FORMAT_VERSION) -> bytes:
    """A file with arbitrary header content (any JSON value) and a valid header checksum."""
    text = json.dumps(header).encode()
    prefix = struct.pack("<4sHI", b"RVQ1", version, len(text)) + text
    return prefix + struct.pack("<I", zlib.crc32(prefix)) + payload


def split(data: bytes) -> tuple[dict, bytes]:
    """``(header, payload)`` of a file's bytes."""
    (length,) = struct.unpack_from("<I", data, 6)
    return json.loads(data[10 : 10 + length]), data[14 + length :]
