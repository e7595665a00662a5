"""The work behind each asset, without Dagster: load the inputs, run the phase, write the output.

Assets call these and turn the report into a MaterializeResult; benchmarks call them directly.

Two things keep a run cheap. The memories a run consolidates are loaded once and shared by its
phases (a snapshot per run, which is also what makes a run consistent while memories keep
arriving). And a phase whose inputs have not changed since it last wrote its output (the same
memories, settings, model and upstream outputs) reuses that output instead of recomputing it,
so a re-run on unchanged memories costs little more than reading their ids.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from consolidation_assets import failpoints
from consolidation_assets.phases.graph import TextGraph, text_graph
from consolidation_assets.phases.hierarchy import HierarchySettings, build_hierarchy
from consolidation_assets.phases.merging import MergeSettings, merge_memories
from consolidation_assets.phases.patterns import PatternSettings, extract_patterns
from consolidation_assets.phases.playbook import (
    PlaybookSettings,
    build_candidates,
    integrate_playbook,
)
from consolidation_assets.phases.text import TermMatrix, shorten, term_matrix
from consolidation_assets.phases.types import MemoryBatch, Pattern
from consolidation_assets.resources import EmbeddingService, MemoryStore
from consolidation_assets.scope import Scope
from consolidation_assets.store import outputs
from consolidation_assets.store.graphs import load_graph, save_graph
from consolidation_assets.store.integrity import raw_fingerprint
from consolidation_assets.store.knowledge import project_figures
from consolidation_assets.store.locks import project_lock
from consolidation_assets.store.memories import load_memories, memories_digest
from consolidation_assets.store.phase_states import (
    StoredState,
    load_state,
    output_rows,
    save_state,
)
from consolidation_assets.store.run_snapshots import pin_snapshot

PHASES = ("patterns", "merged_memories", "principles", "playbook_entries")
UPSTREAM = {
    "patterns": (),
    "merged_memories": ("patterns",),
    "principles": ("patterns",),
    "playbook_entries": ("patterns", "principles"),
}
# Bump when a phase's algorithm changes, so stored outputs are recomputed.
ALGORITHM_VERSION = "6"
# Metrics of what a run changed rather than of what the output holds: a reused phase changed
# nothing, whatever the run that wrote the output did.
CHANGE_METRICS = (
    "memories_embedded",
    "embedding_seconds",
    "playbook_entries_created",
    "playbook_entries_updated",
    "playbook_entries_stale",
    "playbook_entries_reactivated",
)


@dataclass(frozen=True)
class PhaseReport:
    """What a phase did: numeric metrics, the rows it wrote, and a Markdown preview."""

    metrics: dict[str, float | int]
    row_count: int
    preview: str
    seconds: float
    extra: dict[str, object] = field(default_factory=dict)


class RunSnapshot:
    """The memories one run consolidates: their digest at once, the rest on first use."""

    def __init__(
        self,
        store: MemoryStore,
        embeddings: EmbeddingService,
        project_id: str,
        scope: Scope,
        run_id: str | None = None,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.project_id = project_id
        self.scope = scope
        self.max_seq = pin_snapshot(store.engine, run_id, project_id)
        self.digest = memories_digest(store.engine, project_id, scope, self.max_seq)
        self.embedded = 0
        self._batch: MemoryBatch | None = None
        self._graphs: dict[int, TextGraph] = {}
        self._terms: TermMatrix | None = None
        self._patterns: list[Pattern] | None = None

    @property
    def batch(self) -> MemoryBatch:
        if self._batch is None:
            self._batch, self.embedded = load_batch(
                self.store, self.embeddings, self.project_id, self.scope, self.max_seq
            )
        return self._batch

    def graph(self, k: int) -> TextGraph:
        """The neighbour graph, carried over from the project's last run where it applies."""
        if k not in self._graphs:
            engine, model_id = self.store.engine, self.embeddings.model_id
            scope_key = hashlib.sha256(json.dumps(self.scope.to_dict()).encode()).hexdigest()
            previous = load_graph(engine, self.project_id, model_id, scope_key, k)
            graph = text_graph(self.batch, k, previous)
            if graph.searched:
                save_graph(engine, self.project_id, model_id, scope_key, graph.stored())
                failpoints.reached("graph:saved")
            self._graphs[k] = graph
        return self._graphs[k]

    @property
    def patterns(self) -> list[Pattern]:
        """The project's patterns: as this run extracted them, else as stored."""
        if self._patterns is None:
            self._patterns = outputs.load_patterns(self.store.engine, self.project_id)
        return self._patterns

    @patterns.setter
    def patterns(self, value: list[Pattern]) -> None:
        self._patterns = value

    @property
    def terms(self) -> TermMatrix:
        if self._terms is None:
            self._terms = term_matrix(self.batch.texts)
        return self._terms


_snapshots: dict[tuple, RunSnapshot] = {}
_snapshot_lock = threading.Lock()


def snapshot(
    store: MemoryStore,
    embeddings: EmbeddingService,
    project_id: str,
    scope: Scope,
    run_id: str | None,
) -> RunSnapshot:
    """The run's snapshot, shared by its phases; without a run id, a fresh one every call.

    One snapshot is kept per process: a run's steps share it, the next run replaces it.
    """
    if run_id is None:
        return RunSnapshot(store, embeddings, project_id, scope)
    key = (run_id, store.url, project_id, json.dumps(scope.to_dict()), embeddings.model_id)
    with _snapshot_lock:
        found = _snapshots.get(key)
        if found is None:
            _snapshots.clear()
            found = _snapshots[key] = RunSnapshot(store, embeddings, project_id, scope, run_id)
        return found


def release_snapshots() -> None:
    """Drop the kept snapshot (its vectors, graph and term matrix) once a run is over."""
    with _snapshot_lock:
        _snapshots.clear()


def load_batch(
    store: MemoryStore,
    embeddings: EmbeddingService,
    project_id: str,
    scope: Scope,
    max_seq: int | None = None,
) -> tuple[MemoryBatch, int]:
    """The project's memories in scope with their vectors, and how many texts were embedded."""
    columns = load_memories(store.engine, project_id, scope, max_seq)
    vectors, embedded = embeddings.vectors_for(
        store, columns.content_hashes, columns.texts, project_id
    )
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


def input_digest(snap: RunSnapshot, phase: str, settings: object) -> str:
    """Everything a phase's output depends on: memories, settings, model, upstream outputs."""
    upstream = []
    for name in UPSTREAM[phase]:
        state = load_state(snap.store.engine, snap.project_id, name)
        upstream.append(state.input_digest if state else "")
    material = json.dumps(
        [
            ALGORITHM_VERSION,
            phase,
            snap.digest,
            snap.embeddings.model_id,
            snap.scope.to_dict(),
            asdict(settings),  # type: ignore[call-overload]
            upstream,
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _reused(snap: RunSnapshot, phase: str, digest: str, started: float) -> PhaseReport | None:
    """The stored report of a phase whose inputs and output rows are unchanged, else None."""
    state = load_state(snap.store.engine, snap.project_id, phase)
    if state is None or state.input_digest != digest:
        return None
    if output_rows(snap.store.engine, snap.project_id, phase) != state.row_count:
        return None
    metrics = {**state.metrics, "reused": 1}
    metrics.update({key: 0 for key in CHANGE_METRICS if key in metrics})
    return PhaseReport(metrics, state.row_count, state.preview, time.perf_counter() - started)


def _run(
    snap: RunSnapshot,
    phase: str,
    settings: object,
    run_id: str | None,
    compute: Callable[[], PhaseReport],
) -> PhaseReport:
    """The phase's output, reused when its inputs are unchanged, else computed and written.

    The project's lock is held from reading the upstream states to saving this one, so two runs
    of a project never interleave their writes, however they were launched.
    """
    started = time.perf_counter()
    with project_lock(snap.store.engine, snap.project_id):
        failpoints.reached(f"{phase}:start")
        digest = input_digest(snap, phase, settings)
        report = _reused(snap, phase, digest, started)
        if report is None:
            report = compute()
            report.metrics["reused"] = 0
            failpoints.reached(f"{phase}:written")
            stored = StoredState(digest, dict(report.metrics), report.row_count, report.preview)
            save_state(snap.store.engine, snap.project_id, phase, stored, run_id)
            failpoints.reached(f"{phase}:saved")
    return report


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
    snap = snapshot(store, embeddings, project_id, scope, run_id)

    def compute() -> PhaseReport:
        batch = snap.batch
        embedding_seconds = time.perf_counter() - started
        result = extract_patterns(
            project_id, batch, settings, snap.graph(settings.neighbors), snap.terms
        )
        outputs.replace_patterns(store.engine, project_id, result.patterns, run_id)
        snap.patterns = result.patterns
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
            "memories_embedded": snap.embedded,
            "embedding_seconds": round(embedding_seconds, 3),
        }
        return PhaseReport(metrics, len(result.patterns), preview, 0.0)

    report = _run(snap, "patterns", settings, run_id, compute)
    report.metrics["raw_memories"] = raw.count
    return PhaseReport(
        report.metrics,
        report.row_count,
        report.preview,
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
    snap = snapshot(store, embeddings, project_id, scope, run_id)

    def compute() -> PhaseReport:
        pattern_of = {m: p.id for p in snap.patterns for m in p.member_ids}
        result = merge_memories(
            project_id, snap.batch, pattern_of, settings, snap.graph(settings.neighbors)
        )
        outputs.replace_merged(store.engine, project_id, result.groups, run_id)
        preview = _table(
            ["sources", "min similarity", "canonical"],
            [
                [str(len(g.source_ids)), f"{g.min_similarity:.2f}", shorten(g.content, 100)]
                for g in result.groups[:5]
            ],
        )
        return PhaseReport(result.metrics, len(result.groups), preview, 0.0)

    report = _run(snap, "merged_memories", settings, run_id, compute)
    return PhaseReport(
        report.metrics, report.row_count, report.preview, time.perf_counter() - started
    )


def run_hierarchy_creation(
    store: MemoryStore,
    embeddings: EmbeddingService,
    project_id: str,
    scope: Scope,
    settings: HierarchySettings,
    run_id: str | None,
) -> PhaseReport:
    started = time.perf_counter()
    snap = snapshot(store, embeddings, project_id, scope, run_id)

    def compute() -> PhaseReport:
        patterns = snap.patterns
        result = build_hierarchy(project_id, snap.batch, patterns, settings, snap.terms)
        outputs.replace_principles(store.engine, project_id, result.principles, run_id)
        preview = _table(
            ["level", "patterns", "support", "statement"],
            [
                [str(p.level), str(len(p.pattern_ids)), str(p.support), shorten(p.statement, 110)]
                for p in sorted(result.principles, key=lambda p: (-p.support, p.id))[:5]
            ],
        )
        return PhaseReport(result.metrics, len(result.principles), preview, 0.0)

    report = _run(snap, "principles", settings, run_id, compute)
    return PhaseReport(
        report.metrics, report.row_count, report.preview, time.perf_counter() - started
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
    snap = snapshot(store, embeddings, project_id, scope, run_id)

    def compute() -> PhaseReport:
        now = datetime.now(UTC)
        batch = snap.batch
        patterns = snap.patterns
        principles = outputs.load_principles(store.engine, project_id)
        existing = outputs.load_playbook(store.engine, project_id)
        candidates = build_candidates(batch, patterns, principles, settings)
        in_scope = None if scope.is_everything else batch.ids
        result = integrate_playbook(project_id, candidates, existing, now, settings, in_scope)
        outputs.write_playbook(
            store.engine, project_id, result.written, result.changes, run_id, now
        )
        changed = {e.id: e for e in result.written}
        known = {e.id for e in existing}
        active = [changed.get(e.id, e) for e in existing if changed.get(e.id, e).status == "active"]
        active += [e for e in result.written if e.id not in known]
        active.sort(key=lambda e: (-e.priority, e.id))
        preview = _table(
            ["category", "priority", "entry"],
            [[e.category, f"{e.priority:.2f}", shorten(e.content, 110)] for e in active[:5]],
        )
        return PhaseReport(result.metrics, len(active), preview, 0.0)

    report = _run(snap, "playbook_entries", settings, run_id, compute)
    figures = project_figures(store.engine, project_id)
    return PhaseReport(
        report.metrics,
        report.row_count,
        report.preview,
        time.perf_counter() - started,
        extra={
            "project_total_memories": figures["total_memories"],
            "project_consolidated_memories": figures["consolidated_memories"],
            "project_reduction_percent": figures["reduction_percent"],
            "project_figures": {k: v for k, v in figures.items() if k != "last_run"},
        },
    )
