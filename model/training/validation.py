"""Validation during training, with the very numbers ``rvq-studio eval`` reports.

The generator is deep-copied and wrapped in an inference :class:`~model.codec.Codec` (which
folds weight norm -- fine on a copy, fatal on the network being trained), the fixed validation
excerpts are encoded once and :func:`model.evaluation.evaluate` decodes them at every codebook
count.  The excerpts are drawn with a seed of their own, independent of the run's seed, so
validation numbers of different runs on the same data are comparable.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import nn

from model.codec import Codec
from model.evaluation import Evaluation, evaluate

VALIDATION_SEED = 20240


@dataclass
class ValidationResult:
    step: int
    evaluation: Evaluation
    seconds: float

    @property
    def mel_distance(self) -> float:
        """Mel distance with every codebook: what "best" is judged by, as in the DAC release."""
        return self.evaluation.rows[-1].mel_distance

    def to_dict(self) -> dict:
        return {"step": self.step, **self.evaluation.to_dict(), "seconds": round(self.seconds, 3)}


def validate(network: nn.Module, family: str, config: dict, audio: torch.Tensor, step: int,
             device: torch.device) -> ValidationResult:
    """Evaluate a copy of ``network`` on ``audio [N, 1, T]`` at every codebook count."""
    started = time.perf_counter()
    snapshot = copy.deepcopy(network).float()
    codec = Codec(snapshot, name="validation", family=family, config=config, device=device)
    codes = codec.encode(audio)
    evaluation = evaluate(codec, audio, codes)
    return ValidationResult(step, evaluation, time.perf_counter() - started)
