"""The model a run hands to the studio: ``model.safetensors`` with a training summary.

The file is an ordinary RVQ Studio model (``load_codec`` opens it; family and architecture in
the header), written atomically whenever validation finds a new best, so it always holds the
best generator so far.  The header's ``training`` entry (JSON) says how it was made: preset,
base model, minutes of data, steps, frozen parts and the validation table at that step;
:func:`read_training_summary` reads it back from the header alone (no weights are loaded), so
``rvq-studio info`` and the model picker can show it cheaply.
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError, safe_open
from torch import nn

from model.export import save_model_file
from model.loading import FORMAT_TAG
from model.training.run_config import RunConfig
from model.training.validation import ValidationResult


def export_model(network: nn.Module, path: Path, config: RunConfig, name: str, validation: ValidationResult,
                 data_minutes: float, validation_minutes: float) -> None:
    summary = {
        "preset": config.preset.name,
        "base_model": config.base_model,
        "frozen": list(config.freeze),
        "steps": validation.step,
        "batch_size": config.preset.batch_size,
        "excerpt_seconds": config.preset.excerpt_seconds,
        "data_minutes": round(data_minutes, 3),
        "validation_minutes": round(validation_minutes, 3),
        "validation": validation.evaluation.to_dict(),
    }
    trained = validation.step > 0 or config.base_model is not None
    save_model_file(network, path, family=config.family, config=config.architecture, name=name,
                    trained=trained, extra={"training": json.dumps(summary, sort_keys=True)})


def read_model_header(path: str | Path) -> dict[str, str] | None:
    """The string header of an RVQ Studio model file (no weights read); None for other files."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError):
        return None
    return meta if meta.get("format") == FORMAT_TAG else None


def read_training_summary(path: str | Path) -> dict | None:
    """The ``training`` summary of an RVQ Studio model file; None for any other file."""
    meta = read_model_header(path) or {}
    try:
        summary = json.loads(meta["training"])
    except (KeyError, json.JSONDecodeError):
        return None
    return summary if isinstance(summary, dict) else None
