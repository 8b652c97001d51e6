"""The training log's line about the data names every group the way the user knows it."""
from model.training.corpus import scan_folder
from model.training.progress import event_text
from synthetic_audio import write_music_clip


def test_files_in_the_top_folder_are_named_by_that_folder(tmp_path):
    root = tmp_path / "recordings"
    (root / "music").mkdir(parents=True)
    for i in range(2):
        write_music_clip(root / f"take{i}.wav", seconds=1.5, seed=i)
        write_music_clip(root / "music" / f"song{i}.wav", seconds=1.5, seed=10 + i)
    summary = scan_folder(root).summary()
    text = event_text({"event": "data", "train": summary, "validation": {"files": 1},
                       "validation_source": "held out"})
    assert text.startswith("training data: 4 files, 0.1 min (top level of recordings 0.1 min, music 0.1 min)")
