"""Real audio files with header fields set to hostile values, container by container.

Each patch follows the container's layout: RIFF/RF64/Wave64 chunks (little-endian sizes;
RF64's 64-bit sizes in its ``ds64`` chunk; Wave64 chunks named by GUIDs whose first four bytes
are the RIFF name), AIFF and CAF chunks (big-endian; AIFF's ``COMM`` holds channels, frames and
an 80-bit rate; CAF's ``desc`` a float64 rate and 32-bit channel count, its ``pakt`` the valid
frames of a compressed stream), Sun AU's fixed header, NIST's text header, FLAC's STREAMINFO
(20-bit rate, 3-bit channels-1, 5-bit bits-1, 36-bit total samples at bytes 18-25), Ogg pages
(64-bit granule position at byte 6 of a page, CRC-32 over the page at byte 22, recomputed here
so only the decoder's checks stand in the way) and MP3's Xing tag (frame count after the flags).
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

TWO_31, TWO_40, INT64_MAX = 1 << 31, 1 << 40, (1 << 63) - 1


@dataclass(frozen=True)
class Craft:
    """A hostile variant of a source file: ``patch`` maps its bytes to the crafted bytes;
    ``length_only`` when only a length claim changed, so the samples must stay the source's."""

    name: str
    patch: Callable[[bytes], bytes]
    length_only: bool = True


def _put(data: bytes, offset: int, fmt: str, value: int | float) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def chunks(data: bytes, start: int, id_size: int, size_fmt: str, size_covers_header: bool = False,
           align: int = 2) -> Iterator[tuple[bytes, int, int]]:
    """``(name, offset of the size field, offset of the body)`` of each chunk from ``start``."""
    head = id_size + struct.calcsize(size_fmt)
    at = start
    while at + head <= len(data):
        name = data[at : at + id_size]
        (size,) = struct.unpack_from(size_fmt, data, at + id_size)
        yield name, at + id_size, at + head
        body = size - head if size_covers_header else size
        if body < 0:
            return
        at += head + body + (-(head + body) % align if align > 1 else 0)


def _chunk(data: bytes, name: bytes, walk: Iterator[tuple[bytes, int, int]]) -> tuple[int, int]:
    for found, size_at, body_at in walk:
        if found[: len(name)] == name:
            return size_at, body_at
    raise ValueError(f"no {name!r} chunk")


def _riff(data: bytes, name: bytes) -> tuple[int, int]:
    return _chunk(data, name, chunks(data, 12, 4, "<I"))


def _w64(data: bytes, name: bytes) -> tuple[int, int]:
    return _chunk(data, name, chunks(data, 40, 16, "<Q", size_covers_header=True, align=8))


def _iff(data: bytes, name: bytes) -> tuple[int, int]:
    return _chunk(data, name, chunks(data, 12, 4, ">I"))


def _caf(data: bytes, name: bytes) -> tuple[int, int]:
    return _chunk(data, name, chunks(data, 8, 4, ">q", align=1))


def riff_data_size(value: int) -> Callable[[bytes], bytes]:
    return lambda d: _put(d, _riff(d, b"data")[0], "<I", value)


def riff_field(chunk: bytes, offset: int, fmt: str, value: int) -> Callable[[bytes], bytes]:
    return lambda d: _put(d, _riff(d, chunk)[1] + offset, fmt, value)


def rf64_sizes(data_size: int, sample_count: int) -> Callable[[bytes], bytes]:
    """``ds64``: RIFF size, data size, sample count, 64 bits each."""
    def patch(d: bytes) -> bytes:
        body = _riff(d, b"ds64")[1]
        return _put(_put(d, body + 8, "<Q", data_size), body + 16, "<Q", sample_count)
    return patch


def w64_data_size(value: int) -> Callable[[bytes], bytes]:
    return lambda d: _put(d, _w64(d, b"data")[0], "<Q", value)


def aiff_comm(channels: int | None = None, frames: int | None = None) -> Callable[[bytes], bytes]:
    def patch(d: bytes) -> bytes:
        body = _iff(d, b"COMM")[1]
        if channels is not None:
            d = _put(d, body, ">h", channels)
        return d if frames is None else _put(d, body + 2, ">I", frames)
    return patch


def aiff_ssnd_size(value: int) -> Callable[[bytes], bytes]:
    return lambda d: _put(d, _iff(d, b"SSND")[0], ">I", value)


def caf_data_size(value: int) -> Callable[[bytes], bytes]:
    return lambda d: _put(d, _caf(d, b"data")[0], ">q", value)


def caf_channels(value: int) -> Callable[[bytes], bytes]:
    return lambda d: _put(d, _caf(d, b"desc")[1] + 24, ">I", value)


def caf_valid_frames(value: int) -> Callable[[bytes], bytes]:
    return lambda d: _put(d, _caf(d, b"pakt")[1] + 8, ">q", value)


def au_field(offset: int, value: int) -> Callable[[bytes], bytes]:
    """Sun AU: data size at 8, encoding at 12, rate at 16, channels at 20 (big-endian 32-bit)."""
    return lambda d: _put(d, offset, ">I", value)


def nist_sample_count(value: int) -> Callable[[bytes], bytes]:
    """The ``sample_count -i N`` line of the 1024-byte text header, the padding shortened to match."""
    def patch(d: bytes) -> bytes:
        head = d[:1024].decode("latin-1")
        line = next(line for line in head.split("\n") if line.startswith("sample_count"))
        new = f"sample_count -i {value}"
        head = head.replace(line, new).replace(" " * len(new), " " * len(line), 1)[:1024].ljust(1024)
        return head.encode("latin-1") + d[1024:]
    return patch


def flac_streaminfo(total: int | None = None, channels: int | None = None, rate: int | None = None
                    ) -> Callable[[bytes], bytes]:
    def patch(d: bytes) -> bytes:
        (word,) = struct.unpack_from(">Q", d, 18)
        if total is not None:
            word = (word & ~((1 << 36) - 1)) | total
        if channels is not None:
            word = (word & ~(7 << 41)) | ((channels - 1) << 41)
        if rate is not None:
            word = (word & ((1 << 44) - 1)) | (rate << 44)
        return _put(d, 18, ">Q", word)
    return patch


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, starting from 0."""
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ byte]
    return crc


def ogg_pages(d: bytes) -> list[tuple[int, int]]:
    """``(offset, length)`` of each page."""
    pages, at = [], 0
    while at + 27 <= len(d) and d[at : at + 4] == b"OggS":
        segments = d[at + 26]
        length = 27 + segments + sum(d[at + 27 : at + 27 + segments])
        pages.append((at, length))
        at += length
    return pages


def _resealed(d: bytearray, page: tuple[int, int]) -> bytes:
    at, length = page
    d[at + 22 : at + 26] = bytes(4)
    struct.pack_into("<I", d, at + 22, ogg_crc(bytes(d[at : at + length])))
    return bytes(d)


def ogg_last_granule(value: int) -> Callable[[bytes], bytes]:
    def patch(d: bytes) -> bytes:
        page = ogg_pages(d)[-1]
        out = bytearray(d)
        struct.pack_into("<q", out, page[0] + 6, value)
        return _resealed(out, page)
    return patch


def ogg_first_packet(offset: int, fmt: str, value: int) -> Callable[[bytes], bytes]:
    """A field of the identification header (the first page's one packet): Vorbis channels at
    11 and rate at 12; Opus channels at 9 and pre-skip at 10."""
    def patch(d: bytes) -> bytes:
        page = ogg_pages(d)[0]
        out = bytearray(d)
        struct.pack_into(fmt, out, page[0] + 27 + d[page[0] + 26] + offset, value)
        return _resealed(out, page)
    return patch


def xing_field(offset: int, value: int) -> Callable[[bytes], bytes]:
    """The Xing tag: flags, then frames (offset 8) and bytes (offset 12), big-endian."""
    return lambda d: _put(d, d.index(b"Xing") + offset, ">I", value)


# (suffix, soundfile format, subtype, channels): every container libsndfile both writes and reads
# here with a length field, and the compressed streams whose length is a header's word.
SOURCES = {
    "wav": ("WAV", "PCM_16", 2), "wavex.wav": ("WAVEX", "PCM_24", 2), "adpcm.wav": ("WAV", "IMA_ADPCM", 2),
    "rf64": ("RF64", "PCM_16", 2), "w64": ("W64", "FLOAT", 2), "aiff": ("AIFF", "PCM_16", 2),
    "aifc": ("AIFF", "FLOAT", 2), "caf": ("CAF", "PCM_16", 2), "alac.caf": ("CAF", "ALAC_16", 2),
    "au": ("AU", "PCM_16", 2), "nist": ("NIST", "PCM_16", 2), "flac": ("FLAC", "PCM_16", 2),
    "ogg": ("OGG", "VORBIS", 2), "opus": ("OGG", "OPUS", 2), "mp3": ("MP3", "MPEG_LAYER_III", 2),
}

CRAFTS = {
    "wav": [Craft("data size 2^32-1", riff_data_size(0xFFFFFFFF)), Craft("data size 2^31", riff_data_size(TWO_31)),
            Craft("RIFF size 2^32-1", lambda d: _put(d, 4, "<I", 0xFFFFFFFF)),
            Craft("channels 64", riff_field(b"fmt ", 2, "<H", 64), False),
            Craft("channels 65535", riff_field(b"fmt ", 2, "<H", 0xFFFF), False),
            Craft("rate 2^32-1", riff_field(b"fmt ", 4, "<I", 0xFFFFFFFF), False),
            Craft("rate 1", riff_field(b"fmt ", 4, "<I", 1), False)],
    "wavex.wav": [Craft("data size 2^32-1", riff_data_size(0xFFFFFFFF)),
                  Craft("channels 64", riff_field(b"fmt ", 2, "<H", 64), False)],
    "adpcm.wav": [Craft("fact samples 2^32-1", riff_field(b"fact", 0, "<I", 0xFFFFFFFF)),
                  Craft("data size 2^32-1", riff_data_size(0xFFFFFFFF))],
    "rf64": [Craft("ds64 data 2^40, samples 2^40", rf64_sizes(TWO_40, TWO_40)),
             Craft("ds64 data and samples 2^63-1", rf64_sizes(INT64_MAX, INT64_MAX))],
    "w64": [Craft("data size 2^40", w64_data_size(TWO_40)), Craft("data size 2^64-1", w64_data_size((1 << 64) - 1))],
    "aiff": [Craft("COMM frames 2^32-1", aiff_comm(frames=0xFFFFFFFF)),
             Craft("SSND size 2^32-1", aiff_ssnd_size(0xFFFFFFFF)),
             Craft("COMM channels 32767", aiff_comm(channels=0x7FFF), False)],
    "aifc": [Craft("COMM frames 2^31", aiff_comm(frames=TWO_31))],
    "caf": [Craft("data size 2^62", caf_data_size(1 << 62)), Craft("data size -1 (to the end)", caf_data_size(-1)),
            Craft("channels 2^32-1", caf_channels(0xFFFFFFFF), False)],
    "alac.caf": [Craft("pakt valid frames 2^40", caf_valid_frames(TWO_40))],
    "au": [Craft("data size 2^31-1", au_field(8, TWO_31 - 1)), Craft("channels 2^31", au_field(20, TWO_31), False),
           Craft("rate 2^32-1", au_field(16, 0xFFFFFFFF), False)],
    "nist": [Craft("sample_count 2^40", nist_sample_count(TWO_40))],
    "flac": [Craft("total samples 2^36-1", flac_streaminfo(total=(1 << 36) - 1)),
             Craft("total samples 2^31", flac_streaminfo(total=TWO_31)),
             Craft("total samples unknown (0)", flac_streaminfo(total=0)),
             Craft("channels 8", flac_streaminfo(channels=8), False),
             Craft("rate 1", flac_streaminfo(rate=1), False),
             Craft("rate 2^20-1", flac_streaminfo(rate=(1 << 20) - 1), False)],
    "ogg": [Craft("last granule 2^31", ogg_last_granule(TWO_31)), Craft("last granule 2^40", ogg_last_granule(TWO_40)),
            Craft("last granule 2^63-1", ogg_last_granule(INT64_MAX)),
            Craft("channels 255", ogg_first_packet(11, "<B", 255), False),
            Craft("rate 2^32-1", ogg_first_packet(12, "<I", 0xFFFFFFFF), False)],
    "opus": [Craft("last granule 2^40", ogg_last_granule(TWO_40)),
             Craft("last granule 2^63-1", ogg_last_granule(INT64_MAX)),
             Craft("channels 8", ogg_first_packet(9, "<B", 8), False),
             Craft("pre-skip 65535", ogg_first_packet(10, "<H", 0xFFFF), False)],
    "mp3": [Craft("Xing frames 2^32-1", xing_field(8, 0xFFFFFFFF)), Craft("Xing frames 2^31", xing_field(8, TWO_31)),
            Craft("Xing bytes 2^32-1", xing_field(12, 0xFFFFFFFF))],
}
