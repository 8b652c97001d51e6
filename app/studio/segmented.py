"""Codecs that code independent segments with side information (EnCodec 48 kHz) in the studio.

Such a codec cuts the signal into segments (1 s, overlapping by 1 %), normalises each by its
own scale and codes it on its own; decoding cross-fades the decoded segments. Segments are
therefore the natural unit of the studio's work, and both directions are exact in pieces:

* encoding: an excerpt that starts where a segment starts gives that segment's codes and
  scale, and the following ones', as the whole signal's encode does (the excerpt's extra
  tail segment is dropped); the clip's encode goes a few segments at a time, and the samples
  before the next segment's start are then decodable (:attr:`EncodeState.frames`, counted on
  the render grid; the codes' own final frames in :attr:`EncodeState.code_frames`);
* decoding: the samples of a chunk are the cross-fade of the segments that reach them; decoded
  together (one more segment before when the first would be the short last one: the fade's
  weights are shaped by the first segment's length), they give exactly the whole decode's
  samples there, so chunks rendered in any order join without seams.

A codec of one segment (normalised, unsegmented) is encoded and decoded whole.
"""
from __future__ import annotations

import bisect

import numpy as np
import torch

from app.studio.clip import StudioClip
from app.studio.progressive_encode import EncodeState
from model.codec import Codec, EncodedAudio

Segments = list[tuple[int, int, int, int]]  # (first sample, stop sample, first frame, stop frame)


class SegmentedEncode:
    """Fills ``codes`` ``[items, N, F]`` and ``side`` from ``wave`` ``[items, 2, T]``, a few segments per :meth:`step`."""

    def __init__(self, codec: Codec, wave: torch.Tensor, codes: np.ndarray, state: EncodeState,
                 piece_seconds: float, side: dict[str, np.ndarray]) -> None:
        self.codec, self.wave, self.codes, self.state, self.side = codec, wave, codes, state, side
        self.segments = codec.segments(wave.shape[-1])
        stride = self.segments[1][0] if len(self.segments) > 1 else wave.shape[-1]
        per_piece = max(1, round(piece_seconds * codec.sample_rate / max(1, stride)))
        self._plan = [(a, min(a + per_piece, len(self.segments))) for a in range(0, len(self.segments), per_piece)]
        self._next = 0

    @property
    def done(self) -> bool:
        return self._next >= len(self._plan)

    def step(self) -> None:
        """Encode the next run of segments and publish the samples before the following one."""
        first, stop = self._plan[self._next]
        segments = self.segments
        encoded = self.codec.encode_audio(self.wave[..., segments[first][0] : segments[stop - 1][1]])
        frames = segments[stop - 1][3] - segments[first][2]
        self.codes[..., segments[first][2] : segments[stop - 1][3]] = encoded.codes[..., :frames].numpy()
        for name, value in encoded.side.items():
            if name not in self.side:
                self.side[name] = np.zeros((value.shape[0], len(segments), *value.shape[2:]), value.numpy().dtype)
            self.side[name][:, first:stop] = value[:, : stop - first].numpy()
        self._next += 1
        self.state.code_frames = segments[stop - 1][3]
        self.state.frames = (self.state.total if stop == len(segments)
                             else min(self.state.total, segments[stop][0] // self.codec.hop_length))


def decode_samples(codec: Codec, clip: StudioClip, n: int, start: int, stop: int) -> np.ndarray | None:
    """``[C, stop - start]`` of the decode at ``n`` from the segments reaching those samples (at the
    codec's level); None when the clip is one segment (decoded whole instead)."""
    segments = codec.segments(clip.length)
    if segments is None or len(segments) < 2:
        return None
    first = bisect.bisect_right([s[1] for s in segments], start)  # the first segment reaching ``start``
    if first == len(segments) - 1 and first > 0:
        first -= 1  # a full-length segment first: the fade's weights are shaped by it
    last = bisect.bisect_left([s[0] for s in segments], stop)  # segments [first, last) start before ``stop``
    encoded = EncodedAudio(torch.from_numpy(clip.codes[:, :n]), {k: torch.from_numpy(v) for k, v in clip.side.items()})
    wave = codec.decode(codec.segment_run(encoded, segments, first, last))
    wave = wave.reshape(-1, wave.shape[-1]).numpy()[:, start - segments[first][0] : stop - segments[first][0]]
    return np.pad(wave, ((0, 0), (0, stop - start - wave.shape[1])))
