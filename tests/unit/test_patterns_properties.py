"""Properties of ``patterns.extract_patterns`` on generated batches.

References: the batch itself (ids, normalised texts) and a brute-force recomputation of each
pattern's average pairwise cosine from its members' vectors, against the threshold recomputed
by brute force (with ``relative``, the median similarity of all pairs of distinct texts, then
the setting's share of the way from it to 1). A pattern is an average-linkage cluster, so that
average is at least the threshold (see ``test_linkage_properties`` for why);
membership is a partial partition of the batch; exact duplicates (normalised text) cluster as
one weighted item, so they share a pattern or are both left out.

Cases run: 100 (clustered batches up to 200 memories), 100 (text families up to 40).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases.patterns import (
    PatternSettings,
    background_similarity,
    effective_threshold,
    extract_patterns,
)
from consolidation_assets.phases.text import normalize
from consolidation_assets.phases.types import MemoryBatch
from tests.unit.strategies import PROPERTY_SETTINGS, clustered_batches, text_batches

pattern_settings = st.builds(
    PatternSettings,
    similarity_threshold=st.sampled_from([0.3, 0.5, 0.7, 0.9]),
    min_support=st.integers(1, 5),
    neighbors=st.integers(1, 12),
    keywords=st.integers(0, 6),
    relative=st.booleans(),
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
