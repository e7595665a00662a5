"""The links between raw memories and everything consolidated from them, both ways.

Up is towards the playbook: a memory is merged into a merged memory, is a member of a pattern,
and supports playbook entries; a pattern is generalised by principles and becomes entries; a
principle is generalised by its parent. Down is the reverse, towards the raw memories.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from consolidation_assets.store.models import (
    Memory,
    MergedMemory,
    MergedMemorySource,
    Pattern,
    PatternMember,
    PlaybookEntry,
    PlaybookEntryMemory,
    Principle,
    PrinciplePattern,
)


@dataclass(frozen=True)
class Node:
    kind: str
    id: str
    project_id: str
    text: str


@dataclass(frozen=True)
class Link:
    node: Node
    relation: str
    similarity: float | None = None


_KINDS = (
    ("memory", Memory, Memory.content),
    ("merged_memory", MergedMemory, MergedMemory.content),
    ("pattern", Pattern, Pattern.label),
    ("principle", Principle, Principle.statement),
    ("playbook_entry", PlaybookEntry, PlaybookEntry.content),
)


def find_node(engine: Engine, item_id: str) -> Node | None:
    """Whatever has this id: a raw memory, merged memory, pattern, principle or entry."""
    with engine.connect() as conn:
        for kind, table, text in _KINDS:
            row = conn.execute(select(table.project_id, text).where(table.id == item_id)).first()
            if row is not None:
                return Node(kind, item_id, row[0], row[1])
    return None


def _nodes(engine: Engine, kind: str, ids: list[str]) -> dict[str, Node]:
    table, text = next((t, x) for k, t, x in _KINDS if k == kind)
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(table.id, table.project_id, text).where(table.id.in_(ids)))
        return {r[0]: Node(kind, r[0], r[1], r[2]) for r in rows}


def _entries_citing(engine: Engine, node: Node, field: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(PlaybookEntry.id, getattr(PlaybookEntry, field)).where(
                PlaybookEntry.project_id == node.project_id
            )
        ).all()
    return sorted(entry_id for entry_id, cited in rows if node.id in (cited or ()))


def links_up(engine: Engine, node: Node) -> list[Link]:
    """What ``node`` feeds, one step towards the playbook."""
    found: list[tuple[str, str, str, float | None]] = []
    with engine.connect() as conn:
        if node.kind == "memory":
            for merged_id, similarity in conn.execute(
                select(MergedMemorySource.merged_id, MergedMemorySource.similarity).where(
                    MergedMemorySource.memory_id == node.id
                )
            ):
                found.append(("merged_memory", merged_id, "merged into", similarity))
            for pattern_id, similarity in conn.execute(
                select(PatternMember.pattern_id, PatternMember.similarity).where(
                    PatternMember.memory_id == node.id
                )
            ):
                found.append(("pattern", pattern_id, "member of", similarity))
            for (entry_id,) in conn.execute(
                select(PlaybookEntryMemory.entry_id).where(PlaybookEntryMemory.memory_id == node.id)
            ):
                found.append(("playbook_entry", entry_id, "supports", None))
        elif node.kind == "merged_memory":
            pattern_id = conn.scalar(
                select(MergedMemory.pattern_id).where(MergedMemory.id == node.id)
            )
            if pattern_id:
                found.append(("pattern", pattern_id, "in pattern", None))
        elif node.kind == "pattern":
            for (principle_id,) in conn.execute(
                select(PrinciplePattern.principle_id).where(PrinciplePattern.pattern_id == node.id)
            ):
                found.append(("principle", principle_id, "generalised by", None))
        elif node.kind == "principle":
            parent = conn.scalar(select(Principle.parent_id).where(Principle.id == node.id))
            if parent:
                found.append(("principle", parent, "generalised by", None))
    if node.kind == "pattern":
        found += [
            ("playbook_entry", e, "becomes entry", None)
            for e in _entries_citing(engine, node, "source_pattern_ids")
        ]
    elif node.kind == "principle":
        found += [
            ("playbook_entry", e, "becomes entry", None)
            for e in _entries_citing(engine, node, "source_principle_ids")
        ]
    return _resolve(engine, found)


def links_down(engine: Engine, node: Node) -> list[Link]:
    """What ``node`` rests on, one step towards the raw memories."""
    found: list[tuple[str, str, str, float | None]] = []
    with engine.connect() as conn:
        if node.kind == "playbook_entry":
            row = conn.execute(
                select(PlaybookEntry.source_principle_ids, PlaybookEntry.source_pattern_ids).where(
                    PlaybookEntry.id == node.id
                )
            ).one()
            found += [("principle", p, "rests on", None) for p in row[0] or ()]
            found += [("pattern", p, "rests on", None) for p in row[1] or ()]
            for (memory_id,) in conn.execute(
                select(PlaybookEntryMemory.memory_id)
                .where(PlaybookEntryMemory.entry_id == node.id)
                .order_by(PlaybookEntryMemory.memory_id)
            ):
                found.append(("memory", memory_id, "supported by", None))
        elif node.kind == "principle":
            for (child,) in conn.execute(
                select(Principle.id).where(Principle.parent_id == node.id).order_by(Principle.id)
            ):
                found.append(("principle", child, "generalises", None))
            for (pattern_id,) in conn.execute(
                select(PrinciplePattern.pattern_id)
                .where(PrinciplePattern.principle_id == node.id)
                .order_by(PrinciplePattern.pattern_id)
            ):
                found.append(("pattern", pattern_id, "generalises", None))
        elif node.kind == "pattern":
            for memory_id, similarity in conn.execute(
                select(PatternMember.memory_id, PatternMember.similarity)
                .where(PatternMember.pattern_id == node.id)
                .order_by(PatternMember.similarity.desc(), PatternMember.memory_id)
            ):
                found.append(("memory", memory_id, "member", similarity))
        elif node.kind == "merged_memory":
            for memory_id, similarity in conn.execute(
                select(MergedMemorySource.memory_id, MergedMemorySource.similarity)
                .where(MergedMemorySource.merged_id == node.id)
                .order_by(MergedMemorySource.similarity.desc(), MergedMemorySource.memory_id)
            ):
                found.append(("memory", memory_id, "source", similarity))
    return _resolve(engine, found)


def _resolve(engine: Engine, found: list[tuple[str, str, str, float | None]]) -> list[Link]:
    """Links to nodes that exist (a stale entry may cite a pattern since replaced)."""
    nodes: dict[tuple[str, str], Node] = {}
    for kind in {k for k, *_ in found}:
        for node_id, node in _nodes(
            engine, kind, sorted({i for k, i, *_ in found if k == kind})
        ).items():
            nodes[(kind, node_id)] = node
    return [
        Link(nodes[(kind, node_id)], relation, similarity)
        for kind, node_id, relation, similarity in found
        if (kind, node_id) in nodes
    ]
