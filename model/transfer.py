"""Host-to-device copies that overlap the computation on a GPU.

A CPU tensor bound for a CUDA device is first put in page-locked (pinned) memory and copied
with ``non_blocking=True``: the copy is queued on the device's stream like a kernel, so the
host thread goes on to queue the computation instead of waiting for the transfer, and the
chunked engine's next chunk is read while the device works. On the CPU it is a plain ``.to``.
"""
from __future__ import annotations

import torch


def to_device(x: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x`` on ``device`` (and in ``dtype`` when given)."""
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, dtype, non_blocking=True)
    return x.to(device, dtype)
