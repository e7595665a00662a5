"""Average-linkage agglomerative clustering on a nearest-neighbour graph.

With unit vectors, the average pairwise cosine similarity between two clusters is the dot product
of their sum vectors divided by the product of their sizes, so each merge decision is exact
average linkage at the cost of one dot product. Only clusters joined by a neighbour edge are
compared, which keeps the work near ``n * k`` instead of ``n**2`` while giving the same clusters
as full average linkage whenever clusters that belong together are neighbours somewhere, which
holds for any cluster whose average similarity clears a useful threshold.
"""

from __future__ import annotations

import heapq

import numpy as np


def average_linkage(
    sums: np.ndarray,
    sizes: np.ndarray,
    neighbor_indices: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """Cluster labels (0..c-1, numbered by first member) merging while similarity >= threshold.

    ``sums`` holds each item's sum of unit member vectors (a unit vector for a single memory,
    ``w`` times it for ``w`` identical texts), ``sizes`` the member counts, and
    ``neighbor_indices`` an (n, k) array of neighbour rows (``-1`` for none).
    """
    n = sums.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    totals = np.array(sums, dtype=np.float64, copy=True)
    size = np.asarray(sizes, dtype=np.float64).copy()
    adjacency: list[set[int]] = [set() for _ in range(n)]
    for i, row in enumerate(np.asarray(neighbor_indices)):
        for j in row:
            j = int(j)
            if j >= 0 and j != i:
                adjacency[i].add(j)
                adjacency[j].add(i)

    version = np.zeros(n, dtype=np.int64)
    heap: list[tuple[float, int, int, int, int]] = []
    for i in range(n):
        later = sorted(j for j in adjacency[i] if j > i)
        if not later:
            continue
        sims = totals[later] @ totals[i] / (size[later] * size[i])
        heap.extend(
            (-float(s), i, j, 0, 0) for j, s in zip(later, sims, strict=True) if s >= threshold
        )
    heapq.heapify(heap)

    parent = np.arange(n)
    alive = np.ones(n, dtype=bool)
    while heap:
        _, a, b, version_a, version_b = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != version_a or version[b] != version_b:
            continue
        if len(adjacency[a]) < len(adjacency[b]) or (
            len(adjacency[a]) == len(adjacency[b]) and a > b
        ):
            a, b = b, a
        totals[a] += totals[b]
        size[a] += size[b]
        alive[b] = False
        parent[b] = a
        version[a] += 1
        for j in adjacency[b]:
            if j != a:
                adjacency[j].discard(b)
                adjacency[j].add(a)
        adjacency[a] |= adjacency[b]
        adjacency[a].discard(a)
        adjacency[a].discard(b)
        adjacency[b] = set()
        others = sorted(adjacency[a])
        if not others:
            continue
        sims = totals[others] @ totals[a] / (size[others] * size[a])
        for j, s in zip(others, sims, strict=True):
            if s >= threshold:
                pair = (a, j) if a < j else (j, a)
                heapq.heappush(
                    heap, (-float(s), *pair, int(version[pair[0]]), int(version[pair[1]]))
                )

    roots = np.empty(n, dtype=np.int64)
    for i in range(n):
        root = i
        while parent[root] != root:
            root = parent[root]
        node = i
        while parent[node] != root and node != root:
            parent[node], node = root, parent[node]
        roots[i] = root
    _, first_index, labels = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_index, kind="stable"), kind="stable")
    return order[labels]
