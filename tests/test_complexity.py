"""Nothing grows with the square of the memories: doubling a project's memories must not
quadruple the similarity computations of the neighbour search, nor the memory a phase holds.

Synthetic vectors stand in for embeddings here on purpose: this is about cost, not quality.
"""

import tracemalloc
from datetime import UTC, datetime

import numpy as np

from consolidation_assets.phases.merging import merge_memories
from consolidation_assets.phases.neighbors import EXACT_LIMIT, nearest_neighbors
from consolidation_assets.phases.patterns import extract_patterns
from consolidation_assets.phases.types import MemoryBatch

SIZES = (4_000, 8_000)


def synthetic_batch(n: int, seed: int = 0) -> MemoryBatch:
    """n memories around n/20 topics: unit vectors near topic centres, texts that share words."""
    rng = np.random.default_rng(seed)
    topics = max(n // 20, 2)
    centres = rng.normal(size=(topics, 64))
    topic = rng.integers(0, topics, size=n)
    vectors = centres[topic] + 0.6 * rng.normal(size=(n, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    words = [f"word{i}" for i in range(500)]
    texts = [
        f"topic {t} note {i}: " + " ".join(rng.choice(words, size=8))
        for i, t in enumerate(topic.tolist())
    ]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return MemoryBatch(
        ids=[f"m{i}" for i in range(n)],
        texts=texts,
        vectors=vectors,
        memory_types=["discovery"] * n,
        success=[None] * n,
        task_ids=[f"t{i}" for i in range(n)],
        created_at=[now] * n,
    )


def peak_bytes(work) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_neighbour_search_grows_slower_than_the_square() -> None:
    assert SIZES[0] > EXACT_LIMIT, "the test must exercise the indexed search"
    small, large = (nearest_neighbors(synthetic_batch(n).vectors, 10).comparisons for n in SIZES)
    print(f"comparisons: {small} -> {large} ({large / small:.2f}x)")
    assert large < 3.2 * small
    assert large < (SIZES[1] ** 2) / 4, "far fewer comparisons than all pairs"


def test_phase_memory_grows_slower_than_the_square() -> None:
    batches = [synthetic_batch(n) for n in SIZES]
    for phase in (extract_patterns, merge_memories):
        small, large = (peak_bytes(lambda b=b, phase=phase: phase("p", b)) for b in batches)
        print(f"{phase.__name__} peak bytes: {small} -> {large} ({large / small:.2f}x)")
        assert large < 3 * small
