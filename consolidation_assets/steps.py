"""The work behind each asset, without Dagster: load the inputs, run the phase, write the output.

Assets call these and turn the report into a MaterializeResult; benchmarks call them directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from consolidation_assets.phases.hierarchy import HierarchySettings, build_hierarchy
from consolidation_assets.phases.merging import MergeSettings, merge_memories
from consolidation_assets.phases.patterns import PatternSettings, extract_patterns
from consolidation_assets.phases.playbook import (
    PlaybookSettings,
    build_candidates,
    integrate_playbook,
)
from consolidation_assets.phases.text import shorten
from consolidation_assets.phases.types import MemoryBatch
from consolidation_assets.resources import EmbeddingService, MemoryStore
from consolidation_assets.scope import Scope
from consolidation_assets.store import outputs
from consolidation_assets.store.integrity import raw_fingerprint
from consolidation_assets.store.memories import load_memories


@dataclass(frozen=True)
class PhaseReport:
    """What a phase did: numeric metrics, the rows it wrote, and a Markdown preview."""

    metrics: dict[str, float | int]
    row_count: int
    preview: str
    seconds: float
    extra: dict[str, object] = field(default_factory=dict)


def load_batch(
    store: MemoryStore, embeddings: EmbeddingService, project_id: str, scope: Scope
) -> tuple[MemoryBatch, int]:
    """The project's memories in scope with their vectors, and how many texts were embedded."""
    columns = load_memories(store.engine, project_id, scope)
    vectors, embedded = embeddings.vectors_for(store, columns.content_hashes, columns.texts)
    if not columns.ids:
        vectors = np.zeros((0, 1), dtype=np.float32)
    batch = MemoryBatch(
        ids=columns.ids,
        texts=columns.texts,
        vectors=vectors,
        memory_types=columns.memory_types,
        success=columns.success,
        task_ids=columns.task_ids,
        created_at=columns.created_at,
    )
    return batch, embedded


def _table(header: list[str], rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def run_pattern_extraction(
    store: MemoryStore,
    embeddings: EmbeddingService,
    project_id: str,
    scope: Scope,
    settings: PatternSettings,
    run_id: str | None,
) -> PhaseReport:
    started = time.perf_counter()
    raw = raw_fingerprint(store.engine, project_id)
    batch, embedded = load_batch(store, embeddings, project_id, scope)
    embedding_seconds = time.perf_counter() - started
    result = extract_patterns(project_id, batch, settings)
    outputs.replace_patterns(store.engine, project_id, result.patterns, run_id)
    preview = _table(
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
    metrics = {
        **result.metrics,
        "memories_embedded": embedded,
        "embedding_seconds": round(embedding_seconds, 3),
        "raw_memories": raw.count,
    }
    return PhaseReport(
        metrics,
        len(result.patterns),
        preview,
        time.perf_counter() - started,
        extra={"raw_max_seq": raw.max_seq, "raw_digest": raw.digest},
    )


def run_memory_merging(
    store: MemoryStore,
    embeddings: EmbeddingService,
    project_id: str,
    scope: Scope,
    settings: MergeSettings,
    run_id: str | None,
) -> PhaseReport:
    started = time.perf_counter()
    batch, _ = load_batch(store, embeddings, project_id, scope)
    pattern_of = {
        m: p.id for p in outputs.load_patterns(store.engine, project_id) for m in p.member_ids
    }
    result = merge_memories(project_id, batch, pattern_of, settings)
    outputs.replace_merged(store.engine, project_id, result.groups, run_id)
    preview = _table(
        ["sources", "min similarity", "canonical"],
        [
            [str(len(g.source_ids)), f"{g.min_similarity:.2f}", shorten(g.content, 100)]
            for g in result.groups[:5]
        ],
    )
    return PhaseReport(result.metrics, len(result.groups), preview, time.perf_counter() - started)


def run_hierarchy_creation(
    store: MemoryStore,
    embeddings: EmbeddingService,
    project_id: str,
    scope: Scope,
    settings: HierarchySettings,
    run_id: str | None,
) -> PhaseReport:
    started = time.perf_counter()
    batch, _ = load_batch(store, embeddings, project_id, scope)
    patterns = outputs.load_patterns(store.engine, project_id)
    result = build_hierarchy(project_id, batch, patterns, settings)
    outputs.replace_principles(store.engine, project_id, result.principles, run_id)
    preview = _table(
        ["level", "patterns", "support", "statement"],
        [
            [str(p.level), str(len(p.pattern_ids)), str(p.support), shorten(p.statement, 110)]
            for p in sorted(result.principles, key=lambda p: (-p.support, p.id))[:5]
        ],
    )
    return PhaseReport(
        result.metrics, len(result.principles), preview, time.perf_counter() - started
    )


def run_playbook_integration(
    store: MemoryStore,
    embeddings: EmbeddingService,
    project_id: str,
    scope: Scope,
    settings: PlaybookSettings,
    run_id: str | None,
) -> PhaseReport:
    started = time.perf_counter()
    now = datetime.now(UTC)
    batch, _ = load_batch(store, embeddings, project_id, scope)
    patterns = outputs.load_patterns(store.engine, project_id)
    principles = outputs.load_principles(store.engine, project_id)
    existing = outputs.load_playbook(store.engine, project_id)
    candidates = build_candidates(batch, patterns, principles, settings)
    in_scope = None if scope.is_everything else batch.ids
    result = integrate_playbook(project_id, candidates, existing, now, settings, in_scope)
    outputs.write_playbook(store.engine, project_id, result.written, result.changes, run_id, now)
    entries = [e for e in outputs.load_playbook(store.engine, project_id) if e.status == "active"]
    preview = _table(
        ["category", "priority", "entry"],
        [[e.category, f"{e.priority:.2f}", shorten(e.content, 110)] for e in entries[:5]],
    )
    return PhaseReport(result.metrics, len(entries), preview, time.perf_counter() - started)
