"""Phase 3, hierarchy creation: principles abstracted from patterns, and from principles.

Patterns are grouped by the same average linkage as memories, measured on their member memories
(the average similarity between the memories of two groups), never on summaries of summaries.
A group of at least two patterns is a level-1 principle; level-1 principles are grouped the same
way, at a lower threshold, into level 2, and so on while that still groups anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from consolidation_assets.phases.linkage import average_linkage
from consolidation_assets.phases.neighbors import nearest_neighbors
from consolidation_assets.phases.text import (
    TermMatrix,
    class_keywords,
    key_sentence,
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

# A principle is stated in the words of its most central member, and lessons, decisions and
# warnings are what agents write as general rules; among near-equally central members they win.
LESSON_TYPES = frozenset({"learning", "decision", "warning"})
LESSON_BONUS = 0.05


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


@dataclass(frozen=True)
class Hierarchy:
    principles: list[Principle]
    patterns_considered: int

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
) -> Hierarchy:
    """Principles of every level, level 1 first; each covers at least two patterns.

    ``terms`` is the batch's term matrix when the caller already has it.
    """
    settings = settings or HierarchySettings()
    position = batch.index()
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
        made = _principles(project_id, batch, terms, groups, level, settings.keywords)
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
    return Hierarchy(principles, len(patterns))


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
) -> list[Principle]:
    classes = np.full(len(batch), -1, dtype=np.int64)
    for c, group in enumerate(groups):
        for node in group:
            classes[node.member_rows] = c
    keyword_sets = class_keywords(terms, classes, len(groups), top)
    made = []
    for group, keywords in zip(groups, keyword_sets, strict=True):
        total = np.sum([n.sums for n in group], axis=0)
        size = sum(n.size for n in group)
        rows = [r for n in group for r in n.member_rows]
        centroid = unit(total)
        central = max(
            rows,
            key=lambda r: (
                float(batch.vectors[r] @ centroid)
                + (LESSON_BONUS if batch.memory_types[r] in LESSON_TYPES else 0.0),
                -r,
            ),
        )
        pattern_ids = tuple(sorted(p for n in group for p in n.pattern_ids))
        child_ids = tuple(sorted(n.node_id for n in group))
        cohesion = (float(total @ total) - size) / (size * (size - 1)) if size > 1 else 1.0
        theme = title_case_keywords(keywords, 3) or "Recurring theme"
        sentence = shorten(key_sentence(batch.texts[central], keywords), 220)
        made.append(
            Principle(
                id=stable_id("pr", project_id, str(level), *child_ids),
                statement=f"{theme[:1].upper()}{theme[1:]}: {sentence}",
                keywords=keywords,
                level=level,
                parent_id=None,
                pattern_ids=pattern_ids,
                child_ids=child_ids if level > 1 else (),
                support=size,
                cohesion=round(cohesion, 4),
                centroid=centroid.astype(np.float32),
            )
        )
    return made


def _with_parents(existing: list[Principle], parents: list[Principle]) -> list[Principle]:
    parent_of = {child: p.id for p in parents for child in p.child_ids}
    return [replace(p, parent_id=parent_of[p.id]) if p.id in parent_of else p for p in existing]


def compute(inputs: PhaseInputs, settings: HierarchySettings) -> PhaseOutput:
    """The phase as the registry runs it: principles over the project's patterns."""
    result = build_hierarchy(
        inputs.project_id, inputs.batch, inputs.upstream("patterns"), settings, inputs.terms
    )
    preview = markdown_table(
        ["level", "patterns", "support", "statement"],
        [
            [str(p.level), str(len(p.pattern_ids)), str(p.support), shorten(p.statement, 110)]
            for p in sorted(result.principles, key=lambda p: (-p.support, p.id))[:5]
        ],
    )
    return PhaseOutput(result.principles, result.metrics, len(result.principles), preview)
