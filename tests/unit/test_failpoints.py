"""Failpoints: a named point stops the first process to reach it and lets the others pass.

The Docker test relies on this: every run container shares one environment, and only one run
may stop at the point, so that the others and the re-run of the killed one complete.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from consolidation_assets.store import failpoints
from consolidation_assets.store.failpoints import FAILPOINT_ENV, FAILPOINT_FILE_ENV


def reach(name: str) -> None:
    failpoints.reached(name)


@pytest.fixture
def armed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "points").mkdir()
    marker = tmp_path / "points" / "reached"
    monkeypatch.setenv(FAILPOINT_ENV, "principles:start")
    monkeypatch.setenv(FAILPOINT_FILE_ENV, str(marker))
    return marker


def test_other_points_and_an_unset_environment_pass(
    armed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failpoints.reached("patterns:start")
    monkeypatch.delenv(FAILPOINT_ENV)
    failpoints.reached("principles:start")
    assert not armed.exists()


def test_a_taken_marker_lets_the_point_pass(armed: Path) -> None:
    armed.write_text("disarmed")
    failpoints.reached("principles:start")
    assert armed.read_text() == "disarmed"


def test_one_of_several_processes_stops_and_names_the_point(armed: Path) -> None:
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=reach, args=("principles:start",)) for _ in range(4)]
    for process in processes:
        process.start()
    try:
        deadline = time.monotonic() + 30
        while sum(p.is_alive() for p in processes) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped = [p for p in processes if p.is_alive()]
        assert len(stopped) == 1
        assert all(p.exitcode == 0 for p in processes if p not in stopped)
        assert armed.read_text() == "principles:start"
        assert [p.name for p in armed.parent.iterdir()] == ["reached"]
    finally:
        for process in processes:
            process.kill()
            process.join()
