"""Hybrid retrieval: embedding similarity, exact terms, dates and tasks, fast enough for an agent.

Embeddings find what a query means and blur what it names: an error code, a file name or a
flag is one token among many to the model. BM25 over the same texts finds those exactly. Each
item's score adds four signals to its cosine similarity with the query, each weighed by a
``SearchSettings`` field (chosen on held-out data, see benchmarks/README.md):

- ``lexical``: the share of the query's term weight the item's text matches, its BM25 score
  over the most a text could score for that query (each distinct query term's idf times
  ``k1 + 1``). A query whose matched terms are rare ("STRIPE_WEBHOOK_SECRET") leans on this
  side; one whose terms are everywhere ("error in the service") hardly moves it. The score is
  absolute, not relative to the best match, so separate indexes (memories, playbook entries)
  score on one scale.
- ``specificity``: minus the item's similarity to the index's mean direction. A memory close
  to what the whole project says ("keep spreading positivity", "tests must pass") is near
  every query and crowds out the one that answers; this is the hubness correction of CSLS
  (Conneau et al. 2018) with the mean direction in place of each item's neighbours.
- ``time``: a bonus when the item was made within a window the query names by date (see
  ``dates``): all of it, so a pattern seen over months is not made relevant by any day in
  them.
- ``task``: a share of the mean of the two best scores among the item's task-mates, so the
  memories an agent wrote in the same task as a strong match come up with it (its own score
  alone when nothing else of its task is a candidate). It is computed among the ``TASK_POOL``
  best candidates by the other signals.

Neither side compares a query with every item of a large project. Up to ``EXACT_LIMIT``
items the vectors are searched exactly. Above that they are grouped into the inverted file's
cells (see ``neighbors``), seeded by a digest of each item's text so that every machine
builds the same cells, stored cell by cell, and only the cells nearest the query are read;
items that only BM25 finds are scored on top. BM25 reads only the postings of the query's
terms.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from consolidation_assets.phases.dates import query_windows
from consolidation_assets.phases.graph import KEY_BYTES, text_key
from consolidation_assets.phases.neighbors import partition
from consolidation_assets.phases.text import STOP_WORDS

EXACT_LIMIT = 20_000
PROBES = 24
# The task signal is computed among this many of the best candidates by the other signals
# (or four times the limit, if more): an item further down is not lifted by its task-mates.
TASK_POOL = 1_000
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
        self.idf = idf
        self.unseen_idf = float(np.log1p((self.size + 0.5) / 0.5))
        average = float(lengths.mean()) if self.size else 1.0
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[row_index] / max(average, 1e-9))
        weights = idf[col_index] * tf * (BM25_K1 + 1) / (tf + norm)
        self.weights = sparse.csc_matrix(
            (weights.astype(np.float32), (row_index, col_index)),
            shape=(self.size, len(vocabulary)),
        )

    def query_mass(self, query: str) -> float:
        """The most any text could score for the query: each distinct term's idf times
        ``k1 + 1``. A term no item holds counts at the highest idf, so a query naming
        something absent is matched only in part by any text."""
        terms = set(search_terms(query))
        idf = sum(
            float(self.idf[self.vocabulary[t]]) if t in self.vocabulary else self.unseen_idf
            for t in terms
        )
        return idf * (BM25_K1 + 1)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every item for the query (zero where no term matches)."""
        columns = sorted({self.vocabulary[t] for t in search_terms(query) if t in self.vocabulary})
        if not columns:
            return np.zeros(self.size, dtype=np.float32)
        part = self.weights[:, columns]
        return np.bincount(part.indices, weights=part.data, minlength=self.size).astype(np.float32)


class VectorIndex:
    """Unit vectors searched by cosine: exactly when few, through inverted-file cells when many.

    ``keys`` (a digest of each item's text) seed the cells, so the same project gives the same
    cells, and the same answers, on any CPU; without them the cells follow the vectors' bytes.
    """

    def __init__(self, vectors: np.ndarray, keys: np.ndarray | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.size = vectors.shape[0]
        if self.size <= EXACT_LIMIT:
            self.centroids = None
            self.order = np.arange(self.size)
            self.vectors = vectors
            self.offsets = np.array([0, self.size])
            return
        self.centroids, assignment = partition(vectors, keys)
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
class SearchSettings:
    """How much each signal weighs beside cosine similarity (see the module docstring)."""

    lexical: float = 1.5
    specificity: float = 0.25
    time: float = 0.3
    task: float = 0.5

    def ceiling(self) -> float:
        """The most an item can score: cosine 1, every query term matched, in the window,
        and task-mates as good."""
        return (1.0 + self.lexical + self.time) * (1.0 + self.task)


@dataclass(frozen=True)
class Hit:
    """One ranked item: its index, its score in (0, 1], both sides' raw scores, and whether it
    was made within a date the query names."""

    index: int
    score: float
    semantic: float
    lexical: float
    dated: bool = False


class HybridIndex:
    """Items searchable by meaning, exact terms, dates and tasks, with per-query filters.

    ``spans`` holds each item's (first, last) time in epoch seconds; ``groups`` each item's
    task as an integer (``-1``: none); ``center`` the unit direction the specificity signal
    measures against, by default the mean of ``vectors``, so that an index of playbook entries
    can share the one of the project's memories and score on its scale.
    """

    def __init__(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        *,
        spans: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        center: np.ndarray | None = None,
        settings: SearchSettings | None = None,
    ) -> None:
        if len(texts) != vectors.shape[0]:
            raise ValueError(f"{len(texts)} texts but {vectors.shape[0]} vectors")
        self.size = len(texts)
        self.settings = settings or SearchSettings()
        self.center = mean_direction(vectors) if center is None else center
        self.typicality = (
            np.asarray(vectors, dtype=np.float32) @ self.center
            if self.size
            else np.zeros(0, dtype=np.float32)
        )
        self.spans = None if spans is None else np.asarray(spans, dtype=np.float64)
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        keys = None
        if self.size > EXACT_LIMIT:
            keys = np.array([text_key(t) for t in texts], dtype=f"S{KEY_BYTES}")
        self.vectors = VectorIndex(vectors, keys)
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
        settings: SearchSettings | None = None,
    ) -> list[Hit]:
        """The ``limit`` best items among ``allowed`` (a boolean mask; None: all).

        The candidates are the items the vector side reads (all of them, or the nearest cells)
        and the ``depth`` best BM25 matches.
        """
        return self.search_split(query_vector, query_text, limit, allowed, None, depth, settings)[0]

    def search_split(
        self,
        query_vector: np.ndarray,
        query_text: str,
        limit: int,
        allowed: np.ndarray | None,
        second: np.ndarray | None,
        depth: int = 100,
        settings: SearchSettings | None = None,
    ) -> tuple[list[Hit], list[Hit]]:
        """The ``limit`` best allowed items outside the ``second`` mask, and the ``limit`` best
        inside it, from one scoring (memories, and patterns and principles, say)."""
        if self.size == 0 or limit <= 0:
            return [], []
        settings = settings or self.settings
        query = np.asarray(query_vector, dtype=np.float32)
        items, cosines, bm25 = self._candidates(query, query_text, allowed, depth)
        if items.size == 0:
            return [], []
        dated = self._dated(items, query_text)
        scores = self._base_scores(items, cosines, bm25, dated, query_text, settings)
        if settings.task:
            pool = _top(np.arange(items.size), scores, max(TASK_POOL, 4 * limit), items)
            items, cosines, dated, scores = items[pool], cosines[pool], dated[pool], scores[pool]
            groups = self.groups[items] if self.groups is not None else np.full(items.size, -1)
            scores = scores + settings.task * group_support(groups, scores)
        inside = np.zeros(items.size, dtype=bool) if second is None else second[items]
        ceiling = settings.ceiling()
        parts = []
        for part in (~inside, inside):
            chosen = np.flatnonzero(part)
            order = _top(chosen, scores[chosen], limit, items[chosen])
            parts.append(
                [
                    Hit(
                        int(items[j]),
                        round(min(1.0, max(float(scores[j]) / ceiling, 1e-4)), 4),
                        float(cosines[j]),
                        float(bm25[items[j]]),
                        bool(dated[j]),
                    )
                    for j in order.tolist()
                ]
            )
        return parts[0], parts[1]

    def _candidates(
        self, query: np.ndarray, query_text: str, allowed: np.ndarray | None, depth: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(items, their cosines, every item's BM25): what the vector side reads among the
        allowed items, and the ``depth`` best BM25 matches it did not read."""
        items, cosines = self.vectors.candidates(query)
        bm25 = self.lexical.scores(query_text)
        matched = np.flatnonzero(bm25 > 0)
        if allowed is not None:
            keep = allowed[items]
            items, cosines = items[keep], cosines[keep]
            matched = matched[allowed[matched]]
        if self.vectors.centroids is not None:
            read = np.zeros(self.size, dtype=bool)
            read[items] = True
            extra = _top(matched, bm25[matched], depth)
            extra = np.sort(extra[~read[extra]])
            items = np.concatenate([items, extra])
            cosines = np.concatenate([cosines, self._similarities(query, extra)])
        return items, cosines, bm25

    def _dated(self, items: np.ndarray, query_text: str) -> np.ndarray:
        """Which candidates were made within a window the query names by date."""
        inside = np.zeros(items.size, dtype=bool)
        if self.spans is None:
            return inside
        first, last = self.spans[items, 0], self.spans[items, 1]
        for window in query_windows(query_text):
            inside |= (first >= window.start) & (last < window.end)
        return inside

    def _base_scores(
        self,
        items: np.ndarray,
        cosines: np.ndarray,
        bm25: np.ndarray,
        dated: np.ndarray,
        query_text: str,
        settings: SearchSettings,
    ) -> np.ndarray:
        """Each candidate's score before the task signal: cosine, specificity, lexical, time."""
        mass = self.lexical.query_mass(query_text)
        scores = cosines.astype(np.float64) - settings.specificity * self.typicality[items]
        if mass > 0:
            scores += settings.lexical * bm25[items] / mass
        return scores + settings.time * dated

    def _similarities(self, query: np.ndarray, items: np.ndarray) -> np.ndarray:
        where = items if self._inverse_order is None else self._inverse_order[items]
        return self.vectors.vectors[where] @ query


def interleave(specific: Sequence[Hit], general: Sequence[Hit], limit: int) -> list[Hit]:
    """Specific results first; general ones (patterns, principles) only where they earn it.

    Both lists come best first, scored on one scale. At most one general result in every ten
    places (rounded up) comes back among the specific ones, and only one scoring at least as
    high as the third-best specific result: it then takes the place its score earns, but never
    the first, so a specific answer is never crowded out of the top. When there are fewer than
    ``limit`` specific results the general ones fill the rest, best first.
    """
    specific = list(specific[:limit])
    threshold = specific[2].score if len(specific) >= 3 else float("-inf")
    admitted = [g for g in general if g.score >= threshold][: -(-limit // 10)]
    kind = {id(h): 1 for h in admitted}
    merged = sorted([*specific, *admitted], key=lambda h: (-h.score, kind.get(id(h), 0)))
    if specific and merged[0] is not specific[0]:
        merged.remove(specific[0])
        merged.insert(0, specific[0])
    merged = merged[:limit]
    rest = [g for g in general if id(g) not in kind]
    return merged + rest[: limit - len(merged)]


def mean_direction(vectors: np.ndarray) -> np.ndarray:
    """The unit mean of the rows (zeros when there are none or they cancel out)."""
    if vectors.shape[0] == 0:
        return np.zeros(vectors.shape[1] if vectors.ndim == 2 else 0, dtype=np.float32)
    total = np.asarray(vectors, dtype=np.float64).sum(axis=0)
    norm = float(np.linalg.norm(total))
    return (total / norm if norm > 0 else total).astype(np.float32)


def group_support(groups: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per item, the mean of the two best scores of its group, or its own score when it is
    alone in its group or has none (``-1``)."""
    support = np.asarray(scores, dtype=np.float64).copy()
    grouped = np.flatnonzero(groups >= 0)
    if grouped.size == 0:
        return support
    order = grouped[np.lexsort((-support[grouped], groups[grouped]))]
    keys = groups[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], keys.size]
    best = support[order[starts]]
    runner_up = support[order[np.minimum(starts + 1, keys.size - 1)]]
    second = np.where(ends - starts > 1, runner_up, best)
    support[order] = np.repeat((best + second) / 2, ends - starts)
    return support


def _top(
    items: np.ndarray, scores: np.ndarray, k: int, keys: np.ndarray | None = None
) -> np.ndarray:
    """Items by descending score, ties by key (by default the item itself), at most ``k``."""
    keys = items if keys is None else keys
    if items.size > k:
        # argpartition breaks a tie at the k-th score arbitrarily: keep every item scoring at
        # least the k-th, and let the sort below cut the tie by key.
        keep = scores >= -np.partition(-scores, k - 1)[k - 1]
        items, scores, keys = items[keep], scores[keep], keys[keep]
    order = np.lexsort((keys, -scores))
    return items[order][:k]
