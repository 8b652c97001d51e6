"""The tiny recipe networks of the registry's families, with codebooks spread over their latents,
for tests that need each family's real structure at a size that runs in moments."""
import torch
from torch import nn

from model.quantize import GroupSlice, to_vectors
from model.registry import family, preset
from model.training.recipes import TrainingPreset


def tiny_recipe(key: str) -> TrainingPreset:
    return preset(family(key).recipes.tiny)


def tiny_network(name: str, seed: int = 0, **changes) -> nn.Module:
    """The family's tiny preset network with codebooks spread over its latents.

    EMA codebooks get their k-means initialisation from one training step; HiFi-Codec's
    gradient-learned ones (initialised near zero, as the release does) are set to latent
    vectors level by level, as training would move them.
    """
    torch.manual_seed(seed)
    net = family(name).build({**tiny_recipe(name).architecture, **changes})
    batch = 0.3 * torch.randn(4, getattr(net, "channels", 1), 32 * 64)
    with torch.no_grad():
        if getattr(net, "side_info", ()):  # no training forward: the quantizer alone initialises
            net.quantizer.train()(net.encoder_stack()(batch))
        else:
            net.train()(batch)
        net.eval()
        residual = net.encoder_stack()(batch)
        for stage in getattr(net.quantizer, "quantizers", []):  # a split quantizer's chains have no GroupSlice
            if isinstance(stage, GroupSlice):
                rows = to_vectors(residual[:, stage.start:stage.stop])
                stage.stage.codebook.weight.copy_(rows[torch.randperm(len(rows))[:stage.stage.codebook_size]])
            residual = residual - stage(residual).quantized
    return net
