"""Phase 1, pattern extraction: recurring themes across a project's memories.

Memories are grouped into communities of their shared-nearest-neighbour graph (Louvain; see
``communities``): no number of patterns to guess, and the cut adapts to how tight each region
of the project is. A community looser than ``similarity_threshold`` (below) is split again on
its own subgraph, since modularity cannot see a theme much smaller than the whole project; but
only when its parts stand apart (``split_overlap``), since Louvain also cuts one loose theme of
short, varied notes into arbitrary pieces. A community is a theme, not yet a pattern. Two
tests keep one-off memories out, since a memory that recurs nowhere must not be presented as a
recurring pattern:

- a memory stays in its community only if it recurs there: it has an exact copy, or it has a
  near duplicate (``near_duplicate`` of the way from the project's background similarity to
  identical, like the threshold below) or a nearest neighbour at most ``stray_margin`` less
  similar to it than is typical of the community (the median over its texts), and it is in
  turn among the nearest neighbours of at least ``min_support - 1`` other memories of the
  community (at most half of ``neighbors``: ``least_citations``). A one-off note that landed
  beside a theme has no close neighbour of its own, while the theme's members do. How close
  counts as a near duplicate depends on the project: where every memory is much like the
  others (a help desk's queries), a one-off note finds a neighbour at 0.8 by chance. Closeness
  is one-sided, though: a note can be close to a theme's member while every member has closer
  ones of its own. Being listed back by as many members as a pattern needs is what a memory of
  the theme has and such a note lacks.
- what remains is a pattern when at least ``min_support`` memories support it and they are, on
  average, ``similarity_threshold`` of the way from the project's background similarity (the
  median similarity of two of its memories) to identical. All the memories of one codebase
  lean the same way, so two unrelated ones already look alike; a pattern must stand out above
  that, and a community of leftovers does not.

A pattern is labelled by its most central memory and by the keywords that set it apart from the
rest of the project (class-based TF-IDF).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from consolidation_assets.phases.communities import communities, shared_neighbor_graph
from consolidation_assets.phases.graph import TextGraph, text_graph
from consolidation_assets.phases.text import (
    TermMatrix,
    class_keywords,
    markdown_table,
    saturating,
    sentences,
    shorten,
    term_matrix,
)
from consolidation_assets.phases.types import (
    MemoryBatch,
    Pattern,
    PhaseInputs,
    PhaseOutput,
    stable_id,
    unit,
)

# Rows whose pairs give the background similarity: about two million pairs at most.
_BACKGROUND_ROWS = 2000
PATTERN_TYPES = ("failure", "gotcha", "decision", "workflow", "success")
_TYPE_VOTE = {
    "error_fix": "failure",
    "warning": "gotcha",
    "decision": "decision",
    "discovery": "workflow",
    "codebase_knowledge": "workflow",
    "learning": "success",
}


@dataclass(frozen=True)
class PatternSettings:
    """Settings of pattern extraction (each field's description shows in the launchpad)."""

    similarity_threshold: float = field(
        default=0.3,
        metadata={
            "description": "least average cosine similarity between a pattern's memories; "
            "when relative, as a share of the way from the project's background similarity to 1"
        },
    )
    min_support: int = field(
        default=3,
        metadata={
            "description": "least memories per pattern; each memory kept must also be among "
            "the nearest neighbours of at least this many less one of its pattern's memories "
            "(at most half of `neighbors`)"
        },
    )
    neighbors: int = field(
        default=10, metadata={"description": "nearest neighbours per memory in the graph"}
    )
    resolution: float = field(
        default=1.0,
        metadata={
            "description": "modularity resolution of the shared-neighbour communities: higher "
            "gives more, smaller patterns"
        },
    )
    stray_margin: float = field(
        default=0.05,
        metadata={
            "description": "how much less similar a memory's nearest neighbour may be than is "
            "typical of its community before the memory counts as a one-off and is left out"
        },
    )
    split_overlap: float = field(
        default=0.5,
        metadata={
            "description": "a loose community is split only when the similarity between its "
            "parts is at most this share of the way from the project's background similarity "
            "to the similarity within them; above it the parts are one theme cut arbitrarily"
        },
    )
    near_duplicate: float = field(
        default=0.8,
        metadata={
            "description": "a memory whose nearest neighbour is at least this similar recurs, "
            "however tight its community; when relative, as a share of the way from the "
            "project's background similarity to 1"
        },
    )
    keywords: int = field(default=6, metadata={"description": "keywords kept per pattern"})
    relative: bool = field(
        default=True,
        metadata={
            "description": "measure the threshold and the near-duplicate similarity from the "
            "project's background similarity (the median similarity of two of its memories) "
            "rather than from 0"
        },
    )


@dataclass(frozen=True)
class PatternExtraction:
    patterns: list[Pattern]
    memories_processed: int
    unique_texts: int
    memories_in_patterns: int

    @property
    def metrics(self) -> dict[str, float | int]:
        processed = self.memories_processed
        return {
            "memories_processed": processed,
            "unique_texts": self.unique_texts,
            "patterns_extracted": len(self.patterns),
            "memories_in_patterns": self.memories_in_patterns,
            "memories_left_out": processed - self.memories_in_patterns,
            "coverage": round(self.memories_in_patterns / processed, 4) if processed else 0.0,
            "mean_confidence": round(float(np.mean([p.confidence for p in self.patterns])), 4)
            if self.patterns
            else 0.0,
        }


def background_similarity(vectors: np.ndarray) -> float:
    """The median cosine similarity of two distinct rows, at least 0.

    Up to ``_BACKGROUND_ROWS`` rows every pair is measured; above, the pairs among that many
    rows spread evenly over the batch.
    """
    rows = np.asarray(vectors, dtype=np.float32)
    n = rows.shape[0]
    if n < 2:
        return 0.0
    if n > _BACKGROUND_ROWS:
        rows = rows[np.linspace(0, n - 1, _BACKGROUND_ROWS).round().astype(np.int64)]
    sims = rows @ rows.T
    upper = sims[np.triu_indices(rows.shape[0], k=1)]
    return max(float(np.median(upper)), 0.0)


def effective_threshold(threshold: float, background: float) -> float:
    """The absolute similarity ``threshold`` of the way from ``background`` to 1."""
    return background + threshold * (1.0 - background)


def absolute_settings(settings: PatternSettings, background: float) -> PatternSettings:
    """``settings`` with the similarity threshold and the near duplicate as the cosines they
    stand for in a project of this ``background`` (unchanged when not ``relative``)."""
    if not settings.relative:
        return settings
    return replace(
        settings,
        relative=False,
        similarity_threshold=effective_threshold(settings.similarity_threshold, background),
        near_duplicate=effective_threshold(settings.near_duplicate, background),
    )


def group_medians(values: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """The median of ``values`` in each group ``0..count-1`` (NaN for an empty group)."""
    order = np.lexsort((values, labels))
    values, labels = values[order], labels[order]
    sizes = np.bincount(labels, minlength=count)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    medians = np.full(count, np.nan)
    present = sizes > 0
    low = starts[present] + (sizes[present] - 1) // 2
    high = starts[present] + sizes[present] // 2
    medians[present] = (values[low].astype(np.float64) + values[high]) / 2
    return medians


def citations(indices: np.ndarray, copies: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per distinct text, how many memories of its own community list it among their nearest
    neighbours (``indices``, ``-1`` where none; a text's ``copies`` each list it)."""
    count = indices.shape[0]
    sources = np.repeat(np.arange(count), indices.shape[1])
    targets = indices.ravel()
    listed = targets >= 0
    sources, targets = sources[listed], targets[listed]
    same = labels[sources] == labels[targets]
    return np.bincount(
        targets[same], weights=copies[sources[same]].astype(np.float64), minlength=count
    )


def least_citations(min_support: int, k: int) -> int:
    """How many memories of its community must list a memory among their ``k`` nearest: as many
    as a pattern needs beside it, ``min_support - 1``, but at most half of ``k``. Every memory
    lists ``k``, so ``k`` is what a community's memories are listed by on average, and the least
    listed members of a real theme fall well short of it."""
    return max(min(min_support - 1, k // 2), 0)


def recurring(
    nearest: np.ndarray,
    copies: np.ndarray,
    labels: np.ndarray,
    margin: float,
    near_duplicate: float,
    cited: np.ndarray,
    least_cited: float,
) -> np.ndarray:
    """Whether each distinct text recurs in its community: it has an exact copy; or its
    ``nearest`` neighbour is a near duplicate (at least ``near_duplicate`` similar) or at least
    the community's median less ``margin``, and it is ``cited`` (``citations``) by at least
    ``least_cited`` memories of the community."""
    nearest = np.where(np.isfinite(nearest), nearest, -1.0).astype(np.float64)
    typical = group_medians(nearest, labels, int(labels.max(initial=-1)) + 1)
    bar = np.minimum(typical[labels] - margin, near_duplicate)
    return (copies > 1) | ((nearest >= bar) & (cited >= least_cited))


def mean_similarities(
    vectors: np.ndarray, weights: np.ndarray, labels: np.ndarray, count: int
) -> np.ndarray:
    """Per group, the average cosine similarity of two of its memories (copies included:
    ``weights`` counts each distinct unit row's memories); 1 for a single memory."""
    rows = labels >= 0
    sizes = np.bincount(labels[rows], weights=weights[rows], minlength=count)
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[rows], vectors[rows] * weights[rows, None])
    squares = np.einsum("ij,ij->i", sums, sums)
    pairs = sizes * (sizes - 1)
    return np.where(pairs > 0, (squares - sizes) / np.where(pairs > 0, pairs, 1), 1.0)


def part_overlap(
    vectors: np.ndarray, weights: np.ndarray, parts: np.ndarray, background: float
) -> float:
    """How alike the parts of a group are: the average similarity of two memories in different
    parts as a share of the way from ``background`` to the average similarity of two memories in
    one part (copies counted by ``weights``, through ``mean_similarities``).

    Near 0, the parts are as unrelated as any two memories of the project; near 1, as alike
    across as within. Infinite when the parts are no tighter than the background, since then
    they show no theme at all.
    """
    count = int(parts.max(initial=-1)) + 1
    sizes = np.bincount(parts, weights=weights, minlength=count)
    pairs = sizes * (sizes - 1)
    memories = float(sizes.sum())
    within_pairs = float(pairs.sum())
    between_pairs = memories * (memories - 1) - within_pairs
    if within_pairs <= 0 or between_pairs <= 0:
        return float("inf")
    within_total = float(mean_similarities(vectors, weights, parts, count) @ pairs)
    whole = float(mean_similarities(vectors, weights, np.zeros_like(parts), 1)[0])
    within = within_total / within_pairs
    between = (whole * memories * (memories - 1) - within_total) / between_pairs
    if within <= background:
        return float("inf")
    return (between - background) / (within - background)


def cohesive_communities(
    graph: sparse.csr_matrix,
    vectors: np.ndarray,
    weights: np.ndarray,
    threshold: float,
    resolution: float,
    background: float = 0.0,
    overlap: float = float("inf"),
) -> np.ndarray:
    """Communities of ``graph``, each split again into its own communities while its memories'
    average similarity is under ``threshold`` and the parts found overlap at most ``overlap``
    (``part_overlap`` from ``background``).

    Modularity cannot see a theme much smaller than the project (its resolution limit): in a
    codebase where every memory looks alike, a few small themes come out as one community. Within
    that community alone they are large again, so a community that is not cohesive is split on
    its own subgraph. Louvain finds parts in any subgraph, though, and a loose theme of short,
    varied notes comes apart into pieces as alike across as within; such a split is refused. A
    community that cannot be split is kept whole (the caller's threshold then decides).
    """
    labels = communities(graph, resolution)
    pending = list(range(int(labels.max(initial=-1)) + 1))
    next_label = len(pending)
    while pending:
        label = pending.pop()
        rows = np.flatnonzero(labels == label)
        if rows.size < 2:
            continue
        cohesion = mean_similarities(vectors[rows], weights[rows], np.zeros(rows.size, int), 1)
        if cohesion[0] >= threshold:
            continue
        parts = communities(graph[rows][:, rows], resolution)
        if parts.max(initial=0) == 0:
            continue
        if part_overlap(vectors[rows], weights[rows], parts, background) > overlap:
            continue
        for part in range(1, int(parts.max()) + 1):
            labels[rows[parts == part]] = next_label
            pending.append(next_label)
            next_label += 1
        pending.append(label)
        labels[rows[parts == 0]] = label
    return labels


def cluster_memories(batch: MemoryBatch, graph: TextGraph, settings: PatternSettings) -> np.ndarray:
    """A pattern label per memory (``-1``: in no pattern); exact duplicates always share one."""
    distinct = batch.vectors[graph.unique_rows].astype(np.float32)
    if distinct.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    background = background_similarity(distinct)
    measured = absolute_settings(settings, background)
    threshold = measured.similarity_threshold
    weights = graph.weights.astype(np.float64)
    labels = cohesive_communities(
        shared_neighbor_graph(graph.neighbors.indices),
        distinct,
        weights,
        threshold,
        settings.resolution,
        background,
        settings.split_overlap,
    )
    nearest = graph.neighbors.similarities[:, 0] if graph.k else np.full(labels.size, -np.inf)
    recurs = recurring(
        nearest,
        graph.weights,
        labels,
        settings.stray_margin,
        measured.near_duplicate,
        citations(graph.neighbors.indices, graph.weights, labels),
        least_citations(settings.min_support, graph.k),
    )
    labels = np.where(recurs, labels, -1)
    count = int(labels.max(initial=-1)) + 1
    support = np.bincount(labels[labels >= 0], weights=weights[labels >= 0], minlength=count)
    cohesion = mean_similarities(distinct, weights, labels, count)
    kept = (support >= settings.min_support) & (cohesion >= threshold)
    renumbered = np.full(count + 1, -1, dtype=np.int64)
    renumbered[np.flatnonzero(kept)] = np.arange(int(kept.sum()))
    return renumbered[labels][graph.unique_of]


def infer_pattern_type(memory_types: list[str], success: list[bool | None]) -> str:
    """The platform's pattern type from what the members are and whether they worked."""
    votes: Counter[str] = Counter()
    for memory_type, worked in zip(memory_types, success, strict=True):
        votes["failure" if worked is False else _TYPE_VOTE.get(memory_type, "workflow")] += 1
    return max(PATTERN_TYPES, key=lambda t: (votes[t], -PATTERN_TYPES.index(t)))


def pattern_confidence(cohesion: float, support: int, distinct_tasks: int) -> float:
    """How much to trust a pattern: tight, often seen, and seen in different tasks.

    Cohesion counts for half (0 at an average similarity of 0.5, full at 0.9), evidence for
    0.35 (saturating: 3 memories give 0.39 of it, 10 give 0.89), and the share of distinct
    tasks for the rest, since one task repeating itself is weaker evidence than many.
    """
    tightness = min(max((cohesion - 0.5) / 0.4, 0.0), 1.0)
    evidence = saturating(support - 1, 4.0)
    diversity = distinct_tasks / support if support else 0.0
    return round(0.5 * tightness + 0.35 * evidence + 0.15 * diversity, 4)


def extract_patterns(
    project_id: str,
    batch: MemoryBatch,
    settings: PatternSettings | None = None,
    graph: TextGraph | None = None,
    terms: TermMatrix | None = None,
) -> PatternExtraction:
    """The project's recurring patterns, largest first.

    ``graph`` and ``terms`` may come precomputed for the batch (they are shared with other
    phases); they are built here otherwise.
    """
    settings = settings or PatternSettings()
    n = len(batch)
    if n == 0:
        return PatternExtraction([], 0, 0, 0)
    if graph is None or graph.k != settings.neighbors:
        graph = text_graph(batch, settings.neighbors)
    terms = terms or term_matrix(batch.texts)
    labels = cluster_memories(batch, graph, settings)
    count = int(labels.max(initial=-1)) + 1
    keyword_sets = class_keywords(terms, labels, count, settings.keywords)
    members_of: list[list[int]] = [[] for _ in range(count)]
    for i, label in enumerate(labels.tolist()):
        if label >= 0:
            members_of[label].append(i)

    patterns = [
        _pattern(project_id, batch, members, keyword_sets[c])
        for c, members in enumerate(members_of)
    ]
    patterns.sort(key=lambda p: (-p.support, p.id))
    return PatternExtraction(
        patterns=patterns,
        memories_processed=n,
        unique_texts=int(graph.unique_rows.size),
        memories_in_patterns=sum(p.support for p in patterns),
    )


def _pattern(
    project_id: str, batch: MemoryBatch, members: list[int], keywords: tuple[str, ...]
) -> Pattern:
    vectors = batch.vectors[members]
    centroid = unit(vectors.sum(axis=0))
    similarity = vectors @ centroid
    order = sorted(range(len(members)), key=lambda j: (-similarity[j], batch.ids[members[j]]))
    members = [members[j] for j in order]
    similarity = similarity[order]
    central = members[0]
    member_ids = tuple(batch.ids[i] for i in members)
    tasks = {batch.task_ids[i] or f"memory:{batch.ids[i]}" for i in members}
    created = [batch.created_at[i] for i in members]
    pattern_type = infer_pattern_type(
        [batch.memory_types[i] for i in members], [batch.success[i] for i in members]
    )
    cohesion = float(similarity.mean())
    support = len(members)
    central_text = batch.texts[central]
    label = shorten((sentences(central_text) or [central_text])[0], 120)
    summary = (
        f"{pattern_type.capitalize()} pattern seen in {support} memories across {len(tasks)} "
        f"task(s) from {min(created):%Y-%m-%d} to {max(created):%Y-%m-%d}"
        + (f", about {', '.join(keywords[:4])}" if keywords else "")
        + f". Most typical: {shorten(central_text, 300)}"
    )
    return Pattern(
        id=stable_id("pat", project_id, *sorted(member_ids)),
        label=label,
        summary=summary,
        keywords=keywords,
        pattern_type=pattern_type,
        confidence=pattern_confidence(cohesion, support, len(tasks)),
        support=support,
        distinct_tasks=len(tasks),
        cohesion=round(cohesion, 4),
        central_memory_id=batch.ids[central],
        first_seen=min(created),
        last_seen=max(created),
        member_ids=member_ids,
        member_similarities=tuple(round(float(s), 4) for s in similarity),
        centroid=centroid.astype(np.float32),
    )


def compute(inputs: PhaseInputs, settings: PatternSettings) -> PhaseOutput:
    """The phase as the registry runs it: the project's patterns from its memories."""
    result = extract_patterns(
        inputs.project_id, inputs.batch, settings, inputs.graph(settings.neighbors), inputs.terms
    )
    preview = markdown_table(
        ["support", "type", "confidence", "keywords", "label"],
        [
            [
                str(p.support),
                p.pattern_type,
                f"{p.confidence:.2f}",
                ", ".join(p.keywords[:4]),
                shorten(p.label, 90),
            ]
            for p in result.patterns[:5]
        ],
    )
    return PhaseOutput(result.patterns, result.metrics, len(result.patterns), preview)
