"""Strict, JSON-friendly configuration dataclasses for the codec families.

A configuration travels as a plain dict (in our model-file headers, presets and official
metadata), so each family's frozen dataclass derives from :class:`FamilyConfig` to get
one behaviour everywhere: unknown keys are an error (a typo never silently becomes a
default), missing keys take the defaults, and lists become tuples on the way in and
tuples lists on the way out.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

C = TypeVar("C", bound="FamilyConfig")


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
