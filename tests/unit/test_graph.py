"""The neighbour graph carried between runs: exact for what is new, unchanged for the rest."""

from dataclasses import replace

import numpy as np
import pytest

from consolidation_assets.phases import neighbors
from consolidation_assets.phases.graph import text_graph
from consolidation_assets.phases.neighbors import cross_nearest
from consolidation_assets.phases.types import MemoryBatch
from tests.helpers import INDEXED_ABOVE, synthetic_batch


def head(batch: MemoryBatch, n: int) -> MemoryBatch:
    return MemoryBatch(
        ids=batch.ids[:n],
        texts=batch.texts[:n],
        vectors=batch.vectors[:n],
        memory_types=batch.memory_types[:n],
        success=batch.success[:n],
        task_ids=batch.task_ids[:n],
        created_at=batch.created_at[:n],
    )


def test_a_grown_project_searches_only_its_new_texts() -> None:
    full = synthetic_batch(3_000, seed=3)
    before = text_graph(head(full, 2_900), 10)
    after = text_graph(full, 10, before.stored())
    assert after.searched == 100 and before.searched == 2_900
    assert after.neighbors.comparisons <= 2 * 100 * 3_000, "new texts times all texts, no more"

    vectors = full.vectors[after.unique_rows]
    exact = cross_nearest(vectors, vectors, 11, exact=True)
    for row in range(2_900, 3_000):
        expected = [i for i in exact.indices[row].tolist() if i != row][:10]
        assert after.neighbors.indices[row].tolist() == expected

    for row in range(2_900):
        old = set(before.neighbors.indices[row].tolist())
        new = set(after.neighbors.indices[row].tolist())
        assert new - old <= set(range(2_900, 3_000)), "old rows only gain new texts"
        kth = before.neighbors.similarities[row, -1]
        for gained in new - old:
            assert float(vectors[row] @ vectors[gained]) >= kth - 1e-6


def test_an_unchanged_project_reuses_its_graph_and_a_shrunk_one_does_not() -> None:
    full = synthetic_batch(2_500, seed=4)
    first = text_graph(full, 10)
    again = text_graph(full, 10, first.stored())
    assert again.searched == 0
    assert np.array_equal(again.neighbors.indices, first.neighbors.indices)
    shrunk = text_graph(head(full, 2_000), 10, first.stored())
    assert shrunk.searched == 2_000


def test_a_large_project_gets_the_same_graph_from_slightly_other_vectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the exact limit the cells are seeded by the texts' digests, not by the vectors'
    bytes, which differ in their last bits from one CPU to another."""
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", INDEXED_ABOVE)
    batch = synthetic_batch(3_000, seed=5)
    noise = np.random.default_rng(5).normal(scale=1e-7, size=batch.vectors.shape)
    moved = batch.vectors + noise.astype(np.float32)
    moved /= np.linalg.norm(moved, axis=1, keepdims=True)
    here = text_graph(batch, 10).neighbors.indices
    there = text_graph(replace(batch, vectors=moved), 10).neighbors.indices
    unchanged = (np.sort(here, axis=1) == np.sort(there, axis=1)).all(axis=1)
    assert unchanged.mean() >= 0.99
