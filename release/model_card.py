"""The bundled model's card (resources/models/README.md): how it was made and how good it is.

Everything on the card is computed, nothing typed in: the architecture from the run's
config.json and the loaded model, corpus minutes from the trainer's ``data`` event, steps,
compute and the validation history from the training log (:mod:`release.training_log`), the
per-domain table from :mod:`release.domain_evaluation` on the shipped file itself. The three
quality targets the bundled model is held to are checked here, in code, so "met" on the card can
only mean the numbers say so.

The card says plainly when the model is an interim checkpoint of a run still in training. The one
text not computed here is ``earlier``: the record of the runs this one continues (a run started
``--from`` an earlier model carries none of that model's history in its own log), reproduced
verbatim under the history.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

import torch

from release.domain_evaluation import DomainResult
from release.model_shipping import StorageAgreement
from release.training_log import TrainingLog
from model.codec import Codec
from model.metrics import bitrate_efficiency, codebook_entropy
from model.training.run_config import RunConfig

ENTROPY_TARGET_BITS = 9.0


@dataclass(frozen=True)
class TargetCheck:
    target: str
    met: bool
    measured: str
    lever: str  # the next thing to try when missed


@dataclass
class CardInputs:
    config: RunConfig
    codec: Codec  # the shipped model, as loaded
    file_bytes: int
    best_step: int
    log: TrainingLog
    threads: int  # training threads, for CPU-hours
    domains: list[DomainResult]
    excerpts: int
    excerpt_seconds: float
    seed: int
    storage: StorageAgreement
    evaluation_cpu_seconds: float
    command: str
    earlier: str = ""  # markdown: runs this one continues whose logs are gone
    padded: list[DomainResult] | None = None  # the same excerpts with their zero padding scored
    excerpt_source: str = ""  # markdown: where the excerpts come from, when not the documented validation set
    evaluation_note: str = ""  # markdown: how the evaluation sections were made, when apart from the rest


def pooled_entropy(domains: list[DomainResult], codebook_size: int) -> list[float]:
    """Usage entropy of each codebook over the codes of every domain together."""
    codes = torch.cat([d.codes for d in domains], dim=-1)
    return [float(h) for h in codebook_entropy(codes, codebook_size)]


def check_targets(domains: list[DomainResult], entropy: list[float]) -> list[TargetCheck]:
    """The bundled model's three quality targets, each with the numbers that decide it."""
    falling = []
    for d in domains:
        mels = [r.mel_distance for r in d.evaluation.rows]
        rises = [f"{n + 2} (+{mels[n + 1] - mels[n]:.3f})" for n in range(len(mels) - 1) if mels[n + 1] >= mels[n]]
        falling.append((d.domain, mels, rises))
    mel_detail = "; ".join(
        f"{name}: {m[0]:.3f} to {m[-1]:.3f}" + (f", not lower at n = {', '.join(r)}" if r else ", every step lower")
        for name, m, r in falling)
    low = [(i + 1, h) for i, h in enumerate(entropy) if h < ENTROPY_TARGET_BITS]
    entropy_detail = (f"lowest {min(entropy):.2f} bits (codebook {entropy.index(min(entropy)) + 1}); "
                      + (f"{len(low)} of {len(entropy)} below {ENTROPY_TARGET_BITS:g}: "
                         + ", ".join(f"{i}: {h:.2f}" for i, h in low) if low else "all at or above 9 bits"))
    opus_parts, opus_met = [], True
    for d in domains:
        full = d.evaluation.rows[-1]
        opus = d.opus.get(full.n_codebooks)
        if opus is None:
            opus_parts.append(f"{d.domain}: no Opus point")
            opus_met = False
            continue
        opus_met &= full.mel_distance < opus.row.mel_distance
        opus_parts.append(f"{d.domain}: {full.mel_distance:.3f} vs Opus {opus.row.mel_distance:.3f} "
                          f"({_signed(full.mel_distance - opus.row.mel_distance)})")
    return [
        TargetCheck("Mel distance strictly decreasing as codebooks are added (each domain)",
                    all(not r for _, _, r in falling), mel_detail,
                    "More training: under quantizer dropout the later codebooks take part in fewer updates "
                    "than the first, so they become useful last."),
        TargetCheck(f"Codebook usage entropy >= {ENTROPY_TARGET_BITS:g} bits of 10 for every codebook "
                    "(all domains' codes together)", not low, entropy_detail,
                    "More training with dead-code revival (see Training); if usage stalls, revive codes "
                    "used more often (a higher preset revival_min_uses) or draw latents from more than one batch."),
        TargetCheck("Lower mel distance than Opus at full bitrate, on speech, music and general",
                    opus_met, "; ".join(opus_parts), "More training."),
    ]


def render_card(inputs: CardInputs) -> str:
    parts = [
        _header(inputs),
        _architecture(inputs),
        _training(inputs),
        _history(inputs),
        render_evaluation(inputs),
        _storage(inputs),
        _reproduce(inputs),
    ]
    return "\n".join(parts)


def render_evaluation(inputs: CardInputs) -> str:
    """The sections measured on the shipped file alone: per-domain evaluation, targets, padding check
    (all a card can have remade once its training run is gone; ``inputs.log`` may then be ``None``)."""
    entropy = pooled_entropy(inputs.domains, inputs.codec.codebook_size)
    targets = check_targets(inputs.domains, entropy)
    return "\n".join([_domains(inputs, entropy), _targets(targets, inputs.log), _padding(inputs, targets)])


# -- sections ---------------------------------------------------------------------------------

def _header(i: CardInputs) -> str:
    log, preset = i.log, i.config.preset
    lines = ["# The default model", "",
             "`resources/models/default.safetensors`: what `rvq-studio` and `load_codec(\"default\")` load.", ""]
    if not log.finished:
        phase = ("in its mel-only warm-up" if log.last_step < preset.gan_start_step
                 else "in its GAN phase")
        lines += [f"> **Interim checkpoint -- the model is still in training.** This is the best validation "
                  f"checkpoint so far, step {i.best_step:,}; the run has logged {log.last_step:,} of "
                  f"{preset.steps:,} steps and is {phase} (mel-only until step {preset.gan_start_step:,}, "
                  f"then adversarial). Every number below is for this checkpoint and will change when a "
                  f"later one is shipped.", ""]
    return "\n".join(lines)


def _architecture(i: CardInputs) -> str:
    c, a = i.codec, i.config.architecture
    return "\n".join([
        "## Architecture", "",
        f"DAC-style Improved RVQGAN ({i.config.family}), mono, {c.sample_rate} Hz, hop {c.hop_length} "
        f"({c.frame_rate:.2f} frames/s); {c.n_codebooks} codebooks of {c.codebook_size} entries with "
        f"{a['codebook_dim']}-dimensional factorised codes, {c.kbps(1):.2f} to {c.kbps(c.n_codebooks):.2f} kbps; "
        f"quantizer dropout {a['quantizer_dropout']}.", "",
        "| part | setting |", "| --- | --- |",
        f"| encoder | width {a['encoder_dim']}, strides {a['encoder_rates']} |",
        f"| latent | {a['latent_dim']} channels |",
        f"| decoder | width {a['decoder_dim']}, strides {a['decoder_rates']} |",
        f"| parameters | {c.n_parameters():,} ({c.n_parameters() / 1e6:.2f} M) |",
        f"| file | {i.file_bytes / 1e6:.1f} MB, float16 storage (loaded as float32) |",
        "",
    ])


def _lr_decay(configured: float, decays: list[tuple[int, float]]) -> str:
    """The decay per step, with the steps where a resume changed it."""
    if len(decays) < 2:
        return f"decay {configured} per step"
    later = ", ".join(f"{gamma} from step {step:,}" for step, gamma in decays[1:])
    return f"decay {decays[0][1]} per step, {later}"


def _training(i: CardInputs) -> str:
    p, log = i.config.preset, i.log
    lines = ["## Training", "",
             f"Preset `{p.name}`: batch {p.batch_size} x {p.excerpt_seconds} s excerpts at {p.loudness_lufs:g} LUFS, "
             f"AdamW lr {p.lr:g} (betas {tuple(p.betas)}, {_lr_decay(p.lr_gamma, log.lr_decays)}), mel-only until step "
             f"{p.gan_start_step:,}, adversarial (critic width {p.discriminator.width:g}) to step "
             f"{p.steps:,}; validation every {p.val_every:,} steps. Seed {i.config.seed}.", ""]
    if log.data is not None:
        train, val = log.data["train"]["groups"], log.data["validation"]["groups"]
        lines += ["Corpus (`scripts/build_corpus.py`, [docs/corpus.md](../../docs/corpus.md)): Debian packages "
                  "only, as the trainer read it:", "",
                  "| domain | train files | train minutes | validation files | validation minutes |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for name in sorted(set(train) | set(val)):
            t, v = train.get(name, {}), val.get(name, {})
            lines.append(f"| {name} | {t.get('files', 0)} | {t.get('minutes', 0):.1f} | {v.get('files', 0)} | "
                         f"{v.get('minutes', 0):.1f} |")
        lines.append(f"| all | {log.data['train']['files']} | {log.data['train']['minutes']:.1f} | "
                     f"{log.data['validation']['files']} | {log.data['validation']['minutes']:.1f} |")
        lines.append("")
    if log.revivals:
        steps = sorted(log.revivals)
        lines += [f"Dead-code revival ([docs/training.md](../../docs/training.md#dead-code-revival---revive-every-r)): "
                  f"every {p.revival_window:,} steps, codes used fewer than {p.revival_min_uses} times in that window "
                  f"moved onto latents of the batch; {len(steps)} revival(s) from step {steps[0]:,} to {steps[-1]:,}, "
                  f"{log.revivals[steps[0]]:,} codes revived at the first and {log.revivals[steps[-1]]:,} at the last "
                  f"(of {i.codec.n_codebooks * i.codec.codebook_size:,}). The shipped checkpoint (step "
                  f"{i.best_step:,}) is from {'before' if i.best_step < steps[0] else 'after'} the first revival.", ""]
    lines += [
        f"Steps: this checkpoint is step {i.best_step:,}; the log reaches step {log.last_step:,} of "
        f"{p.steps:,} over {log.launches} launch(es) of the trainer (each after the first resumed from a "
        f"checkpoint).",
        "",
        f"Compute: **{log.cpu_hours(i.threads):.2f} CPU-hours** for the whole log (to step {log.last_step:,}), estimated as the training loop's wall "
        f"time x each launch's thread count"
        f"{f' ({i.threads} where the log does not say)' if log.launches_without_threads else ''}: "
        f"{log.steps_computed:,} steps computed (steps repeated after a resume "
        f"count twice) at the step rates the log reports, {log.step_seconds / 3600:.2f} h, plus "
        f"{log.validation_seconds / 3600:.2f} h of validation. Not counted: the data-loading worker, "
        f"checkpoint writing, start-up. (`release/training_log.py` has the method.)",
        "",
    ]
    return "\n".join(lines)


def _history(i: CardInputs) -> str:
    validations = i.log.validations
    if not validations:
        return "## Validation history\n\nNo validation logged yet.\n"
    n = len(validations[0].rows)
    p = i.config.preset
    lines = ["## Validation history", "",
             f"The trainer's validation set: {p.val_examples} excerpts x {p.val_seconds:g} s of all domains "
             f"together. Mel distance at each codebook count n; entropy is the lowest codebook's, in bits "
             f"of 10; * marks the best, which is what ships."
             + (f" The run started from the weights of `{PurePath(i.config.base_model).name}`"
                + ("; the runs before it are below." if i.earlier else ".") if i.config.base_model else ""), "",
             "| step | " + " | ".join(f"n={k}" for k in range(1, n + 1)) + " | min entropy | efficiency |",
             "| ---: | " + " | ".join("---:" for _ in range(n)) + " | ---: | ---: |"]
    best = i.log.best()
    for v in validations:
        mark = " *" if best is not None and v.step == best.step else ""
        mels = " | ".join(_fmt(r.mel_distance, ".3f") for r in v.rows)
        lines.append(f"| {v.step:,}{mark} | {mels} | {min(v.entropy_bits):.2f} | {v.bitrate_efficiency:.1%} |")
    lines.append("")
    if i.earlier:
        lines += [i.earlier.strip(), ""]
    return "\n".join(lines)


def render_subset(inputs: CardInputs, title: str) -> str:
    """A per-domain section headed ``title`` on excerpts other than the documented validation set
    (``inputs.excerpt_source`` says which): tables only, no targets -- too few excerpts to decide them."""
    return _domains(inputs, None, title)


def _domains(i: CardInputs, entropy: list[float] | None, title: str = "## Per-domain evaluation") -> str:
    codec = i.codec
    lines = [title, "",
             "The shipped file (float16, as loaded), on each domain of the validation split apart: "
             + (i.excerpt_source or
                f"{i.excerpts} excerpts x {i.excerpt_seconds:g} s per domain, drawn like the trainer's "
                f"validation set (the domain's packages in turn, mono, -16 LUFS; seed {i.seed}; "
                f"`release/domain_evaluation.py`).")
             + f" Real audio only: excerpts from clips shorter than "
             f"{i.excerpt_seconds:g} s are cut at their last non-zero sample, each excerpt is coded on its "
             f"own and the metrics are averaged weighted by duration ("
             + ", ".join(f"{d.domain} {d.seconds:.1f} s of {d.excerpts * i.excerpt_seconds:g} s"
                         for d in i.domains)
             + "). Mel and STFT distance as in the DAC paper (lower is better), "
             f"SI-SDR in dB; entropy of codebook n in bits of {codec.bits_per_code:g}; efficiency = used / "
             f"nominal bits of codebooks 1..n. Opus: libopus (through opuslib) at the codec's bitrate, constant "
             f"bitrate, the domain's cut excerpts as one stream, measured bitrate (packet bits); none below "
             f"6 kbps. {i.evaluation_cpu_seconds / 60:.1f} CPU-minutes for all three domains."
             + (f" {i.evaluation_note}" if i.evaluation_note else ""), ""]
    for d in i.domains:
        lines += [f"### {d.domain}", "",
                  "| n | kbps | mel | STFT | SI-SDR | entropy | efficiency | Opus kbps | Opus mel | Opus STFT | Opus SI-SDR |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        h = d.evaluation.entropy_bits
        for r in d.evaluation.rows:
            o = d.opus.get(r.n_codebooks)
            opus = ("| " + " | ".join([f"{o.measured_kbps:.2f}", _fmt(o.row.mel_distance, ".3f"),
                                       _fmt(o.row.stft_distance, ".3f"), _fmt(o.row.si_sdr, ".2f")])
                    if o else "| – | – | – | –")
            lines.append(f"| {r.n_codebooks} | {r.kbps:.2f} | {_fmt(r.mel_distance, '.3f')} | "
                         f"{_fmt(r.stft_distance, '.3f')} | {_fmt(r.si_sdr, '.2f')} | {h[r.n_codebooks - 1]:.2f} | "
                         f"{bitrate_efficiency(h[:r.n_codebooks], codec.codebook_size):.1%} {opus} |")
        lines.append("")
        lines += _listening_table(d)
    if entropy is not None:
        lines += ["Codebook usage entropy over all three domains' codes (bits of "
                  f"{codec.bits_per_code:g}): " + ", ".join(f"{h:.2f}" for h in entropy)
                  + f"; bitrate efficiency {bitrate_efficiency(entropy, codec.codebook_size):.1%}.", ""]
    return "\n".join(lines)


LISTENING_COLUMNS = (("ViSQOL", "visqol"), ("ViSQOL speech", "visqol_speech"), ("STOI", "stoi"),
                     ("ESTOI", "estoi"), ("DNSMOS", "dnsmos_ovrl"))


def _listening_table(d: DomainResult) -> list[str]:
    """The domain's listening metrics at each count, Opus at the same bitrate beside them (none if not measured)."""
    if not d.listening:
        return []
    names = [name for name, _ in LISTENING_COLUMNS]
    lines = [f"Listening metrics, {d.domain} (ViSQOL v3 audio mode at 48 kHz and speech mode at 16 kHz, MOS-LQO "
             "1-5; STOI and ESTOI 0-1; DNSMOS P.835 overall 1-5 of the output alone; `rvq-studio eval --metrics`):",
             "", "| n | kbps | " + " | ".join(names) + " | " + " | ".join(f"Opus {n}" for n in names) + " |",
             "| ---: | ---: | " + " | ".join("---:" for _ in range(2 * len(names))) + " |"]
    for n, values in sorted(d.listening.items()):
        o = d.opus.get(n)
        opus = [_fmt(o.listening.get(key), ".3f") if o else "–" for _, key in LISTENING_COLUMNS]
        ours = [_fmt(values.get(key), ".3f") for _, key in LISTENING_COLUMNS]
        lines.append(f"| {n} | {d.evaluation.rows[n - 1].kbps:.2f} | " + " | ".join(ours + opus) + " |")
    lines.append("")
    return lines


def _targets(targets: list[TargetCheck], log: TrainingLog | None) -> str:
    lines = ["## Targets", "", "| target | | measured |", "| --- | --- | --- |"]
    for t in targets:
        lines.append(f"| {t.target} | **{'met' if t.met else 'missed'}** | {t.measured} |")
    missed = [t for t in targets if not t.met]
    if missed:
        lines += ["", "Next levers." + (f" {run_progress(log)}" if log is not None else ""), ""]
        lines += [f"- {t.target}: {t.lever}" for t in missed]
    lines.append("")
    return "\n".join(lines)


def _padding(i: CardInputs, targets: list[TargetCheck]) -> str:
    """The same excerpts scored with the zero padding the trainer's batches carry, for comparison."""
    if not i.padded:
        return ""
    padded_targets = check_targets(i.padded, pooled_entropy(i.padded, i.codec.codebook_size))
    lines = ["## Padding check", "",
             "The trainer's validation batches pad excerpts of clips shorter than an excerpt with zeros. "
             "The same excerpts scored both ways at full bitrate: real audio only, as above, and with that "
             "padding (`release/domain_evaluation.py` says why the card leaves it out):", "",
             "| domain | padding | mel, real audio | Opus mel, real audio | mel, padded | Opus mel, padded |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for real, padded in zip(i.domains, i.padded):
        n = real.evaluation.rows[-1].n_codebooks
        share = 1.0 - real.seconds / padded.seconds

        def opus(d: DomainResult) -> str:
            return f"{d.opus[n].row.mel_distance:.3f}" if n in d.opus else "–"
        lines.append(f"| {real.domain} | {share:.1%} | {real.evaluation.rows[-1].mel_distance:.3f} | {opus(real)} | "
                     f"{padded.evaluation.rows[-1].mel_distance:.3f} | {opus(padded)} |")
    lines += ["", "| target | real audio | padded |", "| --- | --- | --- |"]
    for on_real, on_padded in zip(targets, padded_targets):
        lines.append(f"| {on_real.target} | {'met' if on_real.met else 'missed'} | "
                     f"{'met' if on_padded.met else 'missed'}: {on_padded.measured} |")
    lines.append("")
    return "\n".join(lines)


def _storage(i: CardInputs) -> str:
    s = i.storage
    return "\n".join([
        "## Float16 storage", "",
        f"Against the float32 checkpoint on the music excerpts above: {s.code_agreement:.2%} of the codes "
        f"are the same, and decoding the float32 model's codes with the stored file gives "
        f"{s.decoded_snr_db:.1f} dB SNR against the float32 decoding.", ""])


def _reproduce(i: CardInputs) -> str:
    return "\n".join(["## Reproduce", "", "```sh", i.command, "```", "",
                      "`--run` names the training run's folder (its best checkpoint in `checkpoints/` is what ships, its "
                      "`config.json` gives the architecture and preset) and `--log` the trainer's "
                      "`--json-progress` output (the training, history and compute sections); both live in "
                      "the user's data folder, not in the repository. The per-domain evaluation, targets and "
                      "padding check are measured on the shipped file with the corpus's validation split; "
                      "the float16 check compares it with the run's float32 best checkpoint.", "",
                      "The corpus: `scripts/build_corpus.py` (docs/corpus.md); the training: docs/training.md.", ""])


# -- helpers ----------------------------------------------------------------------------------

def run_progress(log: TrainingLog) -> str:
    """Where the run stands: its best validation, whether the last two still improved, its phase.

    The best is named apart from the trend because the two part ways once the adversarial phase
    begins: its first validations are usually worse than the mel-only phase's best, and may fall
    again for a long time before they beat it.
    """
    text = f"The run has logged {log.last_step:,} of {log.total_steps or 0:,} steps."
    v, best = log.validations, log.best()
    if best is not None:
        text += f" Its best validation mel distance is {best.mel_distance:.3f}, at step {best.step:,}."
    if len(v) >= 2:
        a, b = v[-2], v[-1]
        word = "still falling" if b.mel_distance < a.mel_distance else "not falling"
        text += (f" The last two are {word} ({a.mel_distance:.3f} at step {a.step:,}, "
                 f"{b.mel_distance:.3f} at step {b.step:,}).")
    gan = log.gan_start_step
    if gan is not None and log.last_step > gan:
        adversarial = sum(x.step > gan for x in v)
        text += (f" The adversarial phase began at step {gan:,}; "
                 + (f"{adversarial} of the validations are from it." if adversarial
                    else "it has no validation yet, so those are mel-only steps."))
    return text


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)
