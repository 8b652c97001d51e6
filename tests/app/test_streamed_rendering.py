"""The Compare tab's renderings made block by block and written as they come (bounded memory):
the samples, delays and bitrates of the whole-array computation (:mod:`whole_renderings`: the
whole-signal functions the tab used before it streamed), to the bit; a cancelled rendering leaves
no file; a full disk is one line.
"""
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import small_disk
import soundfile
import rendering_peak
from resident_size import FIXED_MMAP_THRESHOLD, STATUS
from synthetic_audio import music_clip, write_music_clip
from tiny_codecs import tiny_network, tiny_recipe
from whole_renderings import whole_rendering

from app.compare import anchors, contestants
from app.compare.blocks import BLOCK_FRAMES, array_blocks, joined
from app.compare.rendering import ClipRenderer, CodecShelf
from app.compare.rendering_folder import RenderingCancelled, RenderingFolder
from app.compare.studio_comparison import StudioComparison, kept_clip
from app.playback.audio_output import ManualOutputStream
from model.audio_io import Audio, read_audio
from model.codec import Codec

MIB = 1 << 20
RATE = 48000
SECONDS = 3.0  # 144 000 frames: three of the folder's blocks, three of the delay estimate's FFT blocks
WAIT_MS = 60_000


def _tiny_codec(family: str) -> Codec:
    return Codec(tiny_network(family), name=f"tiny {family}", family=family, config=tiny_recipe(family).architecture)


@pytest.fixture(scope="module")
def shelf() -> CodecShelf:
    codecs = {family: _tiny_codec(family) for family in ("dac", "encodec")}
    return CodecShelf(loader=lambda model, device: codecs[model])


@pytest.fixture
def folder():
    kept = RenderingFolder()
    yield kept
    kept.close()


def _kept_renderer(audio: Audio, folder: RenderingFolder, shelf: CodecShelf) -> ClipRenderer:
    """As the Compare tab renders: from the clip kept in the folder, read from its file in blocks."""
    clip = folder.keep(audio.samples)
    return ClipRenderer(Audio(clip, audio.sample_rate), shelf, lambda: folder.blocks(clip))


SPECS = [contestants.original(), contestants.anchor(3500.0), contestants.codec("dac", 3),
         contestants.codec("encodec", 2), contestants.opus(24), contestants.opus(64), contestants.mp3(64),
         contestants.mp3(128)]


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_a_rendering_written_as_it_is_made_equals_the_whole_array_computation(spec, channels, shelf, folder):
    audio = Audio(music_clip(SECONDS, RATE, channels=channels), RATE)
    expected, delay, kbps = whole_rendering(audio, spec, shelf)
    kept = _kept_renderer(audio, folder, shelf).render_kept(spec, folder)
    in_memory = ClipRenderer(audio, shelf).render(spec)
    for made in (kept, in_memory):
        assert made.samples.dtype == np.float32 and made.samples.shape == audio.samples.shape
        assert np.array_equal(made.samples, expected), spec.name
        assert made.delay == delay and made.measured_kbps == kbps
    assert [path.suffix for path in folder.files] == [".npy", ".npy"]  # the clip and the rendering, nothing else


@pytest.mark.parametrize("delay", [-7, 0, 5])
def test_a_delay_known_at_the_end_is_undone_by_where_the_view_starts(folder, delay):
    """Zeros where the rendering has no samples, as ``align`` fills them."""
    late = music_clip(1.0, RATE, channels=2)
    kept = folder.keep_blocks(array_blocks(late, 10_000), 2, margin=7, shift=lambda: delay)
    expected = np.zeros_like(late)
    if delay >= 0:
        expected[:, :late.shape[1] - delay] = late[:, delay:]
    else:
        expected[:, -delay:] = late[:, :delay]
    assert np.array_equal(kept, expected)
    assert np.array_equal(joined(folder.blocks(kept, 3000)), expected)  # read back from the file too


def test_the_anchor_filter_gives_the_same_samples_whatever_blocks_it_is_given():
    signal = music_clip(3.0, RATE, channels=2)
    whole = anchors.lowpass(signal, RATE, 7000.0)
    for size in (1, 999, 65_536, 100_000):
        blocks = array_blocks(signal, size) if size > 1 else iter([signal])
        assert np.array_equal(joined(anchors.lowpass_blocks(blocks, RATE, 7000.0)), whole)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3"])
def test_the_clip_kept_as_it_is_read_is_the_file_read_whole(tmp_path, folder, suffix):
    """Five seconds: several blocks, MP3 included (read on in sequence, not re-sought per block)."""
    path = tmp_path / f"clip{suffix}"
    soundfile.write(path, music_clip(5.0, 44100, channels=2).T, 44100)
    kept = kept_clip(path, folder)
    whole = read_audio(path)
    assert kept.sample_rate == whole.sample_rate and np.array_equal(kept.samples, whole.samples)


def _stopping_after(blocks: int):
    asked = []

    def cancelled() -> bool:
        asked.append(True)
        return len(asked) > blocks
    return cancelled


@pytest.mark.parametrize("spec", [contestants.anchor(3500.0), contestants.codec("dac", 2), contestants.opus(24),
                                  contestants.mp3(64)], ids=lambda spec: spec.name)
def test_a_rendering_cancelled_midway_leaves_no_file(spec, shelf, folder):
    audio = Audio(music_clip(SECONDS, RATE, channels=2), RATE)
    renderer = _kept_renderer(audio, folder, shelf)
    with pytest.raises(RenderingCancelled):
        renderer.render_kept(spec, folder, _stopping_after(2))
    assert len(folder.files) == 1  # the clip; no .part, no spooled MP3 stream
    assert np.array_equal(renderer.render_kept(spec, folder).samples, ClipRenderer(audio, shelf).render(spec).samples)


def _held_filter(monkeypatch):
    """The anchors' filter, held after its first block until the second event is set (the first is
    set when it has begun)."""
    begun, go_on = threading.Event(), threading.Event()
    real = anchors.lowpass_blocks

    def held(blocks, sample_rate, cutoff_hz):
        for k, block in enumerate(real(blocks, sample_rate, cutoff_hz)):
            if k == 1:
                begun.set()
                go_on.wait(WAIT_MS / 1000)
            yield block
    monkeypatch.setattr(anchors, "lowpass_blocks", held)
    return begun, go_on


def test_a_contestant_removed_while_it_is_rendered_stops_and_leaves_no_file(qtbot, tmp_path, monkeypatch):
    begun, go_on = _held_filter(monkeypatch)
    comparison = StudioComparison(ManualOutputStream)
    failures = []
    comparison.worker.taskFailed.connect(
        lambda key, message: key.startswith("render") and failures.append((key, message)))
    try:
        comparison.open_clip(write_music_clip(tmp_path / "clip.wav", SECONDS, RATE, channels=2))
        anchor = contestants.anchor(3500.0)
        comparison.add(anchor)
        qtbot.waitUntil(begun.is_set, timeout=WAIT_MS)
        assert [p.suffix for p in comparison.folder.files] == [".npy", ".part"]
        comparison.remove(anchor)
        go_on.set()
        qtbot.waitUntil(lambda: bool(failures), timeout=WAIT_MS)
        assert failures == [(f"render {comparison._generation} {anchor.name}", "the rendering was cancelled")]
        assert [p.suffix for p in comparison.folder.files] == [".npy"] and not comparison.errors
    finally:
        go_on.set()
        comparison.close()


@pytest.mark.parametrize("how", ["close", "new clip"])
def test_closing_or_a_new_clip_stops_the_rendering_in_progress(qtbot, tmp_path, monkeypatch, how):
    begun, go_on = _held_filter(monkeypatch)
    comparison = StudioComparison(ManualOutputStream)
    failures = []
    comparison.worker.taskFailed.connect(lambda key, message: key.startswith("render") and failures.append(message))
    try:
        comparison.open_clip(write_music_clip(tmp_path / "clip.wav", SECONDS, RATE, channels=2))
        comparison.add(contestants.anchor(3500.0))
        qtbot.waitUntil(begun.is_set, timeout=WAIT_MS)
        folder = comparison.folder
        threading.Timer(0.2, go_on.set).start()  # the filter goes on while the worker is waited for
        if how == "close":
            comparison.close()
            assert not comparison.worker.isRunning()
        else:
            comparison.open_clip(write_music_clip(tmp_path / "next.wav", 0.5, RATE))
            qtbot.waitUntil(lambda: comparison.audio is not None and comparison.rendered(), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: bool(failures), timeout=WAIT_MS)
        assert failures[0] in ("the rendering was cancelled", "the comparison was closed")
        assert not folder.path.exists()
    finally:
        go_on.set()
        comparison.close()


def test_a_disk_with_room_for_the_clip_but_not_a_rendering_fails_each_contestant_with_one_line(qtbot, tmp_path):
    """A real full disk (a tmpfs), the rendering stopped at the block that did not fit."""
    seconds, pages = 1.0, -(-(RATE * 4 + 128) // 4096)  # the clip, mono float32, and its header
    with small_disk.small_tmpfs(tmp_path / "small", (2 * pages - 4) * 4096) as mount:
        comparison = StudioComparison(ManualOutputStream, folder_factory=lambda: RenderingFolder(mount))
        try:
            comparison.open_clip(write_music_clip(tmp_path / "clip.wav", seconds, RATE))
            specs = [contestants.original(), contestants.anchor(3500.0), contestants.opus(24), contestants.mp3(64)]
            for spec in specs:
                comparison.add(spec)
            qtbot.waitUntil(lambda: comparison.audio is not None and comparison.rendered(), timeout=WAIT_MS)
            assert np.array_equal(comparison.audio.samples, read_audio(tmp_path / "clip.wav").samples)
            failed = {spec for spec in specs if spec in comparison.errors}
            assert failed and failed | set(comparison.renderings) == set(specs)
            for spec in failed:
                message = comparison.errors[spec]
                assert message.startswith("no room for the rendering") and str(mount) in message
                assert "No space left on device" in message and "\n" not in message
            assert all(path.suffix == ".npy" for path in comparison.folder.files)  # no .part, no MP3 spool
            assert len(comparison.folder.files) == 1 + len(comparison.renderings)
        finally:
            comparison.close()


def _peak(design: str, clip, index: int) -> float:
    """One contestant rendered in a fresh process (``rendering_peak.py``): its resident peak (the
    kernel's high-water mark, which no transient escapes) in MiB, with glibc's mmap threshold
    fixed (:data:`resident_size.FIXED_MMAP_THRESHOLD`), so the peak counts the buffers alive at
    once; left to adjust itself, the threshold moved the same rendering's peak by 5-20 MiB from
    run to run with what the heap had kept."""
    script = Path(rendering_peak.__file__)
    out = subprocess.run([sys.executable, str(script), design, str(clip), str(index), "--model", "tiny"],
                         check=True, stdout=subprocess.PIPE, text=True, env=FIXED_MMAP_THRESHOLD).stdout
    return json.loads(out.strip().splitlines()[-1])["VmHWM"]


@pytest.mark.slow
@pytest.mark.skipif(not STATUS.exists(), reason="resident size is read from /proc (Linux)")
def test_rendering_a_long_clip_takes_memory_bounded_by_the_blocks_not_by_its_length(tmp_path):
    """The clip kept and each contestant (the original, an anchor, Opus, MP3, a codec) rendered on
    1 and 3 minutes of stereo 48 kHz (a rendering: 22 and 66 MiB of float32), each in a process of
    its own, its peak the kernel's resident high-water mark. On whole arrays a contestant took 1.5-2.6
    renderings' worth at once. Written as it is made, the peak is the blocks in flight: a few blocks
    of the signal (512 KiB of stereo float32 each) and their float64 FFTs (the anchor's 2^17 points,
    the delay estimate's 2^16: 2-4 MiB a channel), and a codec's chunk (10 s decoded, 20 s encoded)
    through the model: the same at both lengths."""
    block = BLOCK_FRAMES * 2 * 4 / MIB
    clips = {seconds: write_music_clip(tmp_path / f"{seconds:g}.wav", seconds, RATE, channels=2)
             for seconds in (60.0, 180.0)}
    for index, spec in enumerate(rendering_peak.specs("tiny")):
        short, long = (_peak("streamed", clips[seconds], index) for seconds in (60.0, 180.0))
        growth = 8 * block  # a few blocks: what the allocator keeps between runs moves by as much
        if spec.kind == "codec":
            # the codes are held for the clip and entropy-coded whole to measure the bitrate: at most
            # 32 bytes a code (int64 codes and the coder's arrays) of the tiny model's 3000 codes a
            # second (3 codebooks at 500 frames a second, two channels), 11 MiB for the 2 minutes more
            growth += 32 * 3000 * 120 / MIB
        else:  # (a codec's chunk through the model is the model's part)
            assert long < 48 * block, f"{spec.name}: {long:.1f} MiB"
        assert long < short + growth, f"{spec.name}: {short:.1f} MiB on 1 minute, {long:.1f} MiB on 3"
