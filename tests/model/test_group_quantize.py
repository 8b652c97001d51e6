"""Group-residual VQ (HiFi-Codec): group split, code order, prefixes, dropout by levels."""
import torch

from model.codec import Codec
from model.hificodec import HifiCodec, HifiCodecConfig, group_residual_quantizer
from model.quantize import EuclideanVectorQuantizer, ResidualVectorQuantizer, euclidean_nearest


def _grvq(groups=2, levels=3, dim=8, size=16, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    rvq = group_residual_quantizer(HifiCodecConfig(latent_dim=dim, n_groups=groups, n_levels=levels,
                                                   codebook_size=size, quantizer_dropout=dropout))
    with torch.no_grad():  # codebooks on the scale of the data, so every level picks varied codes
        for i, stage in enumerate(rvq.quantizers):
            stage.stage.codebook.weight.normal_(0, 0.5 ** (i // groups))
    return rvq


def test_grouped_rvq_is_one_independent_residual_vq_per_group():
    groups, levels, width = 2, 3, 4
    rvq = _grvq(groups, levels).eval()
    z = torch.randn(3, 8, 20)
    with torch.no_grad():
        out = rvq(z)
    for g in range(groups):
        residual = z[:, g * width:(g + 1) * width]
        total = torch.zeros_like(residual)
        for level in range(levels):
            book = rvq.quantizers[level * groups + g].stage.codebook.weight
            rows = residual.transpose(1, 2).reshape(-1, width)
            idx = euclidean_nearest(rows, book)
            assert torch.equal(out.codes[:, level * groups + g].flatten(), idx)  # level-major order
            chosen = book[idx].view(3, -1, width).transpose(1, 2)
            total, residual = total + chosen, residual - chosen
        torch.testing.assert_close(out.quantized[:, g * width:(g + 1) * width], total)


def test_a_group_stage_touches_only_its_channels():
    rvq = _grvq().eval()
    z = torch.randn(2, 8, 10)
    with torch.no_grad():
        for i, stage in enumerate(rvq.quantizers):
            q = stage(z).quantized
            g = i % 2
            assert torch.all(q[:, [c for c in range(8) if not g * 4 <= c < (g + 1) * 4]] == 0)
            assert q[:, g * 4:(g + 1) * 4].abs().sum() > 0


def test_every_code_prefix_decodes_to_the_sum_of_its_stages():
    rvq = _grvq().eval()
    z = torch.randn(2, 8, 10)
    with torch.no_grad():
        codes = rvq(z).codes
        for n in range(1, 7):
            expected = sum(rvq.quantizers[i].decode_indices(codes[:, i]) for i in range(n))
            torch.testing.assert_close(rvq.decode(codes[:, :n]), expected)
        coarse = rvq.decode(codes[:, :2])  # n = G: the coarse level of every group
        assert (coarse[:, :4].abs().sum() > 0) and (coarse[:, 4:].abs().sum() > 0)
        assert torch.all(rvq.decode(codes[:, :1])[:, 4:] == 0)  # n < G: group 1 not yet coded


def test_dropout_keeps_whole_levels_with_the_documented_distribution():
    rvq = _grvq(groups=2, levels=4, dropout=0.5).train()
    torch.manual_seed(3)
    kept = torch.cat([rvq.sample_kept(1000, torch.device("cpu")) for _ in range(20)])
    assert set(kept.unique().tolist()) <= {2, 4, 6, 8}
    # P(all 4 levels) = 1 - p + p/4 = 0.625; P(k < 4 levels) = p/4 = 0.125
    freq = torch.bincount(kept // 2, minlength=5)[1:].float() / kept.numel()
    torch.testing.assert_close(freq, torch.tensor([0.125, 0.125, 0.125, 0.625]), atol=0.01, rtol=0)


def test_euclidean_stage_losses_are_commitment_and_codebook_mse():
    torch.manual_seed(0)
    stage = EuclideanVectorQuantizer(4, 8)
    x = torch.randn(2, 4, 6, requires_grad=True)
    out = stage(x)
    z_q = stage.decode_indices(out.indices)
    expected = (x - z_q).pow(2).mean(dim=(1, 2))
    torch.testing.assert_close(out.commitment_loss, expected)
    torch.testing.assert_close(out.codebook_loss, expected)
    out.codebook_loss.sum().backward()
    assert stage.codebook.weight.grad.abs().sum() > 0  # the codebook learns from its loss


def test_describe_exposes_the_groups_for_the_studio():
    net = HifiCodec(HifiCodecConfig(encoder_dim=2, latent_dim=8, decoder_dim=16, codebook_size=16))
    groups = net.describe()["groups"]
    assert groups == {"n_groups": 2, "n_levels": 2, "channels_per_group": 4, "order": "level-major",
                      "group_of_codebook": [0, 1, 0, 1], "level_of_codebook": [0, 0, 1, 1]}
    assert net.n_codebooks == 4


def test_the_codec_reports_groups_and_levels_of_a_grouped_quantizer_only():
    assert _grvq(groups=2, levels=3).codebook_groups() == {"group_of_codebook": [0, 1, 0, 1, 0, 1],
                                                           "level_of_codebook": [0, 0, 1, 1, 2, 2]}
    plain = ResidualVectorQuantizer([EuclideanVectorQuantizer(4, 8) for _ in range(3)])
    assert plain.codebook_groups() is None
    net = HifiCodec(HifiCodecConfig(encoder_dim=2, latent_dim=8, decoder_dim=16, codebook_size=16, n_levels=3))
    codec = Codec(net, name="h", family="hificodec", config={})
    assert codec.codebook_groups == _grvq(groups=2, levels=3).codebook_groups()
