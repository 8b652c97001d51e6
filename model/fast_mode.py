"""Fast mode: opt-in bfloat16 inference of a convolutional codec's encoder and decoder stacks.

Exact float32 stays the default. CPUs with AVX-512 BF16 (and GPUs) run bfloat16
convolutions faster than float32, at a quality cost measured per model in
docs/benchmarks.md (``scripts/measure_fast_mode.py``): bfloat16 keeps 8 bits of mantissa, so
on the bundled model the fast decoding lies 20-25 dB below the float32 one, and codes near a
decision boundary between two codewords change (a quarter or more of them, mostly in the
fine codebooks).

Only the two convolution stacks run in bfloat16. The quantizer stays in float32: its
nearest-codeword search in bfloat16 would change far more codes than the encoder's rounding
does, and its cost is small. The float32 network is kept untouched, so switching fast mode
off restores the exact results.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
from torch import nn

from model.layers import Snake1d, TimeGroupNormMixin, WeightNormMixin, WNConv1d

if TYPE_CHECKING:
    from model.codec import Codec

FAST_DTYPE = torch.bfloat16
FAST_LABEL = "bf16"
# Leaf layers known to compute in bfloat16 on every device. Others (recurrent layers, attention,
# normalisation) either refuse mixed precisions on the CPU or lose too much in it.
_FAST_LEAVES = (WeightNormMixin, Snake1d, nn.ELU, nn.LeakyReLU, nn.Tanh, nn.Identity)


class FastModeUnavailable(ValueError):
    """The codec's network has no separable convolution stacks to run in bfloat16."""


def half_precision_network(network: nn.Module) -> nn.Module:
    """A copy of ``network`` whose encoder and decoder stacks hold bfloat16 weights; it shares
    the float32 quantizer with ``network`` (no second copy of the codebooks)."""
    stacks = getattr(network, "encoder_stack", None), getattr(network, "decoder_stack", None)
    if None in stacks or getattr(network, "side_info", ()) or not all(
            _convolutional(stack()) for stack in stacks):
        raise FastModeUnavailable(f"fast mode is not available for {type(network).__name__} networks "
                                  "(only for purely convolutional ones)")
    quantizer = network.quantizer
    network.quantizer = None  # not copied: shared below
    try:
        fast = copy.deepcopy(network)
    finally:
        network.quantizer = quantizer
    fast.quantizer = quantizer
    for layer in fast.modules():
        if isinstance(layer, WNConv1d):
            layer.disable_winograd()  # float32 only: its transformed weight would be dead weight
    fast.encoder_stack().to(FAST_DTYPE)
    fast.decoder_stack().to(FAST_DTYPE)
    return fast


def _convolutional(stack: nn.Module) -> bool:
    leaves = [m for m in stack.modules() if not any(True for _ in m.children()) or isinstance(m, WeightNormMixin)]
    return all(isinstance(m, _FAST_LEAVES) and not isinstance(m, TimeGroupNormMixin) for m in leaves)


def mel_cost(codec: "Codec", wave: torch.Tensor) -> float:
    """How much fast mode raises the mel distance of ``codec``'s round trip of ``wave``
    ``[B, channels, T]`` (all codebooks): fast minus exact, the DAC paper's distance. Leaves
    ``codec`` in fast mode."""
    from model.metrics import mel_distance

    distances = []
    for fast in (False, True):
        codec.set_fast_mode(fast)
        audio = codec.decode(codec.encode(wave))
        n = min(audio.shape[-1], wave.shape[-1])
        distances.append(mel_distance(wave[..., :n], audio[..., :n], codec.sample_rate).mean().item())
    return distances[1] - distances[0]
