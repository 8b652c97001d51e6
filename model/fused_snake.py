"""Snake through the optional native kernel, for CPU inference.

Snake is element-wise but, written with PyTorch operators, costs four passes over memory;
at the 44.1 kHz end of a codec that is a third to a half of all inference time. The C++
kernel in ``csrc/snake.cpp`` does it in one vectorised pass with an inlined sine (see
there why), 10-30x faster per call than the eager formulation. It is part of the optional
native build (:mod:`model.native_kernels`); without it, or with ``RVQ_NO_FUSED_SNAKE=1``,
Snake runs the eager formulation, whose results the kernel matches to float rounding (tested).
"""
from __future__ import annotations

import os

import torch

from model import native_kernels
from model.graph_capture import capturing_graph


def _disabled() -> bool:
    return os.environ.get("RVQ_NO_FUSED_SNAKE", "") not in ("", "0")


def fused_snake(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor | None:
    """The fused result, or None when the kernel cannot serve this call (also while a graph
    is exported: an exported graph holds the plain formulation)."""
    if _disabled() or capturing_graph():
        return None
    module = native_kernels.load()
    if module is None or x.requires_grad or x.device.type != "cpu" or x.dtype != torch.float32:
        return None
    return module.snake(x, alpha.detach())
