"""Reading the consolidated store for agents: searchable items, lineage links, figures, feedback."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Engine, func, select, update

from consolidation_assets.store._sql import chunks, from_bytes
from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import (
    ConsolidationJob,
    Memory,
    MemoryEmbedding,
    MergedMemory,
    Pattern,
    PhaseState,
    PlaybookChange,
    PlaybookEntry,
    Principle,
    PrinciplePattern,
)
from consolidation_assets.store.outputs import merge_memberships, pattern_memberships

LEVEL_NAMES = {1: "memory", 2: "pattern", 3: "principle"}


@dataclass
class Catalogue:
    """Every searchable item of a project, one row each, across the three levels.

    Level 1 holds merged memories and the memories no merge absorbed, so a memory is never
    returned twice; level 2 the patterns; level 3 the principles. ``texts`` is what an item
    shows; ``search_texts`` what it is found by: a merged memory is found by the words of every
    source it absorbed and the details it kept aside, not only by its canonical text.
    ``spans`` is when each item was made (first, last, epoch seconds); ``tasks`` numbers each
    level-1 item's task (``-1``: none, and for patterns and principles).
    """

    kinds: list[str]
    ids: list[str]
    texts: list[str]
    search_texts: list[str]
    levels: np.ndarray
    vectors: np.ndarray
    confidence: np.ndarray
    timestamps: np.ndarray
    spans: np.ndarray
    tasks: np.ndarray
    memory_types: list[frozenset[str]]
    pattern_types: list[str | None]
    sources: list[tuple[str, ...]]
    unembedded: int

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Playbook:
    """A project's active playbook entries, with what they rest on."""

    ids: list[str]
    texts: list[str]
    categories: list[str]
    priority: np.ndarray
    helpful: np.ndarray
    harmful: np.ndarray
    vectors: np.ndarray
    pattern_ids: list[tuple[str, ...]]
    principle_ids: list[tuple[str, ...]]


def version(engine: Engine, project_id: str) -> tuple:
    """(phase states, newest memory, newest playbook change): the first two change when the
    searchable items may have, the last when only the playbook has (feedback, say)."""
    with engine.connect() as conn:
        states = tuple(
            conn.execute(
                select(PhaseState.phase, PhaseState.input_digest, PhaseState.updated_at)
                .where(PhaseState.project_id == project_id)
                .order_by(PhaseState.phase)
            ).all()
        )
        newest = conn.scalar(select(func.max(Memory.seq)).where(Memory.project_id == project_id))
        change = conn.scalar(
            select(func.max(PlaybookChange.id)).where(PlaybookChange.project_id == project_id)
        )
    return states, newest, change


def _epoch(value: datetime | None) -> float:
    if value is None:
        return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def load_catalogue(engine: Engine, project_id: str, model_id: str) -> Catalogue:
    """The project's searchable items with their vectors, read in a handful of queries.

    Memories whose text has no cached vector yet (ingested since the last run) are left out
    and counted: searching them would mean embedding them in the query's path.
    """
    with engine.connect() as conn:
        memories = conn.execute(
            select(
                Memory.id,
                Memory.content,
                Memory.memory_type,
                Memory.created_at,
                Memory.task_id,
                MemoryEmbedding.vector,
            )
            .outerjoin(
                MemoryEmbedding,
                (MemoryEmbedding.content_hash == Memory.content_hash)
                & (MemoryEmbedding.model_id == model_id),
            )
            .where(Memory.project_id == project_id)
            .order_by(Memory.seq)
        ).all()
        groups = conn.execute(
            select(
                MergedMemory.id,
                MergedMemory.content,
                MergedMemory.canonical_memory_id,
                MergedMemory.min_similarity,
                MergedMemory.details,
                MergedMemory.first_seen,
                MergedMemory.last_seen,
            )
            .where(MergedMemory.project_id == project_id)
            .order_by(MergedMemory.id)
        ).all()
        group_sources: dict[str, list[str]] = defaultdict(list)
        for row in merge_memberships(conn, project_id):
            group_sources[row.merged_id].append(row.memory_id)
        patterns = conn.execute(
            select(
                Pattern.id,
                Pattern.label,
                Pattern.summary,
                Pattern.pattern_type,
                Pattern.confidence,
                Pattern.first_seen,
                Pattern.last_seen,
                Pattern.centroid,
            )
            .where(Pattern.project_id == project_id)
            .order_by(Pattern.id)
        ).all()
        members: dict[str, list[str]] = defaultdict(list)
        for row in pattern_memberships(conn, project_id):
            members[row.pattern_id].append(row.memory_id)
        principles = conn.execute(
            select(Principle.id, Principle.statement, Principle.cohesion, Principle.centroid)
            .where(Principle.project_id == project_id)
            .order_by(Principle.id)
        ).all()
        cited: dict[str, list[str]] = defaultdict(list)
        for principle_id, pattern_id in conn.execute(
            select(PrinciplePattern.principle_id, PrinciplePattern.pattern_id)
            .join(Principle, Principle.id == PrinciplePattern.principle_id)
            .where(Principle.project_id == project_id)
        ):
            cited[principle_id].append(pattern_id)

    level_one, unembedded = _level_one_rows(memories, groups, group_sources)
    higher = _higher_rows(memories, patterns, members, principles, cited)
    rows = level_one + higher
    dimension = len(from_bytes(rows[0].vector)) if rows else 0
    vectors = np.empty((len(rows), dimension), dtype=np.float32)
    for i, row in enumerate(rows):
        vectors[i] = from_bytes(row.vector)
    tasks = {task: number for number, task in enumerate(sorted({r.task for r in rows if r.task}))}
    return Catalogue(
        kinds=[r.kind for r in rows],
        ids=[r.id for r in rows],
        texts=[r.text for r in rows],
        search_texts=[r.search_text for r in rows],
        levels=np.array([r.level for r in rows], dtype=np.int8),
        vectors=vectors,
        confidence=np.array([r.confidence for r in rows], dtype=np.float32),
        timestamps=np.array([r.last for r in rows], dtype=np.float64),
        spans=np.array([(r.first, r.last) for r in rows], dtype=np.float64).reshape(-1, 2),
        tasks=np.array([tasks[r.task] if r.task else -1 for r in rows], dtype=np.int64),
        memory_types=[r.memory_types for r in rows],
        pattern_types=[r.pattern_type for r in rows],
        sources=[r.sources for r in rows],
        unembedded=unembedded,
    )


@dataclass(frozen=True)
class _Row:
    """One searchable item while the catalogue is assembled."""

    kind: str
    id: str
    text: str
    level: int
    vector: bytes
    confidence: float
    first: float
    last: float
    memory_types: frozenset[str]
    pattern_type: str | None
    sources: tuple[str, ...]
    search_text: str
    task: str | None = None


def _level_one_rows(memories: list, groups: list, group_sources: dict) -> tuple[list[_Row], int]:
    """Merged memories (found by every source's words and the details kept aside), then the
    embedded memories no merge absorbed; and how many memories have no vector yet."""
    by_id = {m.id: m for m in memories}
    rows: list[_Row] = []
    for g in groups:
        canonical = by_id.get(g.canonical_memory_id)
        if canonical is None or canonical.vector is None:
            continue
        sources = tuple(group_sources[g.id])
        words = dict.fromkeys(
            [g.content, *(by_id[s].content for s in sources if s in by_id), *(g.details or ())]
        )
        rows.append(
            _Row(
                "merged",
                g.id,
                g.content,
                1,
                canonical.vector,
                g.min_similarity,
                _epoch(g.first_seen),
                _epoch(g.last_seen),
                frozenset(by_id[s].memory_type for s in sources if s in by_id),
                None,
                sources,
                "\n".join(words),
                canonical.task_id,
            )
        )
    absorbed = {memory_id for sources in group_sources.values() for memory_id in sources}
    unembedded = 0
    for m in memories:
        if m.id in absorbed:
            continue
        if m.vector is None:
            unembedded += 1
            continue
        when = _epoch(m.created_at)
        rows.append(
            _Row(
                "memory",
                m.id,
                m.content,
                1,
                m.vector,
                1.0,
                when,
                when,
                frozenset({m.memory_type}),
                None,
                (m.id,),
                m.content,
                m.task_id,
            )
        )
    return rows, unembedded


def _higher_rows(
    memories: list, patterns: list, members: dict, principles: list, cited: dict
) -> list[_Row]:
    """Patterns (their label and summary) and principles (their statement), with the memories
    behind each and when those were made."""
    memory_type = {m.id: m.memory_type for m in memories}
    rows: list[_Row] = []
    span: dict[str, tuple[float, float]] = {}
    pattern_members: dict[str, tuple[str, ...]] = {}
    for p in patterns:
        sources = tuple(members[p.id])
        span[p.id] = (_epoch(p.first_seen), _epoch(p.last_seen))
        pattern_members[p.id] = sources
        text = p.label if p.summary in ("", p.label) else f"{p.label} {p.summary}"
        rows.append(
            _Row(
                "pattern",
                p.id,
                text,
                2,
                p.centroid,
                p.confidence,
                *span[p.id],
                frozenset(memory_type[s] for s in sources if s in memory_type),
                p.pattern_type,
                sources,
                text,
            )
        )
    for r in principles:
        patterns_cited = sorted(cited[r.id])
        sources = tuple(sorted({m for p in patterns_cited for m in pattern_members.get(p, ())}))
        spans = [span[p] for p in patterns_cited if p in span] or [(0.0, 0.0)]
        rows.append(
            _Row(
                "principle",
                r.id,
                r.statement,
                3,
                r.centroid,
                r.cohesion,
                min(first for first, _ in spans),
                max(last for _, last in spans),
                frozenset(memory_type[s] for s in sources if s in memory_type),
                None,
                sources,
                r.statement,
            )
        )
    return rows


def load_active_playbook(engine: Engine, project_id: str) -> Playbook:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                PlaybookEntry.id,
                PlaybookEntry.content,
                PlaybookEntry.category,
                PlaybookEntry.priority,
                PlaybookEntry.helpful_count,
                PlaybookEntry.harmful_count,
                PlaybookEntry.embedding,
                PlaybookEntry.source_pattern_ids,
                PlaybookEntry.source_principle_ids,
            )
            .where(PlaybookEntry.project_id == project_id, PlaybookEntry.status == "active")
            .order_by(PlaybookEntry.id)
        ).all()
    dimension = len(from_bytes(rows[0].embedding)) if rows else 0
    vectors = np.empty((len(rows), dimension), dtype=np.float32)
    for i, r in enumerate(rows):
        vectors[i] = from_bytes(r.embedding)
    return Playbook(
        ids=[r.id for r in rows],
        texts=[r.content for r in rows],
        categories=[r.category for r in rows],
        priority=np.array([r.priority for r in rows], dtype=np.float32),
        helpful=np.array([r.helpful_count for r in rows], dtype=np.float32),
        harmful=np.array([r.harmful_count for r in rows], dtype=np.float32),
        vectors=vectors,
        pattern_ids=[tuple(r.source_pattern_ids or ()) for r in rows],
        principle_ids=[tuple(r.source_principle_ids or ()) for r in rows],
    )


def memories_by_id(engine: Engine, ids: list[str]) -> dict[str, dict]:
    """The raw memories with these ids, as JSON-ready dicts keyed by id."""
    found: dict[str, dict] = {}
    with engine.connect() as conn:
        for part in chunks(ids):
            for row in conn.execute(
                select(Memory.id, Memory.content, Memory.memory_type, Memory.created_at).where(
                    Memory.id.in_(part)
                )
            ):
                found[row.id] = {
                    "id": row.id,
                    "content": row.content,
                    "memory_type": row.memory_type,
                    "created_at": row.created_at.isoformat(),
                }
    return found


class UnknownEntryError(LookupError):
    """No playbook entry has the id given."""


@dataclass(frozen=True)
class FeedbackResult:
    entry_id: str
    project_id: str
    helpful_count: int
    harmful_count: int


def record_feedback(
    engine: Engine, entry_id: str, helpful: bool, note: str | None = None
) -> FeedbackResult:
    """Count one report on an entry and log it in the playbook's audit trail, atomically."""
    column = PlaybookEntry.helpful_count if helpful else PlaybookEntry.harmful_count
    with transaction(engine) as session:
        project_id = session.scalar(
            select(PlaybookEntry.project_id).where(PlaybookEntry.id == entry_id)
        )
        if project_id is None:
            raise UnknownEntryError(f"no playbook entry has the id {entry_id!r}")
        session.execute(
            update(PlaybookEntry).where(PlaybookEntry.id == entry_id).values({column: column + 1})
        )
        verdict = "helpful" if helpful else "harmful"
        session.add(
            PlaybookChange(
                entry_id=entry_id,
                project_id=project_id,
                kind="feedback",
                old_content=None,
                new_content=None,
                run_id=None,
                reason=f"{verdict}: {note}" if note else verdict,
                created_at=datetime.now(UTC),
            )
        )
        session.flush()
        helpful_count, harmful_count = session.execute(
            select(PlaybookEntry.helpful_count, PlaybookEntry.harmful_count).where(
                PlaybookEntry.id == entry_id
            )
        ).one()
    return FeedbackResult(entry_id, project_id, helpful_count, harmful_count)


def entry_history(engine: Engine, entry_id: str) -> list[dict]:
    """The audit trail of one entry, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(PlaybookChange)
            .where(PlaybookChange.entry_id == entry_id)
            .order_by(PlaybookChange.id)
        ).all()
    return [
        {
            "kind": r.kind,
            "reason": r.reason,
            "old_content": r.old_content,
            "new_content": r.new_content,
            "run_id": r.run_id,
            "at": r.created_at.isoformat(),
        }
        for r in rows
    ]


def project_figures(engine: Engine, project_id: str) -> dict:
    """Counts of what the project holds, raw and consolidated, and its last run."""
    with engine.connect() as conn:
        by_type = dict(
            conn.execute(
                select(Memory.memory_type, func.count())
                .where(Memory.project_id == project_id)
                .group_by(Memory.memory_type)
            ).all()
        )
        groups = conn.scalar(
            select(func.count())
            .select_from(MergedMemory)
            .where(MergedMemory.project_id == project_id)
        )
        merged_sources = {row.memory_id for row in merge_memberships(conn, project_id)}
        in_patterns = {row.memory_id for row in pattern_memberships(conn, project_id)}
        patterns = conn.scalar(
            select(func.count()).select_from(Pattern).where(Pattern.project_id == project_id)
        )
        principle_levels = dict(
            conn.execute(
                select(Principle.level, func.count())
                .where(Principle.project_id == project_id)
                .group_by(Principle.level)
            ).all()
        )
        playbook = dict(
            conn.execute(
                select(PlaybookEntry.status, func.count())
                .where(PlaybookEntry.project_id == project_id)
                .group_by(PlaybookEntry.status)
            ).all()
        )
        last = conn.execute(
            select(ConsolidationJob)
            .where(ConsolidationJob.project_id == project_id)
            .order_by(ConsolidationJob.started_at.desc())
            .limit(1)
        ).first()
    total = sum(by_type.values())
    consolidated = len(merged_sources | in_patterns)
    level_one = total - len(merged_sources) + groups
    return {
        "project_id": project_id,
        "total_memories": total,
        "consolidated_memories": consolidated,
        "raw_memories": total - consolidated,
        "merged_memories": groups,
        "memories_absorbed_by_merges": len(merged_sources),
        "reduction_percent": round(100.0 * (total - level_one) / total, 1) if total else 0.0,
        "memory_types": dict(sorted(Counter(by_type).items())),
        "abstraction_levels": {
            "1_memories": level_one,
            "2_patterns": patterns,
            "3_principles": sum(principle_levels.values()),
        },
        "principles_by_hierarchy_level": {str(k): v for k, v in sorted(principle_levels.items())},
        "playbook": {"active": playbook.get("active", 0), "stale": playbook.get("stale", 0)},
        "last_run": None
        if last is None
        else {
            "job_id": last.id,
            "status": last.status,
            "trigger": last.trigger_type,
            "started_at": last.started_at.isoformat() if last.started_at else None,
            "finished_at": last.finished_at.isoformat() if last.finished_at else None,
        },
    }
