"""Small random-weight codecs of the real rate structures, shared by model tests."""
import pytest
import torch

from model.codec import Codec
from model.dac import DAC, DacConfig


def small_dac(rates=(2, 4, 8, 8), sample_rate=44100, n_codebooks=4, seed=0) -> DAC:
    """Reduced widths, real strides; Snake alphas randomised so Snake is really exercised."""
    torch.manual_seed(seed)
    net = DAC(DacConfig(encoder_dim=8, latent_dim=64, decoder_dim=64, encoder_rates=rates,
                        decoder_rates=tuple(reversed(rates)), n_codebooks=n_codebooks,
                        codebook_size=64, sample_rate=sample_rate))
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("alpha"):
                p.uniform_(0.5, 2.0)
    return net


@pytest.fixture
def make_small_dac():
    return small_dac


@pytest.fixture(params=[((2, 4, 8, 8), 44100), ((2, 4, 5, 8), 16000)], ids=["44k", "16k"])
def small_codec(request) -> Codec:
    rates, sr = request.param
    return Codec(small_dac(rates, sr), name="small", family="dac", config={})
