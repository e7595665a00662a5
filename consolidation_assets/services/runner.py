"""The work behind each asset, without Dagster: load a phase's inputs, run it, write its output.

The Dagster assets call :func:`run_phase` and turn its report into a materialization; the
benchmarks and tests call it directly (or :func:`run_all`).

Two things keep a run cheap. The memories a run consolidates are loaded once and shared by its
phases through a :class:`RunState` (which also pins what the run reads while memories keep
arriving). And a phase whose inputs have not changed since it last wrote its output (the same
memories, settings, model, algorithm version and upstream outputs) reuses that output instead
of recomputing it, so a re-run on unchanged memories costs little more than reading their ids.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from consolidation_assets.phases.graph import SEARCH_VERSION, TextGraph, text_graph
from consolidation_assets.phases.registry import PHASES, Phase, downstream, phase
from consolidation_assets.phases.text import TermMatrix, term_matrix
from consolidation_assets.phases.types import MemoryBatch
from consolidation_assets.phases.writing import ExtractiveWriter, Writer
from consolidation_assets.services import settings as env_settings
from consolidation_assets.services.embedders import CachingEmbedder, Embedder
from consolidation_assets.services.llm_writer import PROMPT_VERSION, LLMSettings, LLMWriter
from consolidation_assets.store import MemoryStore, failpoints, outputs
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
from consolidation_assets.store.scope import Scope
from consolidation_assets.store.written_texts import WrittenTextCache

# Metrics of what loading the memories did in this run, reported by whichever phase loaded
# them; a phase that reuses its output did not load anything.
EMBEDDING_METRICS = ("memories_embedded", "embedding_seconds")


@dataclass(frozen=True)
class PhaseReport:
    """What a phase did: numeric metrics, the rows it holds, a Markdown preview, its wall time,
    and extra metadata (figures of the raw memories or of the whole project)."""

    metrics: dict[str, float | int]
    row_count: int
    preview: str
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


class RunState:
    """The memories one run consolidates and what its phases share; implements ``PhaseInputs``.

    The memory high-water mark is pinned at once (every step of the run, in any process, reads
    up to it); the memories, their vectors, the neighbour graph and the term matrix are loaded
    on first use.
    """

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        project_id: str,
        scope: Scope | None = None,
        run_id: str | None = None,
    ) -> None:
        self.store = store
        self.embedder = CachingEmbedder(embedder, store.engine)
        self.project_id = project_id
        self.scope = scope or Scope()
        self.run_id = run_id
        self.now = datetime.now(UTC)
        self.max_seq = pin_snapshot(store.engine, run_id, project_id)
        self.digest = memories_digest(store.engine, project_id, self.scope, self.max_seq)
        self.embedding: dict[str, float | int] = {}
        self._batch: MemoryBatch | None = None
        self._graphs: dict[int, TextGraph] = {}
        self._terms: TermMatrix | None = None
        self._rows: dict[str, Any] = {}
        self._current: Phase | None = None
        # The configured LLM writer (an OpenAI-compatible client and its settings) of the
        # step running now; None when none is configured.
        self.llm: LLMConnection | None = None

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def in_scope(self) -> frozenset[str] | None:
        return None if self.scope.is_everything else frozenset(self.batch.ids)

    @property
    def batch(self) -> MemoryBatch:
        if self._batch is None:
            started = time.perf_counter()
            columns = load_memories(self.store.engine, self.project_id, self.scope, self.max_seq)
            vectors, embedded = self.embedder.vectors_for(
                columns.content_hashes, columns.texts, self.project_id
            )
            if not columns.ids:
                vectors = np.zeros((0, 1), dtype=np.float32)
            self._batch = MemoryBatch(
                ids=columns.ids,
                texts=columns.texts,
                vectors=vectors,
                memory_types=columns.memory_types,
                success=columns.success,
                task_ids=columns.task_ids,
                created_at=columns.created_at,
                goals=columns.goals,
                results=columns.results,
                feedback_texts=columns.feedback,
            )
            self.embedding = {
                "memories_embedded": embedded,
                "embedding_seconds": round(time.perf_counter() - started, 3),
            }
        return self._batch

    def graph(self, k: int) -> TextGraph:
        """The neighbour graph, carried over from the project's last run where it applies."""
        if k not in self._graphs:
            engine, model_id = self.store.engine, self.model_id
            key = {"scope": self.scope.to_dict(), "search": SEARCH_VERSION}
            scope_key = hashlib.sha256(json.dumps(key).encode()).hexdigest()
            previous = load_graph(engine, self.project_id, model_id, scope_key, k)
            graph = text_graph(self.batch, k, previous)
            if graph.searched:
                save_graph(engine, self.project_id, model_id, scope_key, graph.stored())
                failpoints.reached("graph:saved")
            self._graphs[k] = graph
        return self._graphs[k]

    @property
    def terms(self) -> TermMatrix:
        if self._terms is None:
            self._terms = term_matrix(self.batch.texts)
        return self._terms

    def writer(self, choice: str) -> Writer:
        """A fresh writer for the running phase: its metrics are that phase's alone."""
        if choice == "extractive" or (choice == "auto" and self.llm is None):
            return ExtractiveWriter()
        if self.llm is None:
            raise ValueError(
                "the writer setting is 'llm' but no LLM is configured: set "
                f"{env_settings.LLM_MODEL_ENV} (and {env_settings.LLM_BASE_URL_ENV} for a "
                "server other than OpenAI's), or choose writer 'auto' or 'extractive'"
            )
        return LLMWriter(self.llm.client, self.llm.settings, WrittenTextCache(self.store.engine))

    def writer_identity(self, choice: str) -> str:
        """What the texts' wording depends on, for the input digest."""
        if choice == "extractive" or self.llm is None:
            return "extractive"
        return f"llm:{self.llm.settings.model}:{PROMPT_VERSION}"

    def upstream(self, name: str) -> Any:
        """An upstream phase's rows: as this run computed them, else as stored."""
        if name not in self._rows:
            self._rows[name] = outputs.load_output(self.store.engine, name, self.project_id)
        return self._rows[name]

    def previous(self) -> Any:
        """The running phase's own stored rows (for a phase that updates its output)."""
        assert self._current is not None, "previous() is only meaningful inside a phase"
        return outputs.load_output(self.store.engine, self._current.name, self.project_id)

    def input_digest(self, current: Phase, settings: Any) -> str:
        """Everything a phase's output depends on: memories, settings, model, algorithm
        version and the inputs of the phases it reads."""
        upstream = []
        for name in current.upstream:
            state = load_state(self.store.engine, self.project_id, name)
            upstream.append(state.input_digest if state else "")
        material = json.dumps(
            [
                current.name,
                current.version,
                self.digest,
                self.model_id,
                self.scope.to_dict(),
                asdict(settings),
                upstream,
                self.writer_identity(getattr(settings, "writer", "extractive")),
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def compute(self, current: Phase, settings: Any) -> PhaseReport:
        """Run the phase on this state and write its output in one transaction."""
        self._current = current
        try:
            output = current.compute(self, settings)
        finally:
            self._current = None
        outputs.write_output(
            self.store.engine, current.name, self.project_id, output.rows, self.run_id, self.now
        )
        self._rows[current.name] = output.rows
        metrics = dict(output.metrics)
        # The phase that loaded the memories reports what loading them cost, once.
        metrics.update(self.embedding)
        self.embedding = {}
        return PhaseReport(metrics, output.row_count, output.preview, 0.0)


def _reused(state: RunState, current: Phase, digest: str) -> PhaseReport | None:
    """The stored report of a phase whose inputs and output rows are unchanged, else None."""
    stored = load_state(state.store.engine, state.project_id, current.name)
    if stored is None or stored.input_digest != digest:
        return None
    if output_rows(state.store.engine, state.project_id, current.outputs[0]) != stored.row_count:
        return None
    metrics = {**stored.metrics, "reused": 1}
    for key in (*current.change_metrics, *EMBEDDING_METRICS):
        if key in metrics:
            metrics[key] = 0
    return PhaseReport(metrics, stored.row_count, stored.preview, 0.0)


@dataclass(frozen=True)
class LLMConnection:
    """An OpenAI-compatible client and how the LLM writer uses it."""

    client: Any
    settings: LLMSettings


def run_phase(
    state: RunState,
    name: str,
    settings: Any | None = None,
    llm: LLMConnection | None = None,
) -> PhaseReport:
    """The phase's output, reused when its inputs are unchanged, else computed and written.

    The project's lock is held from reading the upstream states to saving this one, so two runs
    of a project never interleave their writes, however they were launched. A phase nothing
    reads first fingerprints the raw memories (the check that they stay intact compares
    against it); the phase nothing else reads reports the project's figures.
    """
    current = phase(name)
    settings = settings if settings is not None else current.settings()
    state.llm = llm
    started = time.perf_counter()
    engine, project_id = state.store.engine, state.project_id
    extra: dict[str, Any] = {}
    if not current.upstream:
        raw = raw_fingerprint(engine, project_id)
        extra = {"raw_max_seq": raw.max_seq, "raw_digest": raw.digest}
    with project_lock(engine, project_id, env_settings.lock_timeout_seconds()):
        failpoints.reached(f"{name}:start")
        digest = state.input_digest(current, settings)
        report = _reused(state, current, digest)
        if report is None:
            report = state.compute(current, settings)
            report.metrics["reused"] = 0
            failpoints.reached(f"{name}:written")
            stored = StoredState(digest, dict(report.metrics), report.row_count, report.preview)
            save_state(engine, project_id, name, stored, state.run_id)
            failpoints.reached(f"{name}:saved")
    if not current.upstream:
        report.metrics["raw_memories"] = raw.count
    if not downstream(name):
        figures = project_figures(engine, project_id)
        extra = {
            "project_total_memories": figures["total_memories"],
            "project_consolidated_memories": figures["consolidated_memories"],
            "project_reduction_percent": figures["reduction_percent"],
            "project_figures": {k: v for k, v in figures.items() if k != "last_run"},
        }
    return PhaseReport(
        report.metrics, report.row_count, report.preview, time.perf_counter() - started, extra
    )


def run_all(
    store: MemoryStore,
    embedder: Embedder,
    project_id: str,
    scope: Scope | None = None,
    settings: dict[str, Any] | None = None,
    llm: LLMConnection | None = None,
) -> dict[str, PhaseReport]:
    """Every phase in order for one project, without Dagster (benchmarks, experiments).

    ``settings`` maps a phase name to its settings dataclass; the others use their defaults.
    """
    state = RunState(store, embedder, project_id, scope)
    return {p.name: run_phase(state, p.name, (settings or {}).get(p.name), llm) for p in PHASES}
