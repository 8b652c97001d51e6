"""The listening-test file and a listener's session: answers saved at once, resumed from the file,
refused with one line when damaged; results as CSV and JSON; MUSHRA summary with post-screening."""
import csv
import json

import pytest

from app.listening_test.results import abx_summary, mushra_summary, write_listener_results
from app.listening_test.session import AnswerRejected, ListenerSession
from app.listening_test.stimuli import HIDDEN_REFERENCE
from app.listening_test.test_file import ListeningTest, ListeningTestFileError, load_test, save_test

STIMULI = ["2 codebooks", "8 codebooks", HIDDEN_REFERENCE, "anchor 3.5 kHz", "anchor 7 kHz"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _mushra(tmp_path, clips=("a.wav", "b.wav")) -> tuple[ListeningTest, str]:
    test = ListeningTest("mushra", list(clips), "2, 8", "original", list(STIMULI), seed=5)
    path = str(tmp_path / "test.json")
    save_test(test, path)
    return test, path


def _rate(session: ListenerSession, scores: dict[str, float]) -> None:
    """Rate by stimulus name, through the letters the listener sees."""
    session.submit_mushra({letter: scores[session.stimulus_for(letter)] for letter in session.letters()})


def test_a_mushra_trial_needs_every_letter_and_something_rated_100(tmp_path):
    test, path = _mushra(tmp_path)
    session = ListenerSession(test, "ann", path)
    assert session.letters() == ["A", "B", "C", "D", "E"]
    with pytest.raises(AnswerRejected, match="at least one"):
        session.submit_mushra({letter: 99 for letter in session.letters()})
    with pytest.raises(AnswerRejected, match="every letter"):
        session.submit_mushra({"A": 100})
    assert session.index == 0 and load_test(path).listeners[0].answers == []


def test_answers_are_saved_at_once_and_a_session_resumes_where_it_stopped(tmp_path):
    test, path = _mushra(tmp_path)
    clock = Clock()
    session = ListenerSession(test, "ann", path, clock)
    session.begin_trial()
    clock.now += 12.5
    scores = {"2 codebooks": 30, "8 codebooks": 80, HIDDEN_REFERENCE: 100, "anchor 3.5 kHz": 10, "anchor 7 kHz": 40}
    _rate(session, scores)
    first_clip = session.listener.trials[0].clip
    # pause: nothing but the file survives
    resumed = ListenerSession(load_test(path), "ann", path, clock)
    assert resumed.index == 1 and resumed.total == 2
    assert resumed.listener.trials == session.listener.trials  # the plan is in the file
    assert resumed.listener.answers == [{"ratings": {k: float(v) for k, v in scores.items()}, "seconds": 12.5}]
    assert resumed.clip != first_clip
    resumed.begin_trial()
    clock.now += 3.0
    _rate(resumed, scores)
    assert resumed.finished and load_test(path).listeners[0].answers[1]["seconds"] == 3.0


def test_a_new_listener_gets_a_different_plan_from_the_same_seed(tmp_path):
    test, path = _mushra(tmp_path, clips=[f"{i}.wav" for i in range(6)])
    ann, bob = ListenerSession(test, "ann", path), ListenerSession(test, "bob", path)
    assert ann.listener.seed != bob.listener.seed and ann.listener.trials != bob.listener.trials
    reloaded = load_test(path)
    assert [l.name for l in reloaded.listeners] == ["ann", "bob"]
    assert reloaded.listener("bob").trials == bob.listener.trials


@pytest.mark.parametrize("damage, reason", [
    (lambda d: "not json {", "not JSON"),
    (lambda d: {**d, "format": "something else"}, "not a listening test file"),
    (lambda d: {**d, "version": 99}, "version 99"),
    (lambda d: {**d, "kind": "abc"}, "unknown test kind"),
    (lambda d: {**d, "seed": "x"}, "'seed'"),
    (lambda d: {**d, "clips": []}, "'clips'"),
    (lambda d: _trial(d, {"clip": 0, "order": ["2 codebooks"]}), "every stimulus exactly once"),
    (lambda d: _trial(d, {"clip": 7, "order": STIMULI}), "names clip 7"),
    (lambda d: _answer(d, {"ratings": {n: 120 for n in STIMULI}, "seconds": 1}), "outside 0-100"),
    (lambda d: _answer(d, {"ratings": {n: 100 for n in STIMULI}}), "'seconds'"),
])
def test_a_damaged_file_is_refused_with_one_line(tmp_path, damage, reason):
    test, path = _mushra(tmp_path)
    ListenerSession(test, "ann", path)
    save_test(test, path)
    data = json.loads(open(path).read())
    damaged = damage(data)
    with open(path, "w") as f:
        f.write(damaged if isinstance(damaged, str) else json.dumps(damaged))
    with pytest.raises(ListeningTestFileError, match=reason) as error:
        load_test(path)
    assert "\n" not in str(error.value) and str(error.value).startswith("test.json: ")


def _trial(data, trial):
    data["listeners"][0]["trials"][0] = trial
    return data


def _answer(data, answer):
    data["listeners"][0]["answers"] = [answer]
    return data


def test_results_per_listener_as_csv_and_json(tmp_path):
    test, path = _mushra(tmp_path)
    session = ListenerSession(test, "ann o'neil", path)
    scores = {"2 codebooks": 25, "8 codebooks": 85, HIDDEN_REFERENCE: 100, "anchor 3.5 kHz": 5, "anchor 7 kHz": 45}
    _rate(session, scores)
    csv_path, json_path = write_listener_results(test, session.listener, tmp_path)
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == len(STIMULI)
    trial = session.listener.trials[0]
    for row in rows:  # each letter as it was shown, with what it was and its score
        assert trial.order["ABCDE".index(row["letter"])] == row["stimulus"]
        assert float(row["score"]) == scores[row["stimulus"]] and row["clip"] == test.clips[trial.clip]
    document = json.loads(open(json_path).read())
    assert document["listener"] == "ann o'neil" and not document["finished"]
    assert document["post_screening"] == {"hidden_reference_below_90": 0, "trials": 1, "excluded": False}
    assert [r["stimulus"] for r in document["rows"]] == [r["stimulus"] for r in rows]


def test_mushra_summary_reports_and_leaves_out_an_excluded_listener(tmp_path):
    test, path = _mushra(tmp_path)
    kept = {"2 codebooks": 20, "8 codebooks": 80, HIDDEN_REFERENCE: 100, "anchor 3.5 kHz": 0, "anchor 7 kHz": 40}
    others = {"2 codebooks": 40, "8 codebooks": 100, HIDDEN_REFERENCE: 90, "anchor 3.5 kHz": 10, "anchor 7 kHz": 60}
    careless = {"2 codebooks": 100, "8 codebooks": 100, HIDDEN_REFERENCE: 50, "anchor 3.5 kHz": 100, "anchor 7 kHz": 0}
    for name, scores in (("ann", kept), ("bob", others), ("cy", careless)):
        session = ListenerSession(test, name, path)
        while not session.finished:
            _rate(session, scores)
    summary = mushra_summary(test)
    assert summary.excluded == ["cy"]
    assert [(s.listener, s.low_reference_trials, s.trials) for s in summary.screenings] == \
        [("ann", 0, 2), ("bob", 0, 2), ("cy", 2, 2)]
    # two kept listeners x two clips: mean of 20, 20, 40, 40 is 30 with s = 11.547, t(0.975, 3) = 3.182446305284263
    overall = summary.overall["2 codebooks"]
    assert overall.mean == 30.0 and overall.count == 4
    assert overall.half_width == pytest.approx(3.182446305284263 * (400 / 3) ** 0.5 / 2, rel=1e-12)
    per_clip = summary.per_clip["8 codebooks"]["a.wav"]
    assert per_clip.mean == 90.0 and per_clip.count == 2


def test_abx_summary_counts_right_answers_and_gives_the_binomial_tail(tmp_path):
    test = ListeningTest("abx", ["a.wav"], "2, 8", "original", ["2 codebooks", "8 codebooks"], seed=9, repeats=6)
    path = str(tmp_path / "abx.json")
    session = ListenerSession(test, "ann", path)
    while not session.finished:  # always right on 2 codebooks, always wrong on 8
        trial = session.trial
        right = trial.x
        session.submit_abx(right if trial.contestant("original") == "2 codebooks" else {"A": "B", "B": "A"}[right])
    scores = {s.contestant: s for s in abx_summary(load_test(path))}
    assert (scores["2 codebooks"].correct, scores["2 codebooks"].trials) == (6, 6)
    assert scores["2 codebooks"].p_value == 1 / 64
    assert (scores["8 codebooks"].correct, scores["8 codebooks"].p_value) == (0, 1.0)
    with pytest.raises(AnswerRejected, match="finished"):
        session.submit_abx("A")


def test_an_answer_that_cannot_be_saved_is_not_given(tmp_path):
    test, path = _mushra(tmp_path)
    session = ListenerSession(test, "ann", path)
    session.path = tmp_path / "gone" / "test.json"  # its folder does not exist
    with pytest.raises(OSError):
        _rate(session, {n: 100 for n in STIMULI})
    assert session.index == 0 and session.listener.answers == []
