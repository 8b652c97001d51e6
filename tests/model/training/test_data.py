"""The data pipeline: scanning, held-out split, excerpts (resampling, channels, loudness), batches."""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import torch
from training_helpers import write_tone

from model.training.batches import ExcerptDataset, StepBatches, batch_loader, fixed_set
from model.training.corpus import DataError, require_usable, scan_folder, split_held_out
from model.training.excerpts import ExcerptReader, ExcerptSpec, SourcePicker


def test_scan_groups_by_top_level_folder_and_lists_unreadable_files_once(audio_folder):
    corpus = scan_folder(audio_folder)
    assert sorted(corpus.groups()) == ["general", "music", "speech"]
    assert [s.relative for s in corpus.sources] == sorted(s.relative for s in corpus.sources)
    assert corpus.skipped == [("general/broken.wav", corpus.skipped[0][1])]
    assert "not a readable audio file" in corpus.skipped[0][1]
    music = corpus.groups()["music"][0]
    assert (music.sample_rate, music.channels, music.frames) == (48000, 2, 48000)


def test_files_in_the_root_form_their_own_group(tmp_path):
    write_tone(tmp_path / "a.wav", 8000, 0.5)
    write_tone(tmp_path / "deep" / "er" / "b.flac", 8000, 0.5)
    assert sorted(scan_folder(tmp_path).groups()) == [".", "deep"]


def test_held_out_split_is_disjoint_deterministic_and_keeps_both_sides(audio_folder):
    corpus = scan_folder(audio_folder)
    train, val = split_held_out(corpus)
    names = lambda c: {s.relative for s in c.sources}  # noqa: E731
    assert names(train).isdisjoint(names(val)) and names(train) | names(val) == names(corpus)
    assert len(val.sources) >= 1 and len(train.sources) >= 1
    again_train, again_val = split_held_out(scan_folder(audio_folder))
    assert names(again_val) == names(val)


def test_held_out_split_does_not_move_old_files_when_files_are_added(tmp_path):
    for k in range(60):
        write_tone(tmp_path / "g" / f"{k:02d}.wav", 8000, 0.1)
    _, before = split_held_out(scan_folder(tmp_path))
    for k in range(60, 90):
        write_tone(tmp_path / "g" / f"{k:02d}.wav", 8000, 0.1)
    _, after = split_held_out(scan_folder(tmp_path))
    old = {s.relative for s in after.sources if int(s.relative[2:4]) < 60}
    assert old == {s.relative for s in before.sources}


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "training folder not found"),
    (lambda p: p.mkdir(), "no audio files"),
])
def test_unusable_folders_get_clear_errors(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(DataError, match=message):
        require_usable(scan_folder(root))


def _source(folder, name):
    return next(s for s in scan_folder(folder).sources if s.relative.endswith(name))


def test_excerpt_is_resampled_exactly_without_edge_transients(tmp_path):
    rate_in, rate_out, freq = 48000, 16000, 1000.0
    t = np.arange(rate_in) / rate_in
    write_tone(tmp_path / "a.flac", rate_in, 1.0, noise=0.0, freq=freq)
    reader = ExcerptReader(ExcerptSpec(rate_out, 0.1))
    start = 12345
    excerpt = reader.read(_source(tmp_path, "a.flac"), start, 0)
    expected = 0.3 * np.sin(2 * np.pi * freq * (start / rate_in + np.arange(1600) / rate_out))
    assert excerpt.shape == (1600,) and t.size == rate_in
    np.testing.assert_allclose(excerpt, expected, atol=2e-3)  # 16-bit FLAC + resampler ripple


def test_excerpt_reads_the_requested_channel(tmp_path):
    write_tone(tmp_path / "st.wav", 16000, 0.5, channels=2, noise=0.0, freq=500.0)
    reader = ExcerptReader(ExcerptSpec(16000, 0.05))
    source = _source(tmp_path, "st.wav")
    for channel in (0, 1):
        x = reader.read(source, 0, channel)
        expected = 0.3 * np.sin(2 * np.pi * 500.0 * (channel + 1) * np.arange(800) / 16000)
        np.testing.assert_allclose(x, expected, atol=1e-4)


def test_short_file_is_zero_padded(tmp_path):
    write_tone(tmp_path / "short.wav", 16000, 0.05, noise=0.0)
    x = ExcerptReader(ExcerptSpec(16000, 0.2)).read(_source(tmp_path, "short.wav"), 0, 0)
    assert x.shape == (3200,) and np.all(x[800:] == 0) and np.abs(x[:800]).max() > 0.2


def test_drawn_excerpts_are_normalised_to_the_target_loudness(audio_folder):
    spec = ExcerptSpec(16000, 0.38, loudness_lufs=-16.0)
    reader = ExcerptReader(spec)
    picker = SourcePicker(scan_folder(audio_folder))
    meter = pyloudnorm.Meter(16000, block_size=0.38)
    for index in range(6):
        x, failures = reader.draw(picker, index, np.random.default_rng(index))
        assert failures == [] and x.dtype == np.float32
        assert meter.integrated_loudness(x.astype(np.float64)) == pytest.approx(-16.0, abs=0.05)
        assert np.abs(x).max() <= 1.0


def test_silent_excerpts_are_skipped(tmp_path):
    write_tone(tmp_path / "g" / "silence.wav", 16000, 1.0, amplitude=0.0, noise=0.0)
    write_tone(tmp_path / "g" / "tone.wav", 16000, 0.5, noise=0.0)
    reader = ExcerptReader(ExcerptSpec(16000, 0.1))
    picker = SourcePicker(scan_folder(tmp_path))  # two draws in three land in the silence
    for index in range(10):
        x, _ = reader.draw(picker, index, np.random.default_rng(index))
        assert np.abs(x).max() > 0.1


def test_all_silent_data_still_gives_an_example(tmp_path):
    write_tone(tmp_path / "silence.wav", 16000, 1.0, amplitude=0.0, noise=0.0)
    reader = ExcerptReader(ExcerptSpec(16000, 0.1))
    x, failures = reader.draw(SourcePicker(scan_folder(tmp_path)), 0, np.random.default_rng(0))
    assert failures == [] and x.shape == (1600,) and not np.any(x)


def test_files_that_fail_while_training_are_reported_and_replaced(tmp_path):
    write_tone(tmp_path / "g" / "gone.wav", 16000, 5.0)
    write_tone(tmp_path / "g" / "kept.wav", 16000, 0.5)
    picker = SourcePicker(scan_folder(tmp_path))
    (tmp_path / "g" / "gone.wav").unlink()
    reader = ExcerptReader(ExcerptSpec(16000, 0.1))
    reports = []
    for index in range(5):
        x, failures = reader.draw(picker, index, np.random.default_rng(index))
        assert np.abs(x).max() > 0.05
        reports += failures
    assert reports and {path for path, _ in reports} == {"g/gone.wav"}


def test_groups_are_drawn_in_turn_and_files_by_duration(tmp_path):
    write_tone(tmp_path / "a" / "long.wav", 8000, 3.0)
    write_tone(tmp_path / "a" / "short.wav", 8000, 1.0)
    write_tone(tmp_path / "b" / "only.wav", 8000, 0.2)
    picker = SourcePicker(scan_folder(tmp_path))
    rng = np.random.default_rng(0)
    picks = [picker.pick(i, rng).relative for i in range(4000)]
    assert all(p.startswith("b/") for p in picks[1::2])
    group_a = picks[0::2]
    assert group_a.count("a/long.wav") / len(group_a) == pytest.approx(0.75, abs=0.03)


def test_step_batches_give_each_rank_its_own_shard():
    ranks = [StepBatches(4, start_step=0, rank=r, world_size=3) for r in range(3)]
    seen = [i for step in range(5) for r in ranks for i in r.indices(step)]
    assert sorted(seen) == list(range(5 * 3 * 4))
    resumed = StepBatches(4, start_step=2, rank=1, world_size=3)
    assert next(iter(resumed)) == ranks[1].indices(2)


def test_examples_do_not_depend_on_the_worker_that_loads_them(audio_folder):
    corpus = scan_folder(audio_folder)
    dataset = ExcerptDataset(corpus, ExcerptSpec(16000, 0.1), seed=3)
    in_process = iter(batch_loader(dataset, StepBatches(3, start_step=5), workers=0))
    with_worker = iter(batch_loader(dataset, StepBatches(3, start_step=5), workers=2))
    for _ in range(3):
        a, _ = next(in_process)
        b, _ = next(with_worker)
        assert a.shape == (3, 1, 1600) and torch.equal(a, b)
    with_worker._shutdown_workers()
    other_seed = ExcerptDataset(corpus, ExcerptSpec(16000, 0.1), seed=4)
    assert not torch.equal(dataset[0][0], other_seed[0][0])


def test_validation_set_is_fixed(audio_folder):
    corpus = scan_folder(audio_folder)
    a, _ = fixed_set(corpus, ExcerptSpec(16000, 0.3), 4, seed=1)
    b, _ = fixed_set(corpus, ExcerptSpec(16000, 0.3), 4, seed=1)
    assert a.shape == (4, 1, 4800) and torch.equal(a, b)
