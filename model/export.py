"""Writing our own model files: safetensors with the architecture in the header.

safetensors holds only tensors and a string-to-string header, so opening one of our files
can never execute code, and the header alone says how to rebuild the network.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from model.atomic_file import atomic_path
from model.loading import FORMAT_TAG


def save_model_file(
    network: nn.Module,
    path: str | Path,
    *,
    family: str,
    config: dict,
    name: str,
    trained: bool = True,
    dtype: torch.dtype = torch.float32,
    extra: dict[str, str] | None = None,
) -> None:
    """Write ``network``'s weights and architecture atomically to ``path``.

    ``dtype=torch.float16`` halves the file; weights are widened to float32 on loading.
    """
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in network.state_dict().items()}
    meta = {
        "format": FORMAT_TAG,
        "family": family,
        "config": json.dumps(config, sort_keys=True),
        "name": name,
        "trained": "true" if trained else "false",
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        save_file(state, tmp, metadata=meta)
