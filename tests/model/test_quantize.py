"""Residual factorised VQ: lookup, truncation, dropout distribution."""
import pytest
import torch
import torch.nn.functional as F
from resident_size import STATUS, reset_peak, status_bytes

from model.quantize import (EuclideanVectorQuantizer, FactorizedVectorQuantizer, GroupSlice, ResidualVectorQuantizer,
                            euclidean_nearest)


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


def test_near_ties_are_settled_exactly_whatever_the_batch():
    """Rows with two codewords equally near to ~1e-7: float32's expansion cannot order them."""
    g = torch.Generator().manual_seed(3)
    codebook = torch.randn(1024, 8, generator=g)
    centres = torch.randn(40, 8, generator=g)
    offsets = F.normalize(torch.randn(40, 2, 8, generator=g), dim=2) * 0.01
    for i in range(40):  # codewords 2i and 2i+1 at the same distance from row i
        codebook[2 * i], codebook[2 * i + 1] = centres[i] + offsets[i, 0], centres[i] + offsets[i, 1]
    vectors = torch.cat([centres, torch.randn(999, 8, generator=g)])
    exact = (vectors[:, None].double() - codebook[None].double()).pow(2).sum(-1)
    two = exact[:40].topk(2, dim=1, largest=False)
    assert (two.indices.sort(1).values == torch.arange(80).view(40, 2)).all()  # the pair is nearest
    assert (two.values[:, 1] - two.values[:, 0]).max() < 1e-8  # and tied, far below float32's resolution here
    plain = (vectors.pow(2).sum(1, keepdim=True) - 2 * vectors @ codebook.t() + codebook.pow(2).sum(1)).argmin(1)
    assert (plain[:40] != exact[:40].argmin(1)).any()  # one float32 product gets some of them wrong
    whole = euclidean_nearest(vectors, codebook)
    assert torch.equal(whole, exact.argmin(1))
    singly = torch.cat([euclidean_nearest(vectors[i:i + 1], codebook) for i in range(len(vectors))])
    assert torch.equal(singly, whole)  # a row's code does not depend on the rows beside it


@pytest.mark.skipif(not STATUS.exists(), reason="resident size is read from /proc (Linux)")
def test_a_codebook_of_equal_codewords_ties_every_row_in_bounded_memory():
    """Mimi's codebook geometry (2048 x 256) with every codeword the same (an untrained codebook,
    a crafted file): every row is a near-tie, decided in float64. Formed for a block of rows at
    once, the differences took 256 x 2048 x 256 x 8 bytes, 1 GiB, twice; formed a few rows at a
    time in fresh tensors, they fragmented the heap to as much."""
    g = torch.Generator().manual_seed(5)
    codebook = torch.randn(1, 256, generator=g).expand(2048, 256).contiguous()
    codebook[1000] += 1.0  # one codeword apart, nearest to some rows
    vectors = torch.randn(600, 256, generator=g)
    vectors[::3] = codebook[1000] + 1e-3 * torch.randn(200, 256, generator=g)
    before = status_bytes()
    reset_peak()
    found = euclidean_nearest(vectors, codebook)
    peak = status_bytes("VmHWM") - before
    exact = torch.cat([(v[None].double() - codebook.double()).pow(2).sum(-1).argmin()[None] for v in vectors])
    assert torch.equal(found, exact) and set(found.tolist()) == {0, 1000}
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB"


def test_plain_rows_keep_the_float32_choice():
    g = torch.Generator().manual_seed(4)
    codebook, vectors = torch.randn(256, 8, generator=g), torch.randn(3000, 8, generator=g)
    plain = (vectors.pow(2).sum(1, keepdim=True) - 2 * vectors @ codebook.t() + codebook.pow(2).sum(1)).argmin(1)
    found = euclidean_nearest(vectors, codebook)
    assert torch.equal(found, (vectors[:, None].double() - codebook[None].double()).pow(2).sum(-1).argmin(1))
    assert (found != plain).sum() <= 1  # only a genuine near-tie may differ from one float32 product


def test_code_search_gives_the_codes_of_the_full_quantizer_frame_by_frame():
    """The streams' search (codebook terms taken once, no losses) equals forward, on one or two
    frames at a time as a stream calls it, for factorised and plain stages alike."""
    torch.manual_seed(1)
    plain = ResidualVectorQuantizer([GroupSlice(EuclideanVectorQuantizer(8, 32), g * 8, g * 8 + 8, 16)
                                     for _ in range(2) for g in range(2)])
    for rvq in (_rvq().eval(), plain.eval()):
        search = rvq.code_search()
        z = torch.randn(2, 16, 7)
        with torch.inference_mode():
            assert torch.equal(search(z), rvq(z).codes)
            assert torch.equal(torch.cat([search(z[..., i:i + 2]) for i in range(0, 7, 2)], -1), rvq(z).codes)
