"""What a run is: the options a person gives, resolved against a preset and the run folder.

A run folder (:mod:`model.training.run_folder`) holds ``config.json`` (the resolved recipe: data
folders, base model, family, architecture, preset with overrides, frozen parts, seed),
``checkpoints/`` and the exported ``model.safetensors``.  ``--resume`` rebuilds the run from
``config.json`` alone, so the command line only needs ``--out``; options repeated on the command line must agree with it,
except the ones that cannot change the result of a step (how long to train, how often to
validate and checkpoint, how many checkpoints to keep, worker and thread counts), which may be
changed on every resume.  The learning-rate decay may be changed on resume too: it acts from the
resumed step on, starting from the rate reached so far, and every ``start`` event of the log
records the decay in force, so the schedule a model was trained with stays on record.  A fresh run refuses a folder that already holds a run, so nobody
overwrites weeks of training by forgetting ``--resume``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from model.atomic_file import atomic_path
from model.registry import DEFAULT_PRESET, fine_tune_preset, preset
from model.training.checkpoint import TrainingStateError
from model.training.recipes import TrainingPreset
from model.training.run_folder import CONFIG_NAME, RunFolder

RUN_FORMAT = "rvq-studio-training-run"
FREEZABLE = ("encoder", "quantizer", "decoder")
HELD_OUT_FRACTION = 0.05

# Options that may differ from config.json on --resume: they never change what a step computes,
# except lr_gamma, which changes the schedule from the resumed step on (see the module docstring).
CHANGEABLE_ON_RESUME = ("steps", "val_every", "ckpt_every", "keep", "log_every", "revival_window", "lr_gamma")


@dataclass
class TrainingOptions:
    """What the ``train`` command was given (``None`` = not given)."""

    out: str
    data: str | None = None
    val: str | None = None
    from_model: str | None = None
    preset: str | None = None
    steps: int | None = None
    batch: int | None = None
    lr: float | None = None
    lr_gamma: float | None = None
    excerpt_seconds: float | None = None
    gan_start: int | None = None
    val_every: int | None = None
    ckpt_every: int | None = None
    keep: int | None = None
    log_every: int | None = None
    revive_every: int | None = None
    freeze: tuple[str, ...] | None = None
    seed: int | None = None
    resume: bool = False
    workers: int = 1
    threads: int | None = None  # None: default_threads()
    compile: bool = False  # torch.compile the generator's training forward (not part of config.json)
    device: str | None = None
    json_progress: bool = False


@dataclass
class RunConfig:
    data: str
    val: str | None
    base_model: str | None  # what --from named; None = from scratch
    preset: TrainingPreset
    family: str  # the generator actually trained: the preset's, or the --from model's
    architecture: dict
    freeze: tuple[str, ...] = ()
    seed: int = 0
    held_out_fraction: float = HELD_OUT_FRACTION
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_json(self) -> dict:
        return {"format": RUN_FORMAT, "data": self.data, "val": self.val, "base_model": self.base_model,
                "family": self.family, "architecture": self.architecture, "freeze": list(self.freeze), "seed": self.seed, "held_out_fraction": self.held_out_fraction,
                "created": self.created, "preset": self.preset.to_dict()}

    @classmethod
    def from_json(cls, data: dict) -> "RunConfig":
        if data.get("format") != RUN_FORMAT:
            raise TrainingStateError(f"{CONFIG_NAME} is not an RVQ Studio training run")
        try:
            return cls(data["data"], data["val"], data["base_model"], TrainingPreset.from_dict(data["preset"]),
                       data["family"], dict(data["architecture"]), tuple(data["freeze"]), int(data["seed"]), float(data["held_out_fraction"]),
                       data["created"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainingStateError(f"{CONFIG_NAME} is damaged ({exc})") from None


def default_threads() -> int:
    """Torch threads per training process when ``--threads`` is not given: the cores this
    process may run on but one, shared among the processes torchrun started on this machine.

    Intra-op threads wait for each other after every operator, so a thread whose core is taken
    by other work stalls every step: more threads than free cores does not slow a run down in
    proportion, it collapses it (benchmarks/bench_threads_busy.py measures it). Leaving a core
    free keeps a run at its pace while the studio, a second run or a build uses the machine.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, (cores - 1) // processes)


def read_run_config(run: RunFolder) -> RunConfig | None:
    """The run's ``config.json``, or None when the folder has none yet."""
    if not run.config_path.exists():
        return None
    try:
        data = json.loads(run.config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingStateError(f"{run.config_path}: unreadable ({exc})") from None
    return RunConfig.from_json(data)


def write_run_config(run: RunFolder, config: RunConfig) -> None:
    run.path.mkdir(parents=True, exist_ok=True)
    with atomic_path(run.config_path) as tmp:
        Path(tmp).write_text(json.dumps(config.to_json(), indent=2) + "\n")


def parse_freeze(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    parts = tuple(sorted({p.strip() for p in text.split(",") if p.strip()}))
    unknown = [p for p in parts if p not in FREEZABLE]
    if unknown:
        raise ValueError(f"--freeze: unknown part {unknown[0]!r} (choose from {', '.join(FREEZABLE)})")
    if set(parts) == set(FREEZABLE):
        raise ValueError("--freeze: freezing every part leaves nothing to train")
    return parts


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def _base_model(source: str | None) -> str | None:
    if source is None or source == "default":
        return source
    return _absolute(source)


def _preset_overrides(options: TrainingOptions) -> dict:
    return {"steps": options.steps, "batch_size": options.batch, "lr": options.lr, "lr_gamma": options.lr_gamma,
            "excerpt_seconds": options.excerpt_seconds, "gan_start_step": options.gan_start,
            "val_every": options.val_every, "ckpt_every": options.ckpt_every, "keep": options.keep,
            "log_every": options.log_every, "revival_window": options.revive_every}


def new_config(options: TrainingOptions, base: tuple[str, dict] | None) -> RunConfig:
    """The configuration of a fresh run; ``base`` is the --from model's (family, architecture)."""
    family_of_base = base[0] if base else None
    if options.data is None:
        raise ValueError("--data is required for a new run")
    if options.preset is not None:
        recipe = preset(options.preset)
        if family_of_base is not None and recipe.family != family_of_base:
            raise ValueError(f"preset {recipe.name} is for {recipe.family} models; --from is a "
                             f"{family_of_base} model")
    elif family_of_base is not None:
        recipe = fine_tune_preset(family_of_base)
    else:
        recipe = preset(DEFAULT_PRESET)
    if options.from_model is None and options.freeze:
        raise ValueError("--freeze needs --from: a model trained from scratch has nothing to keep")
    recipe = recipe.with_overrides(**_preset_overrides(options))
    family, architecture = base if base else (recipe.family, dict(recipe.architecture))
    return RunConfig(_absolute(options.data), _absolute(options.val), _base_model(options.from_model), recipe,
                     family, architecture, options.freeze or (), 0 if options.seed is None else options.seed)


def resumed_config(saved: RunConfig, options: TrainingOptions) -> RunConfig:
    """``saved`` with the changeable options applied; any other disagreement is an error."""
    given = {
        "--data": (_absolute(options.data), saved.data),
        "--val": (_absolute(options.val), saved.val),
        "--from": (_base_model(options.from_model), saved.base_model),
        "--preset": (options.preset, saved.preset.name),
        "--batch": (options.batch, saved.preset.batch_size),
        "--lr": (options.lr, saved.preset.lr),
        "--excerpt-seconds": (options.excerpt_seconds, saved.preset.excerpt_seconds),
        "--gan-start": (options.gan_start, saved.preset.gan_start_step),
        "--freeze": (options.freeze, saved.freeze),
        "--seed": (options.seed, saved.seed),
    }
    for flag, (value, recorded) in given.items():
        if value is not None and value != recorded:
            raise ValueError(f"{flag} differs from the run being resumed ({value} vs {recorded}); "
                             f"leave it out or start a new run in another --out folder")
    overrides = {k: v for k, v in _preset_overrides(options).items() if k in CHANGEABLE_ON_RESUME}
    return RunConfig(saved.data, saved.val, saved.base_model, saved.preset.with_overrides(**overrides),
                     saved.family, saved.architecture, saved.freeze, saved.seed, saved.held_out_fraction, saved.created)
