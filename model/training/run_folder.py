"""The files of a run folder, named in one place.

The trainer writes a run folder, the studio follows and resumes it, release tooling ships from
it: all of them find its files through :class:`RunFolder`, so a name changes in one line.

* ``config.json`` -- the resolved recipe (:mod:`model.training.run_config`); ``--resume``
  rebuilds the run from it alone;
* ``checkpoints/`` -- ``step-<n>.safetensors`` for the last few steps and ``best.safetensors``, the state with
  the best validation mel distance (:mod:`model.training.checkpoint`);
* ``model.safetensors`` -- the best model so far: what a run is kept as;
* ``latest.safetensors`` -- the model of the latest validation, better or not: what a live
  preview plays;
* ``studio/`` -- what the studio records about the process it started
  (:mod:`app.training.run_launch`): ``progress.jsonl`` (the process's ``--json-progress``
  stdout), ``stderr.log`` and ``process.json`` (the launch record).

Plain paths, no torch: the studio's window asks for them as well.
"""
from __future__ import annotations

from pathlib import Path

CONFIG_NAME = "config.json"
CHECKPOINTS_NAME = "checkpoints"
CHECKPOINT_SUFFIX = ".safetensors"
BEST_CHECKPOINT_NAME = "best" + CHECKPOINT_SUFFIX
LEGACY_BEST_CHECKPOINT_NAME = "best.pt"  # written by earlier versions
MODEL_NAME = "model.safetensors"
LATEST_MODEL_NAME = "latest.safetensors"
STUDIO_NAME = "studio"


class RunFolder:
    """A run folder (resolved to an absolute path) and the paths of its files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_NAME

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / BEST_CHECKPOINT_NAME

    @property
    def model_path(self) -> Path:
        """The best model so far (by validation mel distance): what a run is kept as."""
        return self.path / MODEL_NAME

    @property
    def latest_model_path(self) -> Path:
        """The model of the latest validation, better or not: what a live preview plays."""
        return self.path / LATEST_MODEL_NAME

    @property
    def lock_path(self) -> Path:
        """Locked by the training process for the life of the run (:mod:`model.training.run_lock`)."""
        return self.path / ".lock"

    @property
    def studio_folder(self) -> Path:
        return self.path / STUDIO_NAME

    @property
    def progress_log(self) -> Path:
        """The studio-started process's stdout: its JSON progress events, appended by every start."""
        return self.studio_folder / "progress.jsonl"

    @property
    def error_log(self) -> Path:
        """The studio-started process's stderr, appended likewise."""
        return self.studio_folder / "stderr.log"

    @property
    def launch_record(self) -> Path:
        """The studio's record of the latest process it started (PID, command, output offsets)."""
        return self.studio_folder / "process.json"

    def holds_run(self) -> bool:
        return self.config_path.exists() or self.checkpoints.exists()
