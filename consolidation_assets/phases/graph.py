"""The shape of a project's memories that several phases share: which texts repeat exactly,
and the nearest-neighbour graph of the distinct texts.

Identical texts cluster, merge and embed alike, so the phases work on distinct texts weighted by
how often each occurs. The graph is computed once per run and handed to every phase that needs
it, and it carries over from run to run: when the distinct texts of the last run are all still
there, only the new ones are searched (exactly, against every text), and the old ones gain the
new texts that come closer than their current neighbours. A project that grows by 1% then costs
1% of a search, and what did not change keeps the neighbours it had, so its patterns do too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from consolidation_assets.phases.neighbors import Neighbors, cross_nearest, nearest_neighbors
from consolidation_assets.phases.text import normalize
from consolidation_assets.phases.types import MemoryBatch

KEY_BYTES = 20
# Which search built a stored graph. Bump it when the search would find other neighbours for the
# same texts (2: exact up to 20,000 texts, cells seeded by the texts above); a graph stored by
# another version is not carried over.
SEARCH_VERSION = 2
_UPDATE_CHUNK = 256


@dataclass(frozen=True)
class StoredGraph:
    """A graph as kept between runs: distinct-text keys and neighbour lists over them."""

    keys: np.ndarray
    indices: np.ndarray
    similarities: np.ndarray
    k: int


@dataclass(frozen=True)
class TextGraph:
    """``unique_rows``: the first row of each distinct text; ``unique_of``: per memory, the
    index of its distinct text; ``weights``: copies of each; ``neighbors``: over distinct texts;
    ``keys``: a digest of each distinct text; ``searched``: distinct texts searched this time."""

    unique_rows: np.ndarray
    unique_of: np.ndarray
    weights: np.ndarray
    neighbors: Neighbors
    k: int
    keys: np.ndarray
    searched: int

    @property
    def exact_duplicates(self) -> int:
        return int(self.unique_of.size - self.unique_rows.size)

    def stored(self) -> StoredGraph:
        return StoredGraph(self.keys, self.neighbors.indices, self.neighbors.similarities, self.k)


def text_key(text: str) -> bytes:
    """The identity of a distinct text: a digest of its normalised form."""
    return hashlib.sha1(normalize(text).encode("utf-8"), usedforsecurity=False).digest()


def collapse_exact(texts: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per text, the index of its distinct (normalised) text; and each distinct text's first row."""
    first: dict[str, int] = {}
    unique_of = np.empty(len(texts), dtype=np.int64)
    rows: list[int] = []
    for i, text in enumerate(texts):
        key = normalize(text)
        index = first.get(key)
        if index is None:
            index = first[key] = len(rows)
            rows.append(i)
        unique_of[i] = index
    return unique_of, np.array(rows, dtype=np.int64)


def text_graph(batch: MemoryBatch, k: int, previous: StoredGraph | None = None) -> TextGraph:
    """The graph of the batch's distinct texts, extending ``previous`` when it still applies."""
    unique_of, unique_rows = collapse_exact(list(batch.texts))
    weights = np.bincount(unique_of, minlength=unique_rows.size)
    keys = np.array([text_key(batch.texts[r]) for r in unique_rows.tolist()], dtype=f"S{KEY_BYTES}")
    vectors = batch.vectors[unique_rows]
    extended = _extended(previous, keys, vectors, k) if previous is not None else None
    if extended is None:
        neighbors, searched = nearest_neighbors(vectors, k, keys), int(unique_rows.size)
    else:
        neighbors, searched = extended
    return TextGraph(unique_rows, unique_of, weights, neighbors, k, keys, searched)


def _extended(
    previous: StoredGraph, keys: np.ndarray, vectors: np.ndarray, k: int
) -> tuple[Neighbors, int] | None:
    """The previous graph carried over to the current texts (and how many texts were new),
    or None when it cannot be: other settings, or texts of the last run no longer here."""
    if previous.k != k or previous.keys.size == 0:
        return None
    position = {key: i for i, key in enumerate(keys.tolist())}
    old_rows = np.array([position.get(key, -1) for key in previous.keys.tolist()])
    if (old_rows < 0).any():
        return None
    n = keys.size
    indices = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    previous_indices = np.asarray(previous.indices)
    indices[old_rows] = np.where(
        previous_indices >= 0, old_rows[np.maximum(previous_indices, 0)], -1
    )
    sims[old_rows] = previous.similarities
    is_new = np.ones(n, dtype=bool)
    is_new[old_rows] = False
    new_rows = np.flatnonzero(is_new)
    if new_rows.size == 0:
        return Neighbors(indices, sims, 0), 0
    found = cross_nearest(vectors[new_rows], vectors, k + 1, exact=True)
    comparisons = found.comparisons
    for i, row in enumerate(new_rows.tolist()):
        keep = found.indices[i] != row
        indices[row] = found.indices[i][keep][:k]
        sims[row] = found.similarities[i][keep][:k]
    comparisons += _offer_new_neighbours(vectors, old_rows, new_rows, indices, sims, k)
    return Neighbors(indices, sims, comparisons), int(new_rows.size)


def _offer_new_neighbours(
    vectors: np.ndarray,
    old_rows: np.ndarray,
    new_rows: np.ndarray,
    indices: np.ndarray,
    sims: np.ndarray,
    k: int,
) -> int:
    """Every old row keeps its ``k`` best among its neighbours so far and the new rows."""
    comparisons = 0
    old_vectors = vectors[old_rows]
    for start in range(0, new_rows.size, _UPDATE_CHUNK):
        chunk = new_rows[start : start + _UPDATE_CHUNK]
        block = old_vectors @ vectors[chunk].T
        comparisons += block.size
        # Most rows keep their neighbours: only those a new row beats are re-ranked.
        improved = np.flatnonzero(block.max(axis=1) > sims[old_rows, k - 1])
        if improved.size == 0:
            continue
        rows = old_rows[improved]
        block = block[improved]
        take = min(k, chunk.size)
        part = np.argpartition(-block, take - 1, axis=1)[:, :take]
        merged_idx = np.concatenate([indices[rows], chunk[part]], axis=1)
        merged_sims = np.concatenate([sims[rows], np.take_along_axis(block, part, axis=1)], axis=1)
        order = np.lexsort((merged_idx, -merged_sims), axis=1)[:, :k]
        indices[rows] = np.take_along_axis(merged_idx, order, axis=1)
        sims[rows] = np.take_along_axis(merged_sims, order, axis=1)
    return comparisons
