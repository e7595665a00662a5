"""Nearest neighbours by cosine similarity, the candidate generator of every phase.

Up to ``EXACT_LIMIT`` rows the search is exact: every pair is compared, a block of rows at a
time (about 3 s for 16,000 rows on two cores). Below that size exactness is worth its cost. On
the 7,817 MRPC sentences an inverted file found 78% of the true ten neighbours, and a
project's density and communities were read off whichever neighbours it found.

Larger sets go through the inverted file: the vectors are partitioned into about sqrt(n) cells
around centroids refined by a few k-means steps, and each cell's members are compared only with
the members of the ``PROBES`` cells whose centroids are nearest to its own. That is about
n * PROBES * sqrt(n) comparisons instead of n squared (a thirtieth of it at 100,000 vectors),
held one cell at a time. Everything is deterministic: centroids start from the rows whose keys
(the phases pass a digest of each text) are lowest, and ties break by index. Without keys they
start from a hash of the rows' bytes, which holds on one machine only: the same text embedded
on another CPU differs in its last bits, and a project seeded that way got other neighbours
for 70% of its texts.
"""

from __future__ import annotations

import math
import zlib
from typing import NamedTuple

import numpy as np

EXACT_LIMIT = 20_000
PROBES = 12
KMEANS_STEPS = 4
KMEANS_SAMPLE = 20_000
_BLOCK = 2048


class Neighbors(NamedTuple):
    """Per query row: neighbour indices (``-1`` where none), their similarities, and how many
    vector comparisons the search made (the cost the complexity tests watch)."""

    indices: np.ndarray
    similarities: np.ndarray
    comparisons: int


def nearest_neighbors(vectors: np.ndarray, k: int, keys: np.ndarray | None = None) -> Neighbors:
    """For each unit row, its ``k`` most similar other rows, best first, ties by index.

    ``keys`` (one sortable value per row, such as a digest of its text) choose the inverted
    file's seed rows, the lowest first. Given them, the cells no longer depend on the vectors'
    last bits, and the same project gets the same neighbours on any CPU.
    """
    return _search(vectors, vectors, k, exclude_self=True, keys=keys)


def cross_nearest(
    queries: np.ndarray, base: np.ndarray, k: int, *, exact: bool = False
) -> Neighbors:
    """For each query row, its ``k`` most similar ``base`` rows; ``exact`` compares every pair
    (for a few queries against a large base, where exactness costs little)."""
    return _search(queries, base, k, exclude_self=False, exact=exact)


def _search(
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    *,
    exclude_self: bool,
    exact: bool = False,
    keys: np.ndarray | None = None,
) -> Neighbors:
    m = queries.shape[0]
    indices = np.full((m, k), -1, dtype=np.int64)
    sims = np.full((m, k), -np.inf, dtype=np.float32)
    if m == 0 or base.shape[0] == 0 or k <= 0:
        return Neighbors(indices, sims, 0)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    base = np.ascontiguousarray(base, dtype=np.float32)
    if exact or base.shape[0] <= EXACT_LIMIT:
        rows = np.arange(m)
        comparisons = _top_k_into(
            queries, rows, base, np.arange(base.shape[0]), k, exclude_self, indices, sims
        )
        return Neighbors(indices, sims, comparisons)
    centroids, comparisons = _centroids(base, keys)
    base_cell, cost = _assign(base, centroids)
    comparisons += cost
    if exclude_self:
        query_cell = base_cell
    else:
        query_cell, cost = _assign(queries, centroids)
        comparisons += cost
    probes = min(PROBES, centroids.shape[0])
    closeness = centroids @ centroids.T
    # A cell's own centroid is nearest to it, but rounding can rank an identical centroid (an
    # empty cell seeded by a duplicate row) above it; the cell must always search itself.
    np.fill_diagonal(closeness, np.inf)
    near_cells = np.argsort(-closeness, axis=1, kind="stable")[:, :probes]
    comparisons += centroids.shape[0] ** 2
    members = [np.flatnonzero(base_cell == c) for c in range(centroids.shape[0])]
    for cell in range(centroids.shape[0]):
        rows = np.flatnonzero(query_cell == cell)
        if rows.size == 0:
            continue
        candidates = np.sort(np.concatenate([members[c] for c in near_cells[cell]]))
        comparisons += _top_k_into(queries, rows, base, candidates, k, exclude_self, indices, sims)
    return Neighbors(indices, sims, comparisons)


def _top_k_into(
    queries: np.ndarray,
    rows: np.ndarray,
    base: np.ndarray,
    candidates: np.ndarray,
    k: int,
    exclude_self: bool,
    indices: np.ndarray,
    sims: np.ndarray,
) -> int:
    """Exact top-k of ``rows`` among ``candidates``, written into ``indices``/``sims``."""
    comparisons = 0
    everything = candidates.size == base.shape[0]
    candidate_vectors = base if everything else base[candidates]
    # A block of query rows against all candidates is held at once; keep it near 64 MB.
    block_size = max(1, min(_BLOCK, (16 << 20) // max(candidates.size, 1)))
    for start in range(0, rows.size, block_size):
        block_rows = rows[start : start + block_size]
        block = queries[block_rows] @ candidate_vectors.T
        comparisons += block.size
        if exclude_self:
            hit_row, hit_col = np.nonzero(block_rows[:, None] == candidates[None, :])
            block[hit_row, hit_col] = -np.inf
        available = candidates.size - (1 if exclude_self else 0)
        k_eff = min(k, available)
        if k_eff <= 0:
            continue
        part = np.argpartition(-block, k_eff - 1, axis=1)[:, :k_eff]
        part_sims = np.take_along_axis(block, part, axis=1)
        # argpartition breaks ties at the k-th value arbitrarily; where that value also occurs
        # outside the chosen columns, choose again by a stable sort so lower indices win.
        kth = part_sims.min(axis=1, keepdims=True)
        crowded = (block == kth).sum(axis=1) > (part_sims == kth).sum(axis=1)
        for r in np.flatnonzero(crowded).tolist():
            part[r] = np.argsort(-block[r], kind="stable")[:k_eff]
            part_sims[r] = block[r, part[r]]
        part_index = candidates[part]
        order = np.lexsort((part_index, -part_sims), axis=1)
        indices[block_rows, :k_eff] = np.take_along_axis(part_index, order, axis=1)
        sims[block_rows, :k_eff] = np.take_along_axis(part_sims, order, axis=1)
    return comparisons


def partition(vectors: np.ndarray, keys: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The inverted file's cells for unit rows: (about sqrt(n) centroids, each row's cell).

    ``keys`` choose the seed rows as in ``nearest_neighbors``, so the cells do not depend on
    the vectors' last bits."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    centroids, _ = _centroids(vectors, keys)
    assignment, _ = _assign(vectors, centroids)
    return centroids, assignment


def _centroids(base: np.ndarray, keys: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """About sqrt(n) unit centroids: seed rows, then a few k-means steps on a sample.

    Seeds and sample are the rows whose ``keys`` are lowest (without keys, whose bytes hash
    lowest), not rows at fixed positions, so appending vectors leaves almost all of them (and
    so the cells, and the neighbours found) as they were: a project that grows by 1% is
    partitioned as before.
    """
    n = base.shape[0]
    cells = max(2, int(math.sqrt(n)))
    if keys is None:
        keys = np.array([zlib.crc32(row.tobytes()) for row in base])
    rank = np.argsort(keys, kind="stable")
    sample = base[np.sort(rank[: min(n, KMEANS_SAMPLE)])]
    centroids = base[np.sort(rank[:cells])].copy()
    comparisons = 0
    for _ in range(KMEANS_STEPS):
        assignment, cost = _assign(sample, centroids)
        comparisons += cost
        sums = np.zeros_like(centroids)
        np.add.at(sums, assignment, sample)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        filled = norms[:, 0] > 0
        centroids[filled] = sums[filled] / norms[filled]
    return centroids, comparisons


def _assign(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, int]:
    assignment = np.empty(vectors.shape[0], dtype=np.int64)
    for start in range(0, vectors.shape[0], _BLOCK * 4):
        block = vectors[start : start + _BLOCK * 4] @ centroids.T
        assignment[start : start + _BLOCK * 4] = np.argmax(block, axis=1)
    return assignment, vectors.shape[0] * centroids.shape[0]
