"""Raw memories: written once at ingest, read by the phases, never changed afterwards."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, func, select

from consolidation_assets.store._sql import bulk_insert, chunks
from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import Memory
from consolidation_assets.store.scope import Scope


def content_hash(text: str) -> str:
    """The key of a text in the embedding cache and in exact-duplicate detection."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewMemory:
    """A validated memory, ready to be stored; ``line`` is where its input named it."""

    id: str
    project_id: str
    memory_type: str
    content: str
    created_at: datetime
    goal: str | None = None
    result: str | None = None
    feedback: str | None = None
    tool_usage: Any = None
    task_id: str | None = None
    agent_id: str | None = None
    success: bool | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    line: int = field(default=0, compare=False)

    @property
    def content_hash(self) -> str:
        return content_hash(self.content)


class ConflictingIdsError(ValueError):
    """Memories whose ids are already stored with other content or in another project; the
    batch was refused whole. ``conflicts`` holds (line, id) pairs."""

    def __init__(self, conflicts: list[tuple[int, str]]) -> None:
        self.conflicts = conflicts
        super().__init__(f"{len(conflicts)} id(s) already stored with other content")


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: new memories per project, and every project the input named."""

    received: int
    inserted: int
    already_present: int
    projects: dict[str, int]
    seen_projects: tuple[str, ...] = ()


def insert_memories(engine: Engine, memories: Sequence[NewMemory]) -> IngestReport:
    """Store validated memories in one transaction; ids already stored with the same content
    are skipped, and an id stored with other content refuses the whole batch
    (ConflictingIdsError, nothing written)."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        stored: dict[str, tuple[str, str]] = {}
        ids = [m.id for m in memories]
        for part in chunks(ids):
            rows = session.execute(
                select(Memory.id, Memory.project_id, Memory.content_hash).where(Memory.id.in_(part))
            )
            stored.update({row.id: (row.project_id, row.content_hash) for row in rows})
        conflicts = [
            (m.line or number, m.id)
            for number, m in enumerate(memories, start=1)
            if m.id in stored and stored[m.id] != (m.project_id, m.content_hash)
        ]
        if conflicts:
            raise ConflictingIdsError(conflicts)
        new = [m for m in memories if m.id not in stored]
        bulk_insert(
            session,
            Memory.__table__,
            [
                {
                    "id": m.id,
                    "project_id": m.project_id,
                    "memory_type": m.memory_type,
                    "content": m.content,
                    "goal": m.goal,
                    "result": m.result,
                    "feedback": m.feedback,
                    "tool_usage": m.tool_usage,
                    "task_id": m.task_id,
                    "agent_id": m.agent_id,
                    "success": m.success,
                    "tags": m.tags,
                    "metadata": m.metadata,
                    "content_hash": m.content_hash,
                    "created_at": m.created_at,
                    "ingested_at": now,
                }
                for m in new
            ],
        )
    projects: dict[str, int] = {}
    for m in new:
        projects[m.project_id] = projects.get(m.project_id, 0) + 1
    return IngestReport(
        len(memories),
        len(new),
        len(memories) - len(new),
        projects,
        tuple(sorted({m.project_id for m in memories})),
    )


@dataclass(frozen=True)
class MemoryColumns:
    """What the phases need of each memory in scope, in arrival order."""

    ids: list[str]
    texts: list[str]
    content_hashes: list[str]
    memory_types: list[str]
    success: list[bool | None]
    task_ids: list[str | None]
    created_at: list[datetime]
    goals: list[str | None]
    results: list[str | None]
    feedback: list[str | None]


def load_memories(
    engine: Engine, project_id: str, scope: Scope | None = None, max_seq: int | None = None
) -> MemoryColumns:
    """The memories in scope that had arrived by ``max_seq`` (all, when None)."""
    scope = scope or Scope()
    query = _scoped(
        select(
            Memory.id,
            Memory.content,
            Memory.content_hash,
            Memory.memory_type,
            Memory.success,
            Memory.task_id,
            Memory.created_at,
            Memory.goal,
            Memory.result,
            Memory.feedback,
        ),
        project_id,
        scope,
        max_seq,
    )
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(Memory.seq)).all()
    return MemoryColumns(
        ids=[r.id for r in rows],
        texts=[r.content for r in rows],
        content_hashes=[r.content_hash for r in rows],
        memory_types=[r.memory_type for r in rows],
        success=[r.success for r in rows],
        task_ids=[r.task_id for r in rows],
        created_at=[r.created_at for r in rows],
        goals=[r.goal for r in rows],
        results=[r.result for r in rows],
        feedback=[r.feedback for r in rows],
    )


def memories_digest(
    engine: Engine, project_id: str, scope: Scope | None = None, max_seq: int | None = None
) -> str:
    """A digest of the ids and content hashes of the memories in scope, in arrival order:
    equal digests mean a phase would see exactly the same memories."""
    scope = scope or Scope()
    query = _scoped(select(Memory.id, Memory.content_hash), project_id, scope, max_seq)
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for memory_id, content_hash in conn.execute(query.order_by(Memory.seq)):
            digest.update(f"{memory_id}\x1f{content_hash}\x1e".encode())
    return digest.hexdigest()


def _scoped(query: Select, project_id: str, scope: Scope, max_seq: int | None = None) -> Select:
    query = query.where(Memory.project_id == project_id)
    if max_seq is not None:
        query = query.where(Memory.seq <= max_seq)
    if scope.memory_types:
        query = query.where(Memory.memory_type.in_(scope.memory_types))
    if scope.since is not None:
        query = query.where(Memory.created_at >= scope.since)
    if scope.until is not None:
        query = query.where(Memory.created_at < scope.until)
    return query


def count_memories(engine: Engine, project_id: str) -> int:
    with engine.connect() as conn:
        return (
            conn.scalar(
                select(func.count()).select_from(Memory).where(Memory.project_id == project_id)
            )
            or 0
        )


def list_projects(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(Memory.project_id).distinct().order_by(Memory.project_id)))


def data_versions(
    engine: Engine, projects: Sequence[str] | None = None
) -> dict[str, tuple[int, int]]:
    """Per project, (memories stored, highest arrival number): raw memories are only ever
    added, so the pair changes exactly when a project's memories do."""
    query = select(Memory.project_id, func.count(), func.max(Memory.seq)).group_by(
        Memory.project_id
    )
    if projects is not None:
        query = query.where(Memory.project_id.in_(list(projects)))
    with engine.connect() as conn:
        return {p: (int(n), int(s)) for p, n, s in conn.execute(query)}
