"""The training step: what one update does to a fresh codec, and the bookkeeping around it."""
from __future__ import annotations

import pytest
import torch

from model.registry import family, preset
from model.training.recipes import DiscriminatorSettings, build_discriminator
from model.training.step import LossNotFiniteError, TrainingStep

SMALL_DAC = dict(encoder_dim=4, encoder_rates=[2, 4, 8, 8], latent_dim=32, decoder_dim=32, decoder_rates=[8, 8, 4, 2],
                 n_codebooks=3, codebook_size=256, codebook_dim=8, quantizer_dropout=0.0, sample_rate=44100)


def _chirps() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    t = torch.arange(16384) / 44100
    return torch.stack([0.2 * torch.sin(2 * torch.pi * f * t * (1 + 2 * t)) + 0.02 * torch.randn(t.shape, generator=g)
                        for f in (110, 230, 470, 900)]).unsqueeze(1)


def _step(generator, lr=None) -> TrainingStep:
    critic = build_discriminator(DiscriminatorSettings(periods=(2,), fft_sizes=(512,), width=1 / 16))
    return TrainingStep(generator, critic, list(generator.parameters()), preset("default").with_overrides(lr=lr),
                        44100, torch.device("cpu"))


def _codes_used(generator, x) -> list[int]:
    generator.eval()
    with torch.no_grad():
        codes = generator(x)[1].codes
    generator.train()
    return [len(torch.unique(codes[:, i])) for i in range(codes.shape[1])]


def test_first_update_of_a_fresh_dac_keeps_its_codebooks_in_use():
    # Regression: with conv weights really initialised at std 0.02 (which the DAC release only
    # appears to do), a single update mapped all audio onto one code per codebook.
    torch.manual_seed(0)
    generator = family("dac").build(SMALL_DAC)
    x = _chirps()
    before = _step(generator)(x, gan=False)["mel"]
    after = _step(generator)(x, gan=False)["mel"]
    assert min(_codes_used(generator, x)) >= 10 and after < before


def test_gan_step_trains_the_discriminator_and_reports_every_term():
    torch.manual_seed(0)
    generator = family("dac").build(SMALL_DAC)
    step = _step(generator)
    critic_before = [p.detach().clone() for p in step.discriminator.parameters()]
    out = step(_chirps(), gan=True)
    assert {"discriminator", "adversarial", "feature_matching", "mel", "stft", "waveform", "codebook", "commitment",
            "total", "grad_norm_generator", "grad_norm_discriminator"} == out.keys()
    assert all(not torch.equal(a, b) for a, b in zip(critic_before, step.discriminator.parameters()))
    w = preset("default").weights
    expected = (w.mel * out["mel"] + w.adversarial * out["adversarial"] + w.feature_matching * out["feature_matching"]
                + w.codebook * out["codebook"] + w.commitment * out["commitment"])
    assert out["total"] == pytest.approx(expected, rel=1e-5)
    assert step.lr == pytest.approx(1e-4 * 3 * 0.999996)


def test_mel_only_step_leaves_the_discriminator_alone():
    torch.manual_seed(0)
    step = _step(family("dac").build(SMALL_DAC))
    critic_before = [p.detach().clone() for p in step.discriminator.parameters()]
    out = step(_chirps(), gan=False)
    assert "adversarial" not in out and "discriminator" not in out
    assert all(torch.equal(a, b) for a, b in zip(critic_before, step.discriminator.parameters()))


def test_a_non_finite_loss_is_reported():
    torch.manual_seed(0)
    step = _step(family("dac").build(SMALL_DAC))
    with pytest.raises(LossNotFiniteError, match="nan"):
        step(torch.full((2, 1, 16384), float("nan")), gan=False)
