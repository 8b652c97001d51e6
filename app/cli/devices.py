"""The ``--device`` option checked before a model is moved there.

A device torch cannot use (CUDA on a machine without it, a mistyped name) would otherwise
fail deep inside model loading with a multi-line traceback; here it is one sentence.
"""
from __future__ import annotations

import torch


def checked_device(name: str) -> torch.device:
    """``name`` as a usable torch device, or a ``ValueError`` naming it and why not."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a torch device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError, NotImplementedError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"--device {name}: not usable ({reason[:120]})") from None
    return device
