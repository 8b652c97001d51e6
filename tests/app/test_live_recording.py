"""The live recording is spooled to disk as it comes: memory stays flat however long the session,
what is saved is exactly what was added, and a full disk stops the recording with the reason."""
import tracemalloc

import numpy as np
import pytest

from app.live import recording as recording_module
from app.live.recording import LiveRecording
from model.audio_io import read_audio
from model.rvq_format import RvqMetadata, read_rvq

RATE, N, SIZE, HOP = 16000, 4, 1024, 320
BLOCK = 320  # 20 ms


def _meta(length: int) -> RvqMetadata:
    return RvqMetadata(codec_name="test", codec_id="0" * 16, sample_rate=RATE, original_sample_rate=RATE,
                       length=length, hop_length=HOP, codebook_size=SIZE, codebook_strides=(1,) * N)


def _blocks(seconds: float, seed: int = 0):
    g = np.random.default_rng(seed)
    for _ in range(int(seconds * RATE) // BLOCK):
        yield g.standard_normal(BLOCK).astype(np.float32), g.integers(0, SIZE, (N, 1))


def test_memory_stays_flat_while_minutes_are_recorded_and_the_saved_files_are_what_was_added(tmp_path):
    recording = LiveRecording(RATE, N, SIZE, directory=str(tmp_path))
    fed, codes = [], []
    tracemalloc.start()
    try:
        for i, (mono, frame) in enumerate(_blocks(120.0)):
            recording.add(mono, frame)
            if i < 300:  # the first 6 s are kept to compare; the rest only counted
                fed.append(mono), codes.append(frame)
            if i == 1500:  # 30 s in: the spool's buffers are allocated
                early = tracemalloc.get_traced_memory()[0]
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert recording.frames == 6000 * BLOCK and recording.code_frames == 6000
    assert late - early < 64_000  # 90 s more of input (5.8 MB of samples) held nowhere in memory
    recording.save(tmp_path / "live.wav", tmp_path / "live.rvq", _meta(recording.frames))
    wav = read_audio(tmp_path / "live.wav").samples[0]
    saved, meta = read_rvq(tmp_path / "live.rvq")
    assert wav.shape[0] == recording.frames and meta.length == recording.frames
    assert np.array_equal(wav[:len(fed) * BLOCK], np.concatenate(fed))
    assert np.array_equal(saved[0, :, :len(codes)], np.concatenate(codes, axis=1))


def test_a_full_disk_stops_the_recording_with_the_reason_and_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setattr(recording_module.tempfile, "TemporaryFile", lambda **_: open("/dev/full", "w+b", buffering=0))
    recording = LiveRecording(RATE, N, SIZE)
    for mono, frame in _blocks(0.2):
        recording.add(mono, frame)  # no exception: the monitor calling it goes on
    assert recording.frames == 0 and "No space left on device" in recording.error
    with pytest.raises(ValueError, match="nothing to save: the recording stopped at 0.0 s: No space left"):
        recording.save(tmp_path / "live.wav", tmp_path / "live.rvq", _meta(0))
    assert list(tmp_path.iterdir()) == []
