"""A codec coding stereo jointly with side information (EnCodec 48 kHz's layout) in the studio.

The network is the EnCodec tiny recipe with the 48 kHz release's settings (stereo, normalised
segments, here 0.1 s so a short clip has several): the studio's clip, renderings and exports
must equal what the codec computes on the whole clip and what the command line decodes.
"""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from app.cli.command_line import main
from app.playback.audio_output import ManualOutputStream
from app.studio import chunk_decoding
from app.studio.clip import StudioClip, chunk_grid
from app.studio.progressive_encode import EncodeState
from app.studio.quality import measured_spans, opus_row_in_pieces
from app.studio.render_cache import RenderCache
from app.studio.segmented import SegmentedEncode
from app.studio.session import StudioSession
from model import load_codec
from model.audio_io import read_audio
from model.codec import EncodedAudio
from model.compression import model_input, read_clip
from model.encodec import RELEASE_48K_SETTINGS
from model.export import save_model_file
from synthetic_audio import music_clip, write_music_clip
from tiny_codecs import tiny_network, tiny_recipe

TIMEOUT_MS = 60_000
STEREO_48K = {**RELEASE_48K_SETTINGS, "segment_seconds": 0.1}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    net = tiny_network("encodec", **STEREO_48K)
    path = tmp_path_factory.mktemp("models") / "encodec48-tiny.safetensors"
    save_model_file(net, path, family="encodec", config={**tiny_recipe("encodec").architecture, **STEREO_48K},
                    name="encodec48-tiny", trained=False)
    return path


@pytest.fixture(scope="module")
def codec(model_path):
    return load_codec(model_path)


@pytest.fixture
def session(qtbot, model_path):
    session = StudioSession(ManualOutputStream)
    with qtbot.waitSignal(session.modelChanged, timeout=TIMEOUT_MS):
        session.load_model(str(model_path))
    yield session
    session.close()


def open_encoded(qtbot, session, path):
    with qtbot.waitSignal(session.codesReady, timeout=TIMEOUT_MS) as ready:
        session.open_file(path)
    return ready.args[0]


def test_a_stereo_clip_is_coded_jointly_rendered_and_exported_as_the_codec_and_cli_do(
        qtbot, session, codec, tmp_path):
    assert codec.channels == 2 and codec.side_info
    # at the codec's rate: the reconstruction's resampling past the clip's end is not what is tested here
    path = write_music_clip(tmp_path / "stereo.wav", seconds=0.7, sample_rate=codec.sample_rate, channels=2)
    clip = open_encoded(qtbot, session, path)
    wave, _ = model_input(codec, read_audio(path))
    whole = codec.encode_audio(wave)
    assert clip.channels == 2 and clip.codes.shape[0] == 1 and not clip.duplicated_mono
    np.testing.assert_array_equal(clip.codes, whole.codes.numpy())
    assert set(clip.side) == set(codec.side_info)
    for name in codec.side_info:
        np.testing.assert_array_equal(clip.side[name], whole.side[name].numpy())

    n = 2
    rendered = []
    session.worker.run_control(lambda: rendered.append(session.worker.full_rendering(clip, n)))
    qtbot.waitUntil(lambda: bool(rendered), timeout=TIMEOUT_MS)
    decoded = codec.decode(whole.first(n))[0, :, : clip.length].numpy().T / np.float32(clip.gain)
    assert rendered[0].shape == (clip.length, 2)
    np.testing.assert_allclose(rendered[0], decoded, atol=1e-6)

    session.set_n(n)
    exported = []
    session.exported.connect(exported.append)
    session.export_rvq(tmp_path / "clip.rvq")
    session.export_reconstruction(tmp_path / "clip.wav")
    qtbot.waitUntil(lambda: len(exported) == 2, timeout=TIMEOUT_MS)
    assert main(["decode", str(tmp_path / "clip.rvq"), "-o", str(tmp_path / "cli.wav"),
                 "--model", str(session.model.source)]) == 0
    via_cli, rate = sf.read(tmp_path / "cli.wav", dtype="float32")
    via_studio, studio_rate = sf.read(tmp_path / "clip.wav", dtype="float32")
    assert rate == studio_rate == codec.sample_rate and via_cli.shape == via_studio.shape == (clip.length, 2)
    np.testing.assert_array_equal(via_studio, via_cli)
    stored = read_clip(codec, tmp_path / "clip.rvq")
    np.testing.assert_array_equal(stored.codes.numpy(), clip.codes[:, :n])
    for name in codec.side_info:
        np.testing.assert_array_equal(stored.side[name].numpy(), clip.side[name])


def test_a_mono_file_is_heard_on_both_channels_of_a_stereo_codec_and_said_so(qtbot, session, codec, tmp_path):
    messages = []
    session.message.connect(lambda level, text: messages.append((level, text)))
    path = write_music_clip(tmp_path / "mono.wav", seconds=0.5, sample_rate=16000, channels=1)
    clip = open_encoded(qtbot, session, path)
    assert clip.duplicated_mono and clip.channels == 2
    np.testing.assert_array_equal(clip.samples[:, 0], clip.samples[:, 1])
    wave, _ = model_input(codec, read_audio(path))
    np.testing.assert_array_equal(clip.codes, codec.encode_audio(wave).codes.numpy())
    assert any(level == "info" and "mono.wav is mono" in text and "both sides" in text for level, text in messages)


def test_segments_encoded_a_few_at_a_time_and_chunks_decoded_in_any_order_equal_the_whole(codec):
    """Encoding runs of segments gives the whole encode's codes and scales; each run makes the samples
    before the next segment decodable; chunks (not aligned to segments) decoded from the segments that
    reach them, in any order, join into the whole decode bit for bit."""
    wave = 0.2 * torch.randn(1, 2, 5000)
    length = wave.shape[-1]
    grid = chunk_grid(length, codec.hop_length, codec.frame_rate, 0.03)
    codes = np.zeros((1, codec.n_codebooks, codec.n_frames(length)), dtype=np.int64)
    state = EncodeState(0, grid.n_frames)
    clip = StudioClip(Path("x.wav"), codec.sample_rate, length, wave[0].numpy().T.copy(), None, codes, grid,
                      RenderCache(grid, codec.n_codebooks, channels=2), state)
    encoder = SegmentedEncode(codec, wave, codes, state, 0.2, clip.side)
    segments = codec.segments(length)
    assert len(segments) > 3 and segments[-1][3] == codes.shape[-1]
    encoder.step()
    assert not encoder.done and 0 < state.frames < state.total and state.code_frames < codes.shape[-1]
    last = chunk_decoding.last_decodable_chunk(codec, grid, state.frames)
    assert 0 <= last < grid.n_chunks - 1 and grid.samples(last)[1] <= segments[2][0]
    with pytest.raises(ValueError, match="cannot be decoded yet"):
        chunk_decoding.decode_chunk(codec, clip, 1, last + 1)
    while not encoder.done:
        encoder.step()
    assert state.complete and clip.final_code_frames == codes.shape[-1]
    whole = codec.encode_audio(wave)
    np.testing.assert_array_equal(codes, whole.codes.numpy())
    for name in codec.side_info:
        np.testing.assert_array_equal(clip.side[name], whole.side[name].numpy())

    assert grid.n_chunks > 5
    for chunk in [*reversed(range(1, grid.n_chunks, 2)), *range(0, grid.n_chunks, 2)]:
        chunk_decoding.decode_chunk(codec, clip, 3, chunk)
    decoded = codec.decode(whole.first(3))[0, :, :length].numpy().T
    np.testing.assert_array_equal(clip.cache.assemble(3), decoded)


def test_opus_beside_a_joint_stereo_codec_gets_half_the_bitrate_per_channel():
    """A joint stereo codec's kbps counts both channels: Opus codes each at half of it, and its point is
    counted for both -- the same coding as Opus at half the bitrate per channel of a mono codec."""
    rate = 48000
    reference = music_clip(1.0, rate, channels=2)[:, None, :]
    spans = measured_spans(reference.shape[-1], rate)
    joint = drain(opus_row_in_pieces(reference, rate, 8, 24.0, spans, joint_channels=2))
    per_channel = drain(opus_row_in_pieces(reference, rate, 8, 12.0, spans))
    assert joint[0] == pytest.approx(2 * per_channel[0]) and abs(joint[0] - 24.0) < 1.0
    assert joint[1].mel_distance == per_channel[1].mel_distance and joint[1].si_sdr == per_channel[1].si_sdr
    assert drain(opus_row_in_pieces(reference, rate, 2, 10.0, spans, joint_channels=2)) is None  # 5 kbps each


def drain(generator):
    """The value a piecewise measurement returns, its pieces run."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value
