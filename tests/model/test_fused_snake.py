"""The fused Snake kernel (when it can be built here) equals the eager formulation, and lets
other Python threads run while it works."""
import threading
import time

import pytest
import torch

from model import fused_snake, native_kernels
from model.layers import Snake1d, to_fast_layout


@pytest.fixture(scope="module")
def kernel():
    module = native_kernels.build()
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



def test_compiled_graphs_hold_the_plain_formulation(kernel, monkeypatch):
    """While torch.compile traces, the kernel gives way: the compiler fuses the plain operators itself,
    and an opaque extension call would split its graph."""
    x, alpha = torch.randn(1, 2, 8), torch.ones(1, 2, 1)
    assert fused_snake.fused_snake(x, alpha) is not None
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert fused_snake.fused_snake(x, alpha) is None


ATTEMPTS = 3


def _wake_during_a_call(kernel, x, alpha) -> tuple[float, float]:
    """Run the kernel on a thread while this one sleeps 1 ms: (when this thread woke, how long
    the call took), both in seconds from the call's start."""
    call: list[float] = []

    def run() -> None:
        call.append(time.perf_counter())
        kernel.snake(x, alpha)
        call.append(time.perf_counter())

    worker = threading.Thread(target=run)
    worker.start()
    while not call:
        time.sleep(0.0001)
    time.sleep(0.001)
    woke = time.perf_counter()
    worker.join()
    return woke - call[0], call[1] - call[0]


def test_other_python_threads_run_during_a_call(kernel):
    """The studio decodes on a worker thread: a kernel holding the GIL would stall the GUI.

    A thread runs the kernel on a large buffer, timing its own call, while this one sleeps
    a millisecond: if the call held the GIL, this thread could not wake before the call had
    ended. The wake is compared with the call as it ran in this very attempt (not with a
    calibration taken earlier), so a busy machine that slows the call slows the yardstick too;
    a wake delayed past half the call by the scheduler proves nothing either way, so it is
    tried again -- a kernel holding the GIL can never pass."""
    alpha = torch.ones(1, 64, 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # A buffer long enough that one call takes > 20 ms on this CPU, whatever its speed.
        length, duration = 400_000, 0.0
        while duration <= 0.02 and length <= 400_000 * 64:
            x = torch.randn(1, 64, 1, length).contiguous(memory_format=torch.channels_last)
            start = time.perf_counter()
            kernel.snake(x, alpha)
            duration = time.perf_counter() - start
            length *= 2
        attempts: list[tuple[float, float]] = []
        while len(attempts) < ATTEMPTS and not any(woke < call / 2 for woke, call in attempts):
            attempts.append(_wake_during_a_call(kernel, x, alpha))
    finally:
        torch.set_num_threads(threads)
    assert duration > 0.01, "the buffer is too small to tell"
    assert any(woke < call / 2 for woke, call in attempts), attempts
