"""Nothing grows with the square of the memories: doubling a project's memories must not
quadruple the similarity computations of the neighbour search, nor the memory a phase holds.

Synthetic vectors stand in for embeddings here on purpose: this is about cost, not quality.
"""

import tracemalloc

import pytest

from consolidation_assets.phases.merging import merge_memories
from consolidation_assets.phases.neighbors import EXACT_LIMIT, nearest_neighbors
from consolidation_assets.phases.patterns import extract_patterns
from tests.helpers import synthetic_batch

pytestmark = pytest.mark.slow

SIZES = (4_000, 8_000)


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
