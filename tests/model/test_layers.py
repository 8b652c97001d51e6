"""Snake and weight normalisation against their textbook definitions and torch's own."""
import torch
from torch import nn

from model.layers import Snake1d, WNConv1d, WNConvTranspose1d, fold_weight_norm, from_fast_layout, to_fast_layout


def test_snake_equals_definition():
    torch.manual_seed(0)
    snake = Snake1d(5)
    with torch.no_grad():
        snake.alpha.uniform_(0.2, 3.0)
    x = torch.randn(2, 5, 300) * 3
    alpha = snake.alpha
    expected = x + (alpha + 1e-9).reciprocal() * torch.sin(alpha * x) ** 2
    torch.testing.assert_close(snake(x), expected, atol=2e-6, rtol=1e-6)


def test_snake_gradient_matches_definition():
    torch.manual_seed(1)
    snake = Snake1d(3)
    x = torch.randn(1, 3, 50, requires_grad=True)
    snake(x).sum().backward()
    a = snake.alpha.detach()
    # d/dx [x + sin^2(ax)/a] = 1 + sin(2ax)
    torch.testing.assert_close(x.grad, 1 + torch.sin(2 * a * x.detach()), atol=1e-5, rtol=1e-5)



def test_wnconv_matches_torch_weight_norm():
    torch.manual_seed(2)
    ref = torch.nn.utils.weight_norm(nn.Conv1d(4, 6, 7, stride=2, padding=3, dilation=1))
    with torch.no_grad():
        ref.weight_g.uniform_(0.5, 2.0)
    ours = WNConv1d(4, 6, 7, stride=2, padding=3)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, 101)
    torch.testing.assert_close(ours(x), ref(x))
    fold_weight_norm(ours)
    torch.testing.assert_close(ours(x), ref(x))


def test_wnconv_transpose_norms_over_input_channel():
    torch.manual_seed(3)
    ref = torch.nn.utils.weight_norm(nn.ConvTranspose1d(6, 3, 10, stride=5, padding=3))
    with torch.no_grad():
        ref.weight_g.uniform_(0.5, 2.0)
    ours = WNConvTranspose1d(6, 3, 10, stride=5, padding=3)
    assert ours.weight_g.shape == ref.weight_g.shape == (6, 1, 1)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 6, 20)
    y = ours(x)
    torch.testing.assert_close(y, ref(x))
    assert y.shape[-1] == 5 * 20 - 1  # odd stride: kernel 2s, padding ceil(s/2) loses one sample


def test_folded_weight_moves_with_module_and_stays_out_of_state_dict():
    conv = WNConv1d(2, 2, 3)
    fold_weight_norm(conv)
    assert set(conv.state_dict()) == {"weight_g", "weight_v", "bias"}
    conv.to(torch.float64)
    assert conv.effective_weight().dtype == torch.float64


def test_grouped_conv_and_output_padding_match_torch_folded_or_not():
    """Depthwise convolutions and odd-stride transposed ones with ``output_padding`` (SNAC's)."""
    torch.manual_seed(3)
    conv = WNConv1d(6, 6, kernel_size=7, padding=9, dilation=3, groups=6)
    up = WNConvTranspose1d(6, 4, kernel_size=6, stride=3, padding=2, output_padding=1)
    x = torch.randn(2, 6, 29)
    ref_conv = nn.functional.conv1d(x, conv.effective_weight(), conv.bias, 1, 9, 3, 6)
    ref_up = nn.functional.conv_transpose1d(x, up.effective_weight(), up.bias, 3, 2, 1)
    assert ref_up.shape[-1] == 3 * 29  # odd stride: exactly L * stride samples
    for folded in (False, True):
        if folded:
            fold_weight_norm(conv)
            fold_weight_norm(up)
        with torch.no_grad():
            torch.testing.assert_close(conv(x), ref_conv, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(up(x), ref_up, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # and in the fast inference layout
        torch.testing.assert_close(from_fast_layout(conv(to_fast_layout(x))), ref_conv, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(from_fast_layout(up(to_fast_layout(x))), ref_up, atol=1e-5, rtol=1e-5)
