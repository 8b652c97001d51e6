"""The fused Snake kernel (when it can be built here) equals the eager formulation."""
import pytest
import torch

from model import fused_snake
from model.layers import Snake1d, to_fast_layout


@pytest.fixture(scope="module")
def kernel():
    module = fused_snake.build()
    if module is None:
        pytest.skip("no C++ toolchain: the fused kernel is optional")
    return module


@pytest.mark.parametrize("channels", [1, 7, 12, 64])
def test_fused_equals_eager_in_both_layouts(kernel, channels):
    torch.manual_seed(channels)
    snake = Snake1d(channels)
    with torch.no_grad():
        snake.alpha.uniform_(0.05, 5.0)
    x = torch.randn(2, channels, 1000) * 4
    with torch.enable_grad():  # gradients on: the eager path
        eager = snake(x).detach()
    with torch.no_grad():
        plain = snake(x)
        fast = snake(to_fast_layout(x))
    torch.testing.assert_close(plain, eager, atol=2e-6, rtol=1e-6)
    torch.testing.assert_close(fast.squeeze(2), eager, atol=2e-6, rtol=1e-6)
    assert fast.is_contiguous(memory_format=torch.channels_last)


def test_training_never_uses_the_kernel(kernel):
    snake = Snake1d(4)
    x = torch.randn(1, 4, 50, requires_grad=True)
    snake(x).sum().backward()
    assert snake.alpha.grad is not None and x.grad is not None


def test_disabled_by_environment(kernel, monkeypatch):
    monkeypatch.setenv("RVQ_NO_FUSED_SNAKE", "1")
    assert fused_snake.fused_snake(torch.randn(1, 2, 8), torch.ones(1, 2, 1)) is None
