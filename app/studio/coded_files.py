"""Opening an already coded file in the studio: an ``.ecdc`` file of Meta's encodec package.

Such a file holds codes, not audio. The studio's clip is then its decoding (at the file's
codebook count, the model's rate and the file's length, as the package's ``decompress`` and
``rvq-studio decode`` give it), and its codes are the file's own -- nothing is re-encoded,
so the slider goes from 1 to the count the file stores, and the residual at that count is
silence by construction. Whether a file is one is told by its content, never its name.

The file names the release that wrote it; loaded with another model it is refused with one
line naming the release to load (:class:`~model.ecdc_format.EcdcFormatError`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.codec import Codec
from model.ecdc_format import EcdcFormatError, is_ecdc, read_ecdc


@dataclass(frozen=True)
class CodedFile:
    """The codes ``[1, n, F]`` of a file, their side information and their decoding ``[T, C]``."""

    codes: np.ndarray
    side: dict[str, np.ndarray]
    samples: np.ndarray


def is_coded_file(path: str | Path) -> bool:
    """Whether ``path`` holds codes the studio opens as they are (an ``.ecdc`` file)."""
    try:
        return Path(path).is_file() and is_ecdc(path)
    except OSError:
        return False


def read_coded_file(codec: Codec, path: str | Path, between_pieces: Callable[[], None] = lambda: None) -> CodedFile:
    """The file's codes and their decoding by ``codec`` (refused, in one line, for another release's file).

    The decoding comes piece by piece (a segmenting codec's segments, a chunkable codec's chunks)
    into one array of the file's length, with ``between_pieces()`` called after each: the studio's
    worker raises there when the open is cancelled, so a long file does not hold it for its whole
    decode.
    """
    encoded, length = read_ecdc(path, codec)
    if encoded.codes.shape[-1] != codec.n_frames(length):
        raise EcdcFormatError(f"{Path(path).name}: {encoded.codes.shape[-1]} frames of codes for {length} samples; "
                              f"{codec.name} codes them in {codec.n_frames(length)}")
    samples = np.zeros((length, codec.channels), dtype=np.float32)
    done = 0
    for piece in codec.decode_blocks(encoded):
        block = piece.reshape(-1, piece.shape[-1]).numpy().T[: length - done]
        samples[done : done + block.shape[0]] = block
        done += block.shape[0]
        between_pieces()
    return CodedFile(encoded.codes.numpy(), {k: v.numpy() for k, v in encoded.side.items()}, samples)
