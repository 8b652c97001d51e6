"""The losses of one training step, weighted as in the DAC release.

Generator: ``15 mel + 1 adversarial + 2 feature matching + 1 codebook + 0.25 commitment``
(:class:`~model.training.recipes.LossWeights`); the STFT distance and waveform L1 are computed
for the logs only, as in the release.  The mel and STFT distances share their STFTs
(``spectral_losses_per_item``), so logging the STFT distance costs one extra magnitude
comparison, not extra transforms.

Before ``gan_start_step`` only the reconstruction terms are used and the discriminator does not
run at all -- the warm-up many CPU codec recipes use: the discriminator is the most expensive
part of a step, and it has nothing useful to say while the reconstruction is still poor.

The discriminator's generator-side passes go through the bare module, not its DDP wrapper:
they only need input gradients (see :mod:`model.adversarial_losses`), and a DDP forward with
gradients enabled would wait for parameter gradients that never come.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from model.adversarial_losses import discriminator_loss, generator_losses
from model.spectral import MelSpectrogramLoss, MultiScaleSTFTLoss, spectral_losses_per_item
from model.training.recipes import LossWeights


class Objective:
    def __init__(self, weights: LossWeights, sample_rate: int, device: torch.device) -> None:
        self.weights = weights
        self.mel = MelSpectrogramLoss(sample_rate).to(device)
        self.stft = MultiScaleSTFTLoss().to(device)

    def discriminator(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        return discriminator_loss(discriminator, real, fake)

    def generator(self, real: Tensor, fake: Tensor, quantizer_output, discriminator: nn.Module | None
                  ) -> tuple[Tensor, dict[str, Tensor]]:
        """``(weighted total, unweighted terms)``; adversarial terms only with a discriminator."""
        mel, stft = spectral_losses_per_item(fake, real, [self.mel, self.stft])
        w = self.weights
        terms = {
            "mel": mel.mean(),
            "stft": stft.mean().detach(),
            "waveform": (fake - real).abs().mean().detach(),
            "codebook": quantizer_output.codebook_loss,
            "commitment": quantizer_output.commitment_loss,
        }
        total = w.mel * terms["mel"] + w.codebook * terms["codebook"] + w.commitment * terms["commitment"]
        if discriminator is not None:
            adversarial, feature_matching = generator_losses(discriminator, real, fake)
            terms["adversarial"], terms["feature_matching"] = adversarial, feature_matching
            total = total + w.adversarial * adversarial + w.feature_matching * feature_matching
        return total, terms
