"""Stimuli of a listening test: the BS.1534-3 low-pass anchors, the alignment check, and the
model provider decoding a clip at chosen codebook counts."""
import numpy as np
import pytest
import soundfile as sf
import torch

from app.compare import contestants
from app.compare.rendering import ClipRenderer
from app.listening_test.excerpts import Excerpt
from app.listening_test.model_provider import (ModelStimulusProvider, contestant_name, parse_contestants,
                                               parse_counts)
from model.audio_io import read_audio
from app.listening_test.stimuli import (HIDDEN_REFERENCE, LOW_ANCHOR, MID_ANCHOR, REFERENCE, Stimulus, StimulusError,
                                        lowpass, with_hidden_reference_and_anchors)
from listening_stimuli import noisy_copies
from model.codec import Codec
from model.compression import measure_loudness, normalisation_gain
from synthetic_audio import write_music_clip
from tiny_codecs import tiny_network

RATE = 32000


def _tones(*frequencies: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return np.stack([sum(np.sin(2 * np.pi * f * t) for f in frequencies)]).astype(np.float32)


def test_lowpass_keeps_what_is_below_the_cutoff_and_removes_what_is_above():
    # whole numbers of periods in the excerpt: each tone is one FFT bin, so the filter is exact on them
    mixed = _tones(1000.0, 5000.0, 9000.0)
    assert np.allclose(lowpass(mixed, RATE, 3500.0), _tones(1000.0), atol=1e-5)
    assert np.allclose(lowpass(mixed, RATE, 7000.0), _tones(1000.0, 5000.0), atol=1e-5)


def test_anchors_have_no_energy_above_their_cutoffs():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, RATE)).astype(np.float32)
    stimuli = {s.name: s for s in with_hidden_reference_and_anchors([Stimulus("original", REFERENCE, noise, RATE)])}
    frequencies = np.fft.rfftfreq(RATE, 1 / RATE)
    for name, cutoff in ((LOW_ANCHOR, 3500.0), (MID_ANCHOR, 7000.0)):
        power = np.abs(np.fft.rfft(stimuli[name].audio.astype(np.float64), axis=-1)) ** 2
        above, below = power[:, frequencies > cutoff].sum(), power[:, frequencies <= cutoff].sum()
        assert above < 1e-9 * below
        assert stimuli[name].audio.shape == noise.shape and stimuli[name].audio.dtype == np.float32
    assert stimuli[HIDDEN_REFERENCE].audio is noise  # the hidden reference is the original itself


def test_stimuli_must_be_aligned_named_and_include_one_original():
    good = noisy_copies("clip.wav")
    assert len(with_hidden_reference_and_anchors(good)) == len(good) + 3
    short = Stimulus("short", "codec", good[0].audio[:, :-1], good[0].sample_rate)
    with pytest.raises(StimulusError, match="not aligned"):
        with_hidden_reference_and_anchors(good + [short])
    with pytest.raises(StimulusError, match="exactly one original"):
        with_hidden_reference_and_anchors(good[1:])
    with pytest.raises(StimulusError, match="unique"):
        with_hidden_reference_and_anchors(good + [good[1]])
    with pytest.raises(StimulusError, match="added by the test"):
        with_hidden_reference_and_anchors(good + [Stimulus(HIDDEN_REFERENCE, "codec", good[1].audio, RATE // 2)])


@pytest.fixture
def codec():
    """A tiny DAC-architecture codec: the model the provider renders with."""
    return Codec(tiny_network("dac"), name="tiny", family="dac", config={})


def test_codebook_counts_are_parsed_and_checked():
    assert parse_counts("8, 2  4,2", 12) == [2, 4, 8]
    for text, reason in (("", "at least one"), ("0, 3", "between 1 and 12"), ("13", "between 1 and 12")):
        with pytest.raises(ValueError, match=reason):
            parse_counts(text, 12)


def test_model_provider_decodes_the_clip_at_each_count_aligned_to_it(tmp_path, codec):
    clip = write_music_clip(tmp_path / "clip.wav", seconds=0.6, sample_rate=codec.sample_rate)
    stimuli = ModelStimulusProvider(codec, [1, codec.n_codebooks])(str(clip), Excerpt(0.0, 0.5))
    assert [s.name for s in stimuli] == ["original", contestant_name(1), contestant_name(codec.n_codebooks)]
    length = int(0.5 * codec.sample_rate)
    assert all(s.audio.shape == (1, length) and s.sample_rate == codec.sample_rate for s in stimuli)
    # each contestant is the codec's own decoding of the loudness-normalised excerpt, back at its level
    original = torch.from_numpy(stimuli[0].audio)[None]
    gain = normalisation_gain(measure_loudness(stimuli[0].audio, codec.sample_rate))
    codes = codec.encode(original * gain)
    for stimulus, n in zip(stimuli[1:], (1, codec.n_codebooks)):
        expected = codec.decode(codes[:, :n])[0, :, :length] / gain
        assert np.allclose(stimulus.audio, expected.numpy(), atol=1e-5)
    assert len(with_hidden_reference_and_anchors(stimuli)) == 6


def test_model_provider_keeps_the_clip_rate(tmp_path, codec):
    clip = write_music_clip(tmp_path / "clip.wav", seconds=0.4, sample_rate=codec.sample_rate // 2, channels=2)
    stimuli = ModelStimulusProvider(codec, [2])(str(clip), Excerpt(0.0, 1.0))
    assert [(s.sample_rate, s.audio.shape) for s in stimuli] == [(codec.sample_rate // 2, (2, len_of(clip)))] * 2


def len_of(path) -> int:
    return sf.info(str(path)).frames


def test_the_setup_text_names_counts_coders_and_other_models():
    counts, others = parse_contestants("8, opus:12 2, mp3:64, run/model.safetensors@6", 12)
    assert counts == [2, 8]
    assert others == [contestants.opus(12), contestants.mp3(64), contestants.codec("run/model.safetensors", target_kbps=6)]
    assert parse_contestants("opus:6, OPUS:8", 12)[1] == [contestants.opus(6), contestants.opus(8)]
    for text, reason in (("", "at least one contestant"), ("opus:6, opus:6", "opus 6"), ("13", "between 1 and 12")):
        with pytest.raises(ValueError, match=reason):
            parse_contestants(text, 12)


def test_model_provider_adds_compare_contestants_rendered_and_aligned_by_the_compare_engine(tmp_path, codec):
    clip = write_music_clip(tmp_path / "clip.wav", seconds=0.6, sample_rate=codec.sample_rate)
    provider = ModelStimulusProvider(codec, [1], others=[contestants.opus(16), contestants.mp3(64)])
    stimuli = provider(str(clip), Excerpt(0.0, 0.5))
    assert [(s.name, s.kind) for s in stimuli] == [("original", "reference"), (contestant_name(1), "codec"),
                                                   ("opus 16", "opus"), ("mp3 64", "mp3")]
    excerpt = read_audio(str(clip), frames=int(0.5 * codec.sample_rate))
    for stimulus, spec in zip(stimuli[2:], provider.others):
        assert np.array_equal(stimulus.audio, ClipRenderer(excerpt).render(spec).samples)
    assert len(with_hidden_reference_and_anchors(stimuli)) == 7


def test_a_test_made_from_the_studios_model_name_renders_exactly_whatever_the_studios_fast_mode():
    provider = ModelStimulusProvider.from_spec("default", "2, default:1")
    assert provider.codec.fast_mode is None  # its own load, not the studio's codec
    other = provider._shelf.get("default")
    assert other.fast_mode is None
