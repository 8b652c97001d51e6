"""Nested containers of tensors as a safetensors file: tensors by name, the structure as JSON.

A training checkpoint is a tree -- state dicts, optimiser states keyed by parameter index,
parameter groups with tuples of betas, random-number states -- while safetensors holds only a
flat name -> tensor map and string metadata.  :func:`flatten` splits a tree into its tensors
and a JSON *skeleton* that says where each one goes, keeping what JSON alone would blur: tuples
stay tuples, integer dictionary keys stay integers, floats keep every bit (``repr`` round-trips,
infinities included).  :func:`unflatten` puts it back together and refuses skeletons that name
tensors the file lacks or hold anything but these plain types, so reading a file never runs
code, whatever the file says.

Encoding: a scalar (``None``, bool, int, float, str) is itself; a tensor is ``{"x": name}``;
a list ``{"l": [...]}``, a tuple ``{"t": [...]}``, a dict ``{"d": [[key, value], ...]}`` with
scalar keys.
"""
from __future__ import annotations

import json
from typing import Any

import torch

_SCALARS = (type(None), bool, int, float, str)


class TreeError(ValueError):
    """A tree that cannot be stored, or a skeleton that does not describe one."""


def flatten(tree: Any) -> tuple[str, dict[str, torch.Tensor]]:
    """The skeleton (JSON text) and the tensors of ``tree``, each tensor contiguous on the CPU
    and in a storage of its own (safetensors refuses tensors that share memory)."""
    tensors: dict[str, torch.Tensor] = {}
    storages: set[int] = set()

    def encode(node: Any) -> Any:
        if isinstance(node, torch.Tensor):
            tensor = node.detach().to("cpu").contiguous()
            storage = tensor.untyped_storage().data_ptr()
            if storage in storages or tensor.untyped_storage().nbytes() != tensor.nbytes:
                tensor = tensor.clone()
            storages.add(tensor.untyped_storage().data_ptr())
            name = str(len(tensors))
            tensors[name] = tensor
            return {"x": name}
        if isinstance(node, _SCALARS):
            return node
        if isinstance(node, list):
            return {"l": [encode(item) for item in node]}
        if isinstance(node, tuple):
            return {"t": [encode(item) for item in node]}
        if isinstance(node, dict):
            bad = [key for key in node if not isinstance(key, _SCALARS)]
            if bad:
                raise TreeError(f"dictionary key {bad[0]!r} is not a plain value")
            return {"d": [[key, encode(value)] for key, value in node.items()]}
        raise TreeError(f"{type(node).__name__} values cannot be stored (plain containers and tensors only)")

    return json.dumps(encode(tree)), tensors


def unflatten(skeleton: str, tensors: dict[str, torch.Tensor]) -> Any:
    """The tree ``flatten`` took apart; TreeError when the skeleton is not one of its own."""
    try:
        encoded = json.loads(skeleton)
    except json.JSONDecodeError as exc:
        raise TreeError(f"structure is not JSON ({exc})") from None

    def decode(node: Any) -> Any:
        if isinstance(node, _SCALARS):
            return node
        if isinstance(node, dict) and len(node) == 1:
            (kind, body), = node.items()
            if kind == "x" and isinstance(body, str):
                if body not in tensors:
                    raise TreeError(f"structure names tensor {body!r}, which the file lacks")
                return tensors[body]
            if kind in ("l", "t") and isinstance(body, list):
                items = [decode(item) for item in body]
                return items if kind == "l" else tuple(items)
            if kind == "d" and isinstance(body, list):
                return {_key(pair): decode(pair[1]) for pair in body}
        raise TreeError(f"structure holds an unknown entry {json.dumps(node)[:60]}")

    def _key(pair: Any) -> Any:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], _SCALARS)):
            raise TreeError(f"structure holds a malformed dictionary entry {json.dumps(pair)[:60]}")
        return pair[0]

    return decode(encoded)
