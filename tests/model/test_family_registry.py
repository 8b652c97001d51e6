"""The registry's table: strict configurations, recipes that belong to their family, and a
family entered in the table found by every lookup.

The throwaway family (tests/support/throwaway_family.py) is built from the shared layers and
entered in :data:`model.registry.FAMILIES` for one test; test_codec_families.py runs it through
loading, saving and chunking like the real families.
"""
from __future__ import annotations

import pytest
import throwaway_family

from model.registry import FAMILIES, family, fine_tune_preset, preset, presets


@pytest.mark.parametrize("key", list(FAMILIES))
def test_every_family_configuration_refuses_unknown_keys_and_round_trips(key):
    fam = family(key)
    architecture = preset(fam.recipes.tiny).architecture
    assert fam.config.from_dict(architecture).to_dict() == architecture
    with pytest.raises(ValueError, match="flux_capacitor"):
        fam.build({**architecture, "flux_capacitor": 1})


@pytest.mark.parametrize("key", list(FAMILIES))
def test_every_family_recipe_names_its_own_family(key):
    fam = family(key)
    assert {r.family for r in fam.recipes.all} == {key}
    assert fine_tune_preset(key).family == preset(fam.recipes.tiny).family == key


def test_a_registered_familys_recipes_are_found_by_name(monkeypatch):
    assert "throwaway-tiny" not in presets()
    fam = throwaway_family.register(monkeypatch)
    assert preset("throwaway-tiny") is fine_tune_preset("throwaway") is fam.recipes.all[0]
    assert list(presets())[-1] == "throwaway-tiny"  # tiny recipes come last
