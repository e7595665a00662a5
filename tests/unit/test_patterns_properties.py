"""Properties of ``patterns.extract_patterns`` on generated batches.

References: the batch itself (ids, normalised texts) and a brute-force recomputation of each
pattern's average pairwise cosine from its members' vectors, against the threshold recomputed
by brute force (with ``relative``, the median similarity of all pairs of distinct texts, then
the setting's share of the way from it to 1); membership is a partial partition of the batch;
exact duplicates (normalised text) cluster as one weighted item, so they share a pattern or are
both left out. The membership pieces against plain references: the shared-neighbour weights
against Python sets, the group medians against ``np.median`` per group, the recurrence test
against its definition, the citations (who lists a text among their nearest) against a count
over every list, and the communities of a union of cliques against its connected
components (scipy); the overlap of a split's parts against the mean similarity of every pair of
memories, copies included, within and across parts; and every community
``cohesive_communities`` returns is, by brute force, cohesive enough, one Louvain cannot split,
or one whose parts overlap more than the setting allows. With ``relative``, memberships are
those of the absolute settings measured from the background: the threshold and the
near-duplicate similarity both.

Cases run: 100 (clustered batches up to 200 memories), 100 (text families up to 40), 100 per
membership piece.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from consolidation_assets.phases.communities import communities, shared_neighbor_graph
from consolidation_assets.phases.graph import text_graph
from consolidation_assets.phases.patterns import (
    PatternSettings,
    background_similarity,
    citations,
    cluster_memories,
    cohesive_communities,
    effective_threshold,
    extract_patterns,
    group_medians,
    part_overlap,
    recurring,
)
from consolidation_assets.phases.text import normalize
from consolidation_assets.phases.types import MemoryBatch
from tests.unit.strategies import (
    PROPERTY_SETTINGS,
    clustered_batches,
    text_batches,
    unit_vectors,
)

pattern_settings = st.builds(
    PatternSettings,
    similarity_threshold=st.sampled_from([0.3, 0.5, 0.7, 0.9]),
    min_support=st.integers(1, 5),
    neighbors=st.integers(1, 12),
    keywords=st.integers(0, 6),
    relative=st.booleans(),
    resolution=st.sampled_from([0.5, 1.0, 2.0]),
    stray_margin=st.sampled_from([0.0, 0.1, 2.0]),
    split_overlap=st.sampled_from([0.3, 0.5, float("inf")]),
)


def reference_threshold(batch: MemoryBatch, pattern: PatternSettings) -> float:
    """The absolute threshold linkage applies, recomputed by brute force in float64: the
    median similarity of two distinct texts (at least 0), then the setting's share of the way
    from it to 1."""
    if not pattern.relative:
        return pattern.similarity_threshold
    first: dict[str, int] = {}
    for i, text in enumerate(batch.texts):
        first.setdefault(normalize(text), i)
    rows = batch.vectors[sorted(first.values())].astype(np.float64)
    pairs = [float(rows[i] @ rows[j]) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    background = max(float(np.median(pairs)), 0.0) if pairs else 0.0
    return background + pattern.similarity_threshold * (1 - background)


def check_patterns(batch: MemoryBatch, pattern: PatternSettings) -> None:
    extraction = extract_patterns("project", batch, pattern)
    position = batch.index()
    threshold = reference_threshold(batch, pattern)
    owner: dict[str, str] = {}
    for p in extraction.patterns:
        assert p.support == len(p.member_ids) == len(p.member_similarities)
        assert p.support >= pattern.min_support
        assert p.central_memory_id == p.member_ids[0]
        assert len(p.keywords) <= pattern.keywords
        assert 0.0 <= p.confidence <= 1.0
        for m in p.member_ids:
            assert m in position, "members are memories of the batch"
            assert m not in owner, f"{m} in two patterns"
            owner[m] = p.id
        vectors = batch.vectors[[position[m] for m in p.member_ids]].astype(np.float64)
        if p.support > 1:
            total = vectors.sum(axis=0)
            average = (total @ total - p.support) / (p.support * (p.support - 1))
            assert average >= threshold - 1e-5
    assert len({p.id for p in extraction.patterns}) == len(extraction.patterns)
    assert extraction.memories_in_patterns == len(owner)
    assert extraction.unique_texts == len({normalize(t) for t in batch.texts})
    home: dict[str, set[str | None]] = {}
    for memory_id, text in zip(batch.ids, batch.texts, strict=True):
        home.setdefault(normalize(text), set()).add(owner.get(memory_id))
    assert all(len(patterns) == 1 for patterns in home.values()), "duplicates stay together"


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(clustered_batches(), pattern_settings)
def test_patterns_partition_clustered_batches(batch: MemoryBatch, pattern: PatternSettings) -> None:
    check_patterns(batch, pattern)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(text_batches(), pattern_settings)
def test_patterns_partition_text_families(batch: MemoryBatch, pattern: PatternSettings) -> None:
    check_patterns(batch, pattern)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(clustered_batches())
def test_background_is_the_median_of_all_pairs(batch: MemoryBatch) -> None:
    rows = batch.vectors.astype(np.float64)
    pairs = [float(rows[i] @ rows[j]) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    expected = max(float(np.median(pairs)), 0.0) if pairs else 0.0
    assert abs(background_similarity(batch.vectors) - expected) < 1e-5


def test_background_of_a_large_batch_reads_evenly_spread_rows() -> None:
    """Above 2,000 rows the median is taken over the pairs of 2,000 rows spread evenly."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(2300, 16)) + 0.8
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chosen = vectors[np.linspace(0, 2299, 2000).round().astype(int)]
    sims = chosen @ chosen.T
    expected = float(np.median(sims[np.triu_indices(2000, k=1)]))
    assert abs(background_similarity(vectors.astype(np.float32)) - expected) < 1e-4
    assert expected > 0.2, "the batch shares a direction, as a project's memories do"


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(st.floats(0, 1), st.floats(0, 0.99))
def test_effective_threshold_runs_from_the_background_to_one(
    threshold: float, background: float
) -> None:
    value = effective_threshold(threshold, background)
    assert background - 1e-12 <= value <= 1 + 1e-12
    assert abs(effective_threshold(0.0, background) - background) < 1e-12
    assert abs(effective_threshold(1.0, background) - 1.0) < 1e-12
    assert abs(effective_threshold(threshold, 0.0) - threshold) < 1e-12


@st.composite
def neighbour_lists(draw: st.DrawFn) -> np.ndarray:
    """An (n, k) array of neighbour rows as the graph holds them: distinct, not the row
    itself, ``-1`` padding at the end."""
    n = draw(st.integers(1, 30))
    k = draw(st.integers(1, 6))
    rows = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        chosen = draw(st.lists(st.sampled_from(others), max_size=k, unique=True)) if others else []
        rows.append(chosen + [-1] * (k - len(chosen)))
    return np.array(rows, dtype=np.int64)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(neighbour_lists())
def test_shared_neighbour_weights_are_the_jaccard_of_the_lists(indices: np.ndarray) -> None:
    graph = shared_neighbor_graph(indices).toarray()
    n = indices.shape[0]
    lists = [{i, *(j for j in indices[i].tolist() if j >= 0)} for i in range(n)]
    expected = np.zeros((n, n))
    for i in range(n):
        for j in indices[i].tolist():
            if j >= 0:
                weight = len(lists[i] & lists[j]) / len(lists[i] | lists[j])
                expected[i, j] = expected[j, i] = weight
    np.testing.assert_allclose(graph, expected, atol=1e-12)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.floats(-1, 1, allow_nan=False)), min_size=1, max_size=40
    )
)
def test_group_medians_match_numpy(rows: list[tuple[int, float]]) -> None:
    labels = np.array([g for g, _ in rows])
    values = np.array([v for _, v in rows])
    found = group_medians(values, labels, 6)
    for g in range(6):
        members = values[labels == g]
        if members.size:
            assert abs(found[g] - float(np.median(members))) < 1e-12
        else:
            assert np.isnan(found[g])


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.floats(-1, 1, allow_nan=False),
            st.integers(1, 3),
            st.integers(0, 4),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([0.0, 0.05, 0.2]),
    st.sampled_from([0.5, 0.75, 1.0]),
    st.sampled_from([0, 1, 2]),
)
def test_a_text_recurs_when_copied_or_near_its_community_and_cited_back(
    rows: list[tuple[int, float, int, int]], margin: float, near_duplicate: float, least: int
) -> None:
    labels = np.array([g for g, _, _, _ in rows])
    nearest = np.array([v for _, v, _, _ in rows])
    copies = np.array([c for _, _, c, _ in rows])
    cited = np.array([n for _, _, _, n in rows], dtype=float)
    found = recurring(nearest, copies, labels, margin, near_duplicate, cited, least)
    for i, (g, v, c, n) in enumerate(rows):
        typical = float(np.median(nearest[labels == g]))
        close = v >= near_duplicate or v >= typical - margin
        assert found[i] == (c > 1 or (close and n >= least))


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(unit_vectors(1, 30), st.integers(0, 6), st.data())
def test_citations_count_the_communitys_memories_listing_a_text(
    vectors: np.ndarray, k: int, data: st.DataObject
) -> None:
    n = vectors.shape[0]
    labels = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    copies = np.array(data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)))
    indices = np.full((n, k), -1)
    for i in range(n):
        others = sorted(set(range(n)) - {i}, key=lambda j: (-float(vectors[i] @ vectors[j]), j))
        indices[i, : min(k, len(others))] = others[:k]
    found = citations(indices, copies, labels)
    for j in range(n):
        expected = sum(
            copies[i] for i in range(n) if labels[i] == labels[j] and j in indices[i].tolist()
        )
        assert found[j] == expected


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(st.lists(st.integers(3, 12), min_size=1, max_size=8), st.sampled_from([0.5, 1.0]))
def test_communities_of_disjoint_cliques_are_the_cliques(
    sizes: list[int], resolution: float
) -> None:
    """Up to resolution 1 (above it, modularity splits even a lone clique)."""
    blocks = np.repeat(np.arange(len(sizes)), sizes)
    adjacency = (blocks[:, None] == blocks[None, :]).astype(float)
    np.fill_diagonal(adjacency, 0.0)
    graph = csr_matrix(adjacency)
    _, components = connected_components(graph, directed=False)
    found = communities(graph, resolution)
    pairs_found = found[:, None] == found[None, :]
    pairs_expected = components[:, None] == components[None, :]
    assert np.array_equal(pairs_found, pairs_expected)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(
    unit_vectors(2, 12),
    st.data(),
    st.floats(-0.5, 0.9, allow_nan=False),
)
def test_part_overlap_is_the_share_from_background_to_within(
    vectors: np.ndarray, data: st.DataObject, background: float
) -> None:
    n = vectors.shape[0]
    parts = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    weights = np.array(data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)), float)
    memories = np.repeat(np.arange(n), weights.astype(int))
    within, across = [], []
    for a in range(memories.size):
        for b in range(a + 1, memories.size):
            i, j = memories[a], memories[b]
            similarity = float(vectors[i].astype(np.float64) @ vectors[j])
            (within if parts[i] == parts[j] else across).append(similarity)
    assume(not within or abs(np.mean(within) - background) > 1e-6)
    found = part_overlap(vectors, weights, parts, background)
    if not within or not across or np.mean(within) <= background:
        assert found == float("inf")
        return
    expected = (np.mean(across) - background) / (np.mean(within) - background)
    assert np.isclose(found, expected, rtol=1e-6, atol=1e-6)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(
    clustered_batches(),
    st.sampled_from([0.2, 0.5, 0.8]),
    st.sampled_from([1.0, 2.0]),
    st.sampled_from([0.0, 0.2]),
    st.sampled_from([0.3, 0.7, float("inf")]),
)
def test_a_community_is_cohesive_or_cannot_be_split(
    batch: MemoryBatch, threshold: float, resolution: float, background: float, overlap: float
) -> None:
    text = text_graph(batch, 5)
    vectors = batch.vectors[text.unique_rows].astype(np.float64)
    graph = shared_neighbor_graph(text.neighbors.indices)
    weights = text.weights.astype(np.float64)
    labels = cohesive_communities(
        graph, vectors, weights, threshold, resolution, background, overlap
    )
    assert labels.shape == (vectors.shape[0],) and labels.min(initial=0) >= 0
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        memories = np.repeat(rows, text.weights[rows])
        if memories.size < 2:
            continue
        pairs = [
            vectors[memories[i]] @ vectors[memories[j]]
            for i in range(memories.size)
            for j in range(i + 1, memories.size)
        ]
        if float(np.mean(pairs)) >= threshold - 1e-9:
            continue
        parts = communities(graph[rows][:, rows], resolution)
        if parts.max() == 0:
            continue
        assert part_overlap(vectors[rows], weights[rows], parts, background) > overlap, (
            f"community {label} is loose ({np.mean(pairs):.3f}) and splits into apart parts"
        )


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(clustered_batches(), pattern_settings, st.sampled_from([0.5, 0.8, 0.9]))
def test_relative_settings_are_measured_from_the_background(
    batch: MemoryBatch, pattern: PatternSettings, near_duplicate: float
) -> None:
    relative = replace(pattern, relative=True, near_duplicate=near_duplicate)
    graph = text_graph(batch, relative.neighbors)
    background = background_similarity(batch.vectors[graph.unique_rows].astype(np.float32))
    absolute = replace(
        relative,
        relative=False,
        similarity_threshold=effective_threshold(relative.similarity_threshold, background),
        near_duplicate=effective_threshold(near_duplicate, background),
    )
    found = cluster_memories(batch, graph, relative)
    assert np.array_equal(found, cluster_memories(batch, graph, absolute))
