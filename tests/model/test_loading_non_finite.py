"""A model file with NaN or infinite weights is refused at load, naming the weights."""
from pathlib import Path

import pytest
import torch

from model import CheckpointError, load_codec

OFFICIAL = Path(__file__).parent.parent / "fixtures" / "dac" / "dac16k.pth"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_naming_them(tmp_path, bad):
    ckpt = torch.load(OFFICIAL, map_location="cpu", weights_only=True)
    ckpt["state_dict"]["decoder.model.0.bias"][3] = bad
    torch.save(ckpt, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=r"m\.pth: 1 weights hold NaN or infinite values \(decoder\.model\.0\.bias\)"):
        load_codec(tmp_path / "m.pth")
