"""Training progress events folded into a run's history, as the training tab does with a run's output."""
from __future__ import annotations

from app.training.history import RunHistory


def history_of(*events: dict) -> RunHistory:
    history = RunHistory()
    for event in events:
        history.ingest(event)
    return history
