"""Randomised weights for the reference-fixture scripts (make_dac_fixtures.py, make_snac_fixtures.py).

Why: the official packages' own initialisations leave Snake alphas at 1, weight-norm gains at
the norm of their directions and conv biases at (near) zero, so a reimplementation that
mishandled any of them would still reproduce a freshly built reference. Drawing them at
random from a seeded generator makes every one of them matter, reproducibly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Rule = Callable[[torch.Generator, torch.Size], torch.Tensor]

ALPHA_RANGE = (0.5, 2.0)
GAIN_RANGE = (0.5, 2.0)
BIAS_STD = 0.02


def uniform(generator: torch.Generator, shape: torch.Size, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


@torch.no_grad()
def randomise(model: torch.nn.Module, seed: int, gain_suffix: str,
              extra: dict[str, Rule] | None = None) -> None:
    """Snake alphas ~ U(0.5, 2), every gain (parameters ending in ``gain_suffix``) x U(0.5, 2),
    biases ~ N(0, 0.02), in parameter order from one generator seeded ``seed``.

    ``extra`` maps further name suffixes (checked first) to ``f(generator, shape)`` giving the
    new value.
    """
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        rule = next((f for suffix, f in (extra or {}).items() if name.endswith(suffix)), None)
        if rule is not None:
            param.copy_(rule(generator, param.shape))
        elif name.endswith("alpha"):
            param.copy_(uniform(generator, param.shape, *ALPHA_RANGE))
        elif name.endswith(gain_suffix):
            param.mul_(uniform(generator, param.shape, *GAIN_RANGE))
        elif name.endswith("bias"):
            param.copy_(BIAS_STD * torch.randn(param.shape, generator=generator))
