"""The services a deployment runs, started as real processes for end-to-end tests.

``Services`` holds a fresh ``DAGSTER_HOME`` with one of the project's instance settings, starts
``dagster-webserver``, ``dagster-daemon`` and optionally ``dagster code-server`` (the code
location served over gRPC, with a workspace pointing at it, here or in a container), talks
GraphQL to the webserver, and runs the ``consolidation`` CLI in the same environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from tests.helpers import REPO

BIN = Path(sys.executable).parent
ASSETS = ["patterns", "merged_memories", "principles", "playbook_entries"]
DEADLINE = 600
T = TypeVar("T")


def far_from_now_cron() -> str:
    """A daily cron twelve hours away, so the nightly schedule cannot launch runs mid-test."""
    return f"0 {(datetime.now(UTC).hour + 12) % 24} * * *"


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
    """dagster-webserver and dagster-daemon (and a code server) over a fresh instance."""

    def __init__(
        self,
        tmp_path: Path,
        database_url: str,
        instance_url: str | None,
        env: dict[str, str] | None = None,
        settings: Path | None = None,
    ) -> None:
        self.home = tmp_path / "services_home"
        self.home.mkdir()
        if settings is None:
            settings = REPO / ("dagster.postgres.yaml" if instance_url else "dagster.yaml")
        shutil.copy(settings, self.home / "dagster.yaml")
        self.database_url = database_url
        self.port = free_port()
        self.workspace = REPO / "workspace.yaml"
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "CONSOLIDATION_DATABASE_URL": self.database_url,
            "CONSOLIDATION_RUN_THRESHOLD": "150",
            "CONSOLIDATION_SENSOR_INTERVAL_SECONDS": "5",
            "CONSOLIDATION_NIGHTLY_CRON": far_from_now_cron(),
            "CONSOLIDATION_SCHEDULE_TIMEZONE": "UTC",
            **(env or {}),
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

    def start_code_server(self) -> None:
        """Serve the code location over gRPC and point the workspace at it, as in production."""
        port = free_port()
        self.start(
            "code-server",
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
        self.use_code_server(port)

    def use_code_server(self, port: int) -> None:
        """Point the webserver's and the daemon's workspace at a code server on ``port``."""
        self.workspace = self.home / "workspace.yaml"
        self.workspace.write_text(
            "load_from:\n"
            "  - grpc_server:\n"
            "      host: 127.0.0.1\n"
            f"      port: {port}\n"
            "      location_name: consolidation\n"
        )

    def start_webserver_and_daemon(self) -> None:
        workspace = str(self.workspace)
        self.start(
            "webserver",
            "dagster-webserver",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-w",
            workspace,
        )
        self.start("daemon", "dagster-daemon", "run", "-w", workspace)

        def location_loaded() -> bool:
            try:
                data = self.graphql("{ assetNodes { assetKey { path } } }")
            except OSError:
                return False
            return {n["assetKey"]["path"][0] for n in data["assetNodes"]} >= set(ASSETS)

        wait_for("the webserver to load the code location", location_loaded, self, 240)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "consolidation"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
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
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        assert "errors" not in body, body
        return body["data"]

    def launch_backfill(self, projects: list[str]) -> str:
        """A backfill of the four assets over ``projects``, launched as the UI launches one."""
        launched = self.graphql(
            """mutation($params: LaunchBackfillParams!) {
                 launchPartitionBackfill(backfillParams: $params) {
                   __typename ... on LaunchBackfillSuccess { backfillId }
                   ... on PythonError { message }
                 }
               }""",
            {
                "params": {
                    "partitionNames": projects,
                    "assetSelection": [{"path": [name]} for name in ASSETS],
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        return launched["backfillId"]

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text()[-3000:] for p in sorted(self.logs.glob("*.log"))
        )

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            stop(process)


def wait_for(
    what: str, condition: Callable[[], T], services: Services, timeout: float = DEADLINE
) -> T:
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
