"""Phase 2, memory merging: near-duplicate memories become one merged memory.

Candidates come from nearest neighbours, never from all pairs. A pair is a duplicate when the
texts are the same once normalised, or when three things hold together:

- its duplicate score reaches ``duplicate_threshold``. The score is a small logistic model of
  four signals of the pair (``PairModel``): the embeddings' cosine similarity; the texts' word
  coverage; the content words the wordier text adds that the other lacks; and how dense the
  project is around the two memories (the mean similarity of each to its nearest neighbours).
  Embeddings blur what a sentence adds; words do not, and a text that adds a fact of its own
  leaves words uncovered whatever its cosine. Density calibrates the cosine to the project: in
  a stream of short, formulaic notes ("X is idle", "X is being used") every neighbour is close,
  so a high cosine says less than it does among long, varied texts. The weights are fitted on
  the public dev sets by ``make bench-quality`` and shipped as ``PAIR_MODEL``.
- its cosine reaches ``min_cosine``, a floor under the model.
- the detail guard finds no conflict: no different numbers, versions, paths, identifiers,
  error codes or names in capitals (REPORTER, PII_ANALYST) on each side, and no side negating
  what the other states. Whatever the model says, the guard has the last word.

Groups are stars around a canonical memory, so every source is itself a duplicate of the
canonical and nothing chains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from consolidation_assets.phases.graph import TextGraph, text_graph
from consolidation_assets.phases.text import (
    capitalised_names,
    content_words,
    details,
    details_conflict,
    is_negated,
    markdown_table,
    normalize,
    shorten,
    word_coverage,
)
from consolidation_assets.phases.types import (
    MemoryBatch,
    MergeGroup,
    PhaseInputs,
    PhaseOutput,
    stable_id,
)


@dataclass(frozen=True)
class PairModel:
    """Weights of the duplicate score: ``sigmoid(bias + w . signals)`` over a pair's signals.

    ``uncovered`` weighs the count of content words the wordier text has that the other lacks;
    ``density`` weighs the mean of the two memories' average similarity to their nearest
    neighbours. ``bias`` puts the decision the dev sets chose at a score of 0.5.
    """

    cosine: float
    coverage: float
    uncovered: float
    density: float
    bias: float

    def score(
        self,
        cosine: np.ndarray,
        coverage: np.ndarray,
        uncovered: np.ndarray,
        density: np.ndarray,
    ) -> np.ndarray:
        """The duplicate score of each pair, between 0 and 1."""
        z = (
            self.bias
            + self.cosine * np.asarray(cosine, dtype=np.float64)
            + self.coverage * np.asarray(coverage, dtype=np.float64)
            + self.uncovered * np.asarray(uncovered, dtype=np.float64)
            + self.density * np.asarray(density, dtype=np.float64)
        )
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))


# Fitted by ``python -m benchmarks.quality`` on every dev set together (see benchmarks/README.md).
PAIR_MODEL = PairModel(
    cosine=9.4863, coverage=1.5529, uncovered=-0.1279, density=-3.2922, bias=-7.5640
)


@dataclass(frozen=True)
class MergeSettings:
    """Thresholds of memory merging (each field's description shows in the launchpad)."""

    duplicate_threshold: float = field(
        default=0.5,
        metadata={
            "description": "least duplicate score (the pair model's, from cosine similarity, "
            "word coverage, uncovered words and the project's density) of a source and its "
            "merged memory's canonical; 0.5 is where the dev sets' precision holds"
        },
    )
    min_cosine: float = field(
        default=0.75,
        metadata={
            "description": "least cosine similarity of a merged pair (a floor under the model)"
        },
    )
    neighbors: int = field(default=10, metadata={"description": "merge candidates per memory"})
    detail_guard: bool = field(
        default=True,
        metadata={
            "description": "refuse merges of texts with conflicting numbers, paths, ids or negation"
        },
    )


@dataclass(frozen=True)
class MergeOutcome:
    groups: list[MergeGroup]
    memories_processed: int
    exact_duplicates: int
    guard_rejections: int

    @property
    def metrics(self) -> dict[str, float | int]:
        merged = sum(len(g.source_ids) for g in self.groups)
        processed = self.memories_processed
        return {
            "memories_processed": processed,
            "merge_groups": len(self.groups),
            "memories_merged": merged,
            "memories_absorbed": merged - len(self.groups),
            "exact_duplicates": self.exact_duplicates,
            "detail_guard_rejections": self.guard_rejections,
            "reduction": round((merged - len(self.groups)) / processed, 4) if processed else 0.0,
        }


def pair_signals(words_a: frozenset[str], words_b: frozenset[str]) -> tuple[float, int]:
    """The word coverage of a pair and the content words its wordier side adds."""
    larger = max(len(words_a), len(words_b))
    return word_coverage(words_a, words_b), larger - len(words_a & words_b)


def duplicate_score(
    cosine: float,
    words_a: frozenset[str],
    words_b: frozenset[str],
    density: float,
    model: PairModel = PAIR_MODEL,
) -> float:
    """The pair model's score of two memories from their cosine, words and density."""
    coverage, uncovered = pair_signals(words_a, words_b)
    return float(model.score(cosine, coverage, uncovered, density))


def is_duplicate(
    text_a: str,
    text_b: str,
    cosine: float,
    settings: MergeSettings,
    density: float,
    model: PairModel = PAIR_MODEL,
) -> bool:
    """The pair rule on its own, for callers that hold two texts and the pair's density."""
    if normalize(text_a) == normalize(text_b):
        return True
    score = duplicate_score(cosine, content_words(text_a), content_words(text_b), density, model)
    if cosine < settings.min_cosine or score < settings.duplicate_threshold:
        return False
    if not settings.detail_guard:
        return True
    return not guard_conflict(text_a, text_b)


def guard_details(text: str) -> frozenset[str]:
    """What the detail guard compares: the text's details and its names in capitals."""
    return details(text) | capitalised_names(text)


def guard_conflict(text_a: str, text_b: str) -> bool:
    """The detail guard on two texts: one negates what the other states, or each commits to a
    detail the other lacks."""
    return is_negated(text_a) != is_negated(text_b) or details_conflict(
        guard_details(text_a), guard_details(text_b)
    )


def neighbour_density(similarities: np.ndarray) -> np.ndarray:
    """Per row of a neighbour list, the mean similarity of its ``k`` neighbours.

    A neighbour that is missing (a project of ``k`` memories or fewer) counts as unrelated,
    similarity 0: a handful of memories is no evidence of a dense, formulaic stream.
    """
    sims = np.asarray(similarities, dtype=np.float64)
    if sims.ndim != 2 or sims.shape[1] == 0:
        return np.zeros(sims.shape[0] if sims.ndim else 0)
    return np.where(np.isfinite(sims), sims, 0.0).sum(axis=1) / sims.shape[1]


class _Features:
    """What the pair rule reads of each distinct text, computed on first use: most texts never
    have a neighbour close enough to need them."""

    def __init__(self, texts: list[str], unique_rows: list[int]) -> None:
        self._texts = texts
        self._rows = unique_rows
        self._words: dict[int, frozenset[str]] = {}
        self._details: dict[int, frozenset[str]] = {}
        self._guarded: dict[int, frozenset[str]] = {}
        self._negated: dict[int, bool] = {}

    def words(self, u: int) -> frozenset[str]:
        if u not in self._words:
            self._words[u] = content_words(self._texts[self._rows[u]])
        return self._words[u]

    def details(self, u: int) -> frozenset[str]:
        if u not in self._details:
            self._details[u] = details(self._texts[self._rows[u]])
        return self._details[u]

    def guarded(self, u: int) -> frozenset[str]:
        if u not in self._guarded:
            self._guarded[u] = self.details(u) | capitalised_names(self._texts[self._rows[u]])
        return self._guarded[u]

    def negated(self, u: int) -> bool:
        if u not in self._negated:
            self._negated[u] = is_negated(self._texts[self._rows[u]])
        return self._negated[u]

    def word_matrix(self, nodes: list[int]) -> sparse.csr_matrix:
        """Binary rows of content words, one per node, over a vocabulary of their own."""
        vocabulary: dict[str, int] = {}
        indptr, indices = [0], []
        for u in nodes:
            indices.extend(vocabulary.setdefault(w, len(vocabulary)) for w in self.words(u))
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        return sparse.csr_matrix(
            (data, np.array(indices, dtype=np.int64), np.array(indptr, dtype=np.int64)),
            shape=(len(nodes), max(len(vocabulary), 1)),
        )

    def conflict(self, u: int, v: int) -> bool:
        return self.negated(u) != self.negated(v) or details_conflict(
            self.guarded(u), self.guarded(v)
        )


def _scored_pairs(
    neighbor_idx: np.ndarray,
    neighbor_sim: np.ndarray,
    settings: MergeSettings,
    features: _Features,
    model: PairModel = PAIR_MODEL,
) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour pairs (low, high) whose duplicate score reaches the threshold, with scores.

    Word coverage and uncovered words are computed for all candidate pairs at once, on a
    sparse word matrix; the density of a node is read off its own neighbour list.
    """
    rows, columns = np.nonzero(neighbor_sim >= settings.min_cosine)
    others = neighbor_idx[rows, columns]
    valid = others >= 0
    u, v = rows[valid], others[valid]
    cosines = neighbor_sim[rows, columns][valid].astype(np.float64)
    low, high = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((-cosines, high, low))
    low, high, cosines = low[order], high[order], cosines[order]
    first = np.ones(low.size, dtype=bool)
    first[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    low, high, cosines = low[first], high[first], cosines[first]
    if low.size == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    nodes = np.unique(np.concatenate([low, high]))
    matrix = features.word_matrix(nodes.tolist())
    at_low, at_high = np.searchsorted(nodes, low), np.searchsorted(nodes, high)
    shared = np.asarray(matrix[at_low].multiply(matrix[at_high]).sum(axis=1)).ravel()
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    larger = np.maximum(sizes[at_low], sizes[at_high])
    coverage = np.where(larger > 0, shared / np.maximum(larger, 1), 1.0)
    density = neighbour_density(neighbor_sim)
    scores = model.score(cosines, coverage, larger - shared, (density[low] + density[high]) / 2)
    keep = scores >= settings.duplicate_threshold
    return np.stack([low[keep], high[keep]], axis=1), scores[keep]


def merge_memories(
    project_id: str,
    batch: MemoryBatch,
    pattern_of: dict[str, str] | None = None,
    settings: MergeSettings | None = None,
    graph: TextGraph | None = None,
    model: PairModel = PAIR_MODEL,
) -> MergeOutcome:
    """Merge groups of two or more memories; memories in no group stand alone.

    ``graph`` is the batch's text graph when the caller already has it; ``model`` is the pair
    model (the benchmark passes the ones it fits on some dev sets to judge them on another).
    """
    settings = settings or MergeSettings()
    pattern_of = pattern_of or {}
    n = len(batch)
    if n == 0:
        return MergeOutcome([], 0, 0, 0)
    texts = list(batch.texts)
    if graph is None or graph.k != settings.neighbors:
        graph = text_graph(batch, settings.neighbors)
    unique_list = graph.unique_rows.tolist()
    copies: dict[int, list[int]] = {r: [] for r in unique_list}
    for i, u in enumerate(graph.unique_of.tolist()):
        copies[unique_list[u]].append(i)
    neighbor_idx, neighbor_sim = graph.neighbors.indices, graph.neighbors.similarities

    # Copies of a text may differ in case and spacing, which ``details`` reads; the pair rule
    # reads the spelling a group would show (the earliest copy), so the guard checks the
    # canonical text itself and the details a group adds are those beyond it.
    spelling = [
        min(copies[r], key=lambda i: (batch.created_at[i], batch.ids[i])) for r in unique_list
    ]
    features = _Features(texts, spelling)
    pairs, scores = _scored_pairs(neighbor_idx, neighbor_sim, settings, features, model)
    edges: list[dict[int, float]] = [{} for _ in unique_list]
    rejections = 0
    for (u, v), score in zip(pairs.tolist(), scores.tolist(), strict=True):
        if settings.detail_guard and features.conflict(u, v):
            rejections += 1
            continue
        edges[u][v] = score
        edges[v][u] = score

    weight = [len(copies[r]) for r in unique_list]
    strength = [sum(e.values()) for e in edges]
    order = sorted(
        range(len(unique_list)),
        key=lambda u: (-(len(edges[u]) + weight[u] - 1), -strength[u], unique_list[u]),
    )
    assigned = [False] * len(unique_list)
    groups: list[MergeGroup] = []
    for leader in order:
        if assigned[leader]:
            continue
        assigned[leader] = True
        candidates = sorted(
            (v for v in edges[leader] if not assigned[v]),
            key=lambda v: (-edges[leader][v], unique_list[v]),
        )
        followers = _compatible(candidates, features) if settings.detail_guard else candidates
        for v in followers:
            assigned[v] = True
        members = [(leader, 1.0), *((v, edges[leader][v]) for v in followers)]
        rows = [(i, sim) for u, sim in members for i in copies[unique_list[u]]]
        if len(rows) < 2:
            continue
        canonical = spelling[leader]
        groups.append(
            _group(project_id, batch, rows, canonical, features.details(leader), pattern_of)
        )

    exact = graph.exact_duplicates
    groups.sort(key=lambda g: (-len(g.source_ids), g.id))
    return MergeOutcome(groups, n, exact, rejections)


def _compatible(candidates: list[int], features: _Features) -> list[int]:
    """The candidates, best first, that conflict with no follower taken before them.

    Each already passed the guard against the leader; two followers may still commit to
    different details ("pool size 20" and "pool size 30" beside a plain "raise the pool
    size"), and one merged memory must never hold both.
    """
    taken: list[int] = []
    for v in candidates:
        if not any(features.conflict(v, w) for w in taken):
            taken.append(v)
    return taken


def _group(
    project_id: str,
    batch: MemoryBatch,
    rows: list[tuple[int, float]],
    canonical: int,
    canonical_details: frozenset[str],
    pattern_of: dict[str, str],
) -> MergeGroup:
    """One merged memory: the canonical text, and the details only other sources mention."""
    rows = sorted(rows, key=lambda item: (-item[1], batch.created_at[item[0]], batch.ids[item[0]]))
    source_ids = tuple(batch.ids[i] for i, _ in rows)
    extra = set().union(*(details(batch.texts[i]) for i, _ in rows)) - canonical_details
    canonical_id = batch.ids[canonical]
    created = [batch.created_at[i] for i, _ in rows]
    return MergeGroup(
        id=stable_id("mm", project_id, *sorted(source_ids)),
        canonical_memory_id=canonical_id,
        content=batch.texts[canonical],
        source_ids=source_ids,
        source_similarities=tuple(round(float(s), 4) for _, s in rows),
        pattern_id=pattern_of.get(canonical_id),
        details=tuple(sorted(extra)),
        min_similarity=round(float(min(s for _, s in rows)), 4),
        first_seen=min(created),
        last_seen=max(created),
    )


def compute(inputs: PhaseInputs, settings: MergeSettings) -> PhaseOutput:
    """The phase as the registry runs it: merged memories, each tagged with its pattern."""
    pattern_of = {m: p.id for p in inputs.upstream("patterns") for m in p.member_ids}
    result = merge_memories(
        inputs.project_id, inputs.batch, pattern_of, settings, inputs.graph(settings.neighbors)
    )
    preview = markdown_table(
        ["sources", "min similarity", "canonical"],
        [
            [str(len(g.source_ids)), f"{g.min_similarity:.2f}", shorten(g.content, 100)]
            for g in result.groups[:5]
        ],
    )
    return PhaseOutput(result.groups, result.metrics, len(result.groups), preview)
