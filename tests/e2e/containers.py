"""Docker for the end-to-end test of the Docker deployment: the engine, the image, containers.

Every container a test starts carries a label with a token of its own, so the test removes
what it started, by id, and nothing else on the engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.helpers import REPO

TEST_LABEL = "org.consolidation-assets.test"
INPUTS_LABEL = "org.consolidation-assets.inputs"
BUILD_SCRIPT = REPO / "deploy" / "docker" / "build-image.sh"


def docker(*args: str, timeout: float = 300) -> str:
    """Run a docker command and return its output; fail the test with its error otherwise."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"docker {' '.join(args[:3])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def docker_problem() -> str | None:
    """Why Docker cannot be used here, or None when an engine answers."""
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 60 s"
    if done.returncode != 0 or not done.stdout.strip():
        return f"no Docker engine answers ({done.stderr.strip()[:300]})"
    return None


def require_docker() -> None:
    """Skip without Docker, with the reason; under CI=true, fail instead."""
    problem = docker_problem()
    if problem is None:
        return
    reason = (
        f"Docker is not available: {problem}. Install Debian's docker.io and start dockerd "
        "(.ci/run does both) to run the Docker deployment test"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs the Docker test: {reason}")
    pytest.skip(reason)


def build_image() -> tuple[str, float]:
    """The image of the current inputs, built or reused (``make image``); (tag, seconds)."""
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        cwd=REPO,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"building the image failed:\n{done.stderr[-5000:]}")
    return done.stdout.strip().splitlines()[-1], time.monotonic() - started


def remove_older_builds(tag: str) -> None:
    """Remove, by id, the images of this repository built from other inputs than ``tag``'s:
    each is well over a gigabyte, and only the current one is reused."""
    repository = tag.rsplit(":", 1)[0]
    current = docker("image", "inspect", "-f", "{{.Id}}", tag)
    listed = docker("images", "--no-trunc", "--filter", f"label={INPUTS_LABEL}", "-q", repository)
    for image_id in sorted(set(listed.split()) - {current}):
        subprocess.run(["docker", "rmi", image_id], capture_output=True, timeout=300, check=False)


def inspect(container_id: str) -> dict[str, Any]:
    return json.loads(docker("inspect", container_id))[0]


def remove_labelled(token: str) -> None:
    """Remove, by id, every container (running or not) carrying this test's token."""
    listed = docker("ps", "-aq", "--no-trunc", "--filter", f"label={TEST_LABEL}={token}")
    ids = listed.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=300, check=False)
