"""Training speed on the CPU it runs on: our step for the `default` and `dac-44k` presets, the reference
package's step on the same configurations, and where the time goes.

For each case it times the step that training runs (``model.training.step.TrainingStep``):
a mel-only step (the warm-up before ``gan_start_step``) and a full GAN step (discriminator
update + generator update with adversarial and feature-matching losses), best of
``--repeats`` after one warm-up step, on loudness-normalised synthetic audio (chirps and noise).
It reports steps per CPU-second and CPU seconds per second of training audio (one thread).

The reference step is the DAC release's ``train_loop`` (``scripts/train.py``) written out with
the official ``dac`` and ``audiotools`` modules: ``GANLoss`` with the release discriminator,
``MelSpectrogramLoss`` / ``MultiScaleSTFTLoss`` / ``L1Loss`` with the ``conf/final/44khz.yml``
settings, AdamW + ExponentialLR, clipping at 1000 / 10.  The release discriminator has no width
setting, so the like-for-like comparison uses the full-width discriminator on both sides; our
`default` preset's quarter-width discriminator is timed separately.

Runs in the reference environment (scripts/make_reference_env.sh) to include the reference;
in the project venv the reference columns are skipped:
    OMP_NUM_THREADS=1 nice -n 10 $REFENV/bin/python benchmarks/bench_training.py

Figures and how to read them: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from model.registry import family, preset
from model.training.recipes import DiscriminatorSettings, build_discriminator
from model.training.step import TrainingStep


def synthetic_batch(batch: int, seconds: float, rate: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    items = []
    for _ in range(batch):
        f0 = rng.uniform(80, 2000)
        x = np.sin(2 * np.pi * f0 * t * (1 + rng.uniform(0, 2) * t)) + 0.1 * rng.standard_normal(t.size)
        items.append(0.1 * x / np.sqrt(np.mean(x**2)))
    return torch.tensor(np.stack(items), dtype=torch.float32).unsqueeze(1)


def best_times(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Best CPU time of each function, calls interleaved so that load changes hit all alike.

    CPU time of this (single-threaded) process, not wall time: on a shared machine a niced
    benchmark gets a varying share of a core, which wall time would measure instead of the step.
    """
    for fn in fns:
        fn()  # warm-up: allocator, oneDNN primitive caches
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.process_time()
            fn()
            best[i] = min(best[i], time.process_time() - start)
    return best


def our_step(architecture: dict, discriminator: DiscriminatorSettings, batch: torch.Tensor,
             compiled: bool = False) -> TrainingStep:
    torch.manual_seed(0)
    generator = family("dac").build(architecture).train()
    critic = build_discriminator(discriminator).train()
    recipe = preset("dac-44k").with_overrides(batch_size=batch.shape[0])
    forward = torch.compile(generator) if compiled else generator
    return TrainingStep(forward, critic, list(generator.parameters()), recipe, architecture["sample_rate"],
                        torch.device("cpu"))


def reference_step(architecture: dict) -> Callable[[torch.Tensor, bool], None] | None:
    """The DAC release's training step, or None outside the reference environment."""
    try:
        import dac
        from audiotools import AudioSignal
        from dac.nn import loss as dac_loss
    except ImportError:
        return None
    torch.manual_seed(0)
    generator = dac.model.DAC(**architecture).train()
    critic = dac.model.Discriminator(rates=[], periods=[2, 3, 5, 7, 11], fft_sizes=[2048, 1024, 512],
                                     sample_rate=architecture["sample_rate"],
                                     bands=[(0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)]).train()
    opt_g = torch.optim.AdamW(generator.parameters(), 1e-4, betas=(0.8, 0.99))
    opt_d = torch.optim.AdamW(critic.parameters(), 1e-4, betas=(0.8, 0.99))
    sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, 0.999996)
    sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, 0.999996)
    gan_loss = dac_loss.GANLoss(critic)
    mel_loss = dac_loss.MelSpectrogramLoss(n_mels=[5, 10, 20, 40, 80, 160, 320],
                                           window_lengths=[32, 64, 128, 256, 512, 1024, 2048],
                                           mel_fmin=[0.0] * 7, mel_fmax=[None] * 7, pow=1.0, clamp_eps=1e-5,
                                           mag_weight=0.0)
    stft_loss = dac_loss.MultiScaleSTFTLoss(window_lengths=[2048, 512])
    waveform_loss = dac_loss.L1Loss()
    rate = architecture["sample_rate"]

    def step(audio: torch.Tensor, gan: bool) -> None:
        signal = AudioSignal(audio.clone(), rate)
        out = generator(signal.audio_data, rate)
        recons = AudioSignal(out["audio"], rate)
        if gan:
            d_loss = gan_loss.discriminator_loss(recons, signal)
            opt_d.zero_grad()
            d_loss.backward()
            torch.nn.utils.clip_grad_norm_(critic.parameters(), 10.0)
            opt_d.step()
            sched_d.step()
        stft_loss(recons, signal)
        waveform_loss(recons, signal)
        loss = (15 * mel_loss(recons, signal) + 0.25 * out["vq/commitment_loss"] + out["vq/codebook_loss"])
        if gan:
            adversarial, feature_matching = gan_loss.generator_loss(recons, signal)
            loss = loss + adversarial + 2 * feature_matching
        opt_g.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(generator.parameters(), 1e3)
        opt_g.step()
        sched_g.step()

    return step


def profile_summary(fn: Callable[[], object], rows: int) -> str:
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def report(label: str, seconds: float, batch: torch.Tensor, rate: int) -> str:
    audio_seconds = batch.shape[0] * batch.shape[-1] / rate
    return (f"{label:<44} {seconds:8.2f} CPU s/step {1 / seconds:7.3f} steps/CPU-s "
            f"{seconds / audio_seconds:7.2f} CPU s per audio-s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dac44k-batch", type=int, default=2, help="batch for dac-44k (the paper's 72 is a GPU job)")
    parser.add_argument("--profile-rows", type=int, default=15)
    parser.add_argument("--skip-dac44k", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time the default preset with --compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), best of {args.repeats}\n")

    default = preset("default")
    rate = default.architecture["sample_rate"]
    batch = synthetic_batch(default.batch_size, default.excerpt_seconds, rate)
    full_width = DiscriminatorSettings()

    ours = our_step(default.architecture, default.discriminator, batch)
    mel_only, gan = best_times([lambda: ours(batch, gan=False), lambda: ours(batch, gan=True)], args.repeats)
    print(f"preset default: {default.batch_size} x {default.excerpt_seconds} s, discriminator width "
          f"{default.discriminator.width}")
    print(report("  ours, mel-only (warm-up) step", mel_only, batch, rate))
    print(report("  ours, GAN step", gan, batch, rate))
    print(f"  discriminator share of a GAN step: {(gan - mel_only) / gan:.0%}")
    if args.compile:
        started = time.perf_counter()
        compiled = our_step(default.architecture, default.discriminator, batch, compiled=True)
        compiled(batch, gan=False)
        print(f"  (compiling took {time.perf_counter() - started:.0f} s, less with a warm inductor cache)")
        times = best_times([lambda: compiled(batch, gan=False), lambda: compiled(batch, gan=True)], args.repeats)
        print(report("  ours --compile, mel-only step", times[0], batch, rate))
        print(report("  ours --compile, GAN step", times[1], batch, rate))
    print()

    print("default architecture, full-width DAC discriminator (same configuration on both sides):")
    ours_full = our_step(default.architecture, full_width, batch)
    theirs = reference_step(default.architecture)
    for gan_on, name in ((False, "mel-only"), (True, "GAN")):
        contenders = [lambda: ours_full(batch, gan=gan_on)]
        if theirs is not None:
            contenders.append(lambda: theirs(batch, gan_on))
        times = best_times(contenders, args.repeats)
        print(report(f"  ours, {name} step", times[0], batch, rate))
        if theirs is not None:
            print(report(f"  reference (dac 1.0.0), {name} step", times[1], batch, rate)
                  + f"   ours {times[1] / times[0]:.2f}x faster")
    print()

    if not args.skip_dac44k:
        big = preset("dac-44k")
        big_batch = synthetic_batch(args.dac44k_batch, big.excerpt_seconds, rate, seed=1)
        print(f"preset dac-44k at batch {args.dac44k_batch} x {big.excerpt_seconds} s (the paper trains 72 per step):")
        ours_big = our_step(big.architecture, big.discriminator, big_batch)
        theirs_big = reference_step(big.architecture)
        contenders = [lambda: ours_big(big_batch, gan=True)]
        if theirs_big is not None:
            contenders.append(lambda: theirs_big(big_batch, True))
        times = best_times(contenders, args.repeats)
        print(report("  ours, GAN step", times[0], big_batch, rate))
        if theirs_big is not None:
            print(report("  reference (dac 1.0.0), GAN step", times[1], big_batch, rate)
                  + f"   ours {times[1] / times[0]:.2f}x faster")
        print()

    print("where the time goes: one GAN step of the default preset (self CPU time per operator)")
    print(profile_summary(lambda: ours(batch, gan=True), args.profile_rows))


if __name__ == "__main__":
    main()
