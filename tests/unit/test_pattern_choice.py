"""The quality benchmark's rule for choosing the pattern defaults, against its definition.

``choose_pattern_setting`` picks, among the grid settings the sample projects allow (answer key
held, half their topics found, the paraphrased verdicts one pattern), those whose worst-set
slack above the V-measure and ARI targets is within ``SLACK_TOLERANCE`` of the best, and of
those the one absorbing the fewest strays on its worst set. The reference here walks every
setting of the grid one by one. ``topics_found`` is checked against a count per topic and per
pattern.

``trade_off`` is checked against a walk over the swept settings of the stray test, and
``cohesive_intents`` against every pair of an intent's memories compared one by one.

Cases run: 60, 100 each for the topics found and the trade-off, and 100 for the cohesive intents.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import quality
from consolidation_assets.phases.graph import collapse_exact
from consolidation_assets.phases.patterns import (
    PatternSettings,
    background_similarity,
    effective_threshold,
)
from tests.unit.strategies import PROPERTY_SETTINGS, unit_vectors

KEYS = [quality.grid_key(s) for s in quality.grid()]
PROJECTS = ("web-backend", "data-pipeline", "mobile-app")
figure = st.floats(0.0, 1.0, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def intent_run(draw) -> dict:
    return {
        "rows": {k: {"v_measure": draw(figure), "ari": draw(figure)} for k in KEYS},
        "kmeans": {
            "v_measure": draw(st.floats(0.5, 0.9).map(lambda x: round(x, 2))),
            "ari": draw(st.floats(0.3, 0.6).map(lambda x: round(x, 2))),
        },
        "strays": {"absorbed": {k: draw(figure) for k in KEYS}},
    }


@st.composite
def sample_runs(draw) -> dict:
    return {
        name: {
            k: {
                "v_measure": draw(st.sampled_from([0.7, 0.8])),
                "noise_absorbed": draw(st.integers(0, 2)),
                "topics_found": draw(st.integers(10, 14)),
                "topics": 24,
                "verdicts_one_pattern": draw(st.booleans()),
            }
            for k in KEYS
        }
        for name in PROJECTS
    }


def reference_choice(runs: list[dict], samples: dict) -> set[str]:
    """Every setting the rule may return (several when they tie on strays and slack)."""

    def permitted(key: str) -> bool:
        for project in samples.values():
            run = project[key]
            if run["v_measure"] < 0.75 or run["noise_absorbed"] > 1:
                return False
            if run["topics_found"] < run["topics"] / 2:
                return False
            if not run["verdicts_one_pattern"]:
                return False
        return True

    def worst_slack(key: str) -> float:
        slacks = []
        for run in runs:
            ours, km = run["rows"][key], run["kmeans"]
            slacks.append(min(ours["v_measure"] / km["v_measure"], ours["ari"] / (0.9 * km["ari"])))
        return min(slacks)

    candidates = [k for k in KEYS if permitted(k)] or KEYS
    best = max(worst_slack(k) for k in candidates)
    near = [k for k in candidates if worst_slack(k) >= (1 - quality.SLACK_TOLERANCE) * best]
    strays = {k: max(run["strays"]["absorbed"][k] for run in runs) for k in near}
    fewest = min(strays.values())
    tied = [k for k in near if strays[k] == fewest]
    top = max(worst_slack(k) for k in tied)
    return {k for k in tied if worst_slack(k) == top}


# Every case draws figures for every setting of the grid (96): large by nature.
@settings(
    PROPERTY_SETTINGS,
    max_examples=60,
    suppress_health_check=[
        *PROPERTY_SETTINGS.suppress_health_check,
        HealthCheck.large_base_example,
    ],
)
@given(runs=st.lists(intent_run(), min_size=1, max_size=2), samples=sample_runs())
def test_the_choice_follows_its_definition(runs: list[dict], samples: dict) -> None:
    assert quality.choose_pattern_setting(runs, samples) in reference_choice(runs, samples)


def test_a_setting_that_splits_the_verdicts_or_loses_topics_is_never_chosen() -> None:
    best = KEYS[0]
    run = {
        "rows": {k: {"v_measure": 0.5, "ari": 0.2} for k in KEYS},
        "kmeans": {"v_measure": 0.8, "ari": 0.5},
        "strays": {"absorbed": dict.fromkeys(KEYS, 0.5)},
    }
    run["rows"][best] = {"v_measure": 0.9, "ari": 0.6}
    run["strays"]["absorbed"][best] = 0.0
    allowed = {
        "v_measure": 0.8,
        "noise_absorbed": 0,
        "topics_found": 12,
        "topics": 24,
        "verdicts_one_pattern": True,
    }
    samples = {name: {k: dict(allowed) for k in KEYS} for name in PROJECTS}
    for project in samples.values():
        project[best]["verdicts_one_pattern"] = False

    assert quality.choose_pattern_setting([run], samples) != best
    for project in samples.values():
        project[best]["verdicts_one_pattern"] = True
    assert quality.choose_pattern_setting([run], samples) == best
    samples["mobile-app"][best]["topics_found"] = 11
    assert quality.choose_pattern_setting([run], samples) != best


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(st.lists(st.integers(-1, 3), min_size=1, max_size=30), st.data())
def test_a_topic_is_found_when_one_pattern_holds_half_of_it(
    labels: list[int], data: st.DataObject
) -> None:
    ids = [f"m{i}" for i in range(len(labels))]
    topic_of = data.draw(st.lists(st.integers(0, 4), min_size=len(ids), max_size=len(ids)))
    topics = {
        f"t{t}": {"memory_ids": [m for m, k in zip(ids, topic_of, strict=True) if k == t]}
        for t in set(topic_of)
    }
    expected = 0
    for topic in topics.values():
        members = topic["memory_ids"]
        best = max((sum(labels[ids.index(m)] == p for m in members) for p in range(4)), default=0)
        expected += best > 0 and best >= len(members) / 2
    assert quality.topics_found(topics, ids, np.array(labels)) == expected


SWEPT = [quality.grid_key(s) for s in quality.trade_off_settings()]
# Few values, so that settings tie on slack and the tie-breaks are exercised.
coarse = st.sampled_from([0.3, 0.5, 0.7, 0.9])


@st.composite
def swept_run(draw) -> dict:
    # Strays from 0, so some settings keep within the target, or from 0.2, so that none does.
    lowest = draw(st.sampled_from([0.0, 0.2]))
    return {
        "kmeans": {
            "v_measure": draw(st.floats(0.5, 0.9).map(lambda x: round(x, 2))),
            "ari": draw(st.floats(0.3, 0.6).map(lambda x: round(x, 2))),
        },
        "trade_off": {
            "rows": {k: {"v_measure": draw(coarse), "ari": draw(coarse)} for k in SWEPT},
            "strays": {"absorbed": {k: round(lowest + draw(figure) / 4, 3) for k in SWEPT}},
        },
    }


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(run=swept_run())
def test_the_trade_off_reads_the_best_setting_on_each_side_of_the_targets(run: dict) -> None:
    km = run["kmeans"]
    rows, absorbed = run["trade_off"]["rows"], run["trade_off"]["strays"]["absorbed"]

    def margin(key: str) -> float:
        row = rows[key]
        return min(row["v_measure"] / km["v_measure"], row["ari"] / (0.9 * km["ari"]))

    within = [k for k in SWEPT if absorbed[k] <= quality.STRAY_TARGET]
    meeting = [k for k in SWEPT if margin(k) >= 1.0]

    found = quality.trade_off(run)

    if within:
        best = max(margin(k) for k in within)
        tied = [k for k in within if margin(k) == best]
        assert found["within_stray_target"] in tied
        assert absorbed[found["within_stray_target"]] == min(absorbed[k] for k in tied)
    else:
        assert found["within_stray_target"] is None
    if meeting:
        fewest = min(absorbed[k] for k in meeting)
        tied = [k for k in meeting if absorbed[k] == fewest]
        assert found["meeting_targets"] in tied
        assert margin(found["meeting_targets"]) == max(margin(k) for k in tied)
    else:
        assert found["meeting_targets"] is None


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(data=st.data(), vectors=unit_vectors(min_n=1, max_n=60))
def test_an_intent_is_cohesive_when_its_pairs_average_the_threshold(
    data: st.DataObject, vectors: np.ndarray
) -> None:
    n = vectors.shape[0]
    intents = data.draw(st.lists(st.sampled_from("abcd"), min_size=n, max_size=n))
    texts = [f"memory {i}" for i in range(n)]
    shipped = PatternSettings()
    _, unique_rows = collapse_exact(texts)
    threshold = effective_threshold(
        shipped.similarity_threshold, background_similarity(vectors[unique_rows])
    )
    found = quality.cohesive_intents(texts, vectors, intents)
    for memory, intent in enumerate(intents):
        rows = [i for i, t in enumerate(intents) if t == intent]
        pairs = [
            float(vectors[i].astype(np.float64) @ vectors[j].astype(np.float64))
            for i in rows
            for j in rows
            if i != j
        ]
        average = sum(pairs) / len(pairs) if pairs else 1.0
        # Float32 rows put a tie with the threshold within rounding of either side.
        if abs(average - threshold) > 1e-6:
            assert found[memory] == (average >= threshold)
