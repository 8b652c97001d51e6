"""ONNX export: the graphs, run in onnxruntime, give the codec's codes and audio.

Every family of the registry (its tiny recipe, codebooks spread over its latents), the
bundled default model and the EnCodec 24 kHz fixture (the release's rates and LSTMs, small
widths) are exported once per module; the graphs then run on music-like audio at
two lengths (neither the example length the exporter recorded, nor a multiple of the hop) with
a batch of two, and decode two codebook counts: the dynamic axes are exercised, not assumed.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic_audio import music_clip
from tiny_codecs import tiny_network

from model import load_codec
from model import onnx_export
from model.codec import Codec
from model.fused_snake import fused_snake
from model.registry import FAMILIES

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

AUDIO_TOLERANCE = 1e-4  # float32 convolutions summed in another order: observed about 1e-6


ENCODEC_24K = Path(__file__).parent.parent / "fixtures" / "encodec" / "encodec24k.th"  # official layout, 24 kHz


def _codec(key: str) -> Codec:
    if key in ("default", "encodec-24k"):
        return load_codec("default" if key == "default" else ENCODEC_24K)
    return Codec(tiny_network(key), name=f"{key}-tiny", family=key, config={})


# Families whose networks do not offer the plain layers a graph is recorded from (Mimi's
# attention with its key-value context, SNAC's position-keyed noise and aligned windows) are
# refused with the reason: test_a_family_without_plain_layers_is_refused_with_its_name.
NOT_EXPORTABLE = ("mimi", "snac")
# An export takes 10 to 40 s on a busy machine: one family runs by default, the others are slow tests.
MODELS = [key if key == "dac" else pytest.param(key, marks=pytest.mark.slow)
          for key in ("default", *FAMILIES, "encodec-24k") if key not in NOT_EXPORTABLE]


@pytest.mark.parametrize("key", NOT_EXPORTABLE)
def test_a_family_without_plain_layers_is_refused_with_its_name(key, tmp_path):
    codec = Codec(tiny_network(key), name=f"{key}-tiny", family=key, config={})
    with pytest.raises(ValueError, match=f"the {key} family cannot be exported to ONNX yet"):
        onnx_export.export_onnx(codec, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()  # nothing half-written


@pytest.fixture(scope="module", params=MODELS)
def exported(request, tmp_path_factory):
    codec = _codec(request.param)
    folder = tmp_path_factory.mktemp(request.param) / "onnx"
    details = onnx_export.export_onnx(codec, folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    encoder = ort.InferenceSession(str(folder / "encoder.onnx"), options, providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(str(folder / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
    return codec, folder, details, encoder, decoder


def _clips(codec: Codec, seconds: float) -> torch.Tensor:
    """A batch of two different music-like clips ``[2, 1, T]``, T not a multiple of the hop."""
    length = int(seconds * codec.sample_rate) | 1
    clips = [music_clip(seconds + 0.1, codec.sample_rate, seed=seed)[:, :length] for seed in (0, 1)]
    return torch.from_numpy(np.stack(clips))


# Two codewords whose distances to a residual differ by less than this fraction of
# (|residual| + max |codeword|)^2 are a near-tie that the float32 latents of two runtimes (equal
# to about 1e-6, their convolutions summing in different orders) may break either way: ten
# times the band in which the float32 search itself re-decides in float64.
TIE_RELATIVE = 1e-4


def _assert_same_codes_but_near_ties(codec: Codec, audio: torch.Tensor, codes: np.ndarray) -> None:
    """The graph's codes equal the codec's, except where a frame's residual chain meets a near-tie.

    Deep codebooks of the EnCodec fixture (32 codebooks of untrained random codewords) quantise
    residuals a thousandth of the signal's size, where such ties happen. Then that codebook and
    the rest of its frame's chain differ; the first differing code must be a near-tie, measured
    in the stage's own search space (EMA and Euclidean stages search their output space).
    """
    expected = codec.encode(audio)
    differ = torch.from_numpy(codes) != expected
    if not differ.any():
        return
    quantizer = codec.network.quantizer
    with torch.no_grad():
        inputs = quantizer.stage_inputs(codec.network.plain_latents(audio))
    for b, f in {(int(b), int(f)) for b, _, f in differ.nonzero()}:
        k = int(differ[b, :, f].nonzero()[0])
        stage = quantizer.quantizers[k]
        assert not hasattr(stage, "in_proj"), "a factorised stage's codes must match exactly"
        residual = inputs[k][b, :, f]
        words = stage.decode_indices(torch.tensor([[int(expected[b, k, f]), int(codes[b, k, f])]]))[0].T
        gap = ((residual - words) ** 2).sum(1).diff().abs().item()
        scale = (residual.norm() + stage.decode_indices(torch.arange(codec.codebook_size)[None])[0].norm(dim=0).max())
        assert gap <= TIE_RELATIVE * scale.item() ** 2, f"codebook {k}, frame {f}: not a near-tie"


@pytest.mark.parametrize("seconds", [0.37, 1.06])
def test_encoder_graph_gives_the_codecs_codes(exported, seconds):
    codec, _, _, encoder, _ = exported
    audio = _clips(codec, seconds)
    codes = encoder.run(["codes"], {"audio": audio.numpy()})[0]
    assert codes.dtype == np.int64 and codes.shape == (2, codec.n_codebooks, -(-audio.shape[-1] // codec.hop_length))
    _assert_same_codes_but_near_ties(codec, audio, codes)


@pytest.mark.parametrize("seconds", [0.37, 1.06])
def test_decoder_graph_gives_the_codecs_audio_for_any_codebook_count(exported, seconds):
    codec, _, _, _, decoder = exported
    codes = codec.encode(_clips(codec, seconds))
    for n in (1, codec.n_codebooks - 1, codec.n_codebooks):
        audio = decoder.run(["audio"], {"codes": codes[:, :n].numpy()})[0]
        expected = codec.decode(codes[:, :n]).numpy()
        assert audio.dtype == np.float32 and audio.shape == expected.shape
        np.testing.assert_allclose(audio, expected, rtol=0, atol=AUDIO_TOLERANCE)


def test_graphs_take_their_shortest_input(exported):
    codec, _, details, encoder, decoder = exported
    audio = 0.3 * torch.randn(1, 1, details["encoder"]["min_samples"], generator=torch.Generator().manual_seed(3))
    codes = encoder.run(["codes"], {"audio": audio.numpy()})[0]
    np.testing.assert_array_equal(codes, codec.encode(audio).numpy())
    frames = codec.encode(0.3 * torch.randn(1, 1, details["decoder"]["min_frames"] * codec.hop_length))
    np.testing.assert_allclose(decoder.run(["audio"], {"codes": frames.numpy()})[0], codec.decode(frames).numpy(),
                               rtol=0, atol=AUDIO_TOLERANCE)


def test_graphs_hold_standard_operators_and_folded_float32_weights(exported):
    _, folder, _, _, _ = exported
    for name in ("encoder.onnx", "decoder.onnx"):
        model = onnx.load(str(folder / name))
        onnx.checker.check_model(model, full_check=True)
        assert {node.domain for node in model.graph.node} <= {"", "ai.onnx"}  # no custom operator
        assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [onnx_export.OPSET]
        # float64 constants: the codebooks' terms of the nearest-codeword search, folded ahead of time
        kinds = {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64, onnx.TensorProto.DOUBLE}
        assert {init.data_type for init in model.graph.initializer} <= kinds
        assert not any("weight_g" in init.name or "weight_v" in init.name for init in model.graph.initializer)


def test_sidecar_describes_the_model(exported):
    codec, folder, details, _, _ = exported
    written = json.loads((folder / "codec.json").read_text())
    assert written == json.loads(json.dumps(details))
    assert written["model"] == codec.name and written["family"] == codec.family
    assert written["digest"] == codec.digest()
    assert (written["sample_rate"], written["hop_length"]) == (codec.sample_rate, codec.hop_length)
    assert (written["n_codebooks"], written["codebook_size"]) == (codec.n_codebooks, codec.codebook_size)
    assert written["codebook_strides"] == [1] * codec.n_codebooks
    assert written["context_frames"] == {"encoder": codec.encoder_context, "decoder": codec.decoder_context}


@pytest.mark.slow  # two whole exports (12 s): the fast suite keeps its ten-minute budget
def test_export_replaces_an_earlier_one_in_place_and_leaves_no_temporary_folder(tmp_path):
    codec = _codec("dac")
    folder = tmp_path / "onnx"
    folder.mkdir()
    (folder / "encoder.onnx").write_text("an older export")
    (folder / "notes.txt").write_text("kept")
    onnx_export.export_onnx(codec, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["codec.json", "decoder.onnx", "encoder.onnx", "notes.txt"]
    onnx.checker.check_model(str(folder / "encoder.onnx"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"]


def test_missing_packages_are_named_with_the_install_command(monkeypatch):
    real = onnx_export.importlib.util.find_spec
    monkeypatch.setattr(onnx_export.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real(name, *a))
    with pytest.raises(onnx_export.OnnxUnavailable, match=r"onnxscript.*pip install 'rvq-studio\[onnx\]'"):
        onnx_export.export_onnx(_codec("dac"), "unused")


def test_fused_snake_gives_way_while_a_graph_is_recorded(monkeypatch):
    """The compiled kernel is no ONNX operator: recording must see the plain formulation."""
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
    assert fused_snake(torch.randn(1, 4, 16), torch.ones(1, 4, 1)) is None
