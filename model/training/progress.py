"""Progress reports of a training run: JSON lines for programs, a progress bar for people.

The trainer emits events (plain dicts with an ``"event"`` key; the schema is documented in
docs/training.md) to one :class:`Reporter`.  :class:`JsonLinesReporter` writes each as one
line of JSON on stdout and flushes it, so a GUI reading the process's output sees every event
as it happens.  :class:`HumanReporter` draws a one-line bar on a terminal's stderr (step,
losses, steps/s, ETA) and prints validation, checkpoint and warning lines; off a terminal it
prints those lines and a step line every few hundred steps, which keeps logs readable.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import PurePath
from typing import Protocol, TextIO

from model.training.corpus import ROOT_GROUP

Event = dict


class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...


class JsonLinesReporter:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout

    def emit(self, event: Event) -> None:
        self.stream.write(json.dumps(clean_numbers(event), allow_nan=False) + "\n")
        self.stream.flush()


def clean_numbers(value):
    """Non-finite floats (NaN, inf) become None, so the JSON stays standard."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_numbers(v) for v in value]
    return value


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class HumanReporter:
    """Progress bar and messages on stderr."""

    BAR_WIDTH = 20
    LOG_EVERY_SECONDS = 300.0

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar_drawn = False
        self._last_line = -math.inf

    def emit(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "step":
            self._step(event)
            return
        text = event_text(event)
        if text:
            self._clear_bar()
            self.stream.write(text + "\n")
            self.stream.flush()

    def _step(self, e: Event) -> None:
        losses = e.get("losses", {})
        shown = " ".join(f"{k} {v:.3f}" for k, v in losses.items() if k in ("mel", "adversarial", "discriminator")
                         and v is not None)
        frac = e["step"] / max(1, e["total_steps"])
        rate = e.get("steps_per_s") or 0.0
        head = f"step {e['step']}/{e['total_steps']}"
        tail = f"{shown} | {rate:.2f} steps/s | ETA {format_duration(e.get('eta_s'))}"
        if self.live:
            filled = int(frac * self.BAR_WIDTH)
            bar = "#" * filled + "." * (self.BAR_WIDTH - filled)
            self.stream.write(f"\r{head} [{bar}] {frac:4.0%} {tail}\x1b[K")
            self.stream.flush()
            self._bar_drawn = True
        elif time.monotonic() - self._last_line >= self.LOG_EVERY_SECONDS:
            self._last_line = time.monotonic()
            self.stream.write(f"{head} ({frac:.0%}) {tail}\n")
            self.stream.flush()

    def _clear_bar(self) -> None:
        if self._bar_drawn:
            self.stream.write("\r\x1b[K")
            self._bar_drawn = False


def _schedule(start: Event) -> str:
    if "lr_gamma" not in start:  # logged before start events named the schedule
        return ""
    changed = start.get("resumed_lr_gamma") not in (None, start["lr_gamma"])
    return (f"; lr {start['lr']:.3g}, decay {start['lr_gamma']} per step"
            + (f" (changed from {start['resumed_lr_gamma']})" if changed else ""))


def _group_name(group: str, root: str) -> str:
    """A data group as people know it: files lying directly in the root (group ".") by the root folder's name."""
    return f"top level of {PurePath(root).name}" if group == ROOT_GROUP else group


def event_text(e: Event) -> str:
    """One line for people about an event (empty for ``step`` events and unknown kinds)."""
    kind = e.get("event")
    if kind == "data":
        train, val = e["train"], e["validation"]
        groups = ", ".join(f"{_group_name(name, train['root'])} {g['minutes']:.1f} min"
                           for name, g in train["groups"].items())
        text = (f"training data: {train['files']} files, {train['minutes']:.1f} min ({groups}); "
                f"validation: {val['files']} files ({e['validation_source']})")
        if e.get("unreadable"):
            text += f"; {len(e['unreadable'])} unreadable files skipped"
        return text
    if kind == "start":
        what = f"fine-tuning {e['base_model']}" if e.get("base_model") else "training from scratch"
        resumed = f", resumed at step {e['step']}" if e.get("resumed") else ""
        return (f"{what}: {e['family']} model, {e['generator_parameters'] / 1e6:.2f} M parameters "
                f"({e['trainable_parameters'] / 1e6:.2f} M trained), preset {e['preset']}{resumed}{_schedule(e)}")
    if kind == "validation":
        full = e["rows"][-1]
        best = " (best so far)" if e.get("best") else ""
        return (f"validation at step {e['step']}: mel {full['mel_distance']:.3f}, "
                f"STFT {full['stft_distance']:.3f}, SI-SDR {full['si_sdr']:.2f} dB "
                f"with {full['n_codebooks']} codebooks{best}")
    if kind == "checkpoint":
        return f"checkpoint ({e['kind']}) at step {e['step']}: {e['path']}"
    if kind == "revival":
        revived = e["revived"]
        return (f"codes revived at step {e['step']}: {sum(revived)} in all, per codebook "
                f"{' '.join(str(r) for r in revived)} (used < {e['min_uses']} times in {e['window']} steps)")
    if kind == "warning":
        return f"warning: {e['message']}"
    if kind == "error":
        return f"error: {e['message']}"
    if kind == "done":
        reason = "interrupted; resume with --resume" if e["reason"] == "interrupted" else "finished"
        return f"training {reason} at step {e['step']}; model: {e.get('model') or 'none yet'}"
    return ""


class MultiReporter:
    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def emit(self, event: Event) -> None:
        for r in self.reporters:
            r.emit(event)
