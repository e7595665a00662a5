"""The CLI contract end to end, through the installed `consolidation` command."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SAMPLE_DATA

COMMAND = str(Path(sys.executable).with_name("consolidation"))


def consolidation(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


@pytest.fixture
def cli_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(tmp_path / "home")
    env["CONSOLIDATION_DATABASE_URL"] = database_url
    return env


@pytest.mark.slow
def test_ingest_run_export_follow_the_contract(cli_env, tmp_path) -> None:
    source = SAMPLE_DATA / "data-pipeline.jsonl"
    lines = source.read_text().splitlines()
    ingest = consolidation("ingest", str(source), env=cli_env)
    assert ingest.returncode == 0, ingest.stderr
    assert f"{len(lines)} stored" in ingest.stdout

    again = consolidation("ingest", str(source), env=cli_env)
    assert again.returncode == 0 and "0 stored" in again.stdout

    run = consolidation("run", "--project", "data-pipeline", env=cli_env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    assert result["phases_completed"] == [
        "pattern_extraction",
        "memory_merging",
        "hierarchy_creation",
        "playbook_integration",
    ]
    assert result["metrics"]["memories_processed"] == len(lines)

    export = consolidation("export", "--project", "data-pipeline", "--format", "json", env=cli_env)
    assert export.returncode == 0, export.stderr
    data = json.loads(export.stdout)
    assert data["project_id"] == "data-pipeline"
    ids = {json.loads(line)["id"] for line in lines}
    assert data["patterns"] and data["merged_memories"] and data["principles"] and data["playbook"]
    for pattern in data["patterns"]:
        assert {"id", "label", "keywords", "memory_ids", "support"} <= set(pattern)
        assert set(pattern["memory_ids"]) <= ids and pattern["support"] == len(
            pattern["memory_ids"]
        )
    for merged in data["merged_memories"]:
        assert {"id", "content", "source_memory_ids"} <= set(merged)
        assert len(merged["source_memory_ids"]) >= 2 and set(merged["source_memory_ids"]) <= ids
    for principle in data["principles"]:
        assert {"id", "statement", "level", "parent_id", "pattern_ids"} <= set(principle)
        assert principle["writer"] == "extractive" and principle["label"]
        assert not principle["statement"].startswith(principle["label"])
        assert principle["cited_memory_ids"] and set(principle["cited_memory_ids"]) <= ids
    for entry in data["playbook"]:
        assert {
            "id",
            "category",
            "content",
            "status",
            "helpful_count",
            "harmful_count",
            "supporting_memory_ids",
        } <= set(entry)
        assert set(entry["supporting_memory_ids"]) <= ids

    second = consolidation("run", "--project", "data-pipeline", env=cli_env)
    metrics = json.loads(second.stdout.strip().splitlines()[-1])["metrics"]
    assert metrics["playbook_entries_created"] == metrics["playbook_entries_updated"] == 0

    markdown = consolidation(
        "export", "--project", "data-pipeline", "--format", "markdown", env=cli_env
    )
    assert markdown.returncode == 0 and markdown.stdout.startswith("# Playbook: data-pipeline")


def test_bad_file_is_refused_whole_with_exit_2(cli_env, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "ok-1", "project_id": "p1", "content": "a fine memory"}\n'
        '{"id": "bad-1", "project_id": "p1", "content": ""}\n'
        "not json\n"
        '{"id": "bad-2", "project_id": "p1", "content": "x", "memory_type": "gossip"}\n'
    )
    result = consolidation("ingest", str(bad), env=cli_env)
    assert result.returncode == 2
    assert "line 2: content" in result.stderr
    assert "line 3: (line)" in result.stderr
    assert "line 4: memory_type" in result.stderr
    assert "nothing was written" in result.stderr
    run = consolidation("run", "--project", "p1", env=cli_env)
    assert run.returncode == 2 and "no memories" in run.stderr


def test_run_refuses_an_unsafe_project_id(cli_env) -> None:
    result = consolidation("run", "--project", "a,b", env=cli_env)
    assert result.returncode == 2 and "not a valid project id" in result.stderr


@pytest.mark.slow
def test_agent_tools_from_the_command_line(cli_env) -> None:
    source = SAMPLE_DATA / "web-backend.jsonl"
    assert consolidation("ingest", str(source), env=cli_env).returncode == 0
    assert consolidation("run", "--project", "web-backend", env=cli_env).returncode == 0

    found = consolidation(
        "search",
        "STRIPE_WEBHOOK_SECRET",
        "--project",
        "web-backend",
        "--limit",
        "3",
        "--with-sources",
        "--format",
        "json",
        env=cli_env,
    )
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)
    assert "STRIPE_WEBHOOK_SECRET" in " ".join(s["content"] for s in results[0]["sources"])
    assert {"level", "score", "confidence", "source_memory_ids"} <= set(results[0])

    context = consolidation(
        "context",
        "pods crash on a missing setting",
        "--project",
        "web-backend",
        "--budget",
        "1200",
        "--format",
        "json",
        env=cli_env,
    )
    assert context.returncode == 0, context.stderr
    data = json.loads(context.stdout)
    assert data["chars"] <= 1200 and data["counts"]["playbook_entries"] >= 1
    entry_id = data["playbook_entries"][0]["id"]

    tree = consolidation("lineage", entry_id, "--format", "json", env=cli_env)
    assert tree.returncode == 0 and json.loads(tree.stdout)["down"]
    text = consolidation("lineage", "wb-0045", env=cli_env)
    assert text.returncode == 0 and text.stdout.startswith("memory wb-0045")

    voted = consolidation("feedback", entry_id, "--harmful", "--note", "wrong", env=cli_env)
    assert voted.returncode == 0 and json.loads(voted.stdout)["harmful_count"] == 1
    unknown = consolidation("feedback", "pb-nope", "--helpful", env=cli_env)
    assert unknown.returncode == 2 and "pb-nope" in unknown.stderr

    stats = consolidation("stats", "--project", "web-backend", "--format", "json", env=cli_env)
    figures = json.loads(stats.stdout)
    assert figures["total_memories"] == len(source.read_text().splitlines())
    assert figures["last_run"]["trigger"] == "manual"

    missing = consolidation("search", "x", "--project", "nowhere", env=cli_env)
    assert missing.returncode == 2 and "nowhere" in missing.stderr
