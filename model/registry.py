"""The table of codec families: what each one is called, how to build it, how to recognise
its official files and how to train it.

``load_codec``, the model files, the CLI, the studio and the trainer look families up here
and contain no family names.

Adding a family (SNAC, Mimi, EnCodec 48 kHz...) is one module and one entry:

1. ``model/<family>.py`` holds its configuration (a frozen dataclass deriving from
   :class:`~model.family_config.FamilyConfig`), its network (a
   :class:`~model.codec.CodecNetwork`; a :class:`~model.codec_network.ConvolutionalCodec`
   built from :mod:`model.layers` gets exact chunking for free, since those layers report
   their receptive spans -- a new kind of layer gives itself a ``receptive_span()``), its
   training recipes (a :class:`~model.training.recipes.FamilyRecipes`, with a tiny recipe
   the tests train) and, if it has an official release, a parser of those files.
2. One :class:`Family` in :data:`FAMILIES` below.

The tests run every family of the table through loading, saving, chunking and the CLI.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from model import dac, encodec, hificodec, mimi, snac, soundstream
from model.family_config import FamilyConfig
from model.training.recipes import FamilyRecipes, PresetError, TrainingPreset

StateDict = dict[str, torch.Tensor]


def no_official_release(obj: Any) -> None:
    """For families whose official weights we do not read (only our own files)."""
    return None


@dataclass(frozen=True)
class Family:
    key: str  # stored in our own model files
    title: str  # shown to people
    config: type[FamilyConfig]  # configuration dict <-> dataclass, strict keys
    network: Callable[[Any], nn.Module]  # configuration dataclass -> network with fresh weights
    recipes: FamilyRecipes
    # the object of a PyTorch file, or the tensors of a safetensors file without our header
    parse_official: Callable[[Any], tuple[dict, StateDict] | None] = no_official_release

    def __post_init__(self) -> None:
        strays = [r.name for r in self.recipes.all if r.family != self.key]
        if strays:
            raise PresetError(f"recipes {', '.join(strays)} are not for the {self.key} family")

    def build(self, config: dict) -> nn.Module:
        """A network with fresh weights; unknown configuration keys are an error."""
        return self.network(self.config.from_dict(config))


FAMILIES: dict[str, Family] = {f.key: f for f in (
    Family("dac", "Improved RVQGAN (DAC)", dac.DacConfig, dac.DAC, dac.RECIPES, dac.parse_official),
    Family("soundstream", "SoundStream", soundstream.SoundStreamConfig, soundstream.SoundStream,
           soundstream.RECIPES),
    Family("hificodec", "HiFi-Codec", hificodec.HifiCodecConfig, hificodec.HifiCodec, hificodec.RECIPES),
    Family("encodec", "EnCodec", encodec.EncodecConfig, encodec.Encodec, encodec.RECIPES, encodec.parse_official),
    Family("mimi", "Mimi", mimi.MimiConfig, mimi.Mimi, mimi.RECIPES, mimi.parse_official),
    Family("snac", "SNAC (multi-scale)", snac.SnacConfig, snac.SNAC, snac.RECIPES, snac.parse_official),
)}

DEFAULT_PRESET = "default"  # the recipe of the bundled default model: its family and architecture




def family(key: str) -> Family:
    try:
        return FAMILIES[key]
    except KeyError:
        raise ValueError(f"unknown codec family {key!r} (known: {', '.join(FAMILIES)})") from None


def presets() -> dict[str, TrainingPreset]:
    """Every family's recipes by name: full-size ones first, then the tiny ones (for tests)."""
    ordered = ([r for f in FAMILIES.values() for r in f.recipes.all if r.name != f.recipes.tiny]
               + [r for f in FAMILIES.values() for r in f.recipes.all if r.name == f.recipes.tiny])
    table: dict[str, TrainingPreset] = {}
    for recipe in ordered:
        if recipe.name in table:
            raise PresetError(f"two recipes are called {recipe.name!r}")
        table[recipe.name] = recipe
    return table


def preset(name: str) -> TrainingPreset:
    table = presets()
    try:
        return table[name]
    except KeyError:
        raise PresetError(f"unknown preset {name!r} (known: {', '.join(table)})") from None


def fine_tune_preset(family_key: str) -> TrainingPreset:
    """The recipe used when fine-tuning a model of this family without ``--preset``."""
    if family_key not in FAMILIES:
        raise PresetError(f"no training preset for the {family_key!r} family yet")
    return preset(FAMILIES[family_key].recipes.fine_tune)
