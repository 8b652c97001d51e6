"""One optimisation step of the GAN: discriminator update, then generator update.

The order is the DAC release's: one generator forward; the discriminator learns on the real
batch against the detached reconstruction; then the generator's loss (reconstruction terms,
plus the adversarial ones once the GAN is on) is back-propagated, the gradient norms clipped
and both optimisers and their exponential learning-rate schedules stepped.  Kept apart from
the loop so that benchmarks time exactly the step that training runs.

On CUDA the forward passes run under bf16 autocast (the losses are computed in float32 by
the spectral modules); on CPU everything stays float32.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
from torch import nn

from model.training.distributed import unwrap
from model.training.objective import Objective
from model.training.recipes import TrainingPreset


class LossNotFiniteError(ValueError):
    """The generator loss became NaN or infinite."""


class TrainingStep:
    def __init__(self, generator: nn.Module, discriminator: nn.Module, trainable: list[nn.Parameter],
                 preset: TrainingPreset, sample_rate: int, device: torch.device,
                 on_codes: Callable[[torch.Tensor], None] | None = None) -> None:
        """``generator`` / ``discriminator`` may be DDP-wrapped; ``trainable`` is the generator's
        unfrozen parameters; ``on_codes`` sees each step's codes ``[B, N, T]`` (usage counts)."""
        self.generator, self.discriminator, self.trainable = generator, discriminator, trainable
        self.on_codes = on_codes
        self.preset, self.device = preset, device
        self.optimizer_g = torch.optim.AdamW(trainable, lr=preset.lr, betas=preset.betas,
                                             weight_decay=preset.weight_decay)
        self.optimizer_d = torch.optim.AdamW(discriminator.parameters(), lr=preset.lr, betas=preset.betas,
                                             weight_decay=preset.weight_decay)
        self.scheduler_g = torch.optim.lr_scheduler.ExponentialLR(self.optimizer_g, preset.lr_gamma)
        self.scheduler_d = torch.optim.lr_scheduler.ExponentialLR(self.optimizer_d, preset.lr_gamma)
        self.objective = Objective(preset.weights, sample_rate, device)

    def __call__(self, real: torch.Tensor, gan: bool) -> dict[str, float]:
        """Train on ``real [B, 1, T]``; returns the unweighted terms, totals and gradient norms."""
        p = self.preset
        real = real.to(self.device, non_blocking=True)
        with self._autocast():
            fake, quantized = self.generator(real)
        if self.on_codes is not None:
            self.on_codes(quantized.codes)
        out: dict[str, float] = {}
        if gan:
            with self._autocast():
                d_loss = self.objective.discriminator(self.discriminator, real, fake)
            self.optimizer_d.zero_grad(set_to_none=True)
            d_loss.backward()
            norm_d = torch.nn.utils.clip_grad_norm_(self.discriminator.parameters(), p.grad_clip_discriminator)
            self.optimizer_d.step()
            self.scheduler_d.step()
            out["discriminator"] = float(d_loss.detach())
            out["grad_norm_discriminator"] = float(norm_d)
        with self._autocast():
            total, terms = self.objective.generator(real, fake, quantized, unwrap(self.discriminator) if gan else None)
        self.optimizer_g.zero_grad(set_to_none=True)
        total.backward()
        norm_g = torch.nn.utils.clip_grad_norm_(self.trainable, p.grad_clip_generator)
        self.optimizer_g.step()
        self.scheduler_g.step()
        out.update({k: float(v.detach()) for k, v in terms.items()})
        out["total"] = float(total.detach())
        out["grad_norm_generator"] = float(norm_g)
        if not math.isfinite(out["total"]):
            raise LossNotFiniteError(f"the loss became {out['total']}")
        return out

    @property
    def lr(self) -> float:
        return self.optimizer_g.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {"optimizer_generator": self.optimizer_g.state_dict(),
                "optimizer_discriminator": self.optimizer_d.state_dict(),
                "scheduler_generator": self.scheduler_g.state_dict(),
                "scheduler_discriminator": self.scheduler_d.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer_g.load_state_dict(state["optimizer_generator"])
        self.optimizer_d.load_state_dict(state["optimizer_discriminator"])
        self.scheduler_g.load_state_dict(state["scheduler_generator"])
        self.scheduler_d.load_state_dict(state["scheduler_discriminator"])
        # A scheduler's state carries its gamma; the run's (possibly changed on resume) decay wins,
        # applied from the rate the saved optimisers reached.
        self.scheduler_g.gamma = self.scheduler_d.gamma = self.preset.lr_gamma

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()
