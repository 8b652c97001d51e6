"""A fresh DAC starts as the release's does in effect: default conv weights, zero conv biases."""
import math

import torch

from model.dac import DAC, DEFAULT_MODEL_ARCHITECTURE, DacConfig
from model.layers import WNConv1d


def test_fresh_convolutions_have_pytorch_default_weights_and_zero_bias():
    torch.manual_seed(0)
    net = DAC(DacConfig.from_dict(DEFAULT_MODEL_ARCHITECTURE))
    convs = [m for m in net.modules() if isinstance(m, WNConv1d)]
    for conv in convs:
        weight = conv.effective_weight().detach()
        bound = 1 / math.sqrt(weight[0].numel())  # kaiming_uniform_(a=sqrt(5)) on fan_in
        assert weight.abs().max() <= bound and torch.count_nonzero(conv.bias) == 0
    first = convs[0].effective_weight().detach()  # 12 x 1 x 7: fan_in 7
    assert abs(float(first.std()) - 1 / math.sqrt(3 * 7)) < 0.05

