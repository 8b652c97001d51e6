"""What the training tab asks for, as the ``rvq-studio train`` command line that does it.

The tab offers three ways to train, each a plain combination of the command's options:

* **Quick fine-tune** -- ``--from BASE --freeze encoder,quantizer``: only the decoder learns,
  so the codes stay those of the base model (``.rvq`` files made with it decode with the new
  one) and a step is cheaper.
* **Full fine-tune** -- ``--from BASE``: every part learns; codes change.
* **From scratch** -- ``--preset NAME`` without ``--from``: the preset's architecture.

With ``--from`` the preset supplies only the training settings (the base supplies the
architecture), so only presets of the base's family are offered when the family is known
without loading weights (our own files say it in their header; "default" is the family of the
default model's recipe).  The GUI never re-implements a trainer rule: anything it lets through
that the trainer refuses comes back as the run's error, word for word.

This is the studio's one door to the trainer's presets: the rest of ``app`` and ``ui`` reach them
through the functions here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from model.registry import DEFAULT_PRESET, FAMILIES, fine_tune_preset, preset, presets
from model.training.exported_model import read_model_header
from model.training.recipes import TrainingPreset
from model.training.run_config import default_threads as training_default_threads

MODES = {
    "quick": "Quick fine-tune (decoder only, same codes)",
    "full": "Full fine-tune (every part learns)",
    "scratch": "From scratch (the preset's architecture)",
}
FROZEN_IN_QUICK_MODE = ("encoder", "quantizer")


@dataclass(frozen=True)
class TrainingRequest:
    data: str
    out: str
    mode: str  # a key of MODES
    preset: str
    base_model: str | None = None  # required unless mode == "scratch"
    steps: int | None = None
    batch: int | None = None
    lr: float | None = None
    device: str = "cpu"
    threads: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown training mode {self.mode!r} (expected one of {', '.join(MODES)})")
        if self.mode != "scratch" and not self.base_model:
            raise ValueError("choose a base model to fine-tune")

    def train_args(self) -> list[str]:
        """The ``train`` command's arguments for a new run (after ``rvq-studio``)."""
        args = ["train", "--data", self.data, "--out", self.out, "--preset", self.preset]
        if self.mode != "scratch":
            args += ["--from", str(self.base_model)]
        if self.mode == "quick":
            args += ["--freeze", ",".join(FROZEN_IN_QUICK_MODE)]
        for flag, value in (("--steps", self.steps), ("--batch", self.batch), ("--lr", self.lr)):
            if value is not None:
                args += [flag, repr(value) if isinstance(value, float) else str(value)]
        return args + runtime_args(self.device, self.threads, self.workers)

    def recipe(self) -> TrainingPreset:
        """The preset with this request's overrides: what the run will use."""
        return preset(self.preset).with_overrides(steps=self.steps, batch_size=self.batch, lr=self.lr)


def runtime_args(device: str, threads: int | None, workers: int) -> list[str]:
    """Options that may differ on every (re)start: they never change what a step computes."""
    args = ["--json-progress", "--device", device, "--workers", str(workers)]
    return args + (["--threads", str(threads)] if threads else [])


def resume_args(out: str, device: str = "cpu", threads: int | None = None, workers: int = 1,
                steps: int | None = None) -> list[str]:
    args = ["train", "--out", out, "--resume"]
    if steps is not None:
        args += ["--steps", str(steps)]
    return args + runtime_args(device, threads, workers)


def default_threads() -> int:
    """The trainer's own default (all cores but one), shown in the form before a run starts."""
    return training_default_threads()


def model_family(source: str | None) -> str | None:
    """The family of a model, when its header says it (else None: the trainer will check)."""
    if source is None:
        return None
    if source == "default":
        return preset(DEFAULT_PRESET).family
    return (read_model_header(source) or {}).get("family")


def find_preset(name: str) -> TrainingPreset | None:
    """The preset called ``name``, or None (a combo box briefly empty while it is refilled)."""
    return presets().get(name)


def presets_for(mode: str, family: str | None) -> list[str]:
    """Preset names to offer: all from scratch; the base's family's when fine-tuning."""
    if mode == "scratch" or family is None:
        return list(presets())
    return [name for name, p in presets().items() if p.family == family]


def default_preset(mode: str, family: str | None) -> str:
    if mode == "scratch" or family is None or family not in FAMILIES:
        return DEFAULT_PRESET
    return fine_tune_preset(family).name


def default_run_folder(runs_root: str | Path, data: str | Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(runs_root) / f"{Path(data).name or 'run'}-{stamp}"
