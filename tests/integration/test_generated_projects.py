"""Whole runs on generated small projects: whatever a project holds, the run completes, every
asset check passes, raw memories stay as they were, and a re-run changes nothing.

Projects of 1 to 60 memories are drawn from the bundled sample texts (real agent memories), from
arbitrary Unicode, as copies of one text, and at the ingest limits (one character, 20,000
characters), with random types, outcomes, tasks and dates. Each example is its own project in a
store shared by all of them, so every run also proves it stays inside its project.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from consolidation_assets.defs.assets import consolidation_assets
from consolidation_assets.defs.checks import consolidation_checks
from consolidation_assets.defs.partitions import PROJECTS_PARTITION
from consolidation_assets.services.ingest import ingest_memories
from consolidation_assets.services.memory_input import MAX_CONTENT_CHARS, MEMORY_TYPES
from consolidation_assets.store import integrity, outputs
from tests.helpers import SAMPLE_DATA, raw_digest, run_resources

pytestmark = pytest.mark.slow

SAMPLE_TEXTS = sorted(
    {
        json.loads(line)["content"]
        for path in sorted(SAMPLE_DATA.glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    }
)
CHECKS = {key.name for check in consolidation_checks for key in check.check_keys}
START = datetime(2026, 1, 1, tzinfo=UTC)
# Printable text of any script: ingest refuses control characters and lone surrogates.
ANY_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300
).filter(str.strip)
LONGEST = ("a" * 9 + " ") * (MAX_CONTENT_CHARS // 10)

texts = st.one_of(
    st.sampled_from(SAMPLE_TEXTS),
    ANY_TEXT,
    st.sampled_from(["x", "?", LONGEST, LONGEST[:-1] + "!"]),
)


@st.composite
def projects(draw: st.DrawFn) -> list[dict]:
    """Memory records of one project: distinct texts, copies of one, or a mix with repeats."""
    size = draw(st.integers(1, 60))
    shape = draw(st.sampled_from(["mixed", "identical", "unrelated"]))
    if shape == "identical":
        contents = [draw(texts)] * size
    elif shape == "unrelated":
        contents = draw(st.lists(ANY_TEXT, min_size=size, max_size=size, unique=True))
    else:
        pool = draw(st.lists(texts, min_size=1, max_size=size))
        contents = [draw(st.sampled_from(pool)) for _ in range(size)]
    return [
        {
            "content": content,
            "memory_type": draw(st.sampled_from(MEMORY_TYPES)),
            "success": draw(st.sampled_from([True, False, None])),
            "task_id": f"task-{draw(st.integers(0, 5))}",
            "created_at": (START + timedelta(hours=draw(st.integers(0, 2000)))).isoformat(),
        }
        for content in contents
    ]


def record(content: str, memory_type: str = "learning") -> dict:
    return {"content": content, "memory_type": memory_type, "created_at": START.isoformat()}


_numbers = itertools.count()


@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(memories=projects())
@example(memories=[record(SAMPLE_TEXTS[0])])
@example(memories=[record(SAMPLE_TEXTS[0]), record(SAMPLE_TEXTS[1], "warning")])
@example(memories=[record(LONGEST), record(LONGEST), record("x"), record("x", "error_fix")])
@example(memories=[record(SAMPLE_TEXTS[3])] * 60)
def test_every_generated_project_consolidates_cleanly(
    memories: list[dict], instance, store, embedder
) -> None:
    project = f"gen-{next(_numbers)}"
    records = [{**m, "id": f"{project}-{i}"} for i, m in enumerate(memories)]
    ingest_memories(records, project=project, database_url=store.url)
    instance.add_dynamic_partitions(PROJECTS_PARTITION, [project])
    before = raw_digest(store)

    def consolidate() -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*consolidation_assets, *consolidation_checks],
            instance=instance,
            partition_key=project,
            resources=run_resources(store, embedder),
            raise_on_error=False,
        )

    first = consolidate()
    assert first.success, [e.message for e in first.all_events if e.is_failure]
    verdicts = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert verdicts == dict.fromkeys(CHECKS, True)
    assert raw_digest(store) == before
    assert integrity.isolation_problems(store.engine, project) == []
    sources = [m for g in outputs.load_merged(store.engine, project) for m in g.source_ids]
    assert len(sources) == len(set(sources)), "a memory is in at most one merged memory"

    again = consolidate()
    assert again.success
    playbook = again.asset_materializations_for_node("playbook_entries")[0].metadata
    assert playbook["playbook_entries_created"].value == 0
    assert playbook["playbook_entries_updated"].value == 0
