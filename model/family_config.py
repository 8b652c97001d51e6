"""Strict, JSON-friendly configuration dataclasses for the codec families.

A configuration travels as a plain dict (in our model-file headers, presets and official
metadata), so each family's frozen dataclass derives from :class:`FamilyConfig` to get
one behaviour everywhere: unknown keys are an error (a typo never silently becomes a
default), missing keys take the defaults, and lists become tuples on the way in and
tuples lists on the way out.

Every value is checked when the configuration is made, against its field's type and the
range any usable model has: a model file's header is data from outside, and a zero stride,
a sample rate of 0 or a codebook of 2**40 entries would otherwise surface as a division by
zero, a nonsense bitrate or an attempt to allocate terabytes, far from the file that caused
it.  Counts and sizes are never negative; every entry of a tuple of integers (strides,
kernel sizes, dilations) is at least 1; the settings every family names alike have the
limits in :data:`SHARED_LIMITS`.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, TypeVar

from model.audio_io import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from model.entropy_coding import MAX_ALPHABET_SIZE

C = TypeVar("C", bound="FamilyConfig")

SHARED_LIMITS: dict[str, tuple[int, int | None]] = {
    "sample_rate": (MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),  # the rates audio is read and written at
    # the largest alphabet a .rvq file range-codes; released codecs use 1024 to 4096 entries
    "codebook_size": (2, MAX_ALPHABET_SIZE),
    # each codebook is a module of its own: far above released codecs' 9 to 32, far below a
    # count whose network would take minutes to build
    "n_codebooks": (1, 1024),
}


class FamilyConfig:
    """Mixin for ``@dataclass(frozen=True)`` configurations."""

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
        converted = {}
        for key, value in values.items():
            converted[key] = tuple(value) if isinstance(value, list) else value
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}  # type: ignore[call-overload]

    def __post_init__(self) -> None:
        for name, kind in _field_types(type(self)).items():
            _check_value(name, getattr(self, name), kind)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _check_value(name: str, value: Any, kind: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a usable ``kind`` for setting ``name``."""
    if isinstance(kind, types.UnionType):  # ``int | None`` and the like
        if value is None and type(None) in kind.__args__:
            return
        kind = next(k for k in kind.__args__ if k is not type(None))
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, tuple) or not value:
            raise ValueError(f"{name} must be a non-empty list, not {value!r}")
        for entry in value:
            _check_scalar(f"every entry of {name}", entry, typing.get_args(kind)[0], (1, None))
    else:
        _check_scalar(name, value, kind, SHARED_LIMITS.get(name, (0, None)))


def _check_scalar(name: str, value: Any, kind: type, limits: tuple[int, int | None]) -> None:
    if kind is bool or kind is str:
        if not isinstance(value, kind):
            raise ValueError(f"{name} must be {'true or false' if kind is bool else 'text'}, not {value!r}")
        return
    whole = isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        if not (whole or isinstance(value, float) and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number, not {value!r}")
        return
    if not whole:
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    low, high = limits
    if value < low or high is not None and value > high:
        raise ValueError(f"{name} must be {f'in {low}..{high}' if high is not None else f'at least {low}'}, "
                         f"not {value}")


@dataclasses.dataclass(frozen=True)
class ConfiguredWeights:
    """Official weights whose configuration is a separate file (Hugging Face's ``config.json``
    beside ``pytorch_model.bin``), as handed to the families' parsers of official files."""

    config: dict[str, Any]
    weights: Any
