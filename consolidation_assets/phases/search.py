"""Hybrid retrieval: embedding similarity fused with BM25, fast enough for an agent's loop.

Embeddings find what a query means and blur what it names: an error code, a file name or a
flag is one token among many to the model. BM25 over the same texts finds those exactly.
The two ranked lists are fused by reciprocal rank (each item scores ``1 / (60 + rank)`` in
every list it is in), which needs no calibration between cosine and BM25 scales.

Neither side compares a query with every item of a large project. Up to ``EXACT_LIMIT``
items the vectors are searched exactly. Above that they are grouped into the inverted file's
cells (see ``neighbors``), stored cell by cell, and only the cells nearest the query are
read. BM25 reads only the postings of the query's terms.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from consolidation_assets.phases.neighbors import partition
from consolidation_assets.phases.text import STOP_WORDS

EXACT_LIMIT = 20_000
PROBES = 24
RRF_K = 60
BM25_K1 = 1.2
BM25_B = 0.75
_TOKEN = re.compile(r"[a-z0-9_]+(?:[.\-/:][a-z0-9_]+)*")
_SEPARATORS = re.compile(r"[.\-/:]")


def search_terms(text: str) -> list[str]:
    """Lower-case terms; a compound token counts whole and by its parts.

    ``ORA-01555`` gives ``ora-01555``, ``ora`` and ``01555``; ``settings.py`` gives
    ``settings.py``, ``settings`` and ``py``: a query naming the whole finds it exactly, one
    naming a part still finds it.
    """
    terms = []
    for token in _TOKEN.findall(text.lower()):
        if _SEPARATORS.search(token):
            terms.append(token)
            terms.extend(p for p in _SEPARATORS.split(token) if p and p not in STOP_WORDS)
        elif token not in STOP_WORDS:
            terms.append(token)
    return terms


class LexicalIndex:
    """BM25 weights of every (term, item), stored term by term."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(self.size, dtype=np.float32)
        for row, text in enumerate(texts):
            terms = Counter(search_terms(text))
            lengths[row] = sum(terms.values())
            for term, count in terms.items():
                rows.append(row)
                cols.append(vocabulary.setdefault(term, len(vocabulary)))
                counts.append(count)
        self.vocabulary = vocabulary
        tf = np.asarray(counts, dtype=np.float32)
        row_index = np.asarray(rows, dtype=np.int64)
        col_index = np.asarray(cols, dtype=np.int64)
        document_frequency = np.bincount(col_index, minlength=len(vocabulary))
        idf = np.log1p((self.size - document_frequency + 0.5) / (document_frequency + 0.5))
        average = float(lengths.mean()) if self.size else 1.0
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[row_index] / max(average, 1e-9))
        weights = idf[col_index] * tf * (BM25_K1 + 1) / (tf + norm)
        self.weights = sparse.csc_matrix(
            (weights.astype(np.float32), (row_index, col_index)),
            shape=(self.size, len(vocabulary)),
        )

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every item for the query (zero where no term matches)."""
        columns = sorted({self.vocabulary[t] for t in search_terms(query) if t in self.vocabulary})
        if not columns:
            return np.zeros(self.size, dtype=np.float32)
        part = self.weights[:, columns]
        return np.bincount(part.indices, weights=part.data, minlength=self.size).astype(np.float32)


class VectorIndex:
    """Unit vectors searched by cosine: exactly when few, through inverted-file cells when many."""

    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.size = vectors.shape[0]
        if self.size <= EXACT_LIMIT:
            self.centroids = None
            self.order = np.arange(self.size)
            self.vectors = vectors
            self.offsets = np.array([0, self.size])
            return
        self.centroids, assignment = partition(vectors)
        self.order = np.argsort(assignment, kind="stable")
        self.vectors = vectors[self.order]
        self.offsets = np.searchsorted(
            assignment[self.order], np.arange(self.centroids.shape[0] + 1)
        )

    def candidates(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(item indices, cosines) of the items in the cells nearest the query."""
        if self.centroids is None:
            return self.order, self.vectors @ query
        cells = np.sort(np.argsort(-(self.centroids @ query), kind="stable")[:PROBES])
        spans = [(self.offsets[c], self.offsets[c + 1]) for c in cells.tolist()]
        items = np.concatenate([self.order[a:b] for a, b in spans])
        cosines = np.concatenate([self.vectors[a:b] @ query for a, b in spans])
        return items, cosines


@dataclass(frozen=True)
class Hit:
    """One ranked item: its index, the fused score in (0, 1], and both sides' raw scores."""

    index: int
    score: float
    semantic: float
    lexical: float


class HybridIndex:
    """Items searchable by meaning and by exact terms, with per-query filters."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if len(texts) != vectors.shape[0]:
            raise ValueError(f"{len(texts)} texts but {vectors.shape[0]} vectors")
        self.size = len(texts)
        self.vectors = VectorIndex(vectors)
        self.lexical = LexicalIndex(texts)
        self._inverse_order = (
            np.argsort(self.vectors.order) if self.vectors.centroids is not None else None
        )

    def search(
        self,
        query_vector: np.ndarray,
        query_text: str,
        limit: int = 10,
        allowed: np.ndarray | None = None,
        depth: int = 100,
    ) -> list[Hit]:
        """The ``limit`` best items among ``allowed`` (a boolean mask; None: all)."""
        if self.size == 0 or limit <= 0:
            return []
        depth = max(depth, limit)
        items, cosines = self.vectors.candidates(np.asarray(query_vector, dtype=np.float32))
        if allowed is not None:
            keep = allowed[items]
            items, cosines = items[keep], cosines[keep]
        semantic = _top(items, cosines, depth)
        bm25 = self.lexical.scores(query_text)
        matched = np.flatnonzero(bm25 > 0)
        if allowed is not None:
            matched = matched[allowed[matched]]
        lexical = _top(matched, bm25[matched], depth)
        fused: dict[int, float] = {}
        for ranked in (semantic, lexical):
            for rank, item in enumerate(ranked.tolist()):
                fused[item] = fused.get(item, 0.0) + 1.0 / (RRF_K + rank + 1)
        if not fused:
            return []
        best = sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]
        chosen = np.array([item for item, _ in best], dtype=np.int64)
        sims = self._similarities(np.asarray(query_vector, dtype=np.float32), chosen)
        top_score = 2.0 / (RRF_K + 1)
        return [
            Hit(int(item), round(score / top_score, 4), float(sim), float(bm25[item]))
            for (item, score), sim in zip(best, sims.tolist(), strict=True)
        ]

    def _similarities(self, query: np.ndarray, items: np.ndarray) -> np.ndarray:
        where = items if self._inverse_order is None else self._inverse_order[items]
        return self.vectors.vectors[where] @ query


def _top(items: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Items by descending score, ties by index, at most ``k``."""
    if items.size > k:
        # argpartition breaks a tie at the k-th score arbitrarily: keep every item scoring at
        # least the k-th, and let the sort below cut the tie by index.
        keep = scores >= -np.partition(-scores, k - 1)[k - 1]
        items, scores = items[keep], scores[keep]
    order = np.lexsort((items, -scores))
    return items[order][:k]
