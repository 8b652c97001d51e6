"""Which of a run's two models "Use this model" keeps: the best by validation, or the latest.

A run folder holds ``model.safetensors``, the model of its best validation so far, and
``latest.safetensors``, the model of its latest validation, better or not (the one the live
preview plays).  Usually the best is what one wants.  But a short fine-tune can end with its
best validation at step 0, the model it started from: keeping "the best" then keeps an
unchanged copy of the base (or, from scratch, the untrained network), while the preview on the
studio's own clip may have sounded better with the latest.  The validation set is a few
seconds of held-out audio; the user's clip may be what they care about.  So both are offered,
each with its step and validation mel distance, and :func:`keep_note` says when the best is
the starting model.

Read from the files' own training summaries (their headers), so what is offered is what is
on disk, whatever the event log says.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.training.exported_model import read_training_summary
from model.training.run_folder import RunFolder

BEST, LATEST = "best", "latest"


@dataclass(frozen=True)
class RunModel:
    kind: str  # BEST or LATEST
    path: Path
    step: int | None
    mel_distance: float | None  # validation mel distance with every codebook
    base_model: str | None  # what the run fine-tunes (None: from scratch)

    @property
    def is_start(self) -> bool:
        """Whether this is the model the run started from (its step-0 validation)."""
        return self.step == 0


def _read(kind: str, path: Path) -> RunModel | None:
    summary = read_training_summary(path) if path.is_file() else None
    if summary is None:
        return None
    rows = (summary.get("validation") or {}).get("rows") or []
    mel = rows[-1].get("mel_distance") if rows else None
    step = summary.get("steps")
    return RunModel(kind, path, int(step) if isinstance(step, int) else None,
                    float(mel) if isinstance(mel, int | float) else None, summary.get("base_model"))


def run_models(run_folder: str | Path | None) -> dict[str, RunModel]:
    """The run's best and latest models that exist (by kind); the latest only when it differs from the best."""
    if run_folder is None:
        return {}
    run = RunFolder(run_folder)
    best, latest = _read(BEST, run.model_path), _read(LATEST, run.latest_model_path)
    models = {BEST: best} if best is not None else {}
    if latest is not None and (best is None or latest.step != best.step):
        models[LATEST] = latest
    return models


def model_label(model: RunModel) -> str:
    """"best by validation: step 0, mel 2.380" (what the choice between the two reads)."""
    what = "best by validation" if model.kind == BEST else "latest"
    step = f"step {model.step:,}" if model.step is not None else "step ?"
    mel = f", mel {model.mel_distance:.3f}" if model.mel_distance is not None else ""
    start = " (the starting model)" if model.is_start else ""
    return f"{what}: {step}{mel}{start}"


def keep_note(models: dict[str, RunModel]) -> str:
    """A warning when the best by validation is the model the run started from, else ""."""
    best, latest = models.get(BEST), models.get(LATEST)
    if best is None or not best.is_start or latest is None:
        return ""
    start = "the base model unchanged" if best.base_model is not None else "the untrained network"
    return (f"No validation after step 0 was better: the best by validation is {start}. "
            f"The latest (step {latest.step:,}) may still sound better on your material: "
            "compare them in the Preview tab, then choose.")
