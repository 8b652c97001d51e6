"""The training loop: GAN steps, validation, checkpoints, signals, progress.

One :class:`Trainer` per process.  It is family-agnostic: the generator comes from the family
registry (or from ``load_network`` when fine-tuning) and is only used through its training
forward ``recon, q = net(wave)``; freezing names its sub-modules (``encoder``, ``quantizer``,
``decoder``).  Everything that decides what a step computes -- weights, optimiser and scheduler
states, every random state, the sampler position -- is in the checkpoint, so a resumed run
continues bit for bit (tests/model/training/test_resume.py).

Stopping: SIGINT and SIGTERM set a flag that is checked between steps (agreed across ranks),
then a checkpoint is written and ``train`` returns normally -- exit status 0.  A second signal
interrupts at once.  SIGKILL cannot be caught; atomic checkpoint writes make it harmless.
"""
from __future__ import annotations

import contextlib
import hashlib
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.ema_quantize import EmaVectorQuantizer
from model.loading import load_network
from model.registry import family as codec_family
from model.training import distributed
from model.training.batches import ExcerptDataset, StepBatches, batch_loader, fixed_set
from model.training.checkpoint import (
    CheckpointFolder,
    TrainingStateError,
    capture_rng_state,
    restore_rng_state,
)
from model.training.code_revival import CodeRevival
from model.training.corpus import Corpus, require_usable, scan_folder, split_held_out
from model.training.excerpts import ExcerptSpec, Failure
from model.training.exported_model import export_model
from model.training.recipes import build_discriminator
from model.training.progress import Reporter
from model.training.run_config import (RunConfig, TrainingOptions, default_threads, new_config, read_run_config, resumed_config,
                                      write_run_config)
from model.training.run_folder import RunFolder
from model.training.run_lock import RunLock
from model.training.step import LossNotFiniteError, TrainingStep
from model.training.validation import VALIDATION_SEED, ValidationResult, validate


class TrainingError(ValueError):
    """Training cannot go on (diverged, nothing to train...), with a message meant for people."""


@dataclass
class TrainingResult:
    step: int
    reason: str  # "completed" or "interrupted"
    model_path: str | None
    best_mel_distance: float | None


class _NullReporter:
    def emit(self, event: dict) -> None:
        pass


def train(options: TrainingOptions, reporter: Reporter) -> TrainingResult:
    """Run (or resume) the training described by ``options``; progress goes to ``reporter``."""
    torch.set_num_threads(options.threads or default_threads())
    ctx = distributed.start(options.device)
    lock = RunLock(RunFolder(options.out).lock_path)  # taken by rank 0 before it reads the folder
    try:
        return Trainer(options, ctx, reporter, lock).run()
    finally:
        lock.release()
        ctx.close()
        if options.compile:
            _release_compile_workers()


def _release_compile_workers() -> None:
    """Stop inductor's compile pools, which would otherwise outlive the run in a caller's process.

    Inductor keeps two kinds: the process pools that ``shutdown_compile_workers`` knows about,
    and a thread pool (``AsyncCompile.pool``, cached, created only on a cold compile cache) that it
    does not; both are stopped and forgotten, so a later compile makes fresh ones.
    """
    from torch._inductor.async_compile import AsyncCompile, shutdown_compile_workers

    shutdown_compile_workers()
    if AsyncCompile.pool.cache_info().currsize:
        AsyncCompile.pool().shutdown(wait=True)
        AsyncCompile.pool.cache_clear()


def _on_main(ctx: distributed.DistributedContext, work):
    """Run ``work()`` on rank 0 and hand its result (or its error) to every rank."""
    result, error = None, None
    if ctx.is_main:
        try:
            result = work()
        except Exception as exc:  # re-raised below, after the other ranks heard of it
            error = exc
    result, message = ctx.broadcast((result, None if error is None else str(error)))
    if error is not None:
        raise error
    if message is not None:
        raise TrainingError(message)
    return result


def _require_trainable(generator: nn.Module, family_key: str) -> None:
    """The trainer's excerpts are mono and its losses see codes alone: refuse other models up front
    (EnCodec 48 kHz: stereo, with per-segment scales) before the data is scanned or a run folder made."""
    channels, side = int(getattr(generator, "channels", 1)), tuple(getattr(generator, "side_info", ()))
    if channels != 1 or side:
        needs = [f"has {channels} channels"] * (channels != 1) + [f"needs {', '.join(side)} besides its codes"] * bool(side)
        raise TrainingError(f"this {family_key} model cannot be trained here: the trainer trains mono models that "
                            f"decode from their codes alone (this one {' and '.join(needs)})")


def _fingerprint(corpus: Corpus) -> str:
    h = hashlib.sha256()
    for s in corpus.sources:
        h.update(f"{s.relative}\0{s.frames}\0{s.sample_rate}\0{s.channels}\n".encode())
    return h.hexdigest()[:16]


class Trainer:
    def __init__(self, options: TrainingOptions, ctx: distributed.DistributedContext, reporter: Reporter,
                 lock: RunLock | None = None) -> None:
        """``lock`` guards the run folder; :func:`train` passes one it releases when the run ends
        (without one, the lock lives as long as this trainer's process)."""
        self.options, self.ctx = options, ctx
        self.lock = lock if lock is not None else RunLock(RunFolder(options.out).lock_path)
        self.reporter = reporter if ctx.is_main else _NullReporter()  # rank 0 speaks for all
        self.run_folder = RunFolder(options.out)
        self.checkpoints = CheckpointFolder(self.run_folder.checkpoints)
        self.stop_requested = False
        self.best_mel: float | None = None
        self.best_step: int | None = None
        self.reported_failures: set[str] = set()
        self.step = 0
        self.resumed = False

        self._base_network: nn.Module | None = None  # rank 0's --from network (DDP copies it to the others)
        self._corpora: tuple[Corpus, Corpus, str] | None = None
        self.resumed_from: str | None = None
        self.resumed_lr_gamma: float | None = None  # the decay the checkpoint was trained with
        self.config = _on_main(ctx, self._resolve_run)
        self.preset = preset = self.config.preset
        self.train_corpus, self.val_corpus, self.validation_source = _on_main(
            ctx, lambda: self._corpora or self._scan_data(self.config))
        # the run's model is named after the run, fresh or resumed; its base is recorded in the
        # training summary (base_model), and "default" stays the bundled model's name
        self.name = self.run_folder.path.name

        torch.manual_seed(self.config.seed)
        generator = self._base_network or codec_family(self.config.family).build(self.config.architecture)
        self.sample_rate = int(generator.sample_rate)
        discriminator = build_discriminator(preset.discriminator)
        self.trainable = self._freeze(generator)
        self.generator = ctx.wrap(generator.to(ctx.device).train())
        self.discriminator = ctx.wrap(discriminator.to(ctx.device).train())
        # torch.compile fuses the generator's element-wise work (Snake, weight norm): about 1.4x
        # faster CPU steps after a one-off compilation of minutes (cached by inductor).
        # The discriminator stays eager: compiled as well, a default-preset GAN step took 5.3
        # CPU-seconds instead of 4.1 (measured side by side, one thread).
        forward = torch.compile(self.generator) if options.compile else self.generator
        self.revival = CodeRevival.for_network(distributed.unwrap(self.generator), preset.revival_window,
                                               preset.revival_min_uses, self.config.seed)
        self.step_fn = TrainingStep(forward, self.discriminator, self.trainable, preset, self.sample_rate,
                                    ctx.device, on_codes=self.revival.observe if self.revival else None)
        self._seed_training_stream()
        if options.resume:
            self._load_resume_state()

        spec = ExcerptSpec(self.sample_rate, preset.excerpt_seconds, preset.loudness_lufs, preset.silence_lufs)
        self.dataset = ExcerptDataset(self.train_corpus, spec, self.config.seed)
        self.sampler = StepBatches(preset.batch_size, self.step, ctx.rank, ctx.world_size)
        self.validation_audio = self._load_validation_set() if ctx.is_main else None

    # -- setup ---------------------------------------------------------------------------
    def _resolve_run(self) -> RunConfig:
        options, run = self.options, self.run_folder
        existed = run.path.exists()
        self.lock.acquire()
        try:
            return self._resolve_locked_run()
        except Exception:
            if not existed:  # a refused new run leaves no folder behind
                self.lock.release()
                run.lock_path.unlink(missing_ok=True)
                if not any(run.path.iterdir()):
                    run.path.rmdir()
            raise

    def _resolve_locked_run(self) -> RunConfig:
        options, run = self.options, self.run_folder
        saved = read_run_config(run)
        if saved is not None and options.resume:
            self._refuse_resume_without_checkpoints()
            config = resumed_config(saved, options)
            if config.preset != saved.preset:  # a changed setting holds for later resumes too
                write_run_config(run, config)
            return config
        if run.holds_run():
            raise TrainingStateError(f"{run.path} already holds a training run: add --resume to continue it, "
                                     "or choose another --out folder")
        base = None
        if options.from_model is not None:
            family_key, architecture, self._base_network, _ = load_network(options.from_model)
            _require_trainable(self._base_network, family_key)
            base = (family_key, architecture)
        config = new_config(options, base)
        self._corpora = self._scan_data(config)  # refuse bad data before the run folder is created
        write_run_config(run, config)
        return config

    def _refuse_resume_without_checkpoints(self) -> None:
        """Resuming without a step checkpoint would start again from step 0 and overwrite the
        run's best model with an untrained one: refuse while there is a trained model to lose."""
        run = self.run_folder
        if self.checkpoints.periodic():
            return
        trained = [p for p in (run.best_checkpoint, run.model_path) if p.exists()]
        if trained:
            raise TrainingStateError(
                f"{run.path} has no step checkpoint to resume from ({run.checkpoints}/step-*.safetensors are gone), "
                f"but holds a trained model ({', '.join(p.name for p in trained)}): resuming would start "
                "again from step 0 and overwrite it. Start a new run in another folder instead"
                + (f" (--from {run.model_path} fine-tunes from that model)" if run.model_path.exists() else ""))

    @staticmethod
    def _scan_data(config: RunConfig) -> tuple[Corpus, Corpus, str]:
        train = scan_folder(config.data, "training")
        require_usable(train, "training")
        if config.val is not None:
            val = scan_folder(config.val, "validation")
            require_usable(val, "validation")
            return train, val, "folder"
        train, val = split_held_out(train, config.held_out_fraction)
        return train, val, "held-out"

    def _load_validation_set(self) -> torch.Tensor:
        p = self.preset
        spec = ExcerptSpec(self.sample_rate, p.val_seconds, p.loudness_lufs, p.silence_lufs)
        audio, failures = fixed_set(self.val_corpus, spec, p.val_examples, VALIDATION_SEED)
        self._report_failures(failures)
        return audio

    def _freeze(self, generator: nn.Module) -> list[nn.Parameter]:
        for part in self.config.freeze:
            module = getattr(generator, part, None)
            if not isinstance(module, nn.Module):
                raise TrainingError(f"--freeze {part}: this {self.config.family} model has no {part}")
            for p in module.parameters():
                p.requires_grad_(False)
            for stage in module.modules():  # EMA codebooks learn without gradients: stop them too
                if isinstance(stage, EmaVectorQuantizer):
                    stage.frozen = True
        trainable = [p for p in generator.parameters() if p.requires_grad]
        if not trainable:
            raise TrainingError("nothing left to train: every parameter is frozen")
        return trainable

    def _seed_training_stream(self) -> None:
        """Per-rank random streams (quantizer dropout differs between ranks, as between items)."""
        seed = self.config.seed * 1000 + self.ctx.rank + 1
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)

    def _load_resume_state(self) -> None:
        found = self.checkpoints.load_latest()
        if found is None:
            return
        state, path, warnings = found
        for w in warnings:
            self._warn(w)
        distributed.unwrap(self.generator).load_state_dict(state["generator"])
        distributed.unwrap(self.discriminator).load_state_dict(state["discriminator"])
        self.resumed_lr_gamma = float(state["scheduler_generator"]["gamma"])
        self.step_fn.load_state_dict(state)
        if self.revival is not None and "revival" in state:
            self.revival.load_state_dict(state["revival"])
        self.step = int(state["step"])
        self.best_mel, self.best_step = state["best_mel_distance"], state["best_step"]
        if state["sampler"]["train_fingerprint"] != _fingerprint(self.train_corpus):
            self._warn("the training folder changed since the checkpoint: the data order differs from "
                       "an uninterrupted run")
        rng = state["rng"]
        if len(rng) == self.ctx.world_size:
            restore_rng_state(rng[self.ctx.rank])
        else:
            self._warn(f"the run was checkpointed with {len(rng)} processes and resumes with "
                       f"{self.ctx.world_size}: random streams and data shards start afresh")
        self.resumed = True
        self.resumed_from = str(path)

    # -- events --------------------------------------------------------------------------
    def _warn(self, message: str, **extra) -> None:
        self.reporter.emit({"event": "warning", "message": message, **extra})

    def _report_failures(self, failures: list[Failure]) -> None:
        for relative, reason in failures:
            if relative not in self.reported_failures:
                self.reported_failures.add(relative)
                self._warn(f"skipping unreadable file {relative}: {reason}", path=relative)

    def _emit_data(self) -> None:
        self.reporter.emit({
            "event": "data",
            "train": self.train_corpus.summary(),
            "validation": self.val_corpus.summary(),
            "validation_source": self.validation_source,
            "validation_examples": int(self.validation_audio.shape[0]),
            "validation_seconds": self.preset.val_seconds,
            "unreadable": [{"path": p, "reason": r} for p, r in self.train_corpus.skipped + self.val_corpus.skipped],
        })
        for relative, _ in self.train_corpus.skipped + self.val_corpus.skipped:
            self.reported_failures.add(relative)

    def _emit_start(self) -> None:
        generator = distributed.unwrap(self.generator)
        self.reporter.emit({
            "event": "start",
            "step": self.step,
            "total_steps": self.preset.steps,
            "resumed": self.resumed,
            "resumed_from": self.resumed_from,
            "run": str(self.run_folder.path),
            "preset": self.preset.name,
            "family": self.config.family,
            "base_model": self.config.base_model,
            "frozen": list(self.config.freeze),
            "generator_parameters": sum(p.numel() for p in generator.parameters()),
            "trainable_parameters": sum(p.numel() for p in self.trainable),
            "discriminator_parameters": sum(p.numel() for p in self.discriminator.parameters()),
            "batch_size": self.preset.batch_size,
            "world_size": self.ctx.world_size,
            "threads": torch.get_num_threads(),  # per process: with world_size, what the run's CPU-hours count
            "gan_start_step": self.preset.gan_start_step,
            "val_every": self.preset.val_every,
            "lr": self.step_fn.lr,  # the rate at this step, where the decay below starts
            "lr_gamma": self.preset.lr_gamma,
            "resumed_lr_gamma": self.resumed_lr_gamma,
            "device": str(self.ctx.device),
            "compiled": self.options.compile,
        })

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> TrainingResult:
        if self.ctx.is_main:
            self._emit_data()
            self._emit_start()
        total = self.preset.steps
        if self.step == 0 and not self.resumed:
            self._validate()
        with self._stop_signals(), contextlib.closing(_Batches(self)) as batches:
            meter = _RateMeter()
            sums: dict[str, float] = {}
            count = 0
            while self.step < total:
                audio = batches.next()
                losses = self.train_step(audio)
                self.step += 1
                if self.revival is not None and self.revival.due():
                    self.reporter.emit(self.revival.revive(audio, self.step_fn.optimizer_g, self.step))
                meter.tick()
                count += 1
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                if self.step % self.preset.log_every == 0 or self.step == total:
                    self._emit_step({k: v / count for k, v in sums.items()}, meter)
                    sums, count = {}, 0
                if self.ctx.any(self.stop_requested):
                    break
                if self.step % self.preset.val_every == 0 and self.step < total:
                    with meter.paused():
                        self._validate()
                if self.step % self.preset.ckpt_every == 0 and self.step < total:
                    with meter.paused():
                        self._checkpoint("periodic")
        if self.step >= total and not self.stop_requested:
            reason = "completed"
            self._validate()
            self._checkpoint("final")
        else:
            reason = "interrupted"
            self._checkpoint("interrupt")
        model = str(self.run_folder.model_path) if self.run_folder.model_path.exists() else None
        self.reporter.emit({"event": "done", "step": self.step, "reason": reason, "model": model,
                            "best_mel_distance": self.best_mel, "best_step": self.best_step})
        return TrainingResult(self.step, reason, model, self.best_mel)

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        try:
            return self.step_fn(real, gan=self.step >= self.preset.gan_start_step)
        except LossNotFiniteError as exc:
            raise TrainingError(f"{exc} at step {self.step + 1}; the checkpoints so far are intact: "
                                "resume from them with a lower --lr") from None

    def _emit_step(self, means: dict[str, float], meter: "_RateMeter") -> None:
        rate = meter.rate()
        remaining = self.preset.steps - self.step
        self.reporter.emit({
            "event": "step",
            "step": self.step,
            "total_steps": self.preset.steps,
            "losses": {k: v for k, v in means.items() if not k.startswith("grad_norm")},
            "grad_norms": {k.removeprefix("grad_norm_"): v for k, v in means.items() if k.startswith("grad_norm")},
            "gan": self.step > self.preset.gan_start_step,
            "lr": self.step_fn.lr,
            "steps_per_s": rate,
            "eta_s": remaining / rate if rate else None,
        })

    # -- validation and checkpoints -------------------------------------------------------
    def _validate(self) -> None:
        if self.ctx.is_main:
            result = validate(distributed.unwrap(self.generator), self.config.family, self.config.architecture,
                              self.validation_audio, self.step, self.ctx.device)
            best = self.best_mel is None or result.mel_distance < self.best_mel
            self._export(result, self.run_folder.latest_model_path)
            self.reporter.emit({"event": "validation", **result.to_dict(), "mel_distance": result.mel_distance,
                                "best": best, "model": str(self.run_folder.latest_model_path)})
            if best:
                self.best_mel, self.best_step = result.mel_distance, self.step
                self._export(result, self.run_folder.model_path)
                # Rank 0's random state only: best.safetensors is for restarting from the best weights
                # (copy it over the latest step file), not for exact multi-rank resume.
                path = self.checkpoints.save_best(self._state([capture_rng_state()]))
                self.reporter.emit({"event": "checkpoint", "step": self.step, "kind": "best", "path": str(path)})

    def _export(self, result: ValidationResult, path: Path) -> None:
        export_model(distributed.unwrap(self.generator), path, self.config, self.name, result,
                     self.train_corpus.minutes, self.val_corpus.minutes)

    def _state(self, rng: list[dict]) -> dict:
        return {
            "step": self.step,
            "generator": distributed.unwrap(self.generator).state_dict(),
            "discriminator": distributed.unwrap(self.discriminator).state_dict(),
            **self.step_fn.state_dict(),
            **({"revival": self.revival.state_dict()} if self.revival is not None else {}),
            "rng": rng,
            "sampler": {"next_step": self.step, "batch_size": self.preset.batch_size,
                        "world_size": self.ctx.world_size, "seed": self.config.seed,
                        "train_fingerprint": _fingerprint(self.train_corpus)},
            "best_mel_distance": self.best_mel,
            "best_step": self.best_step,
        }

    def _checkpoint(self, kind: str) -> None:
        rng = self.ctx.gather(capture_rng_state())
        if self.ctx.is_main:
            path = self.checkpoints.save(self.step, self._state(rng), self.preset.keep)
            self.reporter.emit({"event": "checkpoint", "step": self.step, "kind": kind, "path": str(path)})
        self.ctx.barrier()

    @contextlib.contextmanager
    def _stop_signals(self) -> Iterator[None]:
        def request_stop(signum, _frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            self._warn(f"{signal.Signals(signum).name} received: stopping after this step and saving a checkpoint")

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


class _Batches:
    """The training batches, from the trainer's current step on."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        loader = batch_loader(trainer.dataset, trainer.sampler, trainer.options.workers,
                              pin_memory=trainer.ctx.device.type == "cuda")
        self.iterator = iter(loader)

    def next(self) -> torch.Tensor:
        audio, failures = next(self.iterator)
        self.trainer._report_failures(failures)
        return audio

    def close(self) -> None:
        shutdown = getattr(self.iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


class _RateMeter:
    """Training steps per second over the steps since the previous report, not counting
    validation and checkpoint time: the pace now, not a mean that still carries the first
    step's start-up (loader processes, first-call allocations)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.steps, self.seconds = 0, 0.0

    def tick(self) -> None:
        now = time.perf_counter()
        self.steps, self.seconds, self.last = self.steps + 1, self.seconds + now - self.last, now

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        yield
        self.last = time.perf_counter()

    def rate(self) -> float | None:
        """The rate since the previous call (a report), which starts the next interval."""
        rate = self.steps / self.seconds if self.seconds > 0 else None
        self.steps, self.seconds = 0, 0.0
        return rate
