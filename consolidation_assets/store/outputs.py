"""Phase outputs: each phase replaces its own rows for a project in one transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, select, update

from consolidation_assets.phases.playbook import EntryChange, EntryState
from consolidation_assets.phases.types import MergeGroup, Pattern, Principle
from consolidation_assets.store import failpoints
from consolidation_assets.store._sql import bulk_insert, chunks, from_bytes, to_bytes
from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import (
    MergedMemory,
    MergedMemorySource,
    PatternMember,
    PlaybookChange,
    PlaybookEntry,
    PlaybookEntryMemory,
    PrinciplePattern,
)
from consolidation_assets.store.models import (
    Pattern as PatternRow,
)
from consolidation_assets.store.models import (
    Principle as PrincipleRow,
)


def pattern_memberships(conn: Connection, project_id: str) -> list[Row]:
    """(pattern_id, memory_id, similarity) of every member of the project's patterns."""
    return conn.execute(
        select(PatternMember.pattern_id, PatternMember.memory_id, PatternMember.similarity)
        .join(PatternRow, PatternRow.id == PatternMember.pattern_id)
        .where(PatternRow.project_id == project_id)
        .order_by(PatternMember.pattern_id, PatternMember.memory_id)
    ).all()


def merge_memberships(conn: Connection, project_id: str) -> list[Row]:
    """(merged_id, memory_id, similarity) of every source of the project's merged memories."""
    return conn.execute(
        select(
            MergedMemorySource.merged_id,
            MergedMemorySource.memory_id,
            MergedMemorySource.similarity,
        )
        .join(MergedMemory, MergedMemory.id == MergedMemorySource.merged_id)
        .where(MergedMemory.project_id == project_id)
        .order_by(MergedMemorySource.merged_id, MergedMemorySource.memory_id)
    ).all()


def replace_patterns(
    engine: Engine, project_id: str, patterns: Sequence[Pattern], run_id: str | None
) -> None:
    with transaction(engine) as session:
        owned = select(PatternRow.id).where(PatternRow.project_id == project_id)
        session.execute(delete(PatternMember).where(PatternMember.pattern_id.in_(owned)))
        session.execute(delete(PatternRow).where(PatternRow.project_id == project_id))
        bulk_insert(
            session,
            PatternRow.__table__,
            [
                {
                    "id": p.id,
                    "project_id": project_id,
                    "label": p.label,
                    "summary": p.summary,
                    "keywords": list(p.keywords),
                    "pattern_type": p.pattern_type,
                    "confidence": p.confidence,
                    "support": p.support,
                    "distinct_tasks": p.distinct_tasks,
                    "cohesion": p.cohesion,
                    "central_memory_id": p.central_memory_id,
                    "first_seen": p.first_seen,
                    "last_seen": p.last_seen,
                    "centroid": to_bytes(p.centroid),
                    "run_id": run_id,
                }
                for p in patterns
            ],
        )
        failpoints.reached("patterns:writing")
        bulk_insert(
            session,
            PatternMember.__table__,
            [
                {"pattern_id": p.id, "memory_id": m, "similarity": s}
                for p in patterns
                for m, s in zip(p.member_ids, p.member_similarities, strict=True)
            ],
        )


def load_patterns(engine: Engine, project_id: str) -> list[Pattern]:
    """The project's patterns, largest first, members most central first."""
    with engine.connect() as conn:
        rows = conn.execute(select(PatternRow).where(PatternRow.project_id == project_id)).all()
        members: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for part in chunks([r.id for r in rows]):
            for m in conn.execute(
                select(
                    PatternMember.pattern_id, PatternMember.memory_id, PatternMember.similarity
                ).where(PatternMember.pattern_id.in_(part))
            ):
                members[m.pattern_id].append((m.memory_id, m.similarity))
    patterns = []
    for r in rows:
        ordered = sorted(members[r.id], key=lambda item: (-item[1], item[0]))
        patterns.append(
            Pattern(
                id=r.id,
                label=r.label,
                summary=r.summary,
                keywords=tuple(r.keywords),
                pattern_type=r.pattern_type,
                confidence=r.confidence,
                support=r.support,
                distinct_tasks=r.distinct_tasks,
                cohesion=r.cohesion,
                central_memory_id=r.central_memory_id,
                first_seen=r.first_seen,
                last_seen=r.last_seen,
                member_ids=tuple(m for m, _ in ordered),
                member_similarities=tuple(s for _, s in ordered),
                centroid=from_bytes(r.centroid),
            )
        )
    patterns.sort(key=lambda p: (-p.support, p.id))
    return patterns


def replace_merged(
    engine: Engine, project_id: str, groups: Sequence[MergeGroup], run_id: str | None
) -> None:
    with transaction(engine) as session:
        owned = select(MergedMemory.id).where(MergedMemory.project_id == project_id)
        session.execute(delete(MergedMemorySource).where(MergedMemorySource.merged_id.in_(owned)))
        session.execute(delete(MergedMemory).where(MergedMemory.project_id == project_id))
        bulk_insert(
            session,
            MergedMemory.__table__,
            [
                {
                    "id": g.id,
                    "project_id": project_id,
                    "content": g.content,
                    "canonical_memory_id": g.canonical_memory_id,
                    "pattern_id": g.pattern_id,
                    "details": list(g.details),
                    "min_similarity": g.min_similarity,
                    "first_seen": g.first_seen,
                    "last_seen": g.last_seen,
                    "run_id": run_id,
                }
                for g in groups
            ],
        )
        failpoints.reached("merged_memories:writing")
        bulk_insert(
            session,
            MergedMemorySource.__table__,
            [
                {"merged_id": g.id, "memory_id": m, "similarity": s}
                for g in groups
                for m, s in zip(g.source_ids, g.source_similarities, strict=True)
            ],
        )


def load_merged(engine: Engine, project_id: str) -> list[MergeGroup]:
    with engine.connect() as conn:
        rows = conn.execute(select(MergedMemory).where(MergedMemory.project_id == project_id)).all()
        sources: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for part in chunks([r.id for r in rows]):
            for s in conn.execute(
                select(
                    MergedMemorySource.merged_id,
                    MergedMemorySource.memory_id,
                    MergedMemorySource.similarity,
                ).where(MergedMemorySource.merged_id.in_(part))
            ):
                sources[s.merged_id].append((s.memory_id, s.similarity))
    groups = []
    for r in rows:
        ordered = sorted(sources[r.id], key=lambda item: (-item[1], item[0]))
        groups.append(
            MergeGroup(
                id=r.id,
                canonical_memory_id=r.canonical_memory_id,
                content=r.content,
                source_ids=tuple(m for m, _ in ordered),
                source_similarities=tuple(s for _, s in ordered),
                pattern_id=r.pattern_id,
                details=tuple(r.details),
                min_similarity=r.min_similarity,
                first_seen=r.first_seen,
                last_seen=r.last_seen,
            )
        )
    groups.sort(key=lambda g: (-len(g.source_ids), g.id))
    return groups


def replace_principles(
    engine: Engine, project_id: str, principles: Sequence[Principle], run_id: str | None
) -> None:
    with transaction(engine) as session:
        owned = select(PrincipleRow.id).where(PrincipleRow.project_id == project_id)
        session.execute(delete(PrinciplePattern).where(PrinciplePattern.principle_id.in_(owned)))
        session.execute(delete(PrincipleRow).where(PrincipleRow.project_id == project_id))
        bulk_insert(
            session,
            PrincipleRow.__table__,
            [
                {
                    "id": p.id,
                    "project_id": project_id,
                    "statement": p.statement,
                    "keywords": list(p.keywords),
                    "level": p.level,
                    "parent_id": p.parent_id,
                    "support": p.support,
                    "cohesion": p.cohesion,
                    "centroid": to_bytes(p.centroid),
                    "run_id": run_id,
                    "label": p.label,
                    "cited_memory_ids": list(p.cited_memory_ids),
                    "writer": p.writer,
                }
                for p in principles
            ],
        )
        failpoints.reached("principles:writing")
        bulk_insert(
            session,
            PrinciplePattern.__table__,
            [
                {"principle_id": p.id, "pattern_id": pid}
                for p in principles
                for pid in p.pattern_ids
            ],
        )


def load_principles(engine: Engine, project_id: str) -> list[Principle]:
    with engine.connect() as conn:
        rows = conn.execute(select(PrincipleRow).where(PrincipleRow.project_id == project_id)).all()
        patterns: dict[str, list[str]] = defaultdict(list)
        for part in chunks([r.id for r in rows]):
            for link in conn.execute(
                select(PrinciplePattern).where(PrinciplePattern.principle_id.in_(part))
            ):
                patterns[link.principle_id].append(link.pattern_id)
    children: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r.parent_id:
            children[r.parent_id].append(r.id)
    principles = [
        Principle(
            id=r.id,
            statement=r.statement,
            keywords=tuple(r.keywords),
            level=r.level,
            parent_id=r.parent_id,
            pattern_ids=tuple(sorted(patterns[r.id])),
            child_ids=tuple(sorted(children[r.id])),
            support=r.support,
            cohesion=r.cohesion,
            centroid=from_bytes(r.centroid),
            label=r.label or "",
            cited_memory_ids=tuple(r.cited_memory_ids or ()),
            writer=r.writer or "extractive",
        )
        for r in rows
    ]
    principles.sort(key=lambda p: (p.level, -p.support, p.id))
    return principles


def load_playbook(engine: Engine, project_id: str) -> list[EntryState]:
    """Every entry of the project, active and stale, with its supporting memories."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(PlaybookEntry).where(PlaybookEntry.project_id == project_id)
        ).all()
        support: dict[str, set[str]] = defaultdict(set)
        for part in chunks([r.id for r in rows]):
            for link in conn.execute(
                select(PlaybookEntryMemory).where(PlaybookEntryMemory.entry_id.in_(part))
            ):
                support[link.entry_id].add(link.memory_id)
    entries = [
        EntryState(
            id=r.id,
            category=r.category,
            content=r.content,
            priority=r.priority,
            tags=tuple(r.tags),
            status=r.status,
            source_kind=r.source_kind,
            source_pattern_ids=tuple(r.source_pattern_ids),
            source_principle_ids=tuple(r.source_principle_ids),
            supporting_memory_ids=frozenset(support[r.id]),
            embedding=from_bytes(r.embedding),
            created_at=r.created_at,
            updated_at=r.updated_at,
            helpful_count=r.helpful_count,
            harmful_count=r.harmful_count,
        )
        for r in rows
    ]
    entries.sort(key=lambda e: (e.status != "active", -e.priority, e.id))
    return entries


def write_playbook(
    engine: Engine,
    project_id: str,
    written: Sequence[EntryState],
    changes: Sequence[EntryChange],
    run_id: str | None,
    now: datetime,
) -> None:
    """Upsert the changed entries and log every change, in one transaction.

    Feedback counters are never written here: they belong to the agents' feedback.
    """
    if not written and not changes:
        return
    with transaction(engine) as session:
        existing = set()
        for part in chunks([e.id for e in written]):
            existing.update(
                session.scalars(select(PlaybookEntry.id).where(PlaybookEntry.id.in_(part)))
            )
        updates, inserts = [], []
        for entry in written:
            values = {
                "category": entry.category,
                "content": entry.content,
                "priority": entry.priority,
                "tags": list(entry.tags),
                "evidence_count": entry.evidence_count,
                "status": entry.status,
                "source_kind": entry.source_kind,
                "source_pattern_ids": list(entry.source_pattern_ids),
                "source_principle_ids": list(entry.source_principle_ids),
                "embedding": to_bytes(entry.embedding),
                "updated_at": entry.updated_at,
                "last_run_id": run_id,
            }
            if entry.id in existing:
                updates.append({"id": entry.id, **values})
            else:
                inserts.append(
                    {
                        "id": entry.id,
                        "project_id": project_id,
                        "created_at": entry.created_at,
                        "helpful_count": 0,
                        "harmful_count": 0,
                        **values,
                    }
                )
        for part in chunks(updates, 1_000):
            session.execute(update(PlaybookEntry), list(part))
        bulk_insert(session, PlaybookEntry.__table__, inserts)
        failpoints.reached("playbook_entries:writing")
        ids = [e.id for e in written]
        for part in chunks(ids):
            session.execute(
                delete(PlaybookEntryMemory).where(PlaybookEntryMemory.entry_id.in_(part))
            )
        bulk_insert(
            session,
            PlaybookEntryMemory.__table__,
            [
                {"entry_id": e.id, "memory_id": m}
                for e in written
                for m in sorted(e.supporting_memory_ids)
            ],
        )
        bulk_insert(
            session,
            PlaybookChange.__table__,
            [
                {
                    "entry_id": c.entry_id,
                    "project_id": project_id,
                    "kind": c.kind,
                    "old_content": c.old_content,
                    "new_content": c.new_content,
                    "run_id": run_id,
                    "reason": c.reason,
                    "created_at": now,
                }
                for c in changes
            ],
        )


def write_output(
    engine: Engine, phase: str, project_id: str, rows: Any, run_id: str | None, now: datetime
) -> None:
    """Write a phase's rows: replace the project's output, or upsert the playbook."""
    if phase == "playbook_entries":
        write_playbook(engine, project_id, rows.written, rows.changes, run_id, now)
        return
    writers = {
        "patterns": replace_patterns,
        "merged_memories": replace_merged,
        "principles": replace_principles,
    }
    if phase not in writers:
        raise KeyError(f"the store keeps no output of a phase named {phase!r}")
    writers[phase](engine, project_id, rows, run_id)


def load_output(engine: Engine, phase: str, project_id: str) -> list[Any]:
    """A phase's stored rows for the project, as the phase computed them."""
    loaders = {
        "patterns": load_patterns,
        "merged_memories": load_merged,
        "principles": load_principles,
        "playbook_entries": load_playbook,
    }
    if phase not in loaders:
        raise KeyError(f"the store keeps no output of a phase named {phase!r}")
    return loaders[phase](engine, project_id)
