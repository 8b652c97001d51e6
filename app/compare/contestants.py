"""What takes part in a comparison, parsed from the command line or set in the studio.

A contestant is one way of hearing the clip: a neural codec (any loadable model) at a
codebook count, Opus or MP3 at a bitrate, the original itself, or a low-pass anchor
(ITU-R BS.1534's 3.5 kHz and 7 kHz). A codec's count is given directly (``MODEL:n``), as a
bitrate the count's nominal rate should come closest to (``MODEL@kbps``), or left out (all
codebooks). Bitrates are those of the whole stream (all channels of the clip together).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MIN_CONTESTANTS, MAX_CONTESTANTS = 2, 8
ANCHOR_CUTOFFS_HZ = (3500.0, 7000.0)  # BS.1534's low-pass anchors

KINDS = ("codec", "opus", "mp3", "original", "anchor")


class ContestantError(ValueError):
    """A contestant that cannot be taken part: a malformed spec or an impossible choice."""


@dataclass(frozen=True)
class ContestantSpec:
    """A contestant as asked for, before any model is loaded.

    ``kind`` is one of :data:`KINDS`; ``model`` the model source of a codec; ``n_codebooks``
    a fixed count (None: chosen from ``target_kbps``, or all codebooks); ``target_kbps``
    Opus's and MP3's bitrate, or the bitrate a codec's count should match;
    ``cutoff_hz`` an anchor's cut-off.
    """

    kind: str
    model: str | None = None
    n_codebooks: int | None = None
    target_kbps: float | None = None
    cutoff_hz: float | None = None

    @property
    def name(self) -> str:
        """A short label, unique among sensible contestants (shown in tables, lists and files)."""
        if self.kind == "codec":
            model = model_label(self.model)
            if self.n_codebooks is not None:
                return f"{model}:{self.n_codebooks}"
            return f"{model}@{self.target_kbps:g}" if self.target_kbps is not None else model
        if self.kind in ("opus", "mp3"):
            return f"{self.kind} {self.target_kbps:g}"
        if self.kind == "anchor":
            return f"anchor {self.cutoff_hz / 1000:g} kHz"
        return "original"


def model_label(model: str) -> str:
    """A model's short name: its file's stem, or its folder's name for a training run's
    ``RUN/model.safetensors`` (every run's file has that name)."""
    if model == "default":
        return model
    path = Path(model)
    return path.parent.name if path.stem == "model" and path.parent.name else path.stem


def codec(model: str, n_codebooks: int | None = None, target_kbps: float | None = None) -> ContestantSpec:
    if n_codebooks is not None and n_codebooks < 1:
        raise ContestantError(f"{model}: the codebook count must be at least 1, got {n_codebooks}")
    if target_kbps is not None and not target_kbps > 0:
        raise ContestantError(f"{model}: the target bitrate must be positive, got {target_kbps:g}")
    return ContestantSpec("codec", model=model, n_codebooks=n_codebooks, target_kbps=target_kbps)


def opus(kbps: float) -> ContestantSpec:
    return ContestantSpec("opus", target_kbps=_positive(kbps, "Opus"))


def mp3(kbps: float) -> ContestantSpec:
    return ContestantSpec("mp3", target_kbps=_positive(kbps, "MP3"))


def original() -> ContestantSpec:
    return ContestantSpec("original")


def anchor(cutoff_hz: float) -> ContestantSpec:
    return ContestantSpec("anchor", cutoff_hz=_positive(cutoff_hz, "an anchor's cut-off"))


def _positive(value: float, what: str) -> float:
    if not value > 0:
        raise ContestantError(f"{what} needs a positive value, got {value:g}")
    return float(value)


_COUNT = re.compile(r"^(?P<model>.+):(?P<n>\d+)$")
_RATE = re.compile(r"^(?P<model>.+)@(?P<kbps>\d+(?:\.\d*)?|\.\d+)$")


def parse_codec(text: str) -> ContestantSpec:
    """``MODEL``, ``MODEL:n`` or ``MODEL@kbps``; a model path may itself hold ':' or '@'
    (only a trailing count or number is taken as one)."""
    text = text.strip()
    if not text:
        raise ContestantError("empty --codec value (expected MODEL, MODEL:n or MODEL@kbps)")
    if match := _COUNT.match(text):
        return codec(match["model"], n_codebooks=int(match["n"]))
    if match := _RATE.match(text):
        return codec(match["model"], target_kbps=float(match["kbps"]))
    return codec(text)


def check_count(specs: list[ContestantSpec]) -> list[ContestantSpec]:
    """``specs`` if their number is allowed (2 to 8) and no two share a name; ContestantError otherwise."""
    if not MIN_CONTESTANTS <= len(specs) <= MAX_CONTESTANTS:
        raise ContestantError(f"a comparison takes {MIN_CONTESTANTS} to {MAX_CONTESTANTS} contestants, "
                              f"got {len(specs)}")
    for k, spec in enumerate(specs):
        check_new(spec, specs[:k])
    return specs


def check_new(spec: ContestantSpec, others: list[ContestantSpec]) -> None:
    """ContestantError when ``spec`` repeats one of ``others`` or would be shown under the same name."""
    for other in others:
        if other == spec:
            raise ContestantError(f"{spec.name} is given twice")
        if other.name == spec.name:
            raise ContestantError(f"two contestants would both be called {spec.name} ({other.model} and "
                                  f"{spec.model}); give the model files distinct names")
