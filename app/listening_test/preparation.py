"""Rendering a test's stimuli off the GUI thread, clip by clip, before the first trial.

Each clip's excerpt is settled here too (the loudest window, where the author left its start
open: a pass over the file), and handed back with the stimuli so the test file records it.

A provider may load a model and decode several versions of every clip: seconds of work the
window must not wait on. :class:`StimulusPreparation` runs it on its own thread and hands back,
per clip, every stimulus a trial can play -- the provider's plus the hidden reference and the
anchors -- by name. The names must be the same for every clip, since results are grouped by
them; a provider that answers otherwise fails the preparation with one line.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QThread, Signal

from app.listening_test.excerpts import Excerpt, chosen
from app.listening_test.stimuli import Stimulus, StimulusError, StimulusProvider, with_hidden_reference_and_anchors

ProviderFactory = Callable[[str], StimulusProvider]  # the test's contestant spec -> its provider


def prepare_clip(provider: StimulusProvider, clip: str, excerpt: Excerpt) -> dict[str, Stimulus]:
    """Every playable stimulus of ``clip``'s ``excerpt`` by name (contestants, hidden reference,
    anchors, original)."""
    return {s.name: s for s in with_hidden_reference_and_anchors(provider(clip, excerpt))}


class StimulusPreparation(QThread):
    progress = Signal(int, int)  # clips done, clips in all
    prepared = Signal(object, object)  # list (one per clip) of {name: Stimulus}; list of the excerpts played
    failed = Signal(str)

    def __init__(self, make_provider: ProviderFactory, spec: str, clips: Sequence[str],
                 excerpts: Sequence[Excerpt]) -> None:
        super().__init__()
        self.setObjectName("listeningTestPreparation")
        self.make_provider, self.spec, self.clips, self.excerpts = make_provider, spec, list(clips), list(excerpts)
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def run(self) -> None:
        try:
            provider = self.make_provider(self.spec)
            result, excerpts = [], []
            for done, (clip, excerpt) in enumerate(zip(self.clips, self.excerpts)):
                if self._cancelled:
                    return
                self.progress.emit(done, len(self.clips))
                excerpts.append(chosen(excerpt, clip))
                stimuli = prepare_clip(provider, clip, excerpts[-1])
                if result and sorted(stimuli) != sorted(result[0]):
                    raise StimulusError(f"{clip}: the contestants differ from the first clip's")
                result.append(stimuli)
        except (ValueError, OSError, RuntimeError) as exc:
            self.failed.emit(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            return
        if not self._cancelled:
            self.prepared.emit(result, excerpts)
