"""Reading ``.ecdc`` files, the compressed-audio container of Meta's ``encodec`` package.

So that audio compressed with the reference tools decodes here, with the release's
checkpoint, to what the package's own ``decompress`` gives. Layout (big-endian)::

    4 bytes b"ECDC", 1 byte version (0), uint32 n, n bytes of JSON:
        {"m": model name, "al": audio length in samples, "nc": codebooks, "lm": bool}
    then per segment of the model (one segment for the 24 kHz release; 1 s segments with
    1 % overlap for the 48 kHz one, as the model cuts them):
        [float32 scale]                      only for a normalising model (48 kHz)
        codes, frame by frame, codebook by codebook, log2(codebook size) bits each,
        least significant bit first, the segment's last byte zero-padded

The frames of a segment of ``L`` samples are ``ceil(L / sample_rate * frame_rate)``, the
package's own expression. Files coded with the package's language model (``"lm": true``:
an arithmetic coder driven by a transformer, :mod:`model.ecdc_lm`) need that transformer's
weights, which the package fetches beside the codec's (``encodec_lm_24khz-1608e3c0.th``,
``encodec_lm_48khz-7add9fc3.th``): they are looked up beside the codec's checkpoint, then
in torch hub's checkpoint folder, and their absence is a clear error. Decoding them is a
transformer step per frame and an arithmetic decode per code, in Python: about as slow as
the package.

The release a file names must match the model given to decode it (rate, channels,
segmenting), or the file is refused; the model's weights cannot be checked, the file does
not record them.
"""
from __future__ import annotations

import json
import math
import pickle
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from model.audio_io import write_audio
from model.codec import Codec, EncodedAudio
from model.compression import WrittenAudio
from model.ecdc_lm import ArithmeticDecoder, EcdcLanguageModel, quantized_cdf
from model.encodec import Encodec

MAGIC = b"ECDC"
_HEADER = struct.Struct("!4sBI")
_SCALE = struct.Struct("!f")
MAX_METADATA_BYTES = 1 << 12
MAX_SECONDS = 24 * 3600
RELEASES = {  # name in the file -> (sample rate, channels, normalising segments)
    "encodec_24khz": (24_000, 1, False),
    "encodec_48khz": (48_000, 2, True),
}
LM_WEIGHTS = {"encodec_24khz": "encodec_lm_24khz-1608e3c0.th", "encodec_48khz": "encodec_lm_48khz-7add9fc3.th"}


class EcdcFormatError(ValueError):
    """An ``.ecdc`` file that cannot be read, or not with the given model."""


def is_ecdc(path: str | Path) -> bool:
    """Whether ``path`` starts like an ``.ecdc`` file (its content decides, never its name)."""
    with open(path, "rb") as stream:
        return stream.read(len(MAGIC)) == MAGIC


def read_ecdc(path: str | Path, codec: Codec) -> tuple[EncodedAudio, int]:
    """``(encoded, audio length)`` of an ``.ecdc`` file, for ``codec`` to decode."""
    network = codec.network
    with open(path, "rb") as stream:
        meta = _read_metadata(stream, Path(path).name)
        _check_model(meta, codec, Path(path).name)
        length, n_codebooks = meta["al"], meta["nc"]
        starts, segment, _ = network.segment_starts(length)
        bits = int(math.log2(codec.codebook_size))
        frame_rate = math.ceil(codec.sample_rate / codec.hop_length)
        codes, scales, counts = [], [], []
        language_model = _language_model(meta, codec, Path(path).name) if meta["lm"] else None
        for start in starts:
            frames = int(math.ceil(min(length - start, segment) / codec.sample_rate * frame_rate))
            if network.config.normalize:
                (scale,) = _SCALE.unpack(_read_exactly(stream, _SCALE.size))
                if not (math.isfinite(scale) and scale > 0):
                    raise EcdcFormatError(f"{Path(path).name}: segment scale {scale} is not a positive number")
                scales.append(scale)
            if language_model is not None:
                codes.append(_lm_decoded(stream, language_model, frames, n_codebooks))
            else:
                count = frames * n_codebooks
                data = _read_exactly(stream, math.ceil(count * bits / 8))
                codes.append(_unpack_lsb_first(data, count, bits).reshape(frames, n_codebooks).T)
            counts.append(frames)
        if stream.read(1):
            raise EcdcFormatError(f"{Path(path).name}: unexpected bytes after the last segment")
    all_codes = torch.from_numpy(np.concatenate(codes, axis=1)[None].astype(np.int64))
    if not codec.side_info:
        return EncodedAudio(all_codes), length
    side = {"scales": torch.tensor([scales or [1.0] * len(counts)], dtype=torch.float32),
            "segment_frames": torch.tensor([counts], dtype=torch.int64)}
    return EncodedAudio(all_codes, side), length


def decompress_ecdc_file(codec: Codec, source: str | Path, target: str | Path,
                         n_codebooks: int | None = None) -> WrittenAudio:
    """Decode an ``.ecdc`` file to audio at the model's rate and the file's length, as the
    package's ``decompress`` does (with the first ``n_codebooks`` stored codebooks if given)."""
    encoded, length = read_ecdc(source, codec)
    stored = encoded.codes.shape[1]
    if n_codebooks is not None and not 1 <= n_codebooks <= stored:
        raise ValueError(f"{Path(source).name} stores {stored} codebooks; cannot decode with {n_codebooks}")
    wave = codec.decode(encoded.first(n_codebooks or stored))[0, :, :length].numpy()
    write_audio(target, wave, codec.sample_rate)
    return WrittenAudio(wave.shape[0], wave.shape[1], codec.sample_rate)


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise EcdcFormatError("the .ecdc file is truncated")
    return data


def _read_metadata(stream: BinaryIO, name: str) -> dict:
    magic, version, size = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    if magic != MAGIC:
        raise EcdcFormatError(f"{name} is not an .ecdc file")
    if version != 0:
        raise EcdcFormatError(f"{name}: .ecdc version {version} is not supported (only 0)")
    if size > MAX_METADATA_BYTES:
        raise EcdcFormatError(f"{name}: metadata of {size} bytes (corrupt file)")
    try:
        meta = json.loads(_read_exactly(stream, size).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EcdcFormatError(f"{name}: metadata is not valid JSON") from error
    if not (isinstance(meta, dict) and isinstance(meta.get("m"), str) and isinstance(meta.get("lm"), bool)
            and all(isinstance(meta.get(k), int) and not isinstance(meta.get(k), bool) for k in ("al", "nc"))):
        raise EcdcFormatError(f"{name}: metadata lacks the model, length, codebook count or coder")
    return meta


def _check_model(meta: dict, codec: Codec, name: str) -> None:
    if meta["m"] not in RELEASES:
        raise EcdcFormatError(f"{name} names the model {meta['m']!r}, not one of {', '.join(RELEASES)}")
    rate, channels, segmented = RELEASES[meta["m"]]
    network = codec.network
    if not (isinstance(network, Encodec) and (codec.sample_rate, codec.channels) == (rate, channels)
            and network.config.segmented == segmented):
        raise EcdcFormatError(f"{name} was written by {meta['m']} ({rate // 1000} kHz, {channels} channel(s)); "
                              f"decode it with that release's checkpoint, not {codec.name}")
    if not 1 <= meta["nc"] <= codec.n_codebooks:
        raise EcdcFormatError(f"{name} claims {meta['nc']} codebooks; {codec.name} has {codec.n_codebooks}")
    if not 0 < meta["al"] <= MAX_SECONDS * rate:
        raise EcdcFormatError(f"{name}: audio length {meta['al']} is out of range")


def _language_model(meta: dict, codec: Codec, name: str) -> EcdcLanguageModel:
    """The package's language model for the file's release, from beside the codec's checkpoint
    or torch hub's checkpoint folder."""
    file_name = LM_WEIGHTS[meta["m"]]
    places = [Path(codec.source).parent / file_name] if codec.source else []
    places.append(Path(torch.hub.get_dir()) / "checkpoints" / file_name)
    found = next((place for place in places if place.is_file()), None)
    if found is None:
        raise EcdcFormatError(f"{name} was coded with the encodec package's language model; its weights "
                              f"{file_name} are needed beside the model file or in {places[-1].parent}")
    try:
        return EcdcLanguageModel.from_state(torch.load(found, map_location="cpu", weights_only=True),
                                            codec.frame_rate)
    except (RuntimeError, ValueError, KeyError, pickle.UnpicklingError) as error:
        raise EcdcFormatError(f"{found.name} is not the package's language model: "
                              f"{str(error).strip().splitlines()[0]}") from None


def _lm_decoded(stream: BinaryIO, language_model: EcdcLanguageModel, frames: int, n_codebooks: int) -> np.ndarray:
    """A segment's codes ``[K, frames]`` arithmetic-decoded with the language model's tables."""
    if len(language_model.emb) < n_codebooks:
        raise EcdcFormatError(f"the language model predicts {len(language_model.emb)} codebooks, "
                              f"the file has {n_codebooks}")
    decoder = ArithmeticDecoder(_BitReader(stream).read)
    language_model.reset()
    codes = np.zeros((n_codebooks, frames), np.int64)
    previous = torch.zeros(n_codebooks, dtype=torch.long)
    with torch.inference_mode():
        for t in range(frames):
            probabilities = language_model.next_probabilities(previous)
            for k in range(n_codebooks):
                code = decoder.pull(quantized_cdf(probabilities[:, k]))
                if code is None:
                    raise EcdcFormatError("the .ecdc file is truncated")
                codes[k, t] = code
            previous = torch.from_numpy(codes[:, t] + 1)
    return codes


class _BitReader:
    """Bits of a stream, least significant first in each byte, read a byte at a time as needed
    (the package's one-bit ``BitUnpacker``: a segment's last partial byte is left behind)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.byte, self.left = stream, 0, 0

    def read(self) -> int | None:
        if not self.left:
            data = self.stream.read(1)
            if not data:
                return None
            self.byte, self.left = data[0], 8
        bit, self.byte, self.left = self.byte & 1, self.byte >> 1, self.left - 1
        return bit


def _unpack_lsb_first(data: bytes, count: int, bits: int) -> np.ndarray:
    """``count`` integers of ``bits`` bits, packed least significant bit first (the package's
    ``BitPacker``)."""
    stream = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[: count * bits]
    weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
    return stream.reshape(count, bits).astype(np.int64) @ weights
