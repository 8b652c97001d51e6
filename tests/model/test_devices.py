"""The device a codec runs on: strings flow through to the weights and the transfers, and on a
CUDA machine the GPU gives the CPU's results (skipped, with the reason, elsewhere)."""
from pathlib import Path

import pytest
import torch

from model import load_codec
from model.transfer import to_device

FIXTURE = Path(__file__).parent.parent / "fixtures" / "dac" / "dac16k.pth"
NO_CUDA = "needs a CUDA device; this machine has none"


def _clip(rate: int) -> torch.Tensor:
    t = torch.arange(rate // 2) / rate
    return (0.3 * torch.sin(2 * torch.pi * 440 * t)).view(1, 1, -1)


def test_cpu_transfer_is_a_plain_copy_in_the_asked_dtype():
    x = torch.arange(6, dtype=torch.int32).view(1, 2, 3)
    y = to_device(x, torch.device("cpu"), torch.long)
    assert y.dtype == torch.long and y.device.type == "cpu" and torch.equal(y, x.long())


def test_a_device_string_reaches_the_weights():
    codec = load_codec(FIXTURE, device="cpu:0")
    assert codec.device == torch.device("cpu:0")
    assert {p.device.type for p in codec.network.parameters()} == {"cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
@pytest.mark.parametrize("fast", [False, True], ids=["float32", "fast-mode"])
def test_cuda_gives_the_cpu_results(fast):
    cpu, gpu = load_codec(FIXTURE), load_codec(FIXTURE, device="cuda")
    x = _clip(cpu.sample_rate)
    codes = cpu.encode(x)
    if fast:
        cpu.set_fast_mode(True)
        gpu.set_fast_mode(True)
    gpu_codes = gpu.encode(x)
    assert gpu_codes.device.type == "cpu" and gpu_codes.shape == codes.shape
    assert (gpu_codes[:, 0] == codes[:, 0]).float().mean() > (0.8 if fast else 0.99)
    wave, gpu_wave = cpu.decode(codes), gpu.decode(codes)
    assert gpu_wave.device.type == "cpu"
    torch.testing.assert_close(gpu_wave, wave, atol=2e-2 if fast else 1e-4, rtol=0)
