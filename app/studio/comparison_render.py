"""The studio's clip rendered by a second model -- a training run's -- for Base / Fine-tuned A/B.

Nothing of the rendering pipeline is repeated here: a second
:class:`~app.studio.inference_worker.InferenceWorker` owns the second model and does for it exactly
what the first does for the studio's model (read the clip, encode it piece by piece, decode
chunks around the playhead first, then the rest, then measure quality).  Its clip has its own
codes and render cache; the player reads it through an ordinary
:class:`~app.playback.sources.ReconstructionSource`, so switching Base <-> Fine-tuned is the same
crossfade at the same sample as any other switch.

The second model runs as the studio's does: in fast mode (bfloat16) when the studio's model was
loaded in it, and it is loaded again when fast mode is switched.

Only a model with the studio model's sample rate and codebook count is accepted: the two must
share the player's sample clock and the codebook slider.  Reloading (a new best checkpoint)
keeps the previous rendering playable until the new clip is ready.  A request that arrives
while a rendering is still in progress (until the clip is encoded and rendered at the studio's
codebook count) waits for it, and only the newest waiting request is kept: a small model that
improves every second would otherwise restart the rendering forever and never be heard.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.studio.inference_worker import InferenceWorker, ModelInfo
from app.studio.clip import StudioClip

CACHE_BUDGET_BYTES = 256 << 20  # the comparison is one extra source: a quarter of the studio's budget


class ComparisonRender(QObject):
    ready = Signal()  # a (new) comparison clip is playable
    failed = Signal(str)
    progress = Signal()  # a chunk or a quality row arrived

    def __init__(self) -> None:
        super().__init__()
        self.worker = InferenceWorker(CACHE_BUDGET_BYTES)
        self.worker.setObjectName("comparisonWorker")
        self.model_source: str | None = None
        self.model: ModelInfo | None = None
        self.clip: StudioClip | None = None
        self.quality: dict[int, object] = {}  # n -> RateRow of the comparison model on the clip
        self._base: ModelInfo | None = None
        self._clip_path: str | None = None
        self._rendering = False  # a model load or clip rendering is in progress
        self._waiting: tuple[str, str | None, ModelInfo] | None = None
        w = self.worker
        w.modelLoaded.connect(self._on_model)
        w.modelFailed.connect(lambda text: self._fail(f"could not load the model to compare: {text}"))
        w.clipReady.connect(self._on_clip)
        w.clipFailed.connect(lambda text: self._fail(f"could not render the comparison: {text}"))
        w.chunkRendered.connect(self._on_rendered)
        w.encodeFinished.connect(self._on_rendered)
        w.qualityReady.connect(self._on_quality)

    @property
    def active(self) -> bool:
        return self.model_source is not None

    def renders(self, clip: StudioClip | None) -> bool:
        """Whether the comparison clip is ``clip`` rendered by the second model."""
        mine = self.clip
        return clip is not None and mine is not None and mine.path == clip.path and mine.length == clip.length

    def render(self, model_source: str, clip_path: str | Path | None, base: ModelInfo) -> None:
        """(Re)load ``model_source`` and render ``clip_path`` with it, for a studio on ``base``."""
        request = (model_source, None if clip_path is None else str(clip_path), base)
        if self._rendering:
            self._waiting = request
            return
        if not self.worker.isRunning():  # the thread starts with the first comparison
            self.worker.start()
        self.model_source, self._clip_path, self._base = request
        self._rendering = True
        self.worker.load_model(model_source, base.device, base.fast_requested)  # in fast mode if the studio's is

    def clear(self) -> None:
        """No comparison any more: drop queued work and the rendering."""
        self.model_source, self.model, self.clip, self.quality = None, None, None, {}
        self._rendering, self._waiting = False, None
        self.worker.cancel()
        self.worker.set_clip(None)

    def open_clip(self, clip_path: str | Path | None, base: ModelInfo) -> None:
        """The studio opened another clip (or another model): render that one."""
        if self.active and self.model is not None and self.model.fast_requested != base.fast_requested:
            self.render(self.model_source, clip_path, base)  # fast mode was switched: loaded again as the studio's
            return
        self._base = base
        self._clip_path = None if clip_path is None else str(clip_path)
        if self.active and self.model is not None and self._compatible(self.model):
            self._rendering = True
            self._open()

    def follow(self, n: int, playhead: int, playing: bool, loop: tuple[int, int] | None) -> None:
        """Render what the studio plays first: its codebook count around its playhead.

        Like the studio's own worker, this one plans from where the playhead will be when
        a decode is heard, so it is told whether the player is moving and when it was here."""
        w = self.worker
        w.selected_n, w.loop = n, loop
        w.follow(playhead, playing)
        w.wake()

    def close(self) -> None:
        self.worker.stop()

    def _compatible(self, info: ModelInfo) -> bool:
        base = self._base
        if (info.sample_rate, info.n_codebooks) == (base.sample_rate, base.n_codebooks):
            return True
        self.failed.emit(f"{info.name} cannot be compared with {base.name}: it runs at {info.sample_rate} Hz with "
                         f"{info.n_codebooks} codebooks, the studio's model at {base.sample_rate} Hz with "
                         f"{base.n_codebooks}. Open it in the studio's model picker instead.")
        return False

    def _on_model(self, info: ModelInfo) -> None:
        if not self.active:
            return
        self.model = info
        if self._compatible(info) and self._clip_path is not None:
            self._open()
        else:
            self._settle()

    def _open(self) -> None:
        self.worker.open_clip(self._clip_path)

    def _fail(self, text: str) -> None:
        self.failed.emit(text)
        self._settle()

    def _on_rendered(self, *_args) -> None:
        self.progress.emit()
        clip = self.clip
        if self._rendering and clip is not None and clip.encoding.complete and \
                clip.cache.is_complete(self.worker.selected_n):
            self._settle()

    def _settle(self) -> None:
        """The rendering in progress is done (or failed): start the request that waited, if any."""
        self._rendering = False
        waiting, self._waiting = self._waiting, None
        if waiting is not None and self.active:
            self.render(*waiting)

    def _on_clip(self, clip: StudioClip) -> None:
        if not self.active:
            return
        self.clip = clip
        self.quality = {}
        self.worker.set_clip(clip)
        self.ready.emit()

    def _on_quality(self, row) -> None:
        self.quality[row.n_codebooks] = row
        self.progress.emit()
