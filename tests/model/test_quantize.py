"""Residual factorised VQ: lookup, truncation, dropout distribution."""
import torch
import torch.nn.functional as F

from model.quantize import FactorizedVectorQuantizer, ResidualVectorQuantizer


def _rvq(n=6, dropout=0.0, dim=16, size=32, seed=0):
    torch.manual_seed(seed)
    return ResidualVectorQuantizer([FactorizedVectorQuantizer(dim, size, 4) for _ in range(n)], dropout)


def test_lookup_picks_codeword_of_highest_cosine_similarity():
    vq = FactorizedVectorQuantizer(8, 64, 4)
    latents = torch.randn(3, 4, 50)
    idx = vq.nearest(latents)
    cos = F.normalize(latents.transpose(1, 2), dim=-1) @ F.normalize(vq.codebook.weight, dim=-1).t()
    assert torch.equal(idx, cos.argmax(-1))


def test_decode_of_codes_equals_quantized_sum_for_every_prefix():
    rvq = _rvq().eval()
    z = torch.randn(2, 16, 40)
    full = rvq(z)
    for n in range(1, 7):
        out = rvq(z, n_codebooks=n)
        assert torch.equal(out.codes, full.codes[:, :n])
        torch.testing.assert_close(rvq.decode(out.codes), out.quantized, atol=1e-5, rtol=1e-5)


def test_explicit_codebook_count_is_exact_in_training_mode():
    rvq = _rvq(dropout=1.0).train()
    z = torch.randn(4, 16, 10)
    out = rvq(z, n_codebooks=3)
    assert out.codes.shape[1] == 3 and torch.all(out.n_kept == 3)
    torch.testing.assert_close(rvq.decode(out.codes), out.quantized, atol=1e-5, rtol=1e-5)


def test_dropout_distribution_is_per_sample_bernoulli_then_uniform():
    rvq = _rvq(n=4, dropout=0.5).train()
    torch.manual_seed(7)
    kept = torch.cat([rvq.sample_kept(1000, torch.device("cpu")) for _ in range(20)])
    # P(n = N) = 1 - p + p/N = 0.625; P(n = k < N) = p/N = 0.125
    freq = torch.bincount(kept, minlength=5)[1:].float() / kept.numel()
    torch.testing.assert_close(freq, torch.tensor([0.125, 0.125, 0.125, 0.625]), atol=0.01, rtol=0)


def test_dropped_stages_do_not_contribute_to_output_or_losses():
    rvq = _rvq(n=3).train()
    z = torch.randn(2, 16, 20)
    rvq.sample_kept = lambda batch, device: torch.tensor([1, 3])
    out = rvq(z)
    one = rvq.eval()(z[:1], n_codebooks=1)
    torch.testing.assert_close(out.quantized[:1], one.quantized, atol=1e-6, rtol=1e-6)
    assert out.codes.shape[1] == 3  # every stage still learns on its residual


def test_straight_through_gradient_reaches_encoder_side():
    rvq = _rvq(n=2).train()
    z = torch.randn(1, 16, 8, requires_grad=True)
    out = rvq(z, n_codebooks=2)
    (out.quantized.sum() + out.commitment_loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
