"""A listening test's excerpt per clip: the loudest window by default, the author's choice
otherwise, cut to the clip, recorded in the test file, and what the stimuli are made of."""
import json

import numpy as np
import pytest
from synthetic_audio import write_burst_clip
from tiny_codecs import tiny_network

from app.listening_test.excerpts import HEAD, Excerpt, chosen, loudest_window
from app.listening_test.model_provider import ModelStimulusProvider
from app.listening_test.test_file import ListeningTest, ListeningTestFileError, load_test, save_test
from model.audio_io import read_audio
from model.codec import Codec

RATE = 8000


def test_the_loudest_window_is_found_across_the_files_blocks(tmp_path):
    clip = write_burst_clip(tmp_path / "burst.wav", 30.0, 12.3, 10.0, RATE)  # several blocks of reading
    assert loudest_window(clip, 10.0) == 12.3  # a whole number of 0.1 s steps
    assert chosen(Excerpt(None, 10.0), clip) == Excerpt(12.3, 10.0)
    # a shorter burst sits inside the window found
    clip = write_burst_clip(tmp_path / "short.wav", 30.0, 21.0, 2.0)
    start = loudest_window(clip, 10.0)
    assert start <= 21.0 and start + 10.0 >= 23.0


def test_an_excerpt_is_cut_to_the_clip_and_refused_past_its_end(tmp_path):
    clip = write_burst_clip(tmp_path / "clip.wav", 4.0, 1.0, 1.0, channels=1)
    assert loudest_window(clip, 10.0) == 0.0
    assert chosen(Excerpt(None, 10.0), clip) == Excerpt(0.0, 4.0)
    assert chosen(Excerpt(3.0, 10.0), clip) == Excerpt(3.0, 1.0)
    with pytest.raises(ValueError, match="starts at 5 s, after the clip's end"):
        chosen(Excerpt(5.0, 2.0), clip)
    for start, seconds in ((-1.0, 2.0), (0.0, 0.0), (float("nan"), 1.0)):
        with pytest.raises(ValueError):
            Excerpt(start, seconds)


def test_the_provider_renders_the_chosen_excerpt(tmp_path):
    codec = Codec(tiny_network("dac"), name="tiny", family="dac", config={})
    clip = write_burst_clip(tmp_path / "clip.wav", 1.0, 0.5, 0.25, channels=1)
    samples = read_audio(clip).samples
    stimuli = ModelStimulusProvider(codec, [1])(clip, Excerpt(0.25, 0.5))
    assert np.array_equal(stimuli[0].audio, samples[:, RATE // 4:RATE // 4 + RATE // 2])
    assert stimuli[1].audio.shape == (1, RATE // 2)


def test_the_test_file_records_each_clips_excerpt(tmp_path):
    path = tmp_path / "test.json"
    test = ListeningTest("abx", ["a.wav", "b.wav"], "2", "original", ["2 codebooks"], seed=1, repeats=2,
                         excerpts=[Excerpt(3.5, 10.0), Excerpt(0.0, 7.25)])
    save_test(test, path)
    assert load_test(path).excerpts == [Excerpt(3.5, 10.0), Excerpt(0.0, 7.25)]
    data = json.loads(path.read_text())
    data["version"], _ = 1, data.pop("excerpts")  # saved before excerpts were chosen: the clips' heads were played
    path.write_text(json.dumps(data))
    assert load_test(path).excerpts == [HEAD, HEAD]
    for excerpts, reason in (([{"start": 0, "seconds": 10}], "one excerpt per clip"),
                             ([{"start": -2, "seconds": 10}] * 2, "excerpt 1: an excerpt starts at 0 s or later"),
                             ([{"start": 0}] * 2, "excerpt 1 has no valid 'seconds'")):
        path.write_text(json.dumps({**data, "version": 2, "excerpts": excerpts}))
        with pytest.raises(ListeningTestFileError, match=reason):
            load_test(path)
