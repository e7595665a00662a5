"""Phase 1, pattern extraction: recurring themes across a project's memories.

Memories are clustered by average linkage on their nearest-neighbour graph (no k to guess, and
anything that does not recur stays out of every pattern). A cluster becomes a pattern when at
least ``min_support`` memories support it; it is labelled by its most central memory and by the
keywords that set it apart from the rest of the project (class-based TF-IDF).

The threshold is relative to the project's background (``relative``): the median similarity of
two of its memories. All the memories of a banking app's support queue, or of one codebase,
lean the same way, so two unrelated ones already look alike; a pattern must stand out above
that. A pattern's memories must be, on average, ``similarity_threshold`` of the way from the
background to identical: with a background of 0.2 and a threshold of 0.4, an average similarity
of 0.52. The median, unlike the mean, is not carried away by one topic that fills a small
project. This lets one setting serve a project of near-identical phrasings and one of varied
short notes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from consolidation_assets.phases.graph import TextGraph, text_graph
from consolidation_assets.phases.linkage import average_linkage
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
    """Thresholds of pattern extraction (each field's description shows in the launchpad)."""

    similarity_threshold: float = field(
        default=0.4,
        metadata={
            "description": "least average cosine similarity between a pattern's memories; "
            "when relative, as a share of the way from the project's background similarity to 1"
        },
    )
    min_support: int = field(default=3, metadata={"description": "least memories per pattern"})
    neighbors: int = field(
        default=10, metadata={"description": "nearest neighbours per memory in the graph"}
    )
    keywords: int = field(default=6, metadata={"description": "keywords kept per pattern"})
    relative: bool = field(
        default=True,
        metadata={
            "description": "measure the threshold from the project's background similarity "
            "(the median similarity of two of its memories) rather than from 0"
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


def cluster_memories(
    batch: MemoryBatch, graph: TextGraph, threshold: float, relative: bool = True
) -> np.ndarray:
    """A cluster label per memory; exact duplicates always share one."""
    distinct = batch.vectors[graph.unique_rows]
    if relative:
        threshold = effective_threshold(threshold, background_similarity(distinct))
    sums = distinct.astype(np.float32)
    sums *= graph.weights[:, None].astype(np.float32)
    unique_labels = average_linkage(sums, graph.weights, graph.neighbors.indices, threshold)
    return unique_labels[graph.unique_of]


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
    labels = cluster_memories(batch, graph, settings.similarity_threshold, settings.relative)
    sizes = np.bincount(labels)
    kept = [c for c in range(len(sizes)) if sizes[c] >= settings.min_support]
    class_of = np.full(len(sizes), -1, dtype=np.int64)
    class_of[kept] = np.arange(len(kept))
    keyword_sets = class_keywords(terms, class_of[labels], len(kept), settings.keywords)

    members_of: dict[int, list[int]] = {c: [] for c in kept}
    for i, label in enumerate(labels.tolist()):
        if label in members_of:
            members_of[label].append(i)

    patterns = [
        _pattern(project_id, batch, members_of[c], keyword_sets[k]) for k, c in enumerate(kept)
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
