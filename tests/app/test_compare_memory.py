"""The Compare tab's memory: renderings kept in a temporary folder and read through mappings.

They read back exactly what the renderer computed in memory; the folder goes with the clip (a
new clip, a closed tab); a full disk is a contestant's one-line failure; and on a clip of minutes
the process's own memory does not grow with the contestants.
"""
import errno
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from resident_size import STATUS, status_bytes
import small_disk
from synthetic_audio import music_clip, write_music_clip

from app.compare import contestants
from app.compare import rendering_folder
from app.compare.rendering import ClipRenderer
from app.compare.rendering_folder import RenderingFolder, RenderingNotKept
from app.compare.studio_comparison import StudioComparison
from app.playback.audio_output import ManualOutputStream
from model.audio_io import Audio, read_audio

RATE = 24000
WAIT_MS = 60_000
LONG_WAIT_MS = 900_000  # six renderings of 3 minutes of stereo on two busy cores
MIB = 1 << 20


def test_a_kept_rendering_reads_back_exactly_from_a_frames_first_file():
    samples = music_clip(1.0, RATE, channels=2)
    folder = RenderingFolder()
    try:
        kept = folder.keep(samples)
        [path] = folder.files
        assert np.array_equal(kept, samples) and kept.dtype == np.float32
        on_disk = np.load(path)
        assert on_disk.shape == (RATE, 2) and np.array_equal(on_disk, samples.T)  # a read of frames is contiguous
        folder.prefetch(kept.T, RATE // 2, RATE)  # any view of it; past the end is cut
        folder.prefetch(kept, 10 * RATE, RATE)
        assert np.array_equal(kept.T[RATE // 2:], samples.T[RATE // 2:])
        folder.remove(kept.T)
        assert folder.files == [] and np.array_equal(kept, samples)  # still readable by whoever holds it
    finally:
        folder.close()
    assert not folder.path.exists()


@pytest.mark.skipif(not STATUS.exists(), reason="resident size is read from /proc (Linux)")
def test_pages_read_are_unmapped_away_from_the_playhead_and_read_again_when_wanted():
    samples = np.random.default_rng(0).standard_normal((2, 2_000_000)).astype(np.float32)  # 15 MiB
    folder = RenderingFolder()
    try:
        kept = folder.keep(samples)
        before = status_bytes("RssFile")
        assert float(kept.sum(dtype=np.float64)) == pytest.approx(float(samples.sum(dtype=np.float64)))
        mapped = status_bytes("RssFile") - before
        assert mapped > 14 * MIB  # every page was read through the mapping
        folder.release(kept, 1_000_000, 100_000)  # keep 0.8 MB around frame 1 000 000
        assert status_bytes("RssFile") - before < 2 * MIB
        assert np.array_equal(kept, samples)  # mapped again on reading
    finally:
        folder.close()


def _fill_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_naming_the_folder_and_what_to_do(monkeypatch):
    monkeypatch.setattr(rendering_folder, "_write_frames_first", _fill_disk)
    folder = RenderingFolder()
    try:
        with pytest.raises(RenderingNotKept) as caught:
            folder.keep(music_clip(0.1, RATE))
        message = str(caught.value)
        assert "no room for the rendering" in message and str(folder.path) in message and "TMPDIR" in message
        assert "\n" not in message and folder.files == []
    finally:
        folder.close()


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real tmpfs with room for one second of mono 24 kHz float32 and its header, no more."""
    with small_disk.small_tmpfs(tmp_path / "small", RATE * 4 + 128) as mount:
        yield mount


def test_on_a_really_full_disk_the_clip_opens_and_contestants_fail_with_the_reason(qtbot, tmp_path, small_tmpfs):
    comparison = StudioComparison(ManualOutputStream, folder_factory=lambda: RenderingFolder(small_tmpfs))
    try:
        comparison.open_clip(write_music_clip(tmp_path / "clip.wav", 1.0, RATE))
        comparison.add(contestants.original())
        comparison.add(contestants.anchor(3500.0))
        qtbot.waitUntil(lambda: comparison.audio is not None and comparison.rendered(), timeout=WAIT_MS)
        assert set(comparison.errors) == set(comparison.specs)  # the clip itself filled the disk
        for message in comparison.errors.values():
            assert message.startswith("no room for the rendering") and "No space left on device" in message
        assert [p.suffix for p in comparison.folder.files] == [".npy"]  # the clip; no partial file left
    finally:
        comparison.close()


def test_without_a_temporary_folder_the_clip_fails_with_one_line(qtbot, tmp_path):
    missing = tmp_path / "gone"
    comparison = StudioComparison(ManualOutputStream, folder_factory=lambda: RenderingFolder(missing))
    try:
        with qtbot.waitSignal(comparison.clipFailed, timeout=WAIT_MS) as failed:
            comparison.open_clip(write_music_clip(tmp_path / "clip.wav", 0.2, RATE))
        assert failed.args[0] == "no temporary folder for the renderings: No such file or directory"
        assert comparison.audio is None and comparison.folder is None
    finally:
        comparison.close()


def _compare(qtbot, clip: Path, specs, timeout_ms: int = WAIT_MS) -> StudioComparison:
    comparison = StudioComparison(ManualOutputStream)
    comparison.open_clip(clip)
    for spec in specs:
        comparison.add(spec)
    try:
        qtbot.waitUntil(lambda: comparison.audio is not None and comparison.rendered(), timeout=timeout_ms)
    except BaseException:
        comparison.close()
        raise
    return comparison


def test_renderings_equal_the_in_memory_computation_and_go_with_the_clip(qtbot, tmp_path):
    first, second = (write_music_clip(tmp_path / f"{k}.wav", 1.0, RATE, channels=2, seed=k) for k in (1, 2))
    specs = [contestants.original(), contestants.anchor(3500.0), contestants.opus(24)]
    comparison = _compare(qtbot, first, specs)
    try:
        assert not comparison.errors
        in_memory = ClipRenderer(read_audio(first))
        for spec in specs:
            assert np.array_equal(comparison.renderings[spec].samples, in_memory.render(spec).samples), spec.name
        folder = comparison.folder
        assert len(folder.files) == 1 + len(specs)  # the clip and each rendering
        comparison.remove(specs[1])
        assert len(folder.files) == len(specs)
        comparison.open_clip(second)
        assert not folder.path.exists()
        qtbot.waitUntil(lambda: comparison.audio is not None and comparison.rendered(), timeout=WAIT_MS)
        folder = comparison.folder
        assert len(folder.files) == len(specs)
    finally:
        comparison.close()
    assert not folder.path.exists()


class AnonymousPeak(threading.Thread):
    """The peak of the process's anonymous resident memory (``RssAnon``), sampled every 5 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.running = status_bytes("RssAnon"), True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, status_bytes("RssAnon"))
            time.sleep(0.005)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak


@pytest.mark.slow
@pytest.mark.skipif(not STATUS.exists(), reason="resident size is read from /proc (Linux)")
def test_a_clip_of_minutes_with_six_contestants_does_not_hold_its_renderings_in_memory(qtbot, tmp_path):
    """Held as arrays, the clip and six renderings of 3 minutes of stereo 48 kHz were 7 x 66 MiB
    of the process's own memory, and more while the next one was made. Kept in the folder, that
    memory settles below one rendering, and peaks while one rendering is made at a time (the clip
    read, then Opus's temporaries, under three renderings' worth): below six, whatever the number of
    contestants (held as arrays: 7.8 settled, 9.7 at the peak)."""
    seconds, rate = 180.0, 48000
    rendering = seconds * rate * 2 * 4
    clip = write_music_clip(tmp_path / "long.wav", seconds, rate, channels=2)
    specs = [contestants.original(), contestants.anchor(3500.0), contestants.anchor(7000.0),
             contestants.opus(24), contestants.opus(48), contestants.mp3(128)]
    before = status_bytes("RssAnon")
    sampler = AnonymousPeak()
    sampler.start()
    try:
        comparison = _compare(qtbot, clip, specs, timeout_ms=LONG_WAIT_MS)
    finally:
        peak = sampler.stop() - before
    try:
        settled = status_bytes("RssAnon") - before
        assert not comparison.errors
        assert peak < 6 * rendering, f"peak {peak / MIB:.0f} MiB, a rendering is {rendering / MIB:.0f} MiB"
        assert settled < rendering, f"settled {settled / MIB:.0f} MiB, a rendering is {rendering / MIB:.0f} MiB"
        assert sum(p.stat().st_size for p in comparison.folder.files) >= (1 + len(specs)) * rendering
    finally:
        comparison.close()
