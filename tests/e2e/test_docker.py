"""Every run in its own container: the Docker deployment of deploy/docker, run for real.

The image is built with deploy/docker/build-image.sh (``make image``), or reused when one was
built from the same inputs. Its code server runs in a container; dagster-webserver and
dagster-daemon run here with deploy/docker/dagster.docker.yaml, on PostgreSQL. The sensor
launches one run for each of three projects, and the DockerRunLauncher starts each in a
container of its own. Then one run's container is killed in the middle of its run (a failpoint
holds it at the start of the principles phase): run monitoring must mark the run failed, its
job record must list the two phases that completed, and the automatic re-run must complete.

Without a Docker engine the test skips; under CI=true it fails.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from consolidation_assets.defs.run_results import PHASE_ORDER
from consolidation_assets.services.export import export_project
from consolidation_assets.store.engine import get_engine
from consolidation_assets.store.failpoints import FAILPOINT_ENV, FAILPOINT_FILE_ENV
from consolidation_assets.store.jobs import get_job
from tests.e2e.containers import (
    TEST_LABEL,
    build_image,
    docker,
    inspect,
    remove_labelled,
    remove_older_builds,
    require_docker,
)
from tests.e2e.services import (
    Services,
    far_from_now_cron,
    free_port,
    partition_of,
    runs_tagged,
    wait_for,
)
from tests.helpers import REPO, RESULTS, SAMPLE_DATA

pytestmark = pytest.mark.slow

PROJECTS = ("web-backend", "data-pipeline", "mobile-app")
KILLED = "web-backend"
HELD_BACK = 30
# Inside the run, after patterns and merged memories were materialized.
FAILPOINT = "principles:start"
CONTAINER_ID_TAG = "docker/container_id"
SENSOR_TAG = ("dagster/sensor_name", "new_memories_sensor")


@dataclass
class Deployment:
    """The services here, and what the test knows of the image and its code-server container."""

    services: Services
    image: str
    build_seconds: float
    code_server: str
    failpoints: Path


def instance_settings(home: Path, failpoints: Path, token: str) -> Path:
    """The deployment's dagster.docker.yaml, plus what only the test needs: the failpoint's
    variables and folder in every run container, the test's label on each, a quicker monitor."""
    settings = yaml.safe_load((REPO / "deploy" / "docker" / "dagster.docker.yaml").read_text())
    launcher = settings["run_launcher"]["config"]
    launcher["env_vars"] += [
        f"{FAILPOINT_ENV}={FAILPOINT}",
        f"{FAILPOINT_FILE_ENV}=/failpoints/reached",
    ]
    launcher["container_kwargs"]["volumes"] = {
        str(failpoints): {"bind": "/failpoints", "mode": "rw"}
    }
    launcher["container_kwargs"]["labels"] = {TEST_LABEL: token}
    settings["run_monitoring"]["poll_interval_seconds"] = 5
    path = home / "dagster.docker.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def memories_file(tmp_path: Path, project: str, part: slice) -> Path:
    lines = (SAMPLE_DATA / f"{project}.jsonl").read_text().splitlines()[part]
    path = tmp_path / f"{project}-{part.start}-{part.stop}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_by_id(services: Services, run_id: str) -> dict:
    data = services.graphql(
        """query($id: ID!) { runOrError(runId: $id) {
             ... on Run { runId status tags { key value } } } }""",
        {"id": run_id},
    )
    return data["runOrError"]


def tag_of(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


@pytest.fixture
def deployment(tmp_path: Path, postgres_server, monkeypatch: pytest.MonkeyPatch):
    """The image, its code server in a container, and the webserver and daemon here."""
    require_docker()
    image, build_seconds = build_image()
    remove_older_builds(image)
    token = secrets.token_hex(6)
    failpoints = tmp_path / "failpoints"
    failpoints.mkdir()
    failpoints.chmod(0o777)
    memory_url = postgres_server.create_database("docker_store")
    instance_url = postgres_server.create_database("docker_dagster")
    config_dir = tmp_path / "settings"
    config_dir.mkdir()
    env = {
        "CONSOLIDATION_IMAGE": image,
        "CONSOLIDATION_RUN_THRESHOLD": "25",
    }
    services = Services(
        tmp_path,
        memory_url,
        instance_url,
        env=env,
        settings=instance_settings(config_dir, failpoints, token),
    )
    port = free_port()
    code_server_env = {
        "DAGSTER_PG_URL": instance_url,
        "CONSOLIDATION_DATABASE_URL": memory_url,
        "CONSOLIDATION_IMAGE": image,
        "CONSOLIDATION_RUN_THRESHOLD": "25",
        "CONSOLIDATION_SENSOR_INTERVAL_SECONDS": "5",
        "CONSOLIDATION_NIGHTLY_CRON": far_from_now_cron(),
        "CONSOLIDATION_SCHEDULE_TIMEZONE": "UTC",
    }
    code_server = None
    try:
        code_server = docker(
            "run",
            "--detach",
            "--network",
            "host",
            "--label",
            f"{TEST_LABEL}={token}",
            *(arg for name, value in code_server_env.items() for arg in ("-e", f"{name}={value}")),
            image,
            "dagster",
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "consolidation_assets.defs.definitions",
            "--location-name",
            "consolidation",
        )
        services.use_code_server(port)
        monkeypatch.setenv("DAGSTER_PG_URL", instance_url)
        yield Deployment(services, image, build_seconds, code_server, failpoints)
    finally:
        services.stop_all()
        if code_server:
            logs = docker("logs", "--tail", "300", code_server)
            (tmp_path / "logs" / "code-server.log").write_text(logs)
        remove_labelled(token)


def test_every_run_in_its_own_container_and_a_killed_one_fails_then_reruns(
    deployment: Deployment, tmp_path: Path
) -> None:
    services = deployment.services
    started = time.monotonic()
    # Disarmed: the runs of the three projects pass the failpoint while its marker exists.
    marker = deployment.failpoints / "reached"
    marker.write_text("disarmed")
    services.start_webserver_and_daemon()
    for project in PROJECTS:
        part = slice(0, -HELD_BACK) if project == KILLED else slice(0, None)
        services.cli("ingest", str(memories_file(tmp_path, project, part)))

    def sensor_runs_done() -> list[dict] | None:
        runs = runs_tagged(services, *SENSOR_TAG)
        finished = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return runs if len(runs) == len(PROJECTS) == len(finished) else None

    runs = wait_for("the sensor's three runs", sensor_runs_done, services, 900)
    three_runs_seconds = time.monotonic() - started
    assert sorted(partition_of(r) for r in runs) == sorted(PROJECTS)
    assert all(r["status"] == "SUCCESS" for r in runs), runs

    # Each run in a container of its own, of the image, on the host's network.
    containers = {r["runId"]: tag_of(r, CONTAINER_ID_TAG) for r in runs}
    assert all(containers.values()), containers
    assert len(set(containers.values())) == len(runs)
    assert deployment.code_server not in containers.values()
    for run_id, container_id in containers.items():
        container = inspect(container_id)
        assert container["Config"]["Image"] == deployment.image
        assert container["Config"]["Labels"]["dagster/run_id"] == run_id
        assert container["HostConfig"]["NetworkMode"] == "host"
        assert "execute_run" in container["Args"]
        # The run is over before its worker process has quite finished.
        assert docker("wait", container_id, timeout=120) == "0"

    engine = get_engine(services.database_url)
    for run in runs:
        job = wait_for(
            f"the completed job record of {run['runId']}",
            lambda run=run: (j := get_job(engine, run["runId"])) and j.status == "completed" and j,
            services,
            120,
        )
        assert job.trigger_type == "threshold"
        assert job.phases_completed == PHASE_ORDER
        assert job.project_id == partition_of(run)
        assert job.metrics["patterns_extracted"] > 0

    # Armed: the next run to reach the failpoint stops there, inside its container.
    marker.unlink()
    services.cli("ingest", str(memories_file(tmp_path, KILLED, slice(-HELD_BACK, None))))

    def stopped_run() -> dict | None:
        if not marker.exists():
            return None
        new = [
            r
            for r in runs_tagged(services, *SENSOR_TAG)
            if r["runId"] not in containers and tag_of(r, CONTAINER_ID_TAG)
        ]
        return new[0] if new and new[0]["status"] == "STARTED" else None

    victim = wait_for("a run stopped at the failpoint", stopped_run, services, 600)
    assert partition_of(victim) == KILLED
    assert marker.read_text() == FAILPOINT
    victim_container = tag_of(victim, CONTAINER_ID_TAG)
    docker("kill", victim_container)
    killed_at = time.monotonic()

    def failed() -> dict | None:
        run = run_by_id(services, victim["runId"])
        return run if run["status"] == "FAILURE" else None

    wait_for("run monitoring to fail the killed run", failed, services, 300)
    kill_to_failed_seconds = time.monotonic() - killed_at
    assert inspect(victim_container)["State"]["ExitCode"] == 137
    with dg.DagsterInstance.from_config(str(services.home)) as instance:
        failure = instance.get_records_for_run(
            victim["runId"], of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
        message = failure[0].event_log_entry.dagster_event.message or ""
    assert "Detected run worker status" in message and "exited" in message, message

    job = wait_for(
        "the killed run's failed job record",
        lambda: (j := get_job(engine, victim["runId"])) and j.status == "failed" and j,
        services,
        120,
    )
    assert job.phases_completed == PHASE_ORDER[:2], job.phases_completed

    # The daemon's run retries start the killed run again, in a new container; the failpoint's
    # marker is taken, so the re-run passes it and completes.
    def rerun_done() -> dict | None:
        reruns = runs_tagged(services, "dagster/parent_run_id", victim["runId"])
        return reruns[0] if reruns and reruns[0]["status"] in ("SUCCESS", "FAILURE") else None

    rerun = wait_for("the automatic re-run of the killed run", rerun_done, services, 600)
    assert rerun["status"] == "SUCCESS", rerun
    assert tag_of(rerun, "dagster/retry_number") == "1"
    rerun_container = tag_of(rerun, CONTAINER_ID_TAG)
    assert rerun_container and rerun_container not in {victim_container, *containers.values()}
    assert docker("wait", rerun_container, timeout=120) == "0"
    rerun_job = wait_for(
        "the re-run's completed job record",
        lambda: (j := get_job(engine, rerun["runId"])) and j.status == "completed" and j,
        services,
        120,
    )
    assert rerun_job.retry_count == 1
    # Dagster re-runs from the failure: the two phases the killed run did not complete.
    assert rerun_job.phases_completed == PHASE_ORDER[2:], rerun_job.phases_completed
    with dg.DagsterInstance.from_config(str(services.home)) as instance:
        evaluations = instance.get_records_for_run(
            rerun["runId"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        verdicts = {
            e.event_log_entry.dagster_event.event_specific_data.check_name: (
                e.event_log_entry.dagster_event.event_specific_data.passed
            )
            for e in evaluations
        }
    assert verdicts and all(verdicts.values()), verdicts
    exported = export_project(engine, KILLED)
    assert exported["principles"] and exported["playbook"]

    figures = {
        "image": deployment.image,
        "image_seconds": round(deployment.build_seconds, 1),
        "three_runs_seconds": round(three_runs_seconds, 1),
        "kill_to_failed_seconds": round(kill_to_failed_seconds, 1),
        "test_seconds": round(time.monotonic() - started + deployment.build_seconds, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "docker.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(figures)
