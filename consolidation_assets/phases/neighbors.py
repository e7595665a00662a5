"""Nearest neighbours by cosine similarity, the candidate generator of every phase."""

from __future__ import annotations

import numpy as np

_BLOCK = 2048


def nearest_neighbors(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each unit row, the indices and similarities of its ``k`` most similar other rows.

    Rows with fewer than ``k`` others get ``-1`` indices (similarity ``-inf``) for the missing
    places. Results are sorted by similarity, ties by index, so they are deterministic.
    """
    return _top_k(vectors, vectors, k, exclude_self=True)


def cross_nearest(queries: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, its ``k`` most similar ``base`` rows (``-1`` where base is short)."""
    return _top_k(queries, base, k, exclude_self=False)


def _top_k(
    queries: np.ndarray, base: np.ndarray, k: int, *, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    m = queries.shape[0]
    k_eff = min(k, base.shape[0] - (1 if exclude_self else 0))
    indices = np.full((m, k), -1, dtype=np.int64)
    sims = np.full((m, k), -np.inf, dtype=np.float32)
    if k_eff <= 0 or m == 0:
        return indices, sims
    data = np.ascontiguousarray(base, dtype=np.float32)
    for start in range(0, m, _BLOCK):
        block = np.ascontiguousarray(queries[start : start + _BLOCK], dtype=np.float32) @ data.T
        if exclude_self:
            rows = np.arange(block.shape[0])
            block[rows, start + rows] = -np.inf
        part = np.argpartition(-block, k_eff - 1, axis=1)[:, :k_eff]
        part_sims = np.take_along_axis(block, part, axis=1)
        order = np.lexsort((part, -part_sims), axis=1)
        indices[start : start + _BLOCK, :k_eff] = np.take_along_axis(part, order, axis=1)
        sims[start : start + _BLOCK, :k_eff] = np.take_along_axis(part_sims, order, axis=1)
    return indices, sims
