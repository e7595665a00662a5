"""Writers at the same time: ingest during a run, and two runs of a project outside the queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consolidation_assets.engine import ConsolidationEngine
from consolidation_assets.services.embedders import CachingEmbedder
from consolidation_assets.services.memory_input import validate_memories
from consolidation_assets.services.settings import LOCK_TIMEOUT_ENV
from consolidation_assets.store import integrity
from consolidation_assets.store.locks import project_lock
from consolidation_assets.store.memories import insert_memories
from consolidation_assets.store.models import Pattern, PatternMember, RunSnapshot
from consolidation_assets.store.run_snapshots import newest_seq, snapshot_count
from tests.helpers import SAMPLE_DATA, before_phase

PROJECT = "web-backend"
CLI = Path(sys.executable).with_name("consolidation")


def records() -> list[dict]:
    path = SAMPLE_DATA / f"{PROJECT}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ingest(store, batch: list[dict]) -> None:
    insert_memories(store.engine, validate_memories(batch, "test"))


@pytest.fixture
def project(store, embedder) -> list[dict]:
    """The sample project's first 150 memories stored, every text already embedded."""
    everything = records()
    CachingEmbedder(embedder, store.engine).encode([r["content"] for r in everything])
    ingest(store, everything[:150])
    return everything


def patterned_memories(store) -> set[str]:
    with store.engine.connect() as conn:
        return set(
            conn.scalars(
                select(PatternMember.memory_id)
                .join(Pattern, Pattern.id == PatternMember.pattern_id)
                .where(Pattern.project_id == PROJECT)
            )
        )


def test_memories_ingested_during_a_run_wait_for_the_next_one(
    project, store, embedder, monkeypatch
) -> None:
    late = project[150:]
    before_phase(monkeypatch, "merged_memories", lambda: ingest(store, late))
    engine = ConsolidationEngine(store, embedder, PROJECT)
    during = engine.execute()
    assert during.status.value == "completed", during.error_message
    assert during.metrics["raw_memories"] == 150
    late_ids = {r["id"] for r in late}
    assert not patterned_memories(store) & late_ids, "a phase saw memories the run had not"
    assert integrity.isolation_problems(store.engine, PROJECT) == []

    pinned = []

    def read_pin() -> None:
        with store.engine.connect() as conn:
            pinned.append(conn.scalar(select(RunSnapshot.max_seq)))

    before_phase(monkeypatch, "merged_memories", read_pin)
    after = engine.execute()
    assert after.status.value == "completed", after.error_message
    assert after.metrics["raw_memories"] == len(project)
    assert pinned == [newest_seq(store.engine, PROJECT)], "the live run's snapshot is kept"
    assert snapshot_count(store.engine) == 0, "a finished run's snapshot is released"
    assert patterned_memories(store) & late_ids, "the next run did not consolidate the new ones"


def test_a_run_waits_for_the_project_lock_then_fails_clearly(
    project, store, embedder, monkeypatch
) -> None:
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "1")
    engine = ConsolidationEngine(store, embedder, PROJECT)
    with project_lock(store.engine, PROJECT, timeout=60):
        result = engine.execute()
    assert result.status.value == "failed"
    assert f"project {PROJECT!r} is being consolidated by another run" in result.error_message
    assert result.phases_completed == []
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Pattern)) == 0


def test_a_run_started_while_the_project_is_locked_goes_on_once_it_is_free(
    project, store, embedder
) -> None:
    engine = ConsolidationEngine(store, embedder, PROJECT)
    outcome = {}
    with project_lock(store.engine, PROJECT, timeout=60):
        worker = threading.Thread(target=lambda: outcome.update(result=engine.execute()))
        worker.start()
        time.sleep(3)
        assert worker.is_alive(), "the run did not wait for the lock"
        with store.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Pattern)) == 0
    worker.join(timeout=300)
    assert outcome["result"].status.value == "completed", outcome["result"].error_message


@pytest.mark.slow
def test_two_engines_at_once_both_complete_without_interleaving(
    project, store, database_url: str
) -> None:
    env = {**os.environ, "CONSOLIDATION_DATABASE_URL": database_url}
    runs = [
        subprocess.Popen(
            [str(CLI), "run", "--project", PROJECT],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err.decode()[-3000:]
        assert json.loads(out)["status"] == "completed"
    for problems in (
        integrity.pattern_problems(store.engine, PROJECT),
        integrity.merge_problems(store.engine, PROJECT),
        integrity.principle_problems(store.engine, PROJECT),
        integrity.unsourced_entry_problems(store.engine, PROJECT),
        integrity.isolation_problems(store.engine, PROJECT),
    ):
        assert problems == []
    with store.engine.connect() as conn:
        writers = conn.scalar(
            select(func.count(func.distinct(Pattern.run_id))).where(Pattern.project_id == PROJECT)
        )
    assert writers == 1
