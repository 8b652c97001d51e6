"""Shipping a training run's best checkpoint as a bundled model file, in float16.

The weights come from the run's best checkpoint (the state with the best validation mel
distance, :mod:`model.training.checkpoint`), read without unpickling anything and matched strictly against the run's architecture.
They are stored as float16: half the size (the 2 M-parameter default is 4 MB instead of 8 MB),
and :func:`model.loading.load_codec` widens them to float32, so inference runs exactly as it
would on the rounded float32 weights. What the rounding costs is measured, not assumed
(:func:`storage_agreement`, reported in the model card).

The header carries the run's ``training`` summary (preset, data minutes, steps, validation at
that step) so ``rvq-studio info`` can say how the model was made. The trainer writes that summary
into the run's ``model.safetensors`` together with the best checkpoint; it is copied from there after
checking that both describe the same step -- a new best written in between is an error, and
running again picks it up.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from model.codec import Codec
from model.export import save_model_file
from model.loading import load_weights_strict
from model.registry import family
from model.training.checkpoint import CheckpointFolder, TrainingStateError, load_checkpoint
from model.training.exported_model import read_training_summary
from model.training.run_config import RunConfig, read_run_config
from model.training.run_folder import RunFolder


class ShippingError(ValueError):
    """A run that cannot be shipped as it is."""


@dataclass
class BestCheckpoint:
    step: int
    config: RunConfig
    generator: dict[str, torch.Tensor]  # float32 weights in training layout
    summary: dict  # the run's training summary at that step

    def network(self) -> torch.nn.Module:
        network = family(self.config.family).build(self.config.architecture)
        load_weights_strict(network, self.generator, "the best checkpoint")
        return network

    def codec(self) -> Codec:
        """The float32 model, as trained."""
        return Codec(self.network(), name="default", family=self.config.family, config=self.config.architecture)


def read_best(run_path: str | Path) -> BestCheckpoint:
    run = RunFolder(run_path)
    try:
        config = read_run_config(run)
        if config is None:
            raise ShippingError(f"{run.path}: not a training run (no config.json)")
        state = load_checkpoint(CheckpointFolder(run.checkpoints).best_to_read())
    except (TrainingStateError, OSError) as exc:
        raise ShippingError(f"{run.path}: {exc}") from None
    summary = read_training_summary(run.model_path) if run.model_path.is_file() else None
    if summary is None:
        raise ShippingError(f"{run.model_path}: missing, or no training summary in its header")
    if summary.get("steps") != state["step"]:
        raise ShippingError(f"{run.model_path.name} is from step {summary.get('steps')} but the best checkpoint from step "
                            f"{state['step']} (the trainer wrote a new best meanwhile): run again")
    best = BestCheckpoint(int(state["step"]), config, state["generator"], summary)
    best.network()  # refuse weights that do not match the architecture before anything is written
    return best


def ship(best: BestCheckpoint, path: str | Path, name: str = "default") -> int:
    """Write ``best`` as a float16 model file at ``path``; returns its size in bytes."""
    save_model_file(best.network(), path, family=best.config.family, config=best.config.architecture, name=name,
                    dtype=torch.float16, extra={"training": json.dumps(best.summary, sort_keys=True)})
    return Path(path).stat().st_size


@dataclass(frozen=True)
class StorageAgreement:
    code_agreement: float  # fraction of codes the two models encode alike
    decoded_snr_db: float  # the float16 file's decoding of the float32 model's codes against it


@torch.no_grad()
def storage_agreement(reference: Codec, stored: Codec, audio: torch.Tensor) -> StorageAgreement:
    """How far ``stored`` (the float16 file, loaded) strays from ``reference`` on ``audio``."""
    codes = reference.encode(audio)
    agreement = float((stored.encode(audio) == codes).double().mean())
    expected, got = reference.decode(codes), stored.decode(codes)
    error = float(((got - expected) ** 2).sum())
    snr = float("inf") if error == 0 else 10 * float(torch.log10((expected**2).sum() / error))
    return StorageAgreement(agreement, snr)

