"""The data the phases exchange."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from consolidation_assets.phases.graph import TextGraph
    from consolidation_assets.phases.text import TermMatrix
    from consolidation_assets.phases.writing import Writer


@dataclass(frozen=True)
class MemoryBatch:
    """A project's memories in scope, as parallel columns; ``vectors`` rows are unit length."""

    ids: Sequence[str]
    texts: Sequence[str]
    vectors: np.ndarray
    memory_types: Sequence[str]
    success: Sequence[bool | None]
    task_ids: Sequence[str | None]
    created_at: Sequence[datetime]
    # What the agent set out to do, what came of it and what it was told; empty when the
    # caller has none (writers then work from the content alone).
    goals: Sequence[str | None] = ()
    results: Sequence[str | None] = ()
    feedback_texts: Sequence[str | None] = ()

    def __post_init__(self) -> None:
        n = len(self.ids)
        columns = (self.texts, self.memory_types, self.success, self.task_ids, self.created_at)
        optional = (self.goals, self.results, self.feedback_texts)
        if (
            any(len(c) != n for c in columns)
            or any(len(c) not in (0, n) for c in optional)
            or self.vectors.shape[0] != n
        ):
            raise ValueError("MemoryBatch columns must all have one entry per memory")

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        return {memory_id: i for i, memory_id in enumerate(self.ids)}

    def goal(self, row: int) -> str | None:
        return self.goals[row] if self.goals else None

    def result(self, row: int) -> str | None:
        return self.results[row] if self.results else None

    def feedback(self, row: int) -> str | None:
        return self.feedback_texts[row] if self.feedback_texts else None


@dataclass(frozen=True)
class Pattern:
    """A recurring pattern: a cluster of at least ``min_support`` memories."""

    id: str
    label: str
    summary: str
    keywords: tuple[str, ...]
    pattern_type: str
    confidence: float
    support: int
    distinct_tasks: int
    cohesion: float
    central_memory_id: str
    first_seen: datetime
    last_seen: datetime
    member_ids: tuple[str, ...]
    member_similarities: tuple[float, ...]
    centroid: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class MergeGroup:
    """Near-duplicate memories merged into one; every source kept and linked."""

    id: str
    canonical_memory_id: str
    content: str
    source_ids: tuple[str, ...]
    source_similarities: tuple[float, ...]
    pattern_id: str | None
    details: tuple[str, ...]
    min_similarity: float
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Principle:
    """An abstraction over at least two patterns (level 1) or two principles (level 2+)."""

    id: str
    statement: str
    keywords: tuple[str, ...]
    level: int
    parent_id: str | None
    pattern_ids: tuple[str, ...]
    child_ids: tuple[str, ...]
    support: int
    cohesion: float
    centroid: np.ndarray = field(repr=False, compare=False)
    # The theme's keywords for a heading, kept apart from the statement; the memories the
    # statement rests on; the writer that worded it.
    label: str = ""
    cited_memory_ids: tuple[str, ...] = ()
    writer: str = "extractive"


def stable_id(prefix: str, *parts: str) -> str:
    """An id derived from content, so unchanged inputs give unchanged ids across runs."""
    import hashlib

    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8"), usedforsecurity=False)
    return f"{prefix}-{digest.hexdigest()[:16]}"


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to unit length (zero stays zero)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


class PhaseInputs(Protocol):
    """What a phase may read. The runner loads each part on first use and shares it between the
    phases of a run, so a phase that needs no memories (reusing its output) costs nothing."""

    project_id: str
    now: datetime
    # The memory ids a narrowed run looked at; None when the run saw every memory.
    in_scope: frozenset[str] | None

    @property
    def batch(self) -> MemoryBatch: ...

    @property
    def terms(self) -> TermMatrix: ...

    def graph(self, k: int) -> TextGraph: ...

    def writer(self, choice: str) -> Writer:
        """The writer the run words texts with: ``"extractive"``, ``"llm"`` (configured or an
        error) or ``"auto"`` (the LLM writer when one is configured)."""
        ...

    def upstream(self, phase: str) -> Any:
        """The rows an upstream phase wrote: in this run if it ran, else as stored."""
        ...

    def previous(self) -> Any:
        """The rows this phase wrote last time, for phases that update rather than replace."""
        ...


@dataclass(frozen=True)
class PhaseOutput:
    """What a phase computed: ``rows`` (what the store writes and later phases read), numeric
    metrics, how many rows the output holds, and a Markdown preview of the top of it."""

    rows: Any
    metrics: dict[str, float | int]
    row_count: int
    preview: str
