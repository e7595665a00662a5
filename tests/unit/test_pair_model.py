"""The benchmark's pair-model helpers against brute force and scikit-learn.

References: ``best_recall`` and ``best_threshold`` against every threshold tried one by one;
``fit`` with a single training set against scikit-learn's logistic regression with an
intercept (a set's own intercept is exactly that); ``decisions`` against the pair rule written
out (exact copies merge, the guard refuses, the model decides the rest above the cosine floor).

Cases run: 150 (best recall), 40 (fit), 100 (decisions).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from benchmarks import pair_model
from benchmarks.pair_model import PairSignals
from tests.unit.strategies import PROPERTY_SETTINGS


def signals(seed: int, n: int, rounded: bool = False) -> PairSignals:
    rng = np.random.default_rng(seed)
    cosine = rng.uniform(0.3, 1.0, n)
    if rounded:
        cosine = np.round(cosine, 1)
    coverage = rng.uniform(0, 1, n)
    uncovered = rng.integers(0, 8, n).astype(float)
    density = rng.uniform(0.2, 0.9, n)
    z = 8 * cosine + 2 * coverage - 0.2 * uncovered - 3 * density - 5
    exact = rng.random(n) < 0.05
    same = (rng.random(n) < 1 / (1 + np.exp(-z))) | exact
    return PairSignals(
        name="s",
        cosine=cosine,
        coverage=coverage,
        uncovered=uncovered,
        density=density,
        conflict=rng.random(n) < 0.1,
        exact=exact,
        same=same,
    )


@settings(PROPERTY_SETTINGS, max_examples=150)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.booleans(), st.floats(0.5, 1.0))
def test_best_recall_matches_every_threshold_tried(
    seed: int, n: int, rounded: bool, precision: float
) -> None:
    s = signals(seed, n, rounded)
    best = 0.0
    for t in sorted(set(s.cosine.tolist())):
        p, r = pair_model.precision_recall(s.cosine >= t, s.same)
        if s.same.any() and p >= precision - 1e-12:
            best = max(best, r)
    assert abs(pair_model.best_recall(s.cosine, s.same, precision) - best) < 1e-12
    if best > 0:
        at = pair_model.best_threshold(s.cosine, s.same, precision)
        assert at is not None
        p, r = pair_model.precision_recall(s.cosine >= at, s.same)
        assert p >= precision - 1e-12 and abs(r - best) < 1e-12


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(st.integers(0, 2**32 - 1))
def test_fit_on_one_set_is_logistic_regression_with_an_intercept(seed: int) -> None:
    s = signals(seed, 400)
    used = ~s.exact & ~s.conflict & (s.cosine >= pair_model.FIT_FLOOR)
    if len(set(s.same[used].tolist())) < 2:
        return
    ours = pair_model.fit([s], c=1e4)
    reference = LogisticRegression(C=1e4, max_iter=20000)
    reference.fit(s.matrix()[used], s.same[used])
    # Nearly unregularised, both reach the maximum-likelihood weights; they differ only in
    # whether the intercept is penalised, which so weak a penalty makes negligible.
    assert np.allclose(ours, reference.coef_[0], atol=0.05, rtol=0.02)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(st.integers(0, 2**32 - 1), st.floats(-5, 5), st.floats(0.3, 0.95))
def test_decisions_follow_the_pair_rule(seed: int, threshold: float, floor: float) -> None:
    s = signals(seed, 80)
    weights = np.array([8.0, 2.0, -0.2, -3.0])
    got = pair_model.decisions(weights, s, threshold, floor)
    for i in range(len(s)):
        z = weights @ s.matrix()[i]
        expected = bool(s.exact[i]) or (
            z >= threshold and s.cosine[i] >= floor and not s.conflict[i]
        )
        assert got[i] == expected


def test_the_threshold_keeps_every_training_set_precise() -> None:
    sets = [signals(seed, 600) for seed in (1, 2, 3)]
    weights = pair_model.fit(sets)
    threshold = pair_model.choose_threshold(weights, sets, 0.5)
    for s in sets:
        p, r = pair_model.precision_recall(pair_model.decisions(weights, s, threshold, 0.5), s.same)
        assert p >= pair_model.MIN_PRECISION and r > 0
    model = pair_model.pair_model(weights, threshold)
    assert model.bias == -threshold
