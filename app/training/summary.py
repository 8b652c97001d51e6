"""A trained model's summary in words: how much data, how many steps, how good at validation.

The trainer stores the summary as JSON in the model file's header
(:mod:`model.training.exported_model`); ``rvq-studio info``, the model picker's tooltips and
the training tab all print it through :func:`summary_lines`, so the three never disagree.
"""
from __future__ import annotations

from pathlib import Path

from model.training.exported_model import read_training_summary


def _number(value, fmt: str) -> str:
    return "?" if value is None else format(value, fmt)


def format_minutes(minutes: float | None) -> str:
    """Audio durations as people say them: 45 s, 12.5 min, 3.2 h."""
    if minutes is None:
        return "?"
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def summary_lines(summary: dict) -> list[str]:
    """Header lines, then a validation table (one row per codebook count)."""
    base = summary.get("base_model")
    frozen = summary.get("frozen") or []
    if base is None:
        origin = "trained from scratch"
    else:
        origin = f"fine-tuned from {Path(base).name if base != 'default' else 'the default model'}"
        if frozen:
            origin += f" ({', '.join(frozen)} kept fixed)"
    lines = [
        f"{origin}, preset {summary.get('preset', '?')}",
        f"{format_minutes(summary.get('data_minutes'))} of training audio "
        f"({format_minutes(summary.get('validation_minutes'))} for validation), "
        f"{summary.get('steps', '?')} training steps of {summary.get('batch_size', '?')} x "
        f"{_number(summary.get('excerpt_seconds'), 'g')} s excerpts",
    ]
    rows = (summary.get("validation") or {}).get("rows") or []
    if rows:
        lines.append(f"validation at step {summary.get('steps', '?')}:")
        lines.append(f"  {'n':>3} {'kbps':>7} {'mel':>7} {'stft':>7} {'SI-SDR':>8}")
        for r in rows:
            lines.append(f"  {r.get('n_codebooks', '?'):>3} {_number(r.get('kbps'), '7.2f')} "
                         f"{_number(r.get('mel_distance'), '7.3f')} {_number(r.get('stft_distance'), '7.3f')} "
                         f"{_number(r.get('si_sdr'), '8.2f')}")
    return lines


def model_summary_text(path: str | Path) -> str:
    """The summary of a model file as text, or "" when it holds none (not a trained-run export)."""
    summary = read_training_summary(path) if Path(path).is_file() else None
    return "\n".join(summary_lines(summary)) if summary else ""
