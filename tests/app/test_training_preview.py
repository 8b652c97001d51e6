"""The preview policy: which of a run's models the studio's clip is rendered with as "Fine-tuned", and when.

The studio side is a stand-in that records what it was asked (the real session renders; see
tests/ui/test_training_tab.py for the whole path); the run folder is real.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.training.preview import NOT_YET, RunPreview, preview_model
from model.evaluation import RateRow
from model.training.run_folder import RunFolder


@dataclass
class Comparison:
    active: bool = False
    quality: dict = field(default_factory=dict)


@dataclass
class Studio:
    """What :class:`RunPreview` uses of a studio session; remembers every ``compare_with``."""
    model: object | None = "studio's model"
    quality: dict = field(default_factory=dict)
    comparison: Comparison = field(default_factory=Comparison)
    asked: list = field(default_factory=list)

    def compare_with(self, source: str | None) -> None:
        self.asked.append(source)
        self.comparison.active = source is not None


def run_with(tmp_path, *models: str) -> RunFolder:
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    for name in models:
        (run.path / name).write_bytes(b"model")
    return run


def test_the_preview_plays_the_latest_validated_model_not_the_best(tmp_path):
    run = run_with(tmp_path, "latest.safetensors", "model.safetensors")
    assert preview_model(run.path) == run.latest_model_path


def test_a_run_of_an_older_trainer_is_previewed_through_its_best_model(tmp_path):
    run = run_with(tmp_path, "model.safetensors")
    assert preview_model(run.path) == run.model_path


def test_a_run_without_a_model_yet_or_no_run_has_nothing_to_preview(tmp_path):
    assert preview_model(run_with(tmp_path).path) is None
    assert preview_model(None) is None
    studio = Studio()
    assert RunPreview(studio).follow(None) is None and studio.asked == []


def test_following_renders_the_clip_with_the_runs_model(tmp_path):
    run = run_with(tmp_path, "latest.safetensors")
    studio = Studio()
    assert RunPreview(studio).follow(run.path) == run.latest_model_path
    assert studio.asked == [str(run.latest_model_path)]


def test_every_validation_renders_again_and_other_events_do_not(tmp_path):
    run = run_with(tmp_path, "latest.safetensors")
    studio = Studio()
    preview = RunPreview(studio)
    for event in ({"event": "step", "step": 1}, {"event": "validation", "step": 2}, {"event": "checkpoint"},
                  {"event": "validation", "step": 4}):
        preview.on_event(event, run.path)
    assert studio.asked == [str(run.latest_model_path)] * 2


def test_nothing_is_rendered_while_the_preview_is_off_or_the_studio_has_no_model(tmp_path):
    run = run_with(tmp_path, "latest.safetensors")
    without_model = Studio(model=None)
    assert RunPreview(without_model).follow(run.path) is None and without_model.asked == []
    studio = Studio()
    preview = RunPreview(studio)
    preview.switch_off()
    assert preview.on_event({"event": "validation", "step": 2}, run.path) is None and studio.asked == []
    assert preview.switch_on(run.path) == run.latest_model_path and studio.asked == [str(run.latest_model_path)]


def test_switching_off_takes_fine_tuned_off_the_studio_only_when_it_is_on(tmp_path):
    run = run_with(tmp_path, "latest.safetensors")
    studio = Studio()
    preview = RunPreview(studio)
    assert not preview.switch_off() and studio.asked == []  # nothing compared: nothing to end
    preview.switch_on(run.path)
    assert preview.switch_off() and studio.asked == [str(run.latest_model_path), None]
    assert not studio.comparison.active


def test_the_quality_table_compares_both_models_count_by_count():
    studio = Studio(quality={1: RateRow(1, 1.5, 2.0, 3.0, 1.0), 2: RateRow(2, 3.0, 1.5, 2.5, 4.0)},
                    comparison=Comparison(quality={1: RateRow(1, 1.5, 1.75, 2.9, 1.5),
                                                   3: RateRow(3, 4.5, 1.2, 2.0, 6.0)}))
    preview = RunPreview(studio)
    assert preview.quality_rows() is None  # nothing compared yet
    studio.comparison.active = True
    assert preview.quality_rows() == [("1", "1.50", "2.000", "1.750", "-0.250"),
                                      ("2", "3.00", "1.500", NOT_YET, NOT_YET),
                                      ("3", "4.50", NOT_YET, "1.200", NOT_YET)]
