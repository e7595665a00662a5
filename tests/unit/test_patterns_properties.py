"""Properties of ``patterns.extract_patterns`` on generated batches.

References: the batch itself (ids, normalised texts) and a brute-force recomputation of each
pattern's average pairwise cosine from its members' vectors. A pattern is an average-linkage
cluster, so that average is at least the threshold (see ``test_linkage_properties`` for why);
membership is a partial partition of the batch; exact duplicates (normalised text) cluster as
one weighted item, so they share a pattern or are both left out.

Cases run: 100 (clustered batches up to 200 memories), 100 (text families up to 40).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases.patterns import PatternSettings, extract_patterns
from consolidation_assets.phases.text import normalize
from consolidation_assets.phases.types import MemoryBatch
from tests.unit.strategies import PROPERTY_SETTINGS, clustered_batches, text_batches

pattern_settings = st.builds(
    PatternSettings,
    similarity_threshold=st.sampled_from([0.3, 0.5, 0.7, 0.9]),
    min_support=st.integers(1, 5),
    neighbors=st.integers(1, 12),
    keywords=st.integers(0, 6),
)


def check_patterns(batch: MemoryBatch, pattern: PatternSettings) -> None:
    extraction = extract_patterns("project", batch, pattern)
    position = batch.index()
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
            assert average >= pattern.similarity_threshold - 1e-5
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
