"""The folder scan before a run: the trainer's own numbers, and what is too little for a preset."""
from __future__ import annotations

import pytest

from app.training.data_scan import data_warnings, passes_over_data, scan_data
from synthetic_audio import write_music_clip, write_recordings_folder
from model.training.corpus import DataError, require_usable, scan_folder, split_held_out
from model.registry import preset


@pytest.fixture
def recordings(tmp_path):
    root = write_recordings_folder(tmp_path / "rec", (("speech", 16000, 2.0), ("music", 44100, 3.0)),
                                   files_per_group=3)
    (root / "music" / "broken.wav").write_bytes(b"RIFF....WAVEfmt not audio")
    write_music_clip(root / "loose.wav", 1.0, 22050)
    return root


def test_groups_rates_and_unreadable_files_are_reported(recordings):
    summary = scan_data(recordings)
    assert [(g.name, g.files) for g in summary.groups] == [(".", 1), ("music", 3), ("speech", 3)]
    assert [round(g.minutes * 60, 6) for g in summary.groups] == [1.0, 9.0, 6.0]
    assert summary.sample_rates == {16000: 3, 22050: 1, 44100: 3}
    assert [path for path, _ in summary.unreadable] == ["music/broken.wav"]
    assert summary.files == 7 and summary.minutes * 60 == pytest.approx(16.0)
    assert summary.problem is None


def test_the_held_out_split_is_the_one_the_trainer_makes(recordings):
    summary = scan_data(recordings)
    train, held_out = split_held_out(scan_folder(recordings))
    assert (summary.train_minutes, summary.validation_minutes) == (train.minutes, held_out.minutes)
    assert summary.validation_files == len(held_out.sources) >= 1
    assert summary.train_minutes + summary.validation_minutes == pytest.approx(summary.minutes)


def test_too_little_held_out_audio_for_the_presets_validation_set_is_a_warning(recordings):
    summary = scan_data(recordings)
    held_out_seconds = summary.validation_minutes * 60
    tiny, default = preset("tiny"), preset("default")
    assert held_out_seconds >= tiny.val_examples * tiny.val_seconds  # 2 x 0.5 s: enough
    assert held_out_seconds < default.val_examples * default.val_seconds  # 24 x 2 s: not
    assert not any("validation" in w for w in data_warnings(summary, tiny))
    assert any(w.startswith("Too little audio for validation") for w in data_warnings(summary, default))
    assert any("1 file(s) cannot be read" in w for w in data_warnings(summary, tiny))


def test_less_training_audio_than_one_batch_is_a_warning(recordings):
    summary = scan_data(recordings)
    big_batch = preset("tiny").with_overrides(batch_size=int(summary.train_minutes * 60 / 0.2) + 1)
    assert any(w.startswith("Too little audio for training") for w in data_warnings(summary, big_batch))


def test_passes_count_how_often_the_run_draws_each_second(recordings):
    summary = scan_data(recordings)
    recipe = preset("tiny")
    expected = 1000 * recipe.batch_size * recipe.excerpt_seconds / (summary.train_minutes * 60)
    assert passes_over_data(summary, recipe, 1000) == pytest.approx(expected)


def test_folders_the_trainer_would_refuse_say_why_in_its_words(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as trainer_says:
        require_usable(scan_folder(empty))
    assert scan_data(empty).problem == str(trainer_says.value)
    single = tmp_path / "single"
    single.mkdir()
    write_music_clip(single / "one.wav", 1.0, 16000)
    assert "single usable file" in scan_data(single).problem
    assert data_warnings(scan_data(single), preset("tiny")) == []
    with pytest.raises(DataError, match="not found"):
        scan_data(tmp_path / "missing")
