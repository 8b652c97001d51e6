"""The studio window's changing texts, each formatted in one place from what it shows.

The window shows them and, as soon as a model is loaded, reserves room for the widest form
each can take with that model (every codebook count, full percentages), so that no later
text resizes its label (see :mod:`ui.steady_label`): a resize relays out and repaints the
whole window.
"""
from __future__ import annotations

from app.playback.sources import RESIDUAL_MAX_GAIN_DB
from ui import theme


def selection_texts(kbps: tuple[float, ...], n: int) -> dict[str, str]:
    """The titles, notes and status field that name the selected count ``n`` (``kbps[n - 1]`` its bitrate)."""
    last = len(kbps)
    heard = f"codebooks 1–{n} heard" if n > 1 else "codebook 1 heard"
    return {
        "reconstruction_title": f"Reconstruction at n = {n}",
        "reconstruction_note": f"{kbps[n - 1]:.2f} kbps  ·  {n} of {last} codebooks",
        "residual_title": f"Residual: original − reconstruction at n = {n}",
        "adds_title": (f"What codebook {n} adds: reconstruction at {n} − at {n - 1}" if n > 1
                       else "What codebook 1 adds (= the reconstruction at 1)"),
        "tokens_note": f"colour: code index  ·  {heard}" + (f", {n + 1}–{last} dimmed" if n < last else ""),
        "status_rate": f"{kbps[n - 1]:.2f} kbps at n = {n}",
    }


def residual_note(gain_db: float | None) -> str:
    lifted = ("level being measured" if gain_db is None else "at its own level" if gain_db < 0.05 else
              f"lifted {gain_db:+.1f} dB to the original's level")
    return f"what the codec removed · heard with R, {lifted}"


def residual_notes() -> list[str]:
    """Every form of :func:`residual_note`, the widest gain included."""
    return [residual_note(None), residual_note(0.0), residual_note(RESIDUAL_MAX_GAIN_DB)]


def rendered_note(n: int, fraction: float) -> str:
    return (f"<span style='color:{theme.RENDERED}'>■</span> rendered at n = {n} ({fraction:.0%})"
            f"&nbsp;&nbsp;<span style='color:{theme.UNRENDERED}'>■</span> not yet")


def render_status(n: int, fraction: float, all_counts: float) -> str:
    return f"Rendered: n = {n} {fraction:.0%}, all counts {all_counts:.0%}"


def measured_status(measured: int, n_codebooks: int) -> str:
    return f"Measured: {measured} / {n_codebooks} counts"
