"""Nothing grows with the square of the memories: doubling a project's memories must not
quadruple the similarity computations of the neighbour search, nor the memory a phase holds.

Up to ``EXACT_LIMIT`` distinct texts the search compares every pair on purpose (a bounded cost,
a few seconds); above it, the inverted file takes over. These tests lower the limit so that
projects of a few thousand memories take the path a project of a million would.

Synthetic vectors stand in for embeddings here on purpose: this is about cost, not quality.
"""

import tracemalloc

import pytest

from consolidation_assets.phases import neighbors
from consolidation_assets.phases.merging import merge_memories
from consolidation_assets.phases.neighbors import nearest_neighbors
from consolidation_assets.phases.patterns import extract_patterns
from tests.helpers import INDEXED_ABOVE, synthetic_batch

pytestmark = pytest.mark.slow

SIZES = (4_000, 8_000)


@pytest.fixture(autouse=True)
def indexed_search(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", INDEXED_ABOVE)


def peak_bytes(work) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_neighbour_search_grows_slower_than_the_square() -> None:
    assert SIZES[0] > neighbors.EXACT_LIMIT, "the test must exercise the indexed search"
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
