"""How long a training step of a given setup takes on the machine that will train, measured, not guessed.

The studio shows "time per 1000 steps" before a run starts.  Step time depends on the model,
the discriminator, the batch, the frozen parts, the device, the thread count and whatever else
the machine is doing, so no table of constants could be honest; instead this builds exactly
what the trainer would build (the same generator or ``--from`` network, the same freezing,
the preset's discriminator and :class:`~model.training.step.TrainingStep`) and times real
steps on a random batch of the preset's shape (a step's cost does not depend on what the audio
sounds like).  Both kinds of step are timed: mel-only (before ``gan_start_step``) and GAN
(discriminator update plus adversarial losses), since a run's time is a mix of the two.

Each kind gets one warm-up step (allocator and oneDNN caches) before the timed ones, and the
timed steps run with Python's cyclic garbage collector paused (after one collection): in a
process holding many objects (the test suite's, or a long studio session's) a full collection
that happens to fall inside a step costs more than the step itself, and it is the process's
cost, not the step's.  A step's
time is its wall time or its CPU time, whichever is shorter.  Wall time alone made the estimate
about twice the run's real pace: the measurement is taken in the studio, typically while the
studio itself renders the clip open in it, and one step timed against that work counted the
studio's share of the core as the step's (a default-preset mel-only step on a loaded 2-core
machine: 1.88 s wall for 0.93 s of CPU).  The trainer runs with a core of its own (all cores
but one) once the studio's rendering is done, so a step costs at most its CPU time on one
thread; with several threads, an unloaded machine's wall time is shorter than the CPU time
summed over them, and is what counts.  How much longer the wall time was is kept
(:attr:`StepTiming.busy_factor`), so the estimate can say what the run takes if the machine
stays that busy.  Batches larger than :data:`MAX_MEASURED_BATCH` are timed at that batch and
scaled linearly (convolution cost is linear in the batch), and the result says so.

Run as ``python -m model.training.step_timing --preset tiny`` it prints one JSON object, so the
GUI can measure in a separate process that it can kill at any moment.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

from model.loading import load_network
from model.registry import DEFAULT_PRESET, family, fine_tune_preset, preset
from model.training.recipes import build_discriminator
from model.training.run_config import parse_freeze
from model.training.step import TrainingStep

MAX_MEASURED_BATCH = 8


@dataclass(frozen=True)
class StepTiming:
    mel_only_seconds: float  # one step before gan_start_step
    gan_seconds: float  # one step with the discriminator and adversarial losses
    batch_size: int  # the batch the times are for
    measured_batch: int  # the batch actually run (smaller when scaled)
    device: str
    threads: int
    busy_factor: float = 1.0  # wall time over the time counted: > 1 when other work slowed the measured steps

    def run_seconds(self, first_step: int, last_step: int, gan_start_step: int) -> float:
        """Training time of steps ``first_step + 1 .. last_step`` (validation not included)."""
        mel_only = max(0, min(last_step, gan_start_step) - first_step)
        gan = max(0, last_step - max(first_step, gan_start_step))
        return mel_only * self.mel_only_seconds + gan * self.gan_seconds

    def to_dict(self) -> dict:
        return asdict(self)


def measure_steps(preset_name: str | None = None, from_model: str | None = None,
                  freeze: tuple[str, ...] = (), batch: int | None = None, device: str = "cpu",
                  threads: int | None = None, repeats: int = 1) -> StepTiming:
    """Time ``repeats`` mel-only and GAN steps of the setup ``rvq-studio train`` would run."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    if from_model is not None:
        family_key, _, generator, _ = load_network(from_model)
        recipe = preset(preset_name) if preset_name else fine_tune_preset(family_key)
    else:
        recipe = preset(preset_name or DEFAULT_PRESET)
        generator = family(recipe.family).build(recipe.architecture)
    batch_size = batch or recipe.batch_size
    measured = min(batch_size, MAX_MEASURED_BATCH)
    for part in freeze:
        module = getattr(generator, part, None)
        if not isinstance(module, torch.nn.Module):
            raise ValueError(f"--freeze {part}: this model has no {part}")
        module.requires_grad_(False)
    target = torch.device(device)
    generator = generator.to(target).train()
    discriminator = build_discriminator(recipe.discriminator).to(target).train()
    trainable = [p for p in generator.parameters() if p.requires_grad]
    step = TrainingStep(generator, discriminator, trainable, recipe, int(generator.sample_rate), target)
    audio = 0.1 * torch.randn(measured, 1, round(recipe.excerpt_seconds * generator.sample_rate))
    scale = batch_size / measured
    times, walls, spents = {}, 0.0, 0.0
    for gan in (False, True):
        step(audio, gan=gan)
        _synchronise(target)
        with _garbage_collection_paused():
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(repeats):
                step(audio, gan=gan)
            _synchronise(target)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # CPU time is the process's, not the device's: on a GPU only the wall time counts
        spent = wall if target.type != "cpu" else min(wall, cpu)
        times[gan] = spent / repeats * scale
        walls, spents = walls + wall, spents + spent
    return StepTiming(times[False], times[True], batch_size, measured, str(target), torch.get_num_threads(),
                      walls / spents if spents > 0 else 1.0)


@contextmanager
def _garbage_collection_paused() -> Iterator[None]:
    """Collect once, then keep the cyclic collector out of the timed steps (its state is restored)."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time training steps; prints one JSON object.")
    parser.add_argument("--preset")
    parser.add_argument("--from", dest="from_model")
    parser.add_argument("--freeze")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    try:
        timing = measure_steps(args.preset, args.from_model, parse_freeze(args.freeze) or (), args.batch,
                               args.device, args.threads)
    except (ValueError, OSError, RuntimeError) as exc:
        print(json.dumps({"error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}))
        return 2
    print(json.dumps(timing.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
