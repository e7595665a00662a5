"""SQLAlchemy models of the memory store.

Raw memories are written once, at ingest, and never updated or deleted by consolidation. Every
derived table carries ``project_id`` and is replaced per project by the phase that owns it, in
one transaction, except the playbook, which is upserted so entries and their feedback counters
live as long as the project does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LENGTH = 128
PROJECT_LENGTH = 64

BigIntPK = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must carry a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        datetime: UTCDateTime,
    }


class Memory(Base):
    """A raw memory as an agent wrote it. ``seq`` orders arrivals for the sensor's cursor."""

    __tablename__ = "memories"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH))
    memory_type: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    goal: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    feedback: Mapped[str | None] = mapped_column(Text)
    tool_usage: Mapped[Any | None] = mapped_column(JSON)
    task_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    agent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    success: Mapped[bool | None] = mapped_column(Boolean)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    ingested_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_memories_project_seq", "project_id", "seq"),
        Index("ix_memories_project_created", "project_id", "created_at"),
        Index("ix_memories_project_ingested", "project_id", "ingested_at"),
    )


class MemoryEmbedding(Base):
    """Embedding cache: a text is embedded once per model, whatever memory carries it."""

    __tablename__ = "memory_embeddings"

    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class Pattern(Base):
    __tablename__ = "patterns"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), index=True)
    label: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    pattern_type: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    support: Mapped[int] = mapped_column(Integer)
    distinct_tasks: Mapped[int] = mapped_column(Integer)
    cohesion: Mapped[float] = mapped_column(Float)
    central_memory_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    run_id: Mapped[str | None] = mapped_column(String(64))


class PatternMember(Base):
    __tablename__ = "pattern_members"

    pattern_id: Mapped[str] = mapped_column(
        ForeignKey("patterns.id", ondelete="CASCADE"), primary_key=True
    )
    memory_id: Mapped[str] = mapped_column(ForeignKey("memories.id"), primary_key=True)
    similarity: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_pattern_members_memory", "memory_id"),)


class MergedMemory(Base):
    __tablename__ = "merged_memories"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), index=True)
    content: Mapped[str] = mapped_column(Text)
    canonical_memory_id: Mapped[str] = mapped_column(ForeignKey("memories.id"))
    pattern_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    details: Mapped[list[str]] = mapped_column(JSON)
    min_similarity: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(String(64))


class MergedMemorySource(Base):
    __tablename__ = "merged_memory_sources"

    merged_id: Mapped[str] = mapped_column(
        ForeignKey("merged_memories.id", ondelete="CASCADE"), primary_key=True
    )
    memory_id: Mapped[str] = mapped_column(ForeignKey("memories.id"), primary_key=True)
    similarity: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_merged_sources_memory", "memory_id"),)


class Principle(Base):
    __tablename__ = "principles"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), index=True)
    statement: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    support: Mapped[int] = mapped_column(Integer)
    cohesion: Mapped[float] = mapped_column(Float)
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    run_id: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text, default="")
    cited_memory_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    writer: Mapped[str] = mapped_column(String(200), default="extractive")


class PrinciplePattern(Base):
    __tablename__ = "principle_patterns"

    principle_id: Mapped[str] = mapped_column(
        ForeignKey("principles.id", ondelete="CASCADE"), primary_key=True
    )
    pattern_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)


class PlaybookEntry(Base):
    """An instruction agents read. Upserted by id; never deleted; stale when unsupported."""

    __tablename__ = "playbook_entries"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), index=True)
    category: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    priority: Mapped[float] = mapped_column(Float)
    tags: Mapped[list[str]] = mapped_column(JSON)
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    harmful_count: Mapped[int] = mapped_column(Integer, default=0)
    evidence_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    source_kind: Mapped[str] = mapped_column(String(16))
    source_pattern_ids: Mapped[list[str]] = mapped_column(JSON)
    source_principle_ids: Mapped[list[str]] = mapped_column(JSON)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_run_id: Mapped[str | None] = mapped_column(String(64))


class PlaybookEntryMemory(Base):
    __tablename__ = "playbook_entry_memories"

    entry_id: Mapped[str] = mapped_column(
        ForeignKey("playbook_entries.id", ondelete="CASCADE"), primary_key=True
    )
    memory_id: Mapped[str] = mapped_column(ForeignKey("memories.id"), primary_key=True)

    __table_args__ = (Index("ix_playbook_memories_memory", "memory_id"),)


class PlaybookChange(Base):
    """Audit trail: every create, update, stale, reactivation and feedback of an entry."""

    __tablename__ = "playbook_changes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    old_content: Mapped[str | None] = mapped_column(Text)
    new_content: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class PhaseState(Base):
    """What each phase last wrote for a project, under which inputs: a phase whose inputs have
    not changed since reuses its output instead of recomputing it."""

    __tablename__ = "phase_states"

    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), primary_key=True)
    phase: Mapped[str] = mapped_column(String(32), primary_key=True)
    input_digest: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    row_count: Mapped[int] = mapped_column(Integer)
    preview: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class NeighborGraph(Base):
    """A project's nearest-neighbour graph over its distinct texts, kept for the next run."""

    __tablename__ = "neighbor_graphs"

    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    k: Mapped[int] = mapped_column(Integer, primary_key=True)
    texts: Mapped[int] = mapped_column(Integer)
    keys: Mapped[bytes] = mapped_column(LargeBinary)
    indices: Mapped[bytes] = mapped_column(LargeBinary)
    similarities: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


class RunSnapshot(Base):
    """The newest memory a run consolidates: every step of the run reads up to the same one,
    whatever is ingested while it runs."""

    __tablename__ = "run_snapshots"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), primary_key=True)
    max_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class ConsolidationJob(Base):
    __tablename__ = "consolidation_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(16))
    trigger_type: Mapped[str] = mapped_column(String(16))
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    phases_completed: Mapped[list[str]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    error_message: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)


class WrittenText(Base):
    """An LLM writer's answer, kept so that a re-run or an unchanged group costs no call.

    Keyed by a digest of the prompt version, the model and the exact input; the answer is
    stored as received and checked again whenever it is used.
    """

    __tablename__ = "written_texts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_version: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
