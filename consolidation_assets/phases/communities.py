"""Communities of the shared-nearest-neighbour graph: clusters whose cut adapts to density.

Two texts are linked by how many nearest neighbours they share (the Jaccard index of their
neighbour lists, each list holding the text itself), not by their cosine. Inside one theme,
texts share most of their neighbours whether the theme is tight (a support queue where every
query looks alike) or loose (short, varied notes), while texts of two themes share few; so
one setting serves both kinds of project, where one global cosine cut did not (see
benchmarks/README.md, Patterns). Communities are found by Louvain modularity optimisation
(scikit-network), which needs no number of clusters; a ``resolution`` above 1 favours smaller
ones. Node order is fixed and node shuffling is off, so a graph always gives the same
communities. (scikit-network's Leiden, which guarantees connected communities, gave different
communities from run to run on one graph; a loose community is split again by the pattern phase
anyway.)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sknetwork.clustering import Louvain

_CHUNK = 65_536


def shared_neighbor_graph(indices: np.ndarray) -> sp.csr_matrix:
    """The symmetric graph of the neighbour edges (either direction), each weighted by the
    Jaccard index of its two ends' neighbour lists, themselves included.

    ``indices`` is an (n, k) array of neighbour rows, ``-1`` for none. Two texts that share
    nothing but the edge itself still weigh ``2 / |union|``, so no edge vanishes.
    """
    indices = np.asarray(indices, dtype=np.int64)
    n = indices.shape[0]
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.float64)
    lists = np.concatenate([np.arange(n, dtype=np.int64)[:, None], indices], axis=1)
    lists = np.sort(np.where(lists >= 0, lists, -1), axis=1)
    for column in range(1, lists.shape[1]):
        repeated = lists[:, column] == lists[:, column - 1]
        lists[repeated, column - 1] = -1
    lists = np.sort(lists, axis=1)
    lengths = (lists >= 0).sum(axis=1)

    src = np.repeat(np.arange(n, dtype=np.int64), indices.shape[1])
    dst = indices.ravel()
    keep = (dst >= 0) & (dst != src)
    low, high = np.minimum(src[keep], dst[keep]), np.maximum(src[keep], dst[keep])
    codes = np.unique(low * n + high)
    low, high = codes // n, codes % n

    shared = np.empty(low.size, dtype=np.int64)
    for start in range(0, low.size, _CHUNK):
        left = lists[low[start : start + _CHUNK]]
        right = lists[high[start : start + _CHUNK]]
        matches = (left[:, :, None] == right[:, None, :]) & (left[:, :, None] >= 0)
        shared[start : start + _CHUNK] = matches.sum(axis=(1, 2))
    weights = shared / (lengths[low] + lengths[high] - shared)
    graph = sp.coo_matrix((weights, (low, high)), shape=(n, n)).tocsr()
    return (graph + graph.T).tocsr()


def communities(graph: sp.csr_matrix, resolution: float) -> np.ndarray:
    """A community label per node (0..c-1, largest communities first), by Louvain."""
    n = graph.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if graph.nnz == 0:
        return np.arange(n, dtype=np.int64)
    louvain = Louvain(resolution=resolution, random_state=0, return_probs=False)
    return np.asarray(louvain.fit_predict(graph), dtype=np.int64)
