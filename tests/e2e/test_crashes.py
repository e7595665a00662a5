"""Runs killed with SIGKILL at points inside every phase: nothing lost, nothing half-written.

Each kill: a few new memories arrive (so every phase has work to do), a ``consolidation run``
process starts with a failpoint set, stops where it is named (inside the phase's transaction,
after its output is written, after its state is saved ...) and is killed there. Then the test
checks the raw memories byte for byte, that every phase's output is whole, and that the killed
run's job record does not claim completion; and it runs the project again to completion with
every asset check passing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import func, select

from consolidation_assets.defs.instance import dagster_instance
from consolidation_assets.engine import ConsolidationEngine
from consolidation_assets.phases.playbook import PlaybookSettings
from consolidation_assets.phases.registry import PHASE_NAMES
from consolidation_assets.services.embedders import CachingEmbedder
from consolidation_assets.services.memory_input import validate_memories
from consolidation_assets.store import integrity
from consolidation_assets.store.failpoints import FAILPOINT_ENV, FAILPOINT_FILE_ENV
from consolidation_assets.store.jobs import get_job
from consolidation_assets.store.memories import insert_memories
from consolidation_assets.store.models import MergedMemory, Pattern, Principle, PrinciplePattern
from tests.helpers import SAMPLE_DATA, raw_digest

pytestmark = pytest.mark.slow

PROJECT = "mobile-app"
STAGES = ("start", "writing", "written", "saved")
# Every stage of every phase, the embedding cache and the neighbour graph, then each phase's
# transaction again: 22 kills.
POINTS = [
    "embedding:stored",
    "graph:saved",
    *(f"{phase}:{stage}" for phase in PHASE_NAMES for stage in STAGES),
    *(f"{phase}:writing" for phase in PHASE_NAMES),
]
CLI = Path(sys.executable).with_name("consolidation")


def sample_records() -> list[dict]:
    path = SAMPLE_DATA / f"{PROJECT}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ingest(store, records: list[dict]) -> None:
    insert_memories(store.engine, validate_memories(records, "crash test"))


def run_until(point: str, database_url: str, tmp_path: Path) -> tuple[str, str]:
    """Start a run process, wait until it reaches ``point``, SIGKILL it; (job id, point)."""
    job_id = str(uuid.uuid4())
    marker = tmp_path / f"reached-{job_id}"
    env = {
        **os.environ,
        "CONSOLIDATION_DATABASE_URL": database_url,
        FAILPOINT_ENV: point,
        FAILPOINT_FILE_ENV: str(marker),
    }
    process = subprocess.Popen(
        [str(CLI), "run", "--project", PROJECT, "--job-id", job_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while not marker.exists():
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"the run ended before reaching {point}:\n{output[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run did not reach {point} within 180 s")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return job_id, marker.read_text()


def assert_outputs_whole(engine) -> None:
    """Each phase's rows were written by one run, all of them, and agree among themselves."""
    with engine.connect() as conn:
        for table in (Pattern, MergedMemory, Principle):
            writers = conn.scalar(
                select(func.count(func.distinct(table.run_id))).where(table.project_id == PROJECT)
            )
            assert writers <= 1, f"{table.__tablename__} mixes the rows of {writers} runs"
        cited = conn.execute(
            select(PrinciplePattern.principle_id, func.count())
            .join(Principle, Principle.id == PrinciplePattern.principle_id)
            .where(Principle.project_id == PROJECT)
            .group_by(PrinciplePattern.principle_id)
        ).all()
        principles = conn.scalar(
            select(func.count()).select_from(Principle).where(Principle.project_id == PROJECT)
        )
    assert len(cited) == principles and all(n >= 2 for _, n in cited)
    assert integrity.pattern_problems(engine, PROJECT) == []
    assert integrity.merge_problems(engine, PROJECT) == []
    assert integrity.unsourced_entry_problems(engine, PROJECT) == []
    threshold = PlaybookSettings().duplicate_threshold
    assert integrity.duplicate_entry_problems(engine, PROJECT, threshold) == []


def check_verdicts(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    return {
        r.event_log_entry.dagster_event.event_specific_data.check_name: (
            r.event_log_entry.dagster_event.event_specific_data.passed
        )
        for r in records
    }


def test_runs_killed_inside_every_phase_lose_nothing(
    database_url: str, store, embedder, tmp_path: Path
) -> None:
    records = sample_records()
    # Texts the killed runs will meet are embedded once here, so a run process reaches its
    # failpoint without loading the model; the last ones are left for the embedding kill.
    kept_for_embedding = records[-3:]
    CachingEmbedder(embedder, store.engine).encode(
        [r["content"] for r in records[:-3]],
    )
    first, arriving = records[:120], records[120:-3]
    ingest(store, first)
    engine = ConsolidationEngine(store, embedder, PROJECT)
    assert engine.execute().status.value == "completed"
    instance = dagster_instance()

    per_kill = max(1, len(arriving) // len(POINTS))
    kills = 0
    for number, point in enumerate(POINTS):
        batch = kept_for_embedding if point == "embedding:stored" else arriving[:per_kill]
        if point != "embedding:stored":
            arriving = arriving[per_kill:]
        ingest(store, batch)
        before = raw_digest(store)
        job_id, reached = run_until(point, database_url, tmp_path)
        kills += 1
        assert reached == point
        assert raw_digest(store) == before, f"raw memories changed by the run killed at {point}"
        record = get_job(store.engine, job_id)
        assert record is not None and record.status != "completed", point
        assert_outputs_whole(store.engine)
        if number % 2 == 1:
            # Every other kill is followed by a full run; the rest meet a second kill first.
            result = engine.execute()
            assert result.status.value == "completed", result.error_message
            verdicts = check_verdicts(instance, result.job_id)
            assert verdicts and all(verdicts.values()), verdicts

    assert kills >= 20
    ingest(store, arriving)
    result = engine.execute()
    assert result.status.value == "completed", result.error_message
    verdicts = check_verdicts(instance, result.job_id)
    assert len(verdicts) >= 7 and all(verdicts.values()), verdicts
    assert integrity.isolation_problems(store.engine, PROJECT) == []
    assert result.metrics["raw_memories"] == len(records)
