"""The live recording is spooled to disk as it comes: memory stays flat however long the session,
what is saved is exactly what was added, and a full disk stops the recording with the reason,
keeping (and saving) everything added before it."""
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from small_disk import small_tmpfs

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


def _fed_until_it_stops(recording: LiveRecording, seconds: float, lag: int = 0):
    """Feed blocks (codes ``lag`` frames behind their input, as a streaming encoder's lookahead
    has them) until the recording stops; the input and codes it took before the failing block."""
    fed, codes = [], []
    for mono, frame in _blocks(seconds):
        made = frame if len(fed) >= lag else frame[:, :0]
        recording.add(mono, made)
        if recording.error:
            return np.concatenate([np.zeros(0, np.float32), *fed]), np.concatenate([np.zeros((N, 0), int), *codes], axis=1)
        fed.append(mono), codes.append(made)
    raise AssertionError("the disk never filled")


def _saved(recording: LiveRecording, folder: Path):
    recording.save(folder / "live.wav", folder / "live.rvq", _meta(recording.frames))
    info = sf.info(str(folder / "live.wav"))
    wav = read_audio(folder / "live.wav").samples[0]
    assert info.frames == wav.shape[0]  # the header says what the file holds
    return wav, *read_rvq(folder / "live.rvq")


def test_a_disk_full_from_the_start_keeps_what_the_buffers_hold(monkeypatch, tmp_path):
    """Every write to /dev/full fails: the recording stops at the first flush, with the blocks
    its buffers hold kept and saved (the monitor calling it goes on: no exception)."""
    monkeypatch.setattr(recording_module.tempfile, "TemporaryFile", lambda **_: open("/dev/full", "w+b", buffering=0))
    monkeypatch.setattr(recording_module, "SPOOL_BUFFER_BYTES", 8 * BLOCK * 4)  # eight blocks of input
    recording = LiveRecording(RATE, N, SIZE)
    fed, codes = _fed_until_it_stops(recording, 1.0)
    assert fed.shape[0] == 8 * BLOCK == recording.frames
    assert recording.error == ("the recording stopped early, at 0.2 s: No space left on device; "
                               "the 0.2 s before it are kept")
    wav, saved, meta = _saved(recording, tmp_path)
    assert np.array_equal(wav, fed)
    assert np.array_equal(saved[0], codes) and meta.length == fed.shape[0]
    recording.close()


def test_on_a_really_full_disk_everything_before_the_failure_is_saved(monkeypatch, tmp_path):
    """A 64 KiB tmpfs fills after about a second of input: the WAV holds every block added before
    the failing one, the .rvq every code, as long as the codes reach (two frames behind)."""
    monkeypatch.setattr(recording_module, "SPOOL_BUFFER_BYTES", 12_000)  # not a page multiple: short writes
    with small_tmpfs(tmp_path / "small", 64 << 10) as small:
        recording = LiveRecording(RATE, N, SIZE, directory=str(small))
        fed, codes = _fed_until_it_stops(recording, 5.0, lag=2)
        assert "No space left on device" in recording.error
        assert f"the {fed.shape[0] / RATE:.1f} s before it are kept" in recording.error
        assert recording.frames == fed.shape[0] and recording.code_frames == codes.shape[1]
        wav, saved, meta = _saved(recording, tmp_path)
        recording.close()
    assert np.array_equal(wav, fed)
    assert np.array_equal(saved[0], codes)
    assert meta.length == codes.shape[1] * HOP  # what the codes cover: the .rvq decodes to that length


def test_nothing_recorded_before_the_disk_filled_is_nothing_to_save(monkeypatch, tmp_path):
    monkeypatch.setattr(recording_module.tempfile, "TemporaryFile", lambda **_: open("/dev/full", "w+b", buffering=0))
    monkeypatch.setattr(recording_module, "SPOOL_BUFFER_BYTES", 64)  # less than a block: written at once
    recording = LiveRecording(RATE, N, SIZE)
    for mono, frame in _blocks(0.2):
        recording.add(mono, frame)  # no exception: the monitor calling it goes on
    assert recording.frames == 0 and "No space left on device" in recording.error
    with pytest.raises(ValueError, match="nothing was recorded: the recording stopped early, at 0.0 s: No space"):
        recording.save(tmp_path / "live.wav", tmp_path / "live.rvq", _meta(0))
    assert list(tmp_path.iterdir()) == []
    recording.close()
