"""Integrity of what the phases wrote, as lists of problems (empty: all good).

The asset checks call these; each reads only the project's rows.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine, Select, func, select

from consolidation_assets.phases.neighbors import nearest_neighbors
from consolidation_assets.store._sql import chunks, from_bytes
from consolidation_assets.store.models import (
    Memory,
    MergedMemory,
    Pattern,
    PlaybookEntry,
    PlaybookEntryMemory,
    Principle,
    PrinciplePattern,
)
from consolidation_assets.store.outputs import merge_memberships, pattern_memberships


@dataclass(frozen=True)
class RawFingerprint:
    """The project's raw memories up to ``max_seq``: how many, and a digest of ids and hashes."""

    count: int
    max_seq: int
    digest: str
    rewritten: tuple[str, ...]


def raw_fingerprint(engine: Engine, project_id: str, max_seq: int | None = None) -> RawFingerprint:
    """Count and digest the raw memories, and name any whose content no longer hashes to its
    stored content hash (a memory rewritten in place)."""
    query = select(Memory.seq, Memory.id, Memory.content, Memory.content_hash).where(
        Memory.project_id == project_id
    )
    if max_seq is not None:
        query = query.where(Memory.seq <= max_seq)
    digest = hashlib.sha256()
    count, top = 0, 0
    rewritten = []
    with engine.connect() as conn:
        for seq, memory_id, content, content_hash in conn.execute(query.order_by(Memory.seq)):
            count += 1
            top = max(top, seq)
            digest.update(f"{memory_id}\x1f{content_hash}\x1e".encode())
            if hashlib.sha256(content.encode("utf-8")).hexdigest() != content_hash:
                rewritten.append(memory_id)
    return RawFingerprint(
        count, top if max_seq is None else max_seq, digest.hexdigest(), tuple(rewritten)
    )


def _pairs(conn: Connection, query: Select) -> dict:
    """A two-column query as a dict from the first column to the second."""
    return {key: value for key, value in conn.execute(query)}


def _foreign_or_missing(conn: Connection, project_id: str, ids: set[str]) -> list[str]:
    if not ids:
        return []
    owner = {}
    for part in chunks(sorted(ids)):
        owner.update(_pairs(conn, select(Memory.id, Memory.project_id).where(Memory.id.in_(part))))
    return sorted(i for i in ids if owner.get(i) != project_id)


def pattern_problems(engine: Engine, project_id: str, min_support: int = 2) -> list[str]:
    problems = []
    with engine.connect() as conn:
        rows = pattern_memberships(conn, project_id)
        supports = _pairs(
            conn, (select(Pattern.id, Pattern.support).where(Pattern.project_id == project_id))
        )
        members = Counter(r.pattern_id for r in rows)
        for pattern_id, support in supports.items():
            if members[pattern_id] != support or support < min_support:
                problems.append(
                    f"pattern {pattern_id}: support {support}, members {members[pattern_id]}"
                )
        repeated = [m for m, n in Counter(r.memory_id for r in rows).items() if n > 1]
        problems += [f"memory {m} is in more than one pattern" for m in sorted(repeated)]
        problems += [
            f"memory {m} is missing or belongs to another project"
            for m in _foreign_or_missing(conn, project_id, {r.memory_id for r in rows})
        ]
    return problems


def merge_problems(engine: Engine, project_id: str) -> list[str]:
    problems = []
    with engine.connect() as conn:
        groups = _pairs(
            conn,
            (
                select(MergedMemory.id, MergedMemory.canonical_memory_id).where(
                    MergedMemory.project_id == project_id
                )
            ),
        )
        rows = merge_memberships(conn, project_id)
        sources: dict[str, set[str]] = {g: set() for g in groups}
        for row in rows:
            sources[row.merged_id].add(row.memory_id)
        for merged_id, canonical in sorted(groups.items()):
            if len(sources[merged_id]) < 2:
                problems.append(f"merged memory {merged_id} has fewer than two sources")
            if canonical not in sources[merged_id]:
                problems.append(f"merged memory {merged_id}: canonical {canonical} is not a source")
        repeated = [m for m, n in Counter(r.memory_id for r in rows).items() if n > 1]
        problems += [
            f"memory {m} is a source of more than one merged memory" for m in sorted(repeated)
        ]
        problems += [
            f"source {m} is missing or belongs to another project"
            for m in _foreign_or_missing(conn, project_id, {r.memory_id for r in rows})
        ]
    return problems


def principle_problems(engine: Engine, project_id: str) -> list[str]:
    problems = []
    with engine.connect() as conn:
        principles = {
            r.id: r
            for r in conn.execute(
                select(Principle.id, Principle.level, Principle.parent_id).where(
                    Principle.project_id == project_id
                )
            )
        }
        patterns = set(conn.scalars(select(Pattern.id).where(Pattern.project_id == project_id)))
        cited: dict[str, set[str]] = {p: set() for p in principles}
        for principle_id, pattern_id in conn.execute(
            select(PrinciplePattern.principle_id, PrinciplePattern.pattern_id)
            .join(Principle, Principle.id == PrinciplePattern.principle_id)
            .where(Principle.project_id == project_id)
        ):
            cited[principle_id].add(pattern_id)
    for principle_id, row in sorted(principles.items()):
        existing = cited[principle_id] & patterns
        if len(existing) < 2:
            problems.append(
                f"principle {principle_id} cites {len(existing)} existing pattern(s), needs 2"
            )
        if missing := cited[principle_id] - patterns:
            problems.append(f"principle {principle_id} cites missing patterns {sorted(missing)}")
        if row.parent_id is not None:
            parent = principles.get(row.parent_id)
            if parent is None or parent.level != row.level + 1:
                problems.append(
                    f"principle {principle_id}: parent {row.parent_id} is not one level up"
                )
    return problems


def duplicate_entry_problems(engine: Engine, project_id: str, threshold: float) -> list[str]:
    """Active entries that say the same thing: equal text, or embeddings at the threshold."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(PlaybookEntry.id, PlaybookEntry.content, PlaybookEntry.embedding)
            .where(PlaybookEntry.project_id == project_id, PlaybookEntry.status == "active")
            .order_by(PlaybookEntry.id)
        ).all()
    problems = []
    by_text: dict[str, str] = {}
    for entry_id, content, _ in rows:
        key = " ".join(content.lower().split())
        if key in by_text:
            problems.append(f"entries {by_text[key]} and {entry_id} have the same text")
        by_text.setdefault(key, entry_id)
    if len(rows) > 1:
        vectors = np.array([from_bytes(r.embedding) for r in rows], dtype=np.float32)
        neighbor_idx, neighbor_sim, _ = nearest_neighbors(vectors, 5)
        for i, (idx, sims) in enumerate(zip(neighbor_idx, neighbor_sim, strict=True)):
            for j, s in zip(idx.tolist(), sims.tolist(), strict=True):
                if j > i and s >= threshold:
                    problems.append(
                        f"entries {rows[i].id} and {rows[j].id} mean the same (similarity {s:.3f})"
                    )
    return problems


def unsourced_entry_problems(engine: Engine, project_id: str) -> list[str]:
    """Active entries with no supporting memory of the project behind them."""
    with engine.connect() as conn:
        active = set(
            conn.scalars(
                select(PlaybookEntry.id).where(
                    PlaybookEntry.project_id == project_id, PlaybookEntry.status == "active"
                )
            )
        )
        sourced = _pairs(
            conn,
            (
                select(PlaybookEntryMemory.entry_id, func.count())
                .join(Memory, Memory.id == PlaybookEntryMemory.memory_id)
                .join(PlaybookEntry, PlaybookEntry.id == PlaybookEntryMemory.entry_id)
                .where(PlaybookEntry.project_id == project_id, Memory.project_id == project_id)
                .group_by(PlaybookEntryMemory.entry_id)
            ),
        )
    return [
        f"active entry {e} has no supporting memory" for e in sorted(active) if not sourced.get(e)
    ]


def isolation_problems(engine: Engine, project_id: str) -> list[str]:
    """References from the project's outputs to memories, patterns or principles of another
    project (or to none at all): consolidation must never let one project's knowledge leak."""
    problems: list[str] = []
    with engine.connect() as conn:
        patterns = set(conn.scalars(select(Pattern.id).where(Pattern.project_id == project_id)))
        principles = dict(
            conn.execute(
                select(Principle.id, Principle.parent_id).where(Principle.project_id == project_id)
            ).all()
        )
        memory_refs: dict[str, set[str]] = {}

        def cite(owner: str, memory_id: str | None) -> None:
            if memory_id is not None:
                memory_refs.setdefault(memory_id, set()).add(owner)

        for row in pattern_memberships(conn, project_id):
            cite(f"pattern {row.pattern_id}", row.memory_id)
        for merged_id, canonical, pattern_id in conn.execute(
            select(
                MergedMemory.id, MergedMemory.canonical_memory_id, MergedMemory.pattern_id
            ).where(MergedMemory.project_id == project_id)
        ):
            cite(f"merged memory {merged_id}", canonical)
            if pattern_id is not None and pattern_id not in patterns:
                problems.append(
                    f"merged memory {merged_id} cites pattern {pattern_id} of no project pattern"
                )
        for row in merge_memberships(conn, project_id):
            cite(f"merged memory {row.merged_id}", row.memory_id)
        for principle_id, pattern_id in conn.execute(
            select(PrinciplePattern.principle_id, PrinciplePattern.pattern_id)
            .join(Principle, Principle.id == PrinciplePattern.principle_id)
            .where(Principle.project_id == project_id)
        ):
            if pattern_id not in patterns:
                problems.append(
                    f"principle {principle_id} cites pattern {pattern_id} of no project pattern"
                )
        for principle_id, parent_id in principles.items():
            if parent_id is not None and parent_id not in principles:
                problems.append(
                    f"principle {principle_id} has parent {parent_id} outside the project"
                )
        entries = conn.execute(
            select(
                PlaybookEntry.id,
                PlaybookEntry.status,
                PlaybookEntry.source_pattern_ids,
                PlaybookEntry.source_principle_ids,
            ).where(PlaybookEntry.project_id == project_id)
        ).all()
        for entry in entries:
            if entry.status != "active":
                continue
            for pattern_id in entry.source_pattern_ids or []:
                if pattern_id not in patterns:
                    problems.append(
                        f"entry {entry.id} cites pattern {pattern_id} of no project pattern"
                    )
            for principle_id in entry.source_principle_ids or []:
                if principle_id not in principles:
                    problems.append(
                        f"entry {entry.id} cites principle {principle_id} of no project principle"
                    )
        for entry_id, memory_id in conn.execute(
            select(PlaybookEntryMemory.entry_id, PlaybookEntryMemory.memory_id)
            .join(PlaybookEntry, PlaybookEntry.id == PlaybookEntryMemory.entry_id)
            .where(PlaybookEntry.project_id == project_id)
        ):
            cite(f"entry {entry_id}", memory_id)
        for memory_id in _foreign_or_missing(conn, project_id, set(memory_refs)):
            owners = ", ".join(sorted(memory_refs[memory_id])[:3])
            problems.append(f"{owners} cites memory {memory_id}, not a memory of the project")
    return problems
