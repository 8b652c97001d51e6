"""The table of codec families: how to build each one and how to recognise its files.

Adding a family means one module (its network) and one entry here; ``load_codec``, the CLI,
the studio and the trainer look families up in this table and contain no family names.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from model import dac, encodec, hificodec, soundstream

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Family:
    key: str  # stored in our own model files
    title: str  # shown to people
    build: Callable[[dict], nn.Module]  # configuration dict -> network with fresh weights
    parse_official: Callable[[Any], tuple[dict, StateDict] | None]  # torch-loaded object -> (config, weights)


def _build_dac(config: dict) -> nn.Module:
    return dac.DAC(dac.DacConfig.from_kwargs(config))


def _parse_official_dac(obj: Any) -> tuple[dict, StateDict] | None:
    """The Descript release layout: ``{'state_dict': ..., 'metadata': {'kwargs': {...}}}``."""
    if not (isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict)):
        return None
    metadata = obj.get("metadata")
    if not (isinstance(metadata, dict) and isinstance(metadata.get("kwargs"), dict)):
        return None
    state = obj["state_dict"]
    if not any(k.startswith("quantizer.quantizers.") for k in state):
        return None
    config = dac.DacConfig.from_kwargs(metadata["kwargs"]).to_dict()
    return config, state


def _no_official_release(obj: Any) -> None:
    """Families whose official weights we do not read (only our own files)."""
    return None


FAMILIES: dict[str, Family] = {
    "dac": Family("dac", "Improved RVQGAN (DAC)", _build_dac, _parse_official_dac),
    "soundstream": Family(
        "soundstream", "SoundStream",
        lambda config: soundstream.SoundStream(soundstream.SoundStreamConfig.from_dict(config)),
        _no_official_release),
    "hificodec": Family(
        "hificodec", "HiFi-Codec",
        lambda config: hificodec.HifiCodec(hificodec.HifiCodecConfig.from_dict(config)),
        _no_official_release),
    "encodec": Family(
        "encodec", "EnCodec",
        lambda config: encodec.Encodec(encodec.EncodecConfig.from_dict(config)),
        encodec.parse_official),
}


def family(key: str) -> Family:
    try:
        return FAMILIES[key]
    except KeyError:
        raise ValueError(f"unknown codec family {key!r} (known: {', '.join(FAMILIES)})") from None
