"""Model files whose settings or layers make no usable model are refused in one line naming the file."""
import re
from pathlib import Path

import pytest
import torch

from app.cli.command_line import main
from model import CheckpointError, load_codec
from model.export import save_model_file
from model.registry import FAMILIES, family, preset

ENCODEC_RELEASE = Path(__file__).parent.parent / "fixtures" / "encodec" / "encodec24k.th"
STRIDES = {"dac": "encoder_rates", "soundstream": "ratios", "hificodec": "rates", "encodec": "ratios",
           "mimi": "ratios", "snac": "encoder_rates"}


def _file_with_settings(folder: Path, key: str, **changes) -> Path:
    """A model file holding the family's tiny network, its header's settings changed by ``changes``."""
    architecture = preset(family(key).recipes.tiny).architecture
    torch.manual_seed(0)
    path = folder / f"{key}-changed.safetensors"
    save_model_file(family(key).build(architecture), path, family=key, config={**architecture, **changes},
                    name="changed")
    return path


def _zero_first_stride(key: str) -> dict:
    name = STRIDES[key]
    strides = list(preset(family(key).recipes.tiny).architecture[name])
    return {name: [0, *strides[1:]]}


BAD_SETTINGS = {
    "sample rate 0": (lambda key: {"sample_rate": 0}, "sample_rate must be in 1000..768000, not 0"),
    "negative sample rate": (lambda key: {"sample_rate": -16000}, "sample_rate must be in 1000..768000"),
    "fractional sample rate": (lambda key: {"sample_rate": 16000.5}, "sample_rate must be a whole number"),
    "sample rate as text": (lambda key: {"sample_rate": "fast"}, "sample_rate must be a whole number"),
    "zero stride": (_zero_first_stride, r"every entry of \w+ must be at least 1, not 0"),
    "codebook of one entry": (lambda key: {"codebook_size": 1}, "codebook_size must be in 2..65536, not 1"),
    "codebook of 2**40 entries": (lambda key: {"codebook_size": 2**40}, "codebook_size must be in 2..65536"),
}


@pytest.mark.parametrize("key", sorted(FAMILIES))
@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_settings_no_model_can_have_are_refused_naming_the_file(key, case, tmp_path):
    changes, message = BAD_SETTINGS[case]
    path = _file_with_settings(tmp_path, key, **changes(key))
    with pytest.raises(CheckpointError, match=rf"^{re.escape(path.name)}: invalid .* configuration: {message}"):
        load_codec(path)


def test_a_width_far_beyond_the_files_weights_is_refused_before_anything_is_allocated(tmp_path):
    path = _file_with_settings(tmp_path, "dac", decoder_dim=10**9)
    with pytest.raises(CheckpointError, match=rf"^{re.escape(path.name)}: invalid"):
        load_codec(path)
    path = _file_with_settings(tmp_path, "soundstream", n_filters=10**7)
    with pytest.raises(CheckpointError, match=rf"^{re.escape(path.name)}: weights do not match .*10000000"):
        load_codec(path)


def test_info_on_bad_settings_is_one_line_naming_the_file(tmp_path, capsys):
    path = _file_with_settings(tmp_path, "encodec", sample_rate=0)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and path.name in err and "sample_rate" in err


@pytest.fixture(scope="module")
def encodec_release():
    return torch.load(ENCODEC_RELEASE, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("dropped, lacking", [
    (r"^encoder\.model\.\d+\.conv\.", "no encoder convolutions"),
    (r"^encoder\.model\.\d+\.block\.", "no encoder residual blocks"),
    (r"^decoder\.model\.\d+\.conv\.", "no decoder convolutions"),
    (r"^encoder\.", "no encoder convolutions, no encoder residual blocks"),
])
def test_an_encodec_checkpoint_missing_layers_is_one_clear_line(encodec_release, dropped, lacking, tmp_path, capsys):
    path = tmp_path / "partial.th"
    torch.save({k: v for k, v in encodec_release.items() if not re.search(dropped, k)}, path)
    with pytest.raises(CheckpointError, match=rf"^partial\.th: EnCodec .*layers are missing \({lacking}\)"):
        load_codec(path)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "partial.th" in err and "Traceback" not in err
