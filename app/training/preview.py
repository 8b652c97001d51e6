"""When a training run's model is heard on the studio's clip, and which of its models.

While a run trains, the studio's open clip is rendered with the run's model as "Fine-tuned",
beside "Base" on the studio's source switch
(:meth:`app.studio.session.StudioSession.compare_with`).  The preview follows the run's
``latest.safetensors``, which the trainer rewrites at every validation, better or not, and
names in its ``validation`` event; so the clip is re-rendered with each validated model and
the user hears the run as it goes.  A run of an older trainer, without that file, is heard
through its best model.  "Use this model" keeps the best (``model.safetensors``) unless the
user chooses this one (:mod:`app.training.run_models`).

Plain Python: the training tab tells it what happened and shows what it did.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from model.training.run_folder import RunFolder

if TYPE_CHECKING:
    from app.studio.session import StudioSession

NOT_YET = "…"  # a count whose quality is not measured yet


def preview_model(run_folder: Path | None) -> Path | None:
    """The model of the run's latest validation (a run of an older trainer: its best), if any yet."""
    if run_folder is None:
        return None
    run = RunFolder(run_folder)
    return next((p for p in (run.latest_model_path, run.model_path) if p.is_file()), None)


class RunPreview:
    """Renders the studio's clip with the run's model, when switched on and there is one."""

    def __init__(self, session: StudioSession) -> None:
        self.session = session
        self.enabled = True

    def follow(self, run_folder: Path | None) -> Path | None:
        """Render with the run's newest validated model; the model, or None when nothing was asked.

        Nothing is asked when the preview is off, the run has no model yet, or the studio has
        no model of its own to compare with."""
        model = preview_model(run_folder)
        if not self.enabled or model is None or self.session.model is None:
            return None
        self.session.compare_with(str(model))
        return model

    def on_event(self, event: dict, run_folder: Path | None) -> Path | None:
        """A live progress event: each validation brings a new model to hear."""
        return self.follow(run_folder) if event.get("event") == "validation" else None

    def switch_on(self, run_folder: Path | None) -> Path | None:
        """Preview again from now on, starting with the run's newest model (as :meth:`follow`)."""
        self.enabled = True
        return self.follow(run_folder)

    def switch_off(self) -> bool:
        """No more previews; whether "Fine-tuned" was taken off the studio."""
        self.enabled = False
        return self.end()

    def end(self) -> bool:
        """Take "Fine-tuned" off the studio (a new run starts, or the preview is off); whether it was on."""
        if not self.session.comparison.active:
            return False
        self.session.compare_with(None)
        return True

    def quality_rows(self) -> list[tuple[str, str, str, str, str]] | None:
        """Per codebook count: n, kbps, base mel, fine-tuned mel, change; None while nothing is compared.

        A count measured for one model only shows :data:`NOT_YET` for the other and for the change."""
        comparison = self.session.comparison
        if not comparison.active:
            return None
        base, tuned = self.session.quality, comparison.quality
        rows = []
        for n in sorted(set(base) | set(tuned)):
            b, t = base.get(n), tuned.get(n)
            change = f"{t.mel_distance - b.mel_distance:+.3f}" if b and t else NOT_YET
            rows.append((str(n), f"{(b or t).kbps:.2f}", f"{b.mel_distance:.3f}" if b else NOT_YET,
                         f"{t.mel_distance:.3f}" if t else NOT_YET, change))
        return rows
