"""Nested containers of tensors through safetensors: the tree comes back exactly, and a skeleton
that does not describe one is refused."""
from __future__ import annotations

import json
import math

import pytest
import torch

from model.tensor_tree import TreeError, flatten, unflatten


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def test_an_optimiser_state_comes_back_with_its_integer_keys_tuples_and_exact_floats():
    model = torch.nn.Linear(3, 2)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.8, 0.99))
    model(torch.randn(4, 3)).sum().backward()
    optimiser.step()
    tree = {"optimiser": optimiser.state_dict(), "step": 7, "lr": 0.1 + 0.2, "inf": math.inf, "nan": math.nan,
            "flag": True, "none": None, "name": "run", "rng": torch.get_rng_state(),
            "half": torch.randn(2, 2).to(torch.bfloat16), "nested": [(1, "a"), {"k": [torch.arange(3)]}]}
    structure, tensors = flatten(tree)
    back = unflatten(structure, tensors)
    assert _same(tree, back)
    assert back["optimiser"]["param_groups"][0]["betas"] == (0.8, 0.99)
    assert set(back["optimiser"]["state"]) == {0, 1}


def test_tensors_that_share_memory_are_stored_apart():
    base = torch.arange(10.0)
    structure, tensors = flatten({"whole": base, "view": base[2:5], "again": base})
    pointers = {t.untyped_storage().data_ptr() for t in tensors.values()}
    assert len(pointers) == 3
    back = unflatten(structure, tensors)
    assert torch.equal(back["view"], torch.tensor([2.0, 3.0, 4.0])) and torch.equal(back["again"], base)


def test_objects_beyond_plain_containers_are_refused():
    with pytest.raises(TreeError, match="cannot be stored"):
        flatten({"x": object()})
    with pytest.raises(TreeError, match="key"):
        flatten({(1, 2): 3})


@pytest.mark.parametrize("skeleton, message", [
    ("not json", "not JSON"),
    (json.dumps({"x": "9"}), "lacks"),
    (json.dumps({"call": "os.system"}), "unknown entry"),
    (json.dumps({"d": [["a"]]}), "malformed"),
    (json.dumps({"d": [[{"l": []}, 1]]}), "malformed"),
])
def test_a_crafted_structure_is_refused_with_the_reason(skeleton, message):
    with pytest.raises(TreeError, match=message):
        unflatten(skeleton, {"0": torch.zeros(1)})
