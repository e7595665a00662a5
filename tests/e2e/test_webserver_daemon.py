"""End to end through the services a deployment runs: dagster-webserver and dagster-daemon.

A temporary DAGSTER_HOME with the project's dagster.yaml; a backfill over two projects launched
through the GraphQL API the UI uses; a third project's memories ingested while the daemon runs,
so the sensor launches its run; then every job record, output and check result verified.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from consolidation_assets.checks import consolidation_checks
from consolidation_assets.export import export_project
from consolidation_assets.store.engine import get_engine
from consolidation_assets.store.jobs import list_jobs
from tests.conftest import REPO, SAMPLE_DATA

BIN = Path(sys.executable).parent
ASSETS = ["patterns", "merged_memories", "principles", "playbook_entries"]
DEADLINE = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop a service and everything it started, whatever state it is in."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


class Services:
    """dagster-webserver and dagster-daemon over a fresh instance, on SQLite or PostgreSQL."""

    def __init__(self, tmp_path: Path, database_url: str, instance_url: str | None) -> None:
        self.home = tmp_path / "services_home"
        self.home.mkdir()
        settings = "dagster.postgres.yaml" if instance_url else "dagster.yaml"
        shutil.copy(REPO / settings, self.home / "dagster.yaml")
        self.database_url = database_url
        self.port = free_port()
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "CONSOLIDATION_DATABASE_URL": self.database_url,
            "CONSOLIDATION_RUN_THRESHOLD": "150",
            "CONSOLIDATION_SENSOR_INTERVAL_SECONDS": "5",
        }
        if instance_url:
            self.env["DAGSTER_PG_URL"] = instance_url
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str, *command: str) -> None:
        log = (self.logs / f"{name}.log").open("w")
        self.processes.append(
            subprocess.Popen(
                [str(BIN / command[0]), *command[1:]],
                cwd=self.home,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "consolidation"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        assert "errors" not in body, body
        return body["data"]

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text()[-3000:] for p in sorted(self.logs.glob("*.log"))
        )

    def stop_all(self) -> None:
        for process in self.processes:
            stop(process)


def wait_for(what: str, condition, services: Services, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what}\n{services.log_tail()}")


RUNS = """
query($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}"""


def runs_tagged(services: Services, key: str, value: str) -> list[dict]:
    data = services.graphql(RUNS, {"tags": [{"key": key, "value": value}]})
    return data["runsOrError"]["results"]


def partition_of(run: dict) -> str:
    return next(t["value"] for t in run["tags"] if t["key"] == "dagster/partition")


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

    workspace = str(REPO / "workspace.yaml")
    services.start(
        "webserver",
        "dagster-webserver",
        "-h",
        "127.0.0.1",
        "-p",
        str(services.port),
        "-w",
        workspace,
    )
    services.start("daemon", "dagster-daemon", "run", "-w", workspace)

    def location_loaded():
        try:
            data = services.graphql("{ assetNodes { assetKey { path } } }")
        except OSError:
            return False
        return {n["assetKey"]["path"][0] for n in data["assetNodes"]} >= set(ASSETS)

    wait_for("the webserver to load the code location", location_loaded, services, 180)

    launched = services.graphql(
        """mutation($params: LaunchBackfillParams!) {
             launchPartitionBackfill(backfillParams: $params) {
               __typename ... on LaunchBackfillSuccess { backfillId }
               ... on PythonError { message }
             }
           }""",
        {
            "params": {
                "partitionNames": ["web-backend", "mobile-app"],
                "assetSelection": [{"path": [name]} for name in ASSETS],
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

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
        assert exported["principles"] and exported["playbook"], project

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
