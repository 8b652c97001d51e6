"""Randomisation of listening tests: reproducible from the recorded seed, every stimulus once per
MUSHRA trial under permuted letters, ABX's X balanced and independent of the trial order and of
which side the original is on (checked statistically with fixed seeds)."""
import math
from collections import Counter

import numpy as np
from scipy import stats

from app.listening_test.plan import abx_plan, listener_seed, mushra_plan

STIMULI = ["2 codebooks", "4 codebooks", "8 codebooks", "hidden reference", "anchor 3.5 kHz", "anchor 7 kHz"]


def test_every_stimulus_once_per_mushra_trial_and_every_clip_once():
    plan = mushra_plan(7, 5, STIMULI)
    assert sorted(t.clip for t in plan) == list(range(5))
    for trial in plan:
        assert sorted(trial.order) == sorted(STIMULI)


def test_letters_are_permuted_uniformly():
    positions = Counter()
    trials = 0
    for seed in range(400):
        for trial in mushra_plan(seed, 3, STIMULI):
            trials += 1
            positions.update((name, letter) for letter, name in enumerate(trial.order))
    table = np.array([[positions[(name, letter)] for letter in range(len(STIMULI))] for name in STIMULI])
    assert (table.sum(axis=1) == trials).all()
    # uniform letters: chi-square of the name x letter table against trials / 6 per cell
    chi2 = ((table - trials / len(STIMULI)) ** 2 / (trials / len(STIMULI))).sum()
    assert stats.chi2.sf(chi2, (len(STIMULI) - 1) ** 2) > 0.001


def test_the_same_seed_gives_the_same_plan_and_listeners_get_their_own():
    assert mushra_plan(11, 4, STIMULI) == mushra_plan(11, 4, STIMULI)
    assert abx_plan(11, 2, "original", STIMULI[:3], 5) == abx_plan(11, 2, "original", STIMULI[:3], 5)
    seeds = {listener_seed(11, index) for index in range(50)}
    assert len(seeds) == 50 and listener_seed(11, 3) == listener_seed(11, 3)
    assert mushra_plan(listener_seed(11, 0), 4, STIMULI) != mushra_plan(listener_seed(11, 1), 4, STIMULI)


def test_abx_plays_each_clip_and_contestant_the_asked_number_of_times():
    plan = abx_plan(3, 3, "original", STIMULI[:3], 4)
    assert Counter((t.clip, t.contestant("original")) for t in plan) == \
        {(clip, name): 4 for clip in range(3) for name in STIMULI[:3]}
    assert all("original" in (t.a, t.b) and t.a != t.b for t in plan)


def test_abx_x_is_balanced_and_independent_of_order_and_sides():
    plan = abx_plan(2024, 10, "original", STIMULI[:3], 40)  # 1200 trials
    x_is_a = np.array([t.x == "A" for t in plan], dtype=float)
    n = len(plan)
    # balanced: X = A about half the time (two-sided binomial test)
    assert stats.binomtest(int(x_is_a.sum()), n).pvalue > 0.001
    # independent of order: no lag-1 correlation, no trend over the session
    assert abs(np.corrcoef(x_is_a[:-1], x_is_a[1:])[0, 1]) < 3.3 / math.sqrt(n)
    assert abs(np.corrcoef(x_is_a, np.arange(n))[0, 1]) < 3.3 / math.sqrt(n)
    # independent of whether the original plays as A: the 2 x 2 table has no association
    original_is_a = np.array([t.a == "original" for t in plan])
    table = [[int(((x_is_a == 1) & original_is_a).sum()), int(((x_is_a == 1) & ~original_is_a).sum())],
             [int(((x_is_a == 0) & original_is_a).sum()), int(((x_is_a == 0) & ~original_is_a).sum())]]
    assert stats.chi2_contingency(table).pvalue > 0.001
    assert stats.binomtest(int(original_is_a.sum()), n).pvalue > 0.001
