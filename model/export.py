"""Writing our own model files: safetensors with the architecture in the header.

safetensors holds only tensors and a string-to-string header, so opening one of our files
can never execute code, and the header alone says how to rebuild the network.

The same weights always give the same bytes. safetensors writes the header's metadata in
hash-map order, which changes from call to call, so re-exporting an unchanged model would
otherwise make a byte-different file (churn in git, no reproducible builds); the header is
rewritten with its metadata keys sorted before the file is written.

A model file's name is in its header (it is what the studio and ``info`` show, and what a .rvq
file records as the model that made it -- beside the weights' digest, which is what decoding
checks). :func:`copy_model_file` writes a copy under another name without touching the tensors.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors.torch import save
from torch import nn

from model.atomic_file import write_bytes_atomic
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
    write_bytes_atomic(path, _with_metadata(save(state, metadata=meta)))


def copy_model_file(source: str | Path, target: str | Path, name: str) -> None:
    """Write our model file ``source`` atomically to ``target``, named ``name`` in its header.

    The tensors are copied byte for byte, so the copy has the source's weights digest and
    decodes the .rvq files the source made. ``source`` is read in one go: a copy racing a
    writer's atomic replacement of it gets the old or the new file whole.
    """
    blob = Path(source).read_bytes()
    write_bytes_atomic(target, _with_metadata(blob, name=name))


def _with_metadata(blob: bytes, **changes: str) -> tuple[bytes | memoryview, ...]:
    """``blob``'s header and data, the header's metadata updated by ``changes`` and in key order
    (the tensors already are)."""
    size = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + size])
    header["__metadata__"] = dict(sorted({**header["__metadata__"], **changes}.items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data to 8 bytes with spaces
    return struct.pack("<Q", len(text)), text, memoryview(blob)[8 + size:]
