"""Whether a graph exporter (``torch.onnx.export``, ``torch.export``, TorchScript tracing) or the
compiler (``torch.compile``, which generates its own fused element-wise code) is recording the
running code.

An exported graph must hold plain operators and the same operators for every input shape.
Two inference fast paths hold neither: the optional fused Snake kernel (a compiled extension
no other runtime has) and the blocked nearest-codeword search (a loop over blocks and a branch
on the data). While a graph is captured they give way to their plain formulations, which
compute the same results.
"""
from __future__ import annotations

import torch


def capturing_graph() -> bool:
    return bool(torch.compiler.is_exporting() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export()
                or torch.jit.is_tracing())


@torch.library.custom_op("rvq_studio::lstm", mutates_args=())
def opaque_lstm(steps: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
         b_hh: torch.Tensor) -> torch.Tensor:
    """A square multi-layer LSTM ``[T, B, H] -> [T, B, H]`` from zero state, layer weights stacked
    (``w_* [L, 4H, H]``, ``b_* [L, 4H]``, PyTorch's gate order).

    As one opaque operator, so that exporters record it whole: ``torch.export`` otherwise unrolls
    :class:`torch.nn.LSTM` over the example's length, and the graph would hold that length.
    """
    params = [t for layer in zip(w_ih, w_hh, b_ih, b_hh) for t in layer]
    zeros = steps.new_zeros(w_ih.shape[0], steps.shape[1], steps.shape[2])
    return torch.lstm(steps, (zeros, zeros), params, True, w_ih.shape[0], 0.0, False, False, False)[0]


@opaque_lstm.register_fake
def _(steps: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
      b_hh: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(steps)


def stacked_lstm_weights(module: torch.nn.LSTM) -> tuple[torch.Tensor, ...]:
    """``(w_ih, w_hh, b_ih, b_hh)`` of every layer stacked, as :func:`opaque_lstm` takes them."""
    layers = range(module.num_layers)
    return tuple(torch.stack([getattr(module, f"{name}_l{k}") for k in layers])
                 for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
