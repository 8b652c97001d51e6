"""Least-squares GAN and feature-matching losses of the Improved RVQGAN (DAC) trainer.

The terms are DAC's ``GANLoss`` (``dac/nn/loss.py``), summed over sub-discriminators:
- discriminator: ``mean((D(real) - 1)^2) + mean(D(fake)^2)`` on the logit maps;
- generator, adversarial: ``mean((1 - D(fake))^2)``;
- generator, feature matching: ``mean(|D_l(fake) - D_l(real)|)`` over every feature map ``l``
  except the logits, with the real maps treated as constants.
DAC weights them 1 (adversarial) and 2 (feature matching) next to the mel loss; the weights are
the trainer's business, not this module's.

Why the passes are arranged as they are (CPU seconds for the full discriminator, real and fake
each [4, 1, 16758], 1 thread, best of 5):
- Discriminator step: one pass over ``cat([real, fake.detach()])`` (7.2 s; two separate passes
  7.4 s).  Both halves need parameter gradients, so the arithmetic is the same, but the larger
  batch vectorises a little better.  ``fake`` is detached *before* the pass so no gradient can
  leak into the generator.
- Generator step: real audio runs under ``torch.no_grad`` and fake audio runs with the
  discriminator's parameters frozen (4.5 s; DAC's two full passes 6.1 s; one concatenated pass
  8.4 s).  A concatenated pass stores activations and runs the backward pass for the real half
  too, although its gradients are thrown away (the real feature maps are targets), and computes
  discriminator weight gradients that the generator step never uses.  Freezing makes the backward
  pass compute input gradients only, so after ``generator_losses(...)`` is back-propagated the
  discriminator's ``.grad`` fields are left untouched.
These shortcuts are exact because the discriminator treats every example independently (no batch
statistics): the split passes give the values of DAC's two full passes up to float rounding.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor, nn

from model.discriminators import FeatureMaps


class AdversarialLossInputError(ValueError):
    """Raised when real and fake audio or feature maps do not match up."""


class GeneratorAdversarialLosses(NamedTuple):
    """The two discriminator-based terms of the generator objective (unweighted)."""

    adversarial: Tensor
    feature_matching: Tensor


def _check_pair(real: Tensor, fake: Tensor) -> None:
    if real.shape != fake.shape:
        raise AdversarialLossInputError(
            f"real and fake audio must have the same shape, got {tuple(real.shape)} "
            f"and {tuple(fake.shape)}"
        )


def _check_same_layout(real_maps: FeatureMaps, fake_maps: FeatureMaps) -> None:
    if [len(maps) for maps in real_maps] != [len(maps) for maps in fake_maps]:
        raise AdversarialLossInputError("real and fake feature maps come from different layouts")


def lsgan_discriminator_loss(real_maps: FeatureMaps, fake_maps: FeatureMaps) -> Tensor:
    """Sum over sub-discriminators of mean((D(real) - 1)^2) + mean(D(fake)^2)."""
    _check_same_layout(real_maps, fake_maps)
    return sum(
        torch.mean((real[-1] - 1.0) ** 2) + torch.mean(fake[-1] ** 2)
        for real, fake in zip(real_maps, fake_maps)
    )


def lsgan_generator_loss(fake_maps: FeatureMaps) -> Tensor:
    """Sum over sub-discriminators of mean((1 - D(fake))^2)."""
    return sum(torch.mean((1.0 - fake[-1]) ** 2) for fake in fake_maps)


def feature_matching_loss(real_maps: FeatureMaps, fake_maps: FeatureMaps) -> Tensor:
    """Sum of mean |fake - real| over all non-logit feature maps; real maps are constants."""
    _check_same_layout(real_maps, fake_maps)
    return sum(
        torch.mean(torch.abs(fake_map - real_map.detach()))
        for real, fake in zip(real_maps, fake_maps)
        for real_map, fake_map in zip(real[:-1], fake[:-1])
    )


def split_batch(maps: FeatureMaps, first: int) -> tuple[FeatureMaps, FeatureMaps]:
    """Split feature maps of a concatenated batch into the first ``first`` examples and the rest."""
    return (
        [[m[:first] for m in sub] for sub in maps],
        [[m[first:] for m in sub] for sub in maps],
    )


@contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[None]:
    """Stop autograd from tracking ``module``'s trainable parameters inside the block."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


def discriminator_loss(discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """LSGAN loss for the discriminator step; never back-propagates into ``fake``."""
    _check_pair(real, fake)
    maps = discriminator(torch.cat([real, fake.detach()], dim=0))
    return lsgan_discriminator_loss(*split_batch(maps, real.shape[0]))


def generator_losses(
    discriminator: nn.Module, real: Tensor, fake: Tensor
) -> GeneratorAdversarialLosses:
    """Adversarial and feature-matching losses for the generator step.

    Gradients flow into ``fake`` only; the discriminator's parameter gradients are not touched.
    """
    _check_pair(real, fake)
    with torch.no_grad():
        real_maps = discriminator(real)
    with frozen_parameters(discriminator):
        fake_maps = discriminator(fake)
    return GeneratorAdversarialLosses(
        adversarial=lsgan_generator_loss(fake_maps),
        feature_matching=feature_matching_loss(real_maps, fake_maps),
    )
