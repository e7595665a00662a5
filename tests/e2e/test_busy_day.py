"""A busy day in the production topology: PostgreSQL for the instance and the memory store, the
code location served by ``dagster code-server`` over gRPC, ``dagster-webserver`` and
``dagster-daemon`` as separate processes.

Thirty projects' memories land at once, so the sensor puts thirty runs through the run queue in
one tick; a backfill of ten of them is launched at the same moment, and more memories for ten
projects arrive while the first runs are going, so the sensor queues runs behind running ones.
Then every run must have completed, no two runs of a project may have overlapped (from the run
records' own timestamps), every ``consolidation_jobs`` row must match its Dagster run, and every
project's outputs must stay inside the project. The wall time and the throughput are written to
``test-results/busy_day.json``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from benchmarks.corpus import project_memories
from consolidation_assets.defs.checks import consolidation_checks
from consolidation_assets.store import integrity
from consolidation_assets.store.engine import get_engine
from consolidation_assets.store.jobs import list_jobs
from consolidation_assets.store.run_snapshots import snapshot_count
from tests.e2e.services import Services, wait_for
from tests.helpers import REPO, TEST_DATA, banking77_sample

pytestmark = pytest.mark.slow

PROJECTS = [f"team-{i:02d}" for i in range(30)]
BACKFILLED = PROJECTS[::3]
LATE = PROJECTS[1::3]
MEMORIES = 240
LATE_MEMORIES = 120
THRESHOLD = 100
PHASES = ["pattern_extraction", "memory_merging", "hierarchy_creation", "playbook_integration"]
RESULTS = REPO / "test-results"
DEADLINE = 2400


def base_texts() -> list[str]:
    """Real sentences from the bundled public data: bank customers' queries and an agent's
    memory stream, so thirty projects hold mostly different texts."""
    queries, _ = banking77_sample()
    with (TEST_DATA / "generative_agents_isabella.jsonl").open() as f:
        stream = [json.loads(line)["description"] for line in f]
    return sorted({t for t in [*queries, *stream] if len(t) >= 20})


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def services(tmp_path: Path, postgres_server):
    store_url = postgres_server.create_database("busy_store")
    instance_url = postgres_server.create_database("busy_dagster")
    running = Services(
        tmp_path,
        store_url,
        instance_url,
        env={"CONSOLIDATION_RUN_THRESHOLD": str(THRESHOLD)},
    )
    try:
        yield running
    finally:
        running.stop_all()


def test_a_busy_day_through_the_daemon(services: Services, tmp_path: Path, monkeypatch) -> None:
    bases = base_texts()
    first = [m for p in PROJECTS for m in project_memories(p, MEMORIES, bases=bases)]
    late = [
        m
        for p in LATE
        for m in project_memories(p, LATE_MEMORIES, seed=1, start_index=MEMORIES, bases=bases)
    ]
    services.start_code_server()
    services.start_webserver_and_daemon()

    started = time.monotonic()
    services.cli("ingest", str(write_jsonl(tmp_path / "morning.jsonl", first)))
    services.launch_backfill(BACKFILLED)

    monkeypatch.setenv("DAGSTER_PG_URL", services.env["DAGSTER_PG_URL"])
    instance = dg.DagsterInstance.from_config(str(services.home))
    expected_runs = len(PROJECTS) + len(BACKFILLED) + len(LATE)

    def sensor_runs_going() -> bool:
        by_sensor = instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/sensor_name": "new_memories_sensor"})
        )
        going = any(r.status == dg.DagsterRunStatus.STARTED for r in by_sensor)
        return len(by_sensor) == len(PROJECTS) and going

    wait_for("the sensor's runs to be queued and started", sensor_runs_going, services, 300)
    services.cli("ingest", str(write_jsonl(tmp_path / "afternoon.jsonl", late)))

    finished = {
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    }

    def all_runs_done() -> list[dg.RunRecord] | None:
        records = instance.get_run_records()
        done = [r for r in records if r.dagster_run.status in finished]
        return records if len(records) >= expected_runs and len(done) == len(records) else None

    records = wait_for("every run of the day", all_runs_done, services, DEADLINE)
    wall = time.monotonic() - started

    assert len(records) == expected_runs, [r.dagster_run.tags for r in records]
    failed = [r.dagster_run.run_id for r in records if r.dagster_run.status.value != "SUCCESS"]
    assert not failed, f"runs did not complete: {failed}\n{services.log_tail()}"

    by_project: dict[str, list[dg.RunRecord]] = defaultdict(list)
    for record in records:
        by_project[record.dagster_run.tags["dagster/partition"]].append(record)
    assert sorted(by_project) == PROJECTS
    for project, runs in by_project.items():
        runs.sort(key=lambda r: r.start_time)
        for earlier, later in itertools.pairwise(runs):
            assert later.start_time >= earlier.end_time, f"two runs of {project} overlapped"
    concurrent = max(
        sum(1 for r in records if r.start_time <= moment < r.end_time)
        for moment in (r.start_time for r in records)
    )
    assert 1 < concurrent <= 10, "runs go in parallel, up to max_concurrent_runs"

    engine = get_engine(services.database_url)
    run_ids = {r.dagster_run.run_id for r in records}

    def jobs_final() -> dict | None:
        jobs = {j.id: j for j in list_jobs(engine)}
        ready = run_ids <= set(jobs) and all(jobs[i].status == "completed" for i in run_ids)
        return jobs if ready else None

    jobs = wait_for("the job record of every run", jobs_final, services, 300)
    assert set(jobs) == run_ids, "one consolidation_jobs row per run, no other"
    for record in records:
        run = record.dagster_run
        job = jobs[run.run_id]
        assert job.project_id == run.tags["dagster/partition"]
        assert job.trigger_type == ("backfill" if "dagster/backfill" in run.tags else "threshold")
        assert job.phases_completed == PHASES
        assert job.error_message is None
        assert abs(job.started_at.timestamp() - record.start_time) < 1
        assert abs(job.finished_at.timestamp() - record.end_time) < 1
    assert snapshot_count(engine) == 0, "finished runs leave no snapshot behind"

    for project in PROJECTS:
        assert integrity.isolation_problems(engine, project) == [], project
    for run_id in run_ids:
        evaluations = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        results = [r.event_log_entry.dagster_event.event_specific_data for r in evaluations]
        assert len(results) == len(consolidation_checks)
        assert all(e.passed for e in results), [(e.check_name, e.passed) for e in results]

    first_start = min(r.start_time for r in records)
    last_end = max(r.end_time for r in records)
    figures = {
        "date": datetime.now(UTC).date().isoformat(),
        "projects": len(PROJECTS),
        "memories": len(first) + len(late),
        "runs": len(records),
        "sensor_runs": sum("dagster/sensor_name" in r.dagster_run.tags for r in records),
        "backfill_runs": sum("dagster/backfill" in r.dagster_run.tags for r in records),
        "wall_seconds": round(wall, 1),
        "first_start_to_last_end_seconds": round(last_end - first_start, 1),
        "runs_per_minute": round(len(records) / ((last_end - first_start) / 60), 2),
        "most_runs_at_once": concurrent,
        "median_run_seconds": sorted(r.end_time - r.start_time for r in records)[len(records) // 2],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "busy_day.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    instance.dispose()
