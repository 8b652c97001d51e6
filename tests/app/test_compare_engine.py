"""The comparison engine: contestants parsed, transcoders at their bitrates, anchors' responses,
alignment, bitrates of codecs (nominal, matched, measured from the .rvq stream), stimuli."""
import math

import numpy as np
import pytest
from synthetic_audio import music_clip
from tiny_codecs import tiny_network, tiny_recipe

from app.compare import anchors, contestants, transcoders
from app.compare.bitrate import match_count, nominal_kbps, rvq_bytes
from app.compare.contestants import ContestantError, parse_codec
from app.compare.rendering import ClipRenderer, CodecShelf, align, render_stimuli
from app.compare.scoring import measure_point, score, sweep_specs
from model.audio_io import Audio
from model.codec import Codec
from model.registry import FAMILIES
from model.compression import encode_clip

RATE = 24000


def tiny_codec(family: str = "dac") -> Codec:
    return Codec(tiny_network(family), name=f"tiny {family}", family=family,
                 config=tiny_recipe(family).architecture)


@pytest.fixture(scope="module")
def tiny_shelf() -> CodecShelf:
    codec = tiny_codec()
    return CodecShelf(loader=lambda model, device: codec)


@pytest.fixture(scope="module")
def clip() -> Audio:
    return Audio(music_clip(2.0, RATE), RATE)


# -- specs ---------------------------------------------------------------------------------

def test_codec_specs_take_a_count_a_bitrate_or_nothing():
    assert parse_codec("default:4") == contestants.codec("default", n_codebooks=4)
    assert parse_codec("models/dac_44khz.pth@7.5") == contestants.codec("models/dac_44khz.pth", target_kbps=7.5)
    assert parse_codec("C:/models/my.safetensors") == contestants.codec("C:/models/my.safetensors")
    assert parse_codec("runs/a@b/model.safetensors:2").model == "runs/a@b/model.safetensors"


@pytest.mark.parametrize("text", ["", "default:0", "default@0"])
def test_malformed_codec_specs_are_refused(text):
    with pytest.raises(ContestantError):
        parse_codec(text)


def test_models_are_named_by_file_or_by_their_run_folder():
    assert contestants.codec("official/weights_44khz_8kbps.pth", 4).name == "weights_44khz_8kbps:4"
    assert contestants.codec("runs/speech-a/model.safetensors", target_kbps=6).name == "speech-a@6"
    assert contestants.codec("default").name == "default"
    same = [contestants.codec("a/tuned.safetensors", 2), contestants.codec("b/tuned.safetensors", 2)]
    with pytest.raises(ContestantError, match="both be called tuned:2"):
        contestants.check_count(same)


def test_two_to_eight_distinct_contestants():
    pair = [contestants.original(), contestants.opus(12)]
    assert contestants.check_count(pair) == pair
    for wrong in ([contestants.original()], [contestants.opus(k) for k in range(6, 15)],
                  [contestants.opus(12), contestants.opus(12)]):
        with pytest.raises(ContestantError):
            contestants.check_count(wrong)


# -- Opus and MP3 --------------------------------------------------------------------------

@pytest.mark.parametrize("kbps", [12.0, 24.0])
def test_opus_lands_on_its_bitrate_measured_from_its_packets(clip, kbps):
    coded = transcoders.opus(clip, kbps)
    # CBR packets are whole bytes per 20 ms frame: within 0.4 kbit/s of the target
    assert abs(coded.measured_kbps - kbps) <= 0.4
    assert coded.samples.shape == clip.samples.shape


@pytest.mark.parametrize(("rate", "kbps"), [(44100, 64.0), (24000, 32.0), (16000, 24.0)])
def test_mp3_lands_on_its_bitrate_measured_from_the_stream(rate, kbps):
    audio = Audio(music_clip(3.0, rate), rate)
    coded = transcoders.mp3(audio, kbps)
    assert coded.samples.shape == audio.samples.shape
    # constant bitrate frames plus LAME's info frame and the last partial frame: a few percent on 3 s
    assert kbps <= coded.measured_kbps <= kbps * 1.04
    # the stream's delay is dropped: the decoded audio lines up with the input within a sample
    assert abs(align(audio.samples, coded.samples, rate)[1]) <= 1


def test_stereo_mp3_is_one_stream_at_the_total_bitrate():
    audio = Audio(music_clip(2.0, 44100, channels=2), 44100)
    coded = transcoders.mp3(audio, 96.0)
    assert coded.samples.shape == (2, audio.frames)
    assert 96.0 <= coded.measured_kbps <= 96.0 * 1.05


def test_opus_below_its_lowest_rate_per_channel_is_refused():
    stereo = Audio(music_clip(1.0, RATE, channels=2), RATE)
    with pytest.raises(ContestantError):
        transcoders.opus(stereo, 10.0)  # 5 kbps a channel


# -- anchors -------------------------------------------------------------------------------

def _gain_db(cutoff: float, frequency: float, rate: int = 48000) -> float:
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * frequency * t)[None].astype(np.float32)
    out = anchors.lowpass(tone, rate, cutoff)
    middle = slice(rate // 4, 3 * rate // 4)  # away from the edges, where the filter sees zeros
    return 20 * math.log10(np.sqrt(np.mean(out[0, middle] ** 2)) / np.sqrt(np.mean(tone[0, middle] ** 2)))


@pytest.mark.parametrize("cutoff", contestants.ANCHOR_CUTOFFS_HZ)
def test_anchor_passes_below_its_cutoff_and_stops_above(cutoff):
    assert abs(_gain_db(cutoff, 1000.0)) < 0.01
    assert abs(_gain_db(cutoff, anchors.PASS_EDGE * cutoff * 0.99)) < 0.01
    assert abs(_gain_db(cutoff, cutoff) - 20 * math.log10(0.5)) < 0.1
    assert _gain_db(cutoff, anchors.STOP_EDGE * cutoff * 1.01) < -anchors.STOP_ATTENUATION_DB + 3


def test_anchor_adds_no_delay(clip):
    low = anchors.lowpass(clip.samples, RATE, 3500.0)
    assert low.shape == clip.samples.shape
    assert align(clip.samples, low, RATE)[1] == 0


@pytest.mark.parametrize("frames", [300, 65536 + 345, 2 * 65536 + 7])  # shorter than the filter, across blocks
def test_anchor_in_blocks_is_the_whole_convolution_centred(frames):
    samples = np.random.default_rng(frames).standard_normal((2, frames)).astype(np.float32)
    taps = anchors.lowpass_taps(7000.0, 48000)
    half = len(taps) // 2
    whole = np.stack([np.convolve(channel.astype(np.float64), taps)[half:half + frames] for channel in samples])
    np.testing.assert_allclose(anchors.lowpass(samples, 48000, 7000.0), whole, rtol=0, atol=1e-6)


def test_anchor_above_nyquist_is_the_clip():
    assert np.array_equal(anchors.lowpass(music_clip(0.5, 8000), 8000, 7000.0), music_clip(0.5, 8000))


# -- alignment -----------------------------------------------------------------------------

@pytest.mark.parametrize("delay", [37, -12, 0])
def test_alignment_recovers_a_known_delay(clip, delay):
    shifted = np.roll(clip.samples, delay, axis=1)
    aligned, found = align(clip.samples, shifted, RATE)
    assert found == delay
    inner = slice(abs(delay), clip.frames - abs(delay))
    assert np.array_equal(aligned[:, inner], clip.samples[:, inner])


# -- neural codecs -------------------------------------------------------------------------

def test_match_bitrate_picks_the_count_with_the_closest_nominal_rate():
    codec = tiny_codec()
    rates = [codec.kbps(n) for n in range(1, codec.n_codebooks + 1)]
    for target in (0.1, rates[1] + 0.4 * (rates[2] - rates[1]), rates[-1] * 3):
        closest = 1 + int(np.argmin([abs(r - target) for r in rates]))
        assert match_count(codec, target, channels=1) == closest
    # a stereo clip through a mono codec is two streams: twice the rate per count
    assert nominal_kbps(codec, 2, channels=2) == pytest.approx(2 * codec.kbps(2))
    assert match_count(codec, 2 * rates[2], channels=2) == 3


def test_measured_codec_bitrate_is_its_rvq_file_over_the_duration(tmp_path, clip, tiny_shelf):
    renderer = ClipRenderer(clip, tiny_shelf)
    rendering = renderer.render(contestants.codec("tiny", n_codebooks=2))
    codec = tiny_shelf.get("tiny")
    encoded = encode_clip(codec, clip)
    assert rendering.measured_kbps == pytest.approx(rvq_bytes(codec, encoded, 2) * 8 / clip.duration / 1000)
    # the .rvq file holds at most the nominal bits plus its header
    header_kbps = 2 * 1024 * 8 / clip.duration / 1000
    assert rendering.measured_kbps < codec.kbps(2) + header_kbps
    assert rendering.contestant.nominal_kbps == pytest.approx(codec.kbps(2))


def test_stimuli_are_aligned_at_the_clips_rate_length_and_channels(tiny_shelf):
    stereo = Audio(music_clip(1.5, RATE, channels=2), RATE)
    specs = [contestants.original(), contestants.codec("tiny", target_kbps=3.0), contestants.opus(24),
             contestants.anchor(3500.0)]
    stimuli = render_stimuli(stereo, specs, tiny_shelf)
    assert [c.spec for c, _ in stimuli] == specs
    assert all(samples.shape == stereo.samples.shape and samples.dtype == np.float32 for _, samples in stimuli)
    assert np.array_equal(stimuli[0][1], stereo.samples)
    codec = tiny_shelf.get("tiny")
    assert stimuli[1][0].n_codebooks == match_count(codec, 3.0, channels=2)


def test_scores_carry_evals_names_and_rank_the_original_first(clip, tiny_shelf):
    renderer = ClipRenderer(clip, tiny_shelf)
    original = score(clip.samples, clip.samples, RATE, ["mel", "si_sdr"])
    anchor = score(clip.samples, renderer.render(contestants.anchor(3500.0)).samples, RATE, ["mel", "si_sdr"])
    assert set(original.values) == {"mel_distance", "si_sdr", "si_sdr_aligned", "delay_samples"}
    assert original.values["mel_distance"] < anchor.values["mel_distance"]
    assert original.values["si_sdr"] > anchor.values["si_sdr"]


def test_sweep_has_every_count_and_the_classic_codecs_bitrates(clip, tiny_shelf):
    renderer = ClipRenderer(clip, tiny_shelf)
    specs = sweep_specs(renderer, ["tiny"], opus_kbps=(4.0, 12.0), mp3_kbps=(32.0,))
    points = []
    for spec in specs:
        try:
            points.append(measure_point(renderer, spec, ["mel"]))
        except contestants.ContestantError:
            assert spec == contestants.opus(4.0)
    n = tiny_shelf.get("tiny").n_codebooks
    assert [p.series for p in points] == ["tiny"] * n + ["opus", "mp3"]  # Opus at 4 kbps cannot run
    assert [p.nominal_kbps for p in points[:n]] == sorted(p.nominal_kbps for p in points[:n])
    assert all(p.scores.values["mel_distance"] > 0 for p in points)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_renders_at_the_clips_shape_with_its_rvq_bitrate(family):
    """Stereo-coding, multi-scale and side-information families alike: the rendering has the
    clip's shape and the measured bitrate is the family's .rvq file over the duration."""
    codec = tiny_codec(family)
    audio = Audio(music_clip(0.5, 22050, channels=2), 22050)
    renderer = ClipRenderer(audio, CodecShelf(loader=lambda model, device: codec))
    rendering = renderer.render(contestants.codec(family, n_codebooks=1))
    assert rendering.samples.shape == audio.samples.shape and np.isfinite(rendering.samples).all()
    encoded = renderer.encoded(family)
    assert rendering.measured_kbps == pytest.approx(rvq_bytes(codec, encoded, 1) * 8 / audio.duration / 1000)
    assert rendering.contestant.nominal_kbps == pytest.approx(nominal_kbps(codec, 1, channels=2))
