"""Safe by default: bound SQL parameters, a UI on localhost, passwords never shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from consolidation_assets.defs.resources import MemoryStore
from consolidation_assets.engine import ConsolidationEngine
from consolidation_assets.store.models import ConsolidationJob
from tests.helpers import REPO, ingest_sample

PASSWORD = "pw-Zq81-never-shown"
CLI = Path(sys.executable).with_name("consolidation")
# SQL assembled from Python strings instead of bound parameters.
UNSAFE_SQL = re.compile(
    r"""(text|execute|exec_driver_sql)\(\s*(f["']|["'][^"']*["']\s*(%|\.format|\+))"""
)


def test_sql_is_only_built_with_bound_parameters() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in (REPO / "consolidation_assets").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if UNSAFE_SQL.search(line) or "exec_driver_sql" in line
    ]
    assert offenders == []


def test_the_ui_listens_on_localhost_only() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "UI_HOST ?= 127.0.0.1" in makefile
    ui_recipe = makefile.split("\nui: instance", 1)[1].split("\n\n", 1)[0]
    assert "-h $(UI_HOST)" in ui_recipe


@pytest.fixture
def url_with_password(backend: str, request: pytest.FixtureRequest, monkeypatch) -> str:
    if backend != "postgresql":
        pytest.skip("SQLite URLs carry no password")
    url = make_url(request.getfixturevalue("database_url")).set(password=PASSWORD)
    rendered = url.render_as_string(hide_password=False)
    monkeypatch.setenv("CONSOLIDATION_DATABASE_URL", rendered)
    return rendered


def test_database_passwords_stay_out_of_logs_records_and_errors(
    url_with_password: str, embedder, instance: dg.DagsterInstance
) -> None:
    store = MemoryStore(url_with_password)
    ingest_sample(store, "mobile-app")
    shown: list[str] = [store.display_url]

    result = ConsolidationEngine(store, embedder, "mobile-app", instance=instance).execute()
    assert result.status.value == "completed"
    shown.append(json.dumps(result.to_dict(), default=str))
    with pytest.raises(ValueError) as refused:
        ConsolidationEngine(store, embedder, "no-such-project", instance=instance).execute()
    shown.append(str(refused.value))

    for record in instance.get_records_for_run(result.job_id).records:
        shown.append(repr(record.event_log_entry))
    with store.engine.connect() as conn:
        shown += [repr(tuple(row)) for row in conn.execute(select(ConsolidationJob))]

    for args in (["db", "current"], ["export", "--project", "mobile-app", "--format", "json"]):
        done = subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        shown += [done.stdout, done.stderr]
    unreachable = make_url(url_with_password).set(port=1).render_as_string(hide_password=False)
    done = subprocess.run(
        [str(CLI), "run", "--project", "mobile-app"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CONSOLIDATION_DATABASE_URL": unreachable},
    )
    assert done.returncode != 0
    shown += [done.stdout, done.stderr]

    assert "***" in store.display_url
    leaks = [text[:200] for text in shown if PASSWORD in text]
    assert leaks == []
