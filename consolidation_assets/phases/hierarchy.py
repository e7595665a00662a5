"""Phase 3, hierarchy creation: principles abstracted from patterns, and from principles.

Patterns are grouped by the same average linkage as memories, measured on their member memories
(the average similarity between the memories of two groups), never on summaries of summaries.
A group of at least two patterns is a level-1 principle; level-1 principles are grouped the same
way, at a lower threshold, into level 2, and so on while that still groups anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from consolidation_assets.phases.linkage import average_linkage
from consolidation_assets.phases.neighbors import nearest_neighbors
from consolidation_assets.phases.text import (
    TermMatrix,
    class_keywords,
    markdown_table,
    shorten,
    term_matrix,
    title_case_keywords,
)
from consolidation_assets.phases.types import (
    MemoryBatch,
    Pattern,
    PhaseInputs,
    PhaseOutput,
    Principle,
    stable_id,
    unit,
)
from consolidation_assets.phases.writing import (
    ExtractiveWriter,
    PatternEvidence,
    Writer,
    check_writer_choice,
    evidence,
)


@dataclass(frozen=True)
class HierarchySettings:
    """``similarity_threshold`` applies at level 1 and shrinks by ``level_decay`` per level,
    never below ``min_similarity``: groups looser than that share no theme worth stating."""

    similarity_threshold: float = field(
        default=0.35,
        metadata={"description": "least average similarity between a level-1 principle's memories"},
    )
    level_decay: float = field(
        default=0.85, metadata={"description": "threshold factor per higher level"}
    )
    min_similarity: float = field(
        default=0.28, metadata={"description": "no level groups below this similarity"}
    )
    max_levels: int = field(default=3, metadata={"description": "most principle levels"})
    neighbors: int = field(
        default=10, metadata={"description": "nearest neighbours per pattern when grouping"}
    )
    keywords: int = field(default=5, metadata={"description": "keywords kept per principle"})
    writer: str = field(
        default="auto",
        metadata={
            "description": "who words the statements: extractive, llm, or auto (the LLM writer "
            "when one is configured)"
        },
    )

    def __post_init__(self) -> None:
        check_writer_choice(self.writer)


@dataclass(frozen=True)
class Hierarchy:
    principles: list[Principle]
    patterns_considered: int
    writer_metrics: dict[str, int | float] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float | int]:
        levels = [p.level for p in self.principles]
        covered = {pid for p in self.principles if p.level == 1 for pid in p.pattern_ids}
        return {
            "patterns_considered": self.patterns_considered,
            "principles_created": len(self.principles),
            "levels": max(levels, default=0),
            "level_1_principles": levels.count(1),
            "patterns_covered": len(covered),
            **self.writer_metrics,
        }


@dataclass
class _Node:
    sums: np.ndarray
    size: int
    pattern_ids: tuple[str, ...]
    member_rows: list[int]
    node_id: str


def build_hierarchy(
    project_id: str,
    batch: MemoryBatch,
    patterns: list[Pattern],
    settings: HierarchySettings | None = None,
    terms: TermMatrix | None = None,
    writer: Writer | None = None,
) -> Hierarchy:
    """Principles of every level, level 1 first; each covers at least two patterns.

    ``terms`` is the batch's term matrix when the caller already has it; ``writer`` words the
    statements (the extractive writer when None).
    """
    settings = settings or HierarchySettings()
    writer = writer or ExtractiveWriter()
    position = batch.index()
    types = {p.id: p.pattern_type for p in patterns}
    nodes = []
    for pattern in patterns:
        rows = [position[m] for m in pattern.member_ids if m in position]
        if rows:
            nodes.append(
                _Node(batch.vectors[rows].sum(axis=0), len(rows), (pattern.id,), rows, pattern.id)
            )
    principles: list[Principle] = []
    threshold = settings.similarity_threshold
    level = 1
    while len(nodes) >= 2 and level <= settings.max_levels and threshold >= settings.min_similarity:
        groups = _group(nodes, threshold, settings.neighbors)
        if not groups:
            break
        terms = terms or term_matrix(batch.texts)
        statements = {p.id: p.statement for p in principles}
        made = _principles(
            project_id, batch, terms, groups, level, settings.keywords, writer, types, statements
        )
        principles = _with_parents(principles, made)
        principles.extend(made)
        nodes = [
            _Node(
                np.sum([g.sums for g in group], axis=0),
                sum(g.size for g in group),
                p.pattern_ids,
                [r for g in group for r in g.member_rows],
                p.id,
            )
            for group, p in zip(groups, made, strict=True)
        ]
        threshold *= settings.level_decay
        level += 1
    return Hierarchy(principles, len(patterns), {"writer": writer.name, **writer.metrics()})


def _group(nodes: list[_Node], threshold: float, neighbors: int) -> list[list[_Node]]:
    sums = np.array([n.sums for n in nodes], dtype=np.float64)
    sizes = np.array([n.size for n in nodes], dtype=np.float64)
    units = np.array([unit(s) for s in sums], dtype=np.float32)
    neighbor_idx, _, _ = nearest_neighbors(units, neighbors)
    labels = average_linkage(sums, sizes, neighbor_idx, threshold)
    grouped: dict[int, list[_Node]] = {}
    for node, label in zip(nodes, labels.tolist(), strict=True):
        grouped.setdefault(label, []).append(node)
    return [g for _, g in sorted(grouped.items()) if len(g) >= 2]


def _principles(
    project_id: str,
    batch: MemoryBatch,
    terms: TermMatrix,
    groups: list[list[_Node]],
    level: int,
    top: int,
    writer: Writer,
    types: dict[str, str],
    statements: dict[str, str],
) -> list[Principle]:
    classes = np.full(len(batch), -1, dtype=np.int64)
    for c, group in enumerate(groups):
        for node in group:
            classes[node.member_rows] = c
    keyword_sets = class_keywords(terms, classes, len(groups), top)
    position = batch.index()
    made = []
    for group, keywords in zip(groups, keyword_sets, strict=True):
        total = np.sum([n.sums for n in group], axis=0)
        size = sum(n.size for n in group)
        centroid = unit(total)
        pattern_ids = tuple(sorted(p for n in group for p in n.pattern_ids))
        child_ids = tuple(sorted(n.node_id for n in group))
        cohesion = (float(total @ total) - size) / (size * (size - 1)) if size > 1 else 1.0
        said = [statements[n.node_id] for n in group if n.node_id in statements]
        draft = writer.principle([_node_evidence(batch, n, types, position) for n in group], said)
        made.append(
            Principle(
                id=stable_id("pr", project_id, str(level), *child_ids),
                statement=draft.text,
                keywords=keywords,
                level=level,
                parent_id=None,
                pattern_ids=pattern_ids,
                child_ids=child_ids if level > 1 else (),
                support=size,
                cohesion=round(cohesion, 4),
                centroid=centroid.astype(np.float32),
                label=_heading(keywords),
                cited_memory_ids=draft.memory_ids,
                writer=draft.writer,
            )
        )
    return made


def _heading(keywords: tuple[str, ...]) -> str:
    theme = title_case_keywords(keywords, 3)
    return theme[:1].upper() + theme[1:] if theme else "Recurring theme"


def _node_evidence(
    batch: MemoryBatch, node: _Node, types: dict[str, str], position: dict[str, int]
) -> PatternEvidence:
    """What a writer sees of one grouped node: a pattern, or a lower principle's memories."""
    kinds = Counter(types.get(p, "workflow") for p in node.pattern_ids)
    member_ids = [batch.ids[r] for r in node.member_rows]
    return evidence(batch, node.node_id, kinds.most_common(1)[0][0], (), member_ids, position)


def _with_parents(existing: list[Principle], parents: list[Principle]) -> list[Principle]:
    parent_of = {child: p.id for p in parents for child in p.child_ids}
    return [replace(p, parent_id=parent_of[p.id]) if p.id in parent_of else p for p in existing]


def compute(inputs: PhaseInputs, settings: HierarchySettings) -> PhaseOutput:
    """The phase as the registry runs it: principles over the project's patterns."""
    result = build_hierarchy(
        inputs.project_id,
        inputs.batch,
        inputs.upstream("patterns"),
        settings,
        inputs.terms,
        inputs.writer(settings.writer),
    )
    preview = markdown_table(
        ["level", "patterns", "support", "statement"],
        [
            [str(p.level), str(len(p.pattern_ids)), str(p.support), shorten(p.statement, 110)]
            for p in sorted(result.principles, key=lambda p: (-p.support, p.id))[:5]
        ],
    )
    return PhaseOutput(result.principles, result.metrics, len(result.principles), preview)
