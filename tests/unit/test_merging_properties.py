"""Properties of ``merging.merge_memories`` and its pair scoring, on generated texts.

Texts come in families (a base text and copies, case and spacing variants, one more or one
other detail, a negated form, a word more or less) with synthetic text-derived vectors, so
near-duplicates, guard conflicts and exact duplicates are all common.

References: ``_scored_pairs`` against ``duplicate_score`` evaluated pair by pair with
``content_words`` and the density read off the neighbour lists; ``PairModel.score`` against
the logistic function written out in plain Python; groups against the module's own pair rule
(``is_duplicate``) and detail guard evaluated directly on the texts, under the shipped model
and under arbitrary ones (down to a model that calls every pair a duplicate).

What the groups guarantee, precisely: a group is a star around a leader (a distinct,
normalised text) shown in its earliest spelling (the copy with the least ``created_at``, then
id), the canonical memory. Every other distinct text in the group passed the pair rule against
the leader, both read in that same earliest spelling: so for every source that is not an exact
copy of the canonical text, the earliest spelling of its text and the canonical text have a
cosine of at least ``min_cosine``, a duplicate score of at least ``duplicate_threshold``, the
same negation and no detail conflict (with the guard on). Exact copies are merged
unconditionally, and other spellings of a follower's text are not compared: ``details`` reads
case and spacing (``fooBar`` is an identifier, ``foobar`` a word), so two spellings of one text
can differ in details without saying anything different. A group's ``details`` are the ones
its sources state beyond the canonical text. With the guard on, no two distinct texts of a
group conflict, followers among themselves included, whatever the model says.

Cases run: 100 (group structure and guard), 100 (any model), 100 (pair scores), 200 (model
scores), 50 (default settings on batches of 60-200 memories), plus regressions.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases.graph import text_graph
from consolidation_assets.phases.merging import (
    PAIR_MODEL,
    MergeSettings,
    PairModel,
    _Features,
    _scored_pairs,
    duplicate_score,
    is_duplicate,
    merge_memories,
    neighbour_density,
)
from consolidation_assets.phases.text import (
    capitalised_names,
    content_words,
    details,
    details_conflict,
    is_negated,
    normalize,
)
from consolidation_assets.phases.types import MemoryBatch
from tests.unit.strategies import PROPERTY_SETTINGS, batch_of, text_batches, text_vectors

merge_settings = st.builds(
    MergeSettings,
    duplicate_threshold=st.sampled_from([0.05, 0.3, 0.5, 0.75, 0.95]),
    min_cosine=st.sampled_from([0.5, 0.75, 0.9]),
    neighbors=st.integers(1, 12),
    detail_guard=st.booleans(),
)
weights = st.floats(-20, 20, allow_nan=False)
pair_models = st.one_of(
    st.just(PAIR_MODEL),
    st.just(PairModel(0.0, 0.0, 0.0, 0.0, 50.0)),
    st.builds(PairModel, weights, weights, weights, weights, weights),
)


def conflict(a: str, b: str) -> bool:
    """The guard written out: negation differs, or each side has a detail or a name in
    capitals the other lacks."""
    return is_negated(a) != is_negated(b) or details_conflict(
        details(a) | capitalised_names(a), details(b) | capitalised_names(b)
    )


def density_of(batch: MemoryBatch, neighbors: int) -> dict[str, float]:
    """Per normalised text, the mean similarity to its neighbours, as the phase reads it."""
    graph = text_graph(batch, neighbors)
    density = neighbour_density(graph.neighbors.similarities)
    return {normalize(batch.texts[r]): float(density[u]) for u, r in enumerate(graph.unique_rows)}


def check_groups(batch: MemoryBatch, merge: MergeSettings, model: PairModel = PAIR_MODEL) -> None:
    outcome = merge_memories("project", batch, settings=merge, model=model)
    position = batch.index()
    texts = list(batch.texts)
    key = [normalize(t) for t in texts]
    spelling: dict[str, int] = {}
    for i in sorted(range(len(texts)), key=lambda i: (batch.created_at[i], batch.ids[i])):
        spelling.setdefault(key[i], i)
    density = density_of(batch, merge.neighbors)
    vectors = batch.vectors.astype(np.float64)
    # The module scores float32 cosines from its neighbour lists, this test float64 ones: a
    # pair right at a threshold may round either way, so the rule is checked 1e-5 below it.
    relaxed = MergeSettings(
        merge.duplicate_threshold - 1e-5, merge.min_cosine - 1e-5, merge.neighbors, False
    )
    seen: dict[str, str] = {}
    for group in outcome.groups:
        assert len(group.source_ids) >= 2
        assert len(set(group.source_ids)) == len(group.source_ids)
        assert group.canonical_memory_id in group.source_ids
        canonical = position[group.canonical_memory_id]
        assert group.content == texts[canonical]
        for source in group.source_ids:
            assert source not in seen, f"{source} in two groups"
            seen[source] = group.id
        assert not set(group.details) & details(group.content), "details beyond the content"
        assert spelling[key[canonical]] == canonical, "shown in its earliest spelling"
        for source in group.source_ids:
            i = position[source]
            if key[i] == key[canonical]:
                continue
            j = spelling[key[i]]
            cosine = float(vectors[canonical] @ vectors[j])
            pair_density = (density[key[canonical]] + density[key[j]]) / 2
            assert is_duplicate(texts[canonical], texts[j], cosine, relaxed, pair_density, model), (
                canonical,
                j,
            )
        if merge.detail_guard:
            distinct = sorted({spelling[key[position[m]]] for m in group.source_ids})
            for x, a in enumerate(distinct):
                for b in distinct[x + 1 :]:
                    assert not conflict(texts[a], texts[b]), (texts[a], texts[b])
    for k in set(key):
        copies = [batch.ids[i] for i in range(len(texts)) if key[i] == k]
        if len(copies) > 1:
            groups = {seen.get(c) for c in copies}
            assert len(groups) == 1 and None not in groups, "exact duplicates always merge"
    merged = sum(len(g.source_ids) for g in outcome.groups)
    assert outcome.metrics["memories_merged"] == merged == len(seen)
    assert outcome.exact_duplicates == len(texts) - len(set(key))


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(text_batches(), merge_settings)
def test_groups_are_disjoint_guarded_stars(batch: MemoryBatch, merge: MergeSettings) -> None:
    check_groups(batch, merge)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(text_batches(), merge_settings, pair_models)
def test_no_model_merges_conflicting_details(
    batch: MemoryBatch, merge: MergeSettings, model: PairModel
) -> None:
    """The guard's promise holds whatever the model says: with it on, no merged memory holds
    two texts that commit to different details or differ in negation."""
    check_groups(batch, MergeSettings(0.0, merge.min_cosine, merge.neighbors, True), model)


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(text_batches(min_n=60, max_n=200))
def test_default_settings_on_larger_batches(batch: MemoryBatch) -> None:
    check_groups(batch, MergeSettings())


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(
    pair_models,
    st.floats(-1, 1),
    st.floats(0, 1),
    st.integers(0, 40),
    st.floats(-1, 1),
)
def test_model_score_is_the_logistic_of_its_weighted_signals(
    model: PairModel, cosine: float, coverage: float, uncovered: int, density: float
) -> None:
    z = (
        model.bias
        + model.cosine * cosine
        + model.coverage * coverage
        + model.uncovered * uncovered
        + model.density * density
    )
    expected = 1 / (1 + math.exp(-z)) if z > -500 else 0.0
    got = float(model.score(cosine, coverage, uncovered, density))
    assert 0.0 <= got <= 1.0
    assert abs(got - expected) < 1e-9


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(text_batches(), merge_settings)
def test_pair_scores_match_duplicate_score(batch: MemoryBatch, merge: MergeSettings) -> None:
    """Every neighbour pair at ``min_cosine``, once, scored as ``duplicate_score`` scores it
    (with the larger of the two directions' cosines and the mean of the two texts' neighbour
    densities), and kept iff it reaches the threshold."""
    graph = text_graph(batch, merge.neighbors)
    texts = list(batch.texts)
    rows = graph.unique_rows.tolist()
    features = _Features(texts, rows)
    idx, sim = graph.neighbors.indices, graph.neighbors.similarities
    density = neighbour_density(sim)
    pairs, scores = _scored_pairs(idx, sim, merge, features)
    best: dict[tuple[int, int], float] = {}
    for u in range(idx.shape[0]):
        for v, s in zip(idx[u].tolist(), sim[u].tolist(), strict=True):
            if v >= 0 and s >= merge.min_cosine:
                pair = (min(u, v), max(u, v))
                best[pair] = max(best.get(pair, -np.inf), s)
    expected = {}
    for (u, v), cosine in best.items():
        score = duplicate_score(
            cosine,
            content_words(texts[rows[u]]),
            content_words(texts[rows[v]]),
            (density[u] + density[v]) / 2,
        )
        if score >= merge.duplicate_threshold:
            expected[(u, v)] = score
    got = {(u, v): s for (u, v), s in zip(pairs.tolist(), scores.tolist(), strict=True)}
    assert len(got) == len(pairs), "each pair once"
    borderline = {p for p, s in expected.items() if abs(s - merge.duplicate_threshold) < 1e-6}
    assert set(got) - borderline == set(expected) - borderline
    for pair in set(got) & set(expected):
        assert abs(got[pair] - expected[pair]) < 1e-6


def test_a_negated_copy_is_kept_apart() -> None:
    """Same words and vector, one side negated: the guard alone separates them."""
    texts = ["retry the database connection", "never retry the database connection"]
    batch = batch_of(texts, text_vectors(texts, 0.0, 0))
    assert np.allclose(batch.vectors[0], batch.vectors[1])
    assert merge_memories("p", batch).groups == []
    guardless = MergeSettings(detail_guard=False)
    assert len(merge_memories("p", batch, settings=guardless).groups) == 1


def test_regression_group_details_are_beyond_the_canonical_spelling() -> None:
    """The guard and a group's details read a text's first copy, while the group shows its
    earliest copy: with the copies spelled differently inside a code span, the group listed
    the canonical text's own detail ``make\\t test`` as one that only other sources add."""
    texts = [
        "`make test` 5432 database database",
        "  `make\t test`\t 5432\t database\t database \n",
    ]
    batch = batch_of(texts, text_vectors(texts, 0.0, 0), minutes=[1, 0])
    (group,) = merge_memories("p", batch).groups
    assert group.canonical_memory_id == "m0001"
    assert not set(group.details) & details(group.content)


def test_regression_guard_reads_the_canonical_spelling() -> None:
    """The same cause seen by the guard: the canonical ``fooBar`` spelling names an
    identifier that the ``v2`` text lacks, and each side has a detail the other lacks, yet the
    guard compared the first copy's spelling (``foobar``, a plain word) and merged them."""
    texts = [
        "use foobar now for the big deploy on staging servers",
        "use fooBar now for the big deploy on staging servers",
        "use foobar now for the big deploy on staging servers v2",
    ]
    batch = batch_of(texts, text_vectors(texts, 0.0, 0), minutes=[1, 0, 2])
    groups = merge_memories("p", batch).groups
    assert [sorted(g.source_ids) for g in groups] == [["m0000", "m0001"]]
    assert groups[0].content == texts[1]


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(
    st.integers(0, 30),
    st.integers(0, 12),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 0.3, 1.0]),
)
def test_neighbour_density_is_the_mean_over_k_with_missing_as_zero(
    n: int, k: int, seed: int, holes: float
) -> None:
    rng = np.random.default_rng(seed)
    sims = rng.uniform(-1, 1, (n, k)).astype(np.float32)
    sims[rng.random((n, k)) < holes] = -np.inf
    got = neighbour_density(sims)
    assert got.shape == (n,)
    for row, value in zip(sims.tolist(), got.tolist(), strict=True):
        expected = sum(s for s in row if s != -math.inf) / k if k else 0.0
        assert abs(value - expected) < 1e-6


def test_regression_followers_that_conflict_with_each_other_split() -> None:
    """Each follower passed the guard against the leader, but the two commit to different
    pool sizes: one merged memory may hold only one of them."""
    texts = [
        "raise the database pool size",
        "raise the database pool size to 20",
        "raise the database pool size to 30",
    ]
    batch = batch_of(texts, text_vectors(texts, 0.0, 0))
    always = PairModel(0.0, 0.0, 0.0, 0.0, 50.0)
    outcome = merge_memories("p", batch, settings=MergeSettings(min_cosine=0.0), model=always)
    together = [set(g.source_ids) for g in outcome.groups]
    assert together, "the leader and one follower merge"
    assert not any({"m0001", "m0002"} <= members for members in together)
