"""Fitting and judging the merge phase's pair model on labelled pairs.

The merge phase scores a candidate pair with ``phases.merging.PairModel``: a logistic model of
the pair's cosine, word coverage, uncovered words and density. This module measures those
signals on labelled pairs exactly as the phase does, fits the weights, and chooses the decision
threshold, so that ``benchmarks.quality`` can fit on some dev sets and judge on the one left
out.

How the weights are fitted: a logistic regression over the labelled pairs of the training sets
whose cosine reaches ``FIT_FLOOR`` (exact duplicates and pairs the detail guard refuses left
out, since the model never decides them). Each set weighs the same, whatever its size, and each
has an intercept of its own: the share of "same" pairs is a choice of whoever sampled the set,
not a property of the text, so only the weights of the signals are shared.

How the threshold is chosen: every training set must keep a precision of ``MIN_PRECISION``;
among the thresholds that do, the one whose worst training set is furthest above the recall
targets (1.3 times the best single cosine threshold's recall at the same precision, once the
best single word-coverage threshold's) wins, then the one with the most recall on average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from consolidation_assets.phases.graph import TextGraph
from consolidation_assets.phases.merging import (
    PairModel,
    guard_conflict,
    neighbour_density,
    pair_signals,
)
from consolidation_assets.phases.text import content_words, normalize

FIT_FLOOR = 0.5
MIN_PRECISION = 0.90
COSINE_RATIO = 1.3
COVERAGE_RATIO = 1.0
SIGNALS = ("cosine", "coverage", "uncovered", "density")


@dataclass(frozen=True)
class PairSignals:
    """What the pair rule reads of each labelled pair, and the label."""

    name: str
    cosine: np.ndarray
    coverage: np.ndarray
    uncovered: np.ndarray
    density: np.ndarray
    conflict: np.ndarray
    exact: np.ndarray
    same: np.ndarray

    def matrix(self) -> np.ndarray:
        return np.stack([self.cosine, self.coverage, self.uncovered, self.density], axis=1)

    def __len__(self) -> int:
        return int(self.same.size)


def measure(
    name: str,
    texts: Sequence[str],
    vectors: np.ndarray,
    graph: TextGraph,
    pairs: Sequence[tuple[int, int, bool]],
) -> PairSignals:
    """The signals of labelled pairs of one project (indices into ``texts``), as the phase
    measures them; ``graph`` is the project's text graph, which gives the density."""
    density = neighbour_density(graph.neighbors.similarities)[graph.unique_of]
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    words = {i: content_words(texts[i]) for i in set(a.tolist()) | set(b.tolist())}
    both = list(zip(a.tolist(), b.tolist(), strict=True))
    coverage, uncovered = zip(
        *(pair_signals(words[i], words[j]) for i, j in zip(a, b, strict=True)), strict=True
    )
    return PairSignals(
        name=name,
        cosine=np.einsum("ij,ij->i", vectors[a], vectors[b]).astype(np.float64),
        coverage=np.array(coverage, dtype=np.float64),
        uncovered=np.array(uncovered, dtype=np.float64),
        density=(density[a] + density[b]) / 2,
        conflict=np.array([guard_conflict(texts[i], texts[j]) for i, j in both], dtype=bool),
        exact=np.array([normalize(texts[i]) == normalize(texts[j]) for i, j in both], dtype=bool),
        same=np.array([p[2] for p in pairs], dtype=bool),
    )


def join(name: str, parts: Sequence[PairSignals]) -> PairSignals:
    """The pairs of several projects of one set (the three agents' streams) as one set."""
    fields = ("cosine", "coverage", "uncovered", "density", "conflict", "exact", "same")
    joined = {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}
    return PairSignals(name=name, **joined)


def fit(training: Sequence[PairSignals], c: float = 1.0) -> np.ndarray:
    """The shared weights of the four signals (see the module docstring)."""
    rows, labels, weights, sets = [], [], [], len(training)
    for k, s in enumerate(training):
        used = ~s.exact & ~s.conflict & (s.cosine >= FIT_FLOOR)
        indicator = np.zeros((int(used.sum()), sets))
        indicator[:, k] = 1.0
        rows.append(np.hstack([s.matrix()[used], indicator]))
        labels.append(s.same[used])
        weights.append(np.full(int(used.sum()), 1.0 / max(int(used.sum()), 1)))
    x, y, w = np.vstack(rows), np.concatenate(labels), np.concatenate(weights)
    # Solved to the optimum, not to lbfgs's default tolerance: the shipped weights are checked
    # against this fit to four decimals, on any machine.
    model = LogisticRegression(C=c, max_iter=5000, fit_intercept=False, tol=1e-10)
    model.fit(x, y, sample_weight=w / w.mean())
    return model.coef_[0][: len(SIGNALS)]


def linear(weights: np.ndarray, s: PairSignals) -> np.ndarray:
    return s.matrix() @ weights


def decisions(
    weights: np.ndarray, s: PairSignals, threshold: float, min_cosine: float
) -> np.ndarray:
    """The pair rule on labelled pairs: exact copies merge, the guard refuses, else the model."""
    model = linear(weights, s) >= threshold
    return s.exact | (model & (s.cosine >= min_cosine) & ~s.conflict)


def precision_recall(merged: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    tp = int((merged & same).sum())
    chosen = int(merged.sum())
    return (tp / chosen if chosen else 1.0), tp / max(int(same.sum()), 1)


def best_recall(score: np.ndarray, same: np.ndarray, precision: float) -> float:
    """The best recall any single threshold on ``score`` reaches at ``precision`` or above."""
    order = np.argsort(-score, kind="stable")
    ranked, labels = score[order], same[order]
    hits = np.cumsum(labels)
    cut = np.r_[ranked[1:] != ranked[:-1], True]
    precisions = hits / np.arange(1, labels.size + 1)
    ok = cut & (precisions >= precision - 1e-12)
    return float((hits[ok] / max(int(same.sum()), 1)).max()) if ok.any() else 0.0


def best_threshold(score: np.ndarray, same: np.ndarray, precision: float) -> float | None:
    """The threshold of that best single-threshold recall (None when none reaches it)."""
    order = np.argsort(-score, kind="stable")
    ranked, labels = score[order], same[order]
    hits = np.cumsum(labels)
    cut = np.r_[ranked[1:] != ranked[:-1], True]
    ok = cut & (hits / np.arange(1, labels.size + 1) >= precision - 1e-12)
    if not ok.any():
        return None
    best = int(np.flatnonzero(ok)[np.argmax(hits[ok])])
    return float(ranked[best])


def ratios(s: PairSignals, precision: float, recall: float) -> tuple[float, float]:
    """Recall over the best single cosine, and word-coverage, threshold's at that precision."""
    cosine = best_recall(s.cosine, s.same, precision)
    coverage = best_recall(s.coverage, s.same, precision)
    return _ratio(recall, cosine), _ratio(recall, coverage)


def _ratio(recall: float, baseline: float) -> float:
    return recall / baseline if baseline > 0 else float("inf")


def choose_threshold(
    weights: np.ndarray, training: Sequence[PairSignals], min_cosine: float
) -> float:
    """The decision threshold on the model's linear score (see the module docstring)."""
    scores = [linear(weights, s) for s in training]
    pooled = np.concatenate(
        [sc[s.cosine >= min_cosine] for sc, s in zip(scores, training, strict=True)]
    )
    best: tuple[tuple[float, float], float] | None = None
    for threshold in np.unique(np.quantile(pooled, np.linspace(0.5, 0.999, 300))):
        outcomes = [
            precision_recall(decisions(weights, s, threshold, min_cosine), s.same) for s in training
        ]
        if min(p for p, _ in outcomes) < MIN_PRECISION:
            continue
        slack = min(
            min(cos / COSINE_RATIO, cov / COVERAGE_RATIO)
            for s, (p, r) in zip(training, outcomes, strict=True)
            for cos, cov in [ratios(s, p, r)]
        )
        key = (min(slack, 100.0), float(np.mean([r for _, r in outcomes])))
        if best is None or key > best[0]:
            best = (key, float(threshold))
    return best[1] if best else float("inf")


def pair_model(weights: np.ndarray, threshold: float) -> PairModel:
    """The phase's model: those weights, with the threshold where the score is 0.5."""
    cosine, coverage, uncovered, density = (float(w) for w in weights)
    return PairModel(cosine, coverage, uncovered, density, bias=-float(threshold))
