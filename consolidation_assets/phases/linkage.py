"""Average-linkage agglomerative clustering on a nearest-neighbour graph.

With unit vectors, the average pairwise cosine similarity between two clusters is the dot product
of their sum vectors divided by the product of their sizes, so every linkage value is exact at
the cost of one dot product. Only clusters joined by a neighbour edge are compared, which keeps
the work near ``n * k`` instead of ``n**2``.

Merging runs in rounds: every cluster finds its most similar neighbour, and every pair of
clusters that are each other's most similar neighbour (and at least ``threshold`` similar)
merges at once. Average linkage is reducible, so merging reciprocal nearest neighbours gives the
clusters that merging the single best pair at a time gives, while each round is a handful of
vectorised operations over the edges; only edges touching a merged cluster are re-measured.
Sums are kept in float32: a relative error near 1e-7 against thresholds set to two decimals.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 16_384


def average_linkage(
    sums: np.ndarray,
    sizes: np.ndarray,
    neighbor_indices: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """Cluster labels (0..c-1, numbered by first member) merging while similarity >= threshold.

    ``sums`` holds each item's sum of unit member vectors (a unit vector for a single memory,
    ``w`` times it for ``w`` identical texts), ``sizes`` the member counts, and
    ``neighbor_indices`` an (n, k) array of neighbour rows (``-1`` for none). A float32
    ``sums`` is updated in place (callers hand over a fresh array); others are copied.
    """
    n = sums.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    totals = np.asarray(sums, dtype=np.float32)
    size = np.asarray(sizes, dtype=np.float64).copy()
    parent = np.arange(n, dtype=np.int64)

    neighbor_indices = np.asarray(neighbor_indices, dtype=np.int64)
    src = np.repeat(np.arange(n, dtype=np.int64), neighbor_indices.shape[1])
    dst = neighbor_indices.ravel()
    keep = (dst >= 0) & (dst != src)
    a, b = _canonical(src[keep], dst[keep], n)
    sim = _similarities(totals, size, a, b)

    while a.size:
        # Only an edge at the threshold can be a merge, and a node whose best edge is below it
        # merges with nobody, so best neighbours are sought among those edges alone. The others
        # are kept: a merge can lift their linkage above the threshold.
        strong = sim >= threshold
        if not strong.any():
            break
        best, best_sim = _best_neighbors(a[strong], b[strong], sim[strong], n)
        candidates = np.flatnonzero(best >= 0)
        mutual = candidates[
            (best[best[candidates]] == candidates)
            & (candidates < best[candidates])
            & (best_sim[candidates] >= threshold)
        ]
        if mutual.size == 0:
            break
        absorbed = best[mutual]
        before = size.copy()
        totals[mutual] += totals[absorbed]
        size[mutual] += size[absorbed]
        relabel = np.arange(n, dtype=np.int64)
        relabel[absorbed] = mutual
        parent[absorbed] = mutual
        parts = np.ones(n, dtype=np.int64)
        parts[mutual] = 2
        touched = parts == 2
        touched[absorbed] = True

        # Edges away from this round's merges are unchanged (and still unique); the others are
        # renamed to the surviving clusters and measured again.
        affected = touched[a] | touched[b]
        a_new, b_new, sim_new = _remeasured(
            a[affected], b[affected], sim[affected], relabel, parts, before, totals, size, n
        )
        a = np.concatenate([a[~affected], a_new])
        b = np.concatenate([b[~affected], b_new])
        sim = np.concatenate([sim[~affected], sim_new])

    roots = parent
    while True:
        next_roots = parent[roots]
        if np.array_equal(next_roots, roots):
            break
        roots = next_roots
    _, first_index, labels = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_index, kind="stable"), kind="stable")
    return order[labels]


def _canonical(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges as (low, high), each once."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(low * n + high, return_index=True)
    return low[first], high[first]


def _remeasured(
    old_a: np.ndarray,
    old_b: np.ndarray,
    old_sim: np.ndarray,
    relabel: np.ndarray,
    parts: np.ndarray,
    before: np.ndarray,
    totals: np.ndarray,
    size: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges touching this round's merges, renamed, deduplicated and measured.

    When every pair of parts of the two new clusters was an edge already, the new linkage is
    their size-weighted mean (the Lance-Williams update for average linkage, exact); only the
    others need a dot product of sum vectors.
    """
    a, b = relabel[old_a], relabel[old_b]
    apart = a != b
    if not apart.any():
        # Every edge touching the merges joined two clusters that are now one.
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float64)
    old_a, old_b, old_sim, a, b = old_a[apart], old_b[apart], old_sim[apart], a[apart], b[apart]
    low, high = np.minimum(a, b), np.maximum(a, b)
    codes = low * n + high
    order = np.argsort(codes, kind="stable")
    codes, low, high = codes[order], low[order], high[order]
    weighted = (before[old_a] * before[old_b] * old_sim)[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    low, high = low[starts], high[starts]
    found = np.diff(np.r_[starts, codes.size])
    sims = np.empty(starts.size, dtype=np.float64)
    complete = found == parts[low] * parts[high]
    sums = np.add.reduceat(weighted, starts) if starts.size else weighted
    sims[complete] = sums[complete] / (size[low[complete]] * size[high[complete]])
    missing = ~complete
    sims[missing] = _similarities(totals, size, low[missing], high[missing])
    return low, high, sims


def _similarities(totals: np.ndarray, size: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Average linkage of each edge's two clusters, in chunks to bound memory."""
    out = np.empty(a.size, dtype=np.float64)
    for start in range(0, a.size, _CHUNK):
        left, right = a[start : start + _CHUNK], b[start : start + _CHUNK]
        dots = np.einsum("ij,ij->i", totals[left], totals[right])
        out[start : start + _CHUNK] = dots / (size[left] * size[right])
    return out


def _best_neighbors(
    a: np.ndarray, b: np.ndarray, sim: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each node's most similar neighbour (ties: the lower index) and that similarity."""
    nodes = np.concatenate([a, b])
    others = np.concatenate([b, a])
    sims = np.concatenate([sim, sim])
    order = np.lexsort((others, -sims, nodes))
    nodes, others, sims = nodes[order], others[order], sims[order]
    first = np.ones(nodes.size, dtype=bool)
    first[1:] = nodes[1:] != nodes[:-1]
    best = np.full(n, -1, dtype=np.int64)
    best_sim = np.full(n, -np.inf)
    best[nodes[first]] = others[first]
    best_sim[nodes[first]] = sims[first]
    return best, best_sim
