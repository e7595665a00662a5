"""Shared test helpers: paths, real data sets, building batches and stores, and the resources a
Dagster run of the consolidation assets needs. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dagster_openai import OpenAIResource
from sqlalchemy import select

from consolidation_assets.defs.resources import RunCache
from consolidation_assets.phases.types import MemoryBatch
from consolidation_assets.services.embedders import Embedder
from consolidation_assets.services.llm_writer import LLMSettings
from consolidation_assets.services.memory_input import parse_jsonl
from consolidation_assets.store import MemoryStore
from consolidation_assets.store.memories import insert_memories
from consolidation_assets.store.models import Memory

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = Path(os.environ.get("CONSOLIDATION_SHARED_DATA", REPO.parent / "shared" / "data"))
SAMPLE_DATA = REPO / "consolidation_assets" / "sample_data"
RESULTS = REPO / "test-results"
# An exact-search limit low enough that a few thousand rows take the inverted file, which the
# phases use above ``neighbors.EXACT_LIMIT`` (20,000 texts): tests of that path patch it in.
INDEXED_ABOVE = 2_048


class RememberingEmbedder:
    """An embedder that keeps every vector it computed for the rest of the test session.

    The real model gives the same vector for the same text, so tests that consolidate the
    same sample projects again and again need not embed them again; each fresh store still
    counts and caches its own embeddings, as in production.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.inner.encode(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


def before_phase(monkeypatch: pytest.MonkeyPatch, name: str, action: Callable[[], Any]) -> None:
    """Do ``action`` inside the run, just before the phase ``name`` starts (ingest during a run,
    a failing phase, a tampered memory)."""
    from consolidation_assets.defs import assets

    original = assets.run_phase

    def wrapped(state: Any, phase_name: str, *args: Any) -> Any:
        if phase_name == name:
            action()
        return original(state, phase_name, *args)

    monkeypatch.setattr(assets, "run_phase", wrapped)


def run_resources(
    store: MemoryStore,
    embedder: Embedder,
    llm: OpenAIResource | None = None,
    writing: LLMSettings | None = None,
) -> dict[str, Any]:
    """The resources of a Dagster run of the consolidation assets, for ``materialize``; with
    no ``writing`` settings there is no LLM writer (the extractive one runs)."""
    return {
        "memory_store": store,
        "embeddings": embedder,
        "run_cache": RunCache(),
        "llm": llm or OpenAIResource(api_key="unused"),
        "writing": writing or LLMSettings(model=""),
    }


def make_batch(
    embedder: Embedder,
    texts: Sequence[str],
    ids: Sequence[str] | None = None,
    memory_types: Sequence[str] | None = None,
    success: Sequence[bool | None] | None = None,
    task_ids: Sequence[str | None] | None = None,
) -> MemoryBatch:
    """A batch of real texts embedded by the real model."""
    n = len(texts)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return MemoryBatch(
        ids=list(ids or [f"m{i:05d}" for i in range(n)]),
        texts=list(texts),
        vectors=embedder.encode(list(texts)),
        memory_types=list(memory_types or ["discovery"] * n),
        success=list(success or [None] * n),
        task_ids=list(task_ids or [f"task-{i}" for i in range(n)]),
        created_at=[start + timedelta(minutes=i) for i in range(n)],
    )


def synthetic_batch(n: int, seed: int = 0) -> MemoryBatch:
    """n memories around n/20 topics: unit vectors near topic centres, texts that share words."""
    rng = np.random.default_rng(seed)
    topics = max(n // 20, 2)
    centres = rng.normal(size=(topics, 64))
    topic = rng.integers(0, topics, size=n)
    vectors = centres[topic] + 0.6 * rng.normal(size=(n, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    words = [f"word{i}" for i in range(500)]
    texts = [
        f"topic {t} note {i}: " + " ".join(rng.choice(words, size=8))
        for i, t in enumerate(topic.tolist())
    ]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return MemoryBatch(
        ids=[f"m{i}" for i in range(n)],
        texts=texts,
        vectors=vectors,
        memory_types=["discovery"] * n,
        success=[None] * n,
        task_ids=[f"t{i}" for i in range(n)],
        created_at=[now] * n,
    )


def banking77_sample() -> tuple[list[str], list[str]]:
    with (TEST_DATA / "banking77_sample.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def isabella_stream() -> list[dict]:
    with (TEST_DATA / "generative_agents_isabella.jsonl").open() as f:
        return [json.loads(line) for line in f]


def shared_path(*parts: str) -> Path:
    """A file of ../shared/data: skipped when absent on a developer's machine, a failure under
    CI=true, where the data always sits beside the checkout."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        reason = f"{path} is absent (set CONSOLIDATION_SHARED_DATA to the data directory)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs the shared data: {reason}")
        pytest.skip(reason)
    return path


def sample_answer_key() -> dict:
    return json.loads((TEST_DATA / "sample_answer_key.json").read_text())


def paraphrased_verdicts() -> list[str]:
    """Five paraphrases of one reviewer verdict (``tests/data/paraphrased_verdicts.json``)."""
    return json.loads((TEST_DATA / "paraphrased_verdicts.json").read_text())["texts"]


def ingest_sample(store: MemoryStore, project: str) -> int:
    """Store one bundled sample project; returns how many memories it holds."""
    path = SAMPLE_DATA / f"{project}.jsonl"
    return insert_memories(store.engine, parse_jsonl(path.read_bytes(), str(path))).inserted


def raw_digest(store: MemoryStore) -> str:
    """A digest of every column of every raw memory: consolidation must never change it."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(Memory).order_by(Memory.seq)).all()
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
