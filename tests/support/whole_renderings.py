"""The Compare tab's contestants computed on whole arrays, as the tab rendered them before it
streamed: the baseline its block-by-block renderings are tested against (to the bit) and the
memory benchmark compares with.

``encode_clip``/``decode_clip`` for a codec, the studio's ``opus_round_trip``, one LAME call and
one libsndfile read for MP3, the anchors' filter on the array, and ``align`` (one
``estimate_delay`` on the whole signals) for every contestant that needs aligning.
"""
import io

import numpy as np
import soundfile

from app.compare import anchors, transcoders
from app.compare.bitrate import measured_kbps
from app.compare.contestants import ContestantSpec
from app.compare.rendering import CodecShelf, align
from app.studio.quality import opus_round_trip
from model.audio_io import Audio, resample
from model.compression import decode_clip, encode_clip


def whole_mp3(audio: Audio, kbps: float) -> tuple[np.ndarray, float]:
    """MP3 as one LAME call on the whole clip and one read of the whole stream (stereo or mono)."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(round(kbps))
    encoder.set_in_sample_rate(audio.sample_rate)
    encoder.set_channels(audio.channels)
    encoder.set_quality(2)
    pcm = (np.clip(audio.samples.T, -1.0, 32767 / 32768) * 32768).astype("<i2")
    stream = bytes(encoder.encode(pcm.tobytes()) + encoder.flush())
    data, stream_rate = soundfile.read(io.BytesIO(stream), dtype="float32", always_2d=True)
    back = resample(np.ascontiguousarray(data[transcoders.MP3_DELAY:].T), stream_rate, audio.sample_rate)
    out = np.zeros(audio.samples.shape, np.float32)
    out[:, :min(back.shape[1], audio.frames)] = back[:, :audio.frames]
    return out, len(stream) * 8 / audio.duration / 1000


def whole_rendering(audio: Audio, spec: ContestantSpec, shelf: CodecShelf) -> tuple[np.ndarray, int, float | None]:
    """``(aligned samples, delay, measured kbps)`` of ``spec`` on ``audio`` (a codec at its given count)."""
    if spec.kind == "original":
        return audio.samples.astype(np.float32, copy=True), 0, None
    if spec.kind == "anchor":
        return anchors.lowpass(audio.samples, audio.sample_rate, spec.cutoff_hz), 0, None
    if spec.kind == "codec":
        codec = shelf.get(spec.model)
        clip = encode_clip(codec, audio)
        samples = decode_clip(codec, clip, spec.n_codebooks).samples.astype(np.float32)
        if samples.shape[0] != audio.channels:
            samples = samples.mean(axis=0, keepdims=True)
        kbps = measured_kbps(codec, clip, spec.n_codebooks)
    elif spec.kind == "opus":
        point = opus_round_trip(audio.samples[:, None, :], audio.sample_rate, spec.target_kbps / audio.channels)
        samples, kbps = point.decoded[:, 0], point.measured_kbps * audio.channels
    else:
        samples, kbps = whole_mp3(audio, spec.target_kbps)
    aligned, delay = align(audio.samples, samples, audio.sample_rate)
    return aligned, delay, kbps
