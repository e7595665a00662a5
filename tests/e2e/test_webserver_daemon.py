"""End to end through the services a deployment runs: dagster-webserver and dagster-daemon.

A temporary DAGSTER_HOME with the project's dagster.yaml; a backfill over two projects launched
through the GraphQL API the UI uses; a third project's memories ingested while the daemon runs,
so the sensor launches its run; then every job record, output and check result verified.
"""

import json
from pathlib import Path

import dagster as dg
import pytest

from consolidation_assets.defs.checks import consolidation_checks
from consolidation_assets.services.export import export_project
from consolidation_assets.store.engine import get_engine
from consolidation_assets.store.jobs import list_jobs
from tests.e2e.services import ASSETS, Services, partition_of, runs_tagged, wait_for
from tests.helpers import SAMPLE_DATA

pytestmark = pytest.mark.slow


def first_lines(project: str, count: int, tmp_path: Path) -> Path:
    path = tmp_path / f"{project}.jsonl"
    lines = (SAMPLE_DATA / f"{project}.jsonl").read_text().splitlines()[:count]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def services(tmp_path: Path, backend: str, database_url: str, request: pytest.FixtureRequest):
    instance_url = None
    if backend == "postgresql":
        instance_url = request.getfixturevalue("postgres_server").create_database("services")
    running = Services(tmp_path, database_url, instance_url)
    try:
        yield running
    finally:
        running.stop_all()


def test_backfill_and_sensor_runs_through_webserver_and_daemon(
    services, tmp_path, monkeypatch
) -> None:
    for project in ("web-backend", "mobile-app"):
        services.cli("ingest", str(first_lines(project, 100, tmp_path)))

    services.start_webserver_and_daemon()
    backfill_id = services.launch_backfill(["web-backend", "mobile-app"])

    def backfill_done():
        runs = runs_tagged(services, "dagster/backfill", backfill_id)
        finished = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return runs if len(finished) == 2 else None

    backfill_runs = wait_for("the backfill's two runs", backfill_done, services)
    assert sorted(partition_of(r) for r in backfill_runs) == ["mobile-app", "web-backend"]
    assert all(r["status"] == "SUCCESS" for r in backfill_runs), backfill_runs

    services.cli("ingest", str(SAMPLE_DATA / "data-pipeline.jsonl"))

    def sensor_run_done():
        runs = runs_tagged(services, "dagster/sensor_name", "new_memories_sensor")
        mine = [r for r in runs if partition_of(r) == "data-pipeline"]
        return mine if mine and mine[0]["status"] in ("SUCCESS", "FAILURE") else None

    (sensor_run,) = wait_for("the sensor's run for data-pipeline", sensor_run_done, services)
    assert sensor_run["status"] == "SUCCESS"
    assert not [
        r
        for r in runs_tagged(services, "dagster/sensor_name", "new_memories_sensor")
        if partition_of(r) != "data-pipeline"
    ], "projects below the threshold must not be run by the sensor"

    engine = get_engine(services.database_url)
    expected = {r["runId"]: "backfill" for r in backfill_runs} | {sensor_run["runId"]: "threshold"}

    def records_final():
        jobs = {j.id: j for j in list_jobs(engine)}
        done = all(jobs.get(i) and jobs[i].status == "completed" for i in expected)
        return jobs if done else None

    jobs = wait_for("the job records of the three runs", records_final, services, 120)
    for run_id, trigger in expected.items():
        job = jobs[run_id]
        assert job.trigger_type == trigger
        assert job.phases_completed == [
            "pattern_extraction",
            "memory_merging",
            "hierarchy_creation",
            "playbook_integration",
        ]
        assert job.metrics["patterns_extracted"] > 0 and job.duration_seconds > 0
        assert job.started_at and job.finished_at and job.error_message is None

    for project in ("web-backend", "mobile-app", "data-pipeline"):
        exported = export_project(engine, project)
        assert exported["patterns"] and exported["merged_memories"], project
        assert exported["playbook"], project
    # A hundred memories may hold no two patterns close enough for a principle; the whole
    # sample project does.
    assert export_project(engine, "data-pipeline")["principles"]

    if "DAGSTER_PG_URL" in services.env:
        monkeypatch.setenv("DAGSTER_PG_URL", services.env["DAGSTER_PG_URL"])
    with dg.DagsterInstance.from_config(str(services.home)) as instance:
        for run_id in expected:
            evaluations = instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
            results = [r.event_log_entry.dagster_event.event_specific_data for r in evaluations]
            assert len(results) == len(consolidation_checks), run_id
            assert all(e.passed for e in results), [(e.check_name, e.passed) for e in results]

    late = tmp_path / "late.jsonl"
    late.write_text(
        json.dumps({"id": "wb-late-1", "project_id": "web-backend", "content": "A later note."})
        + "\n"
    )
    services.cli("ingest", str(late))
    assert stale_statuses(services, "web-backend") == dict.fromkeys(ASSETS, "STALE")
    assert stale_statuses(services, "mobile-app") == dict.fromkeys(ASSETS, "FRESH")


STALE = """
query($partition: String!) {
  assetNodes { assetKey { path } staleStatus(partition: $partition) }
}"""


def stale_statuses(services: Services, project: str) -> dict[str, str]:
    """What the UI says of each consolidation asset's partition: fresh, stale or missing."""
    nodes = services.graphql(STALE, {"partition": project})["assetNodes"]
    return {
        n["assetKey"]["path"][0]: n["staleStatus"]
        for n in nodes
        if n["assetKey"]["path"][0] in ASSETS
    }
