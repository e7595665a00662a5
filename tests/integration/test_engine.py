"""ConsolidationEngine: the Python contract, re-runs, scope, and a phase forced to fail."""

import uuid

import dagster as dg
import pytest

from consolidation_assets.engine import ConsolidationEngine, ConsolidationResult, JobStatus
from consolidation_assets.services.memory_input import validate_memories
from consolidation_assets.store import integrity, outputs
from consolidation_assets.store.jobs import get_job
from consolidation_assets.store.memories import insert_memories, load_memories
from tests.helpers import before_phase, ingest_sample, raw_digest

ALL_PHASES = ["pattern_extraction", "memory_merging", "hierarchy_creation", "playbook_integration"]
CONTRACT_METRICS = {
    "patterns_extracted",
    "memories_merged",
    "principles_created",
    "playbook_entries_created",
    "playbook_entries_updated",
    "memories_processed",
}


def test_execute_completes_and_records_the_job(store, embedder, instance) -> None:
    total = ingest_sample(store, "mobile-app")
    job_id = str(uuid.uuid4())
    result = ConsolidationEngine(store, embedder, "mobile-app", instance=instance).execute(job_id)
    assert isinstance(result, ConsolidationResult)
    assert result.status is JobStatus.COMPLETED, result.error_message
    assert result.job_id == job_id and result.error_message is None
    assert result.phases_completed == ALL_PHASES
    assert set(result.metrics) >= CONTRACT_METRICS
    assert result.metrics["memories_processed"] == total
    assert result.metrics["patterns_extracted"] > 0 and result.duration_seconds > 0
    record = get_job(store.engine, job_id)
    assert record.status == "completed" and record.phases_completed == ALL_PHASES
    assert record.trigger_type == "manual" and record.finished_at is not None
    assert record.metrics == result.metrics
    assert instance.get_run_by_id(job_id).tags["dagster/partition"] == "mobile-app"


def test_second_run_on_unchanged_memories_changes_nothing(store, embedder, instance) -> None:
    ingest_sample(store, "mobile-app")
    engine = ConsolidationEngine(store, embedder, "mobile-app", instance=instance)
    first = engine.execute()
    patterns = [(p.id, p.member_ids) for p in outputs.load_patterns(store.engine, "mobile-app")]
    groups = [(g.id, g.source_ids) for g in outputs.load_merged(store.engine, "mobile-app")]
    playbook = outputs.load_playbook(store.engine, "mobile-app")
    digest = raw_digest(store)
    second = engine.execute()
    assert first.metrics["playbook_entries_created"] > 0
    assert second.metrics["playbook_entries_created"] == 0
    assert second.metrics["playbook_entries_updated"] == 0
    assert second.metrics["memories_embedded"] == 0
    assert first.metrics["reused"] == 0 and second.metrics["reused"] == 1
    assert patterns == [
        (p.id, p.member_ids) for p in outputs.load_patterns(store.engine, "mobile-app")
    ]
    assert groups == [(g.id, g.source_ids) for g in outputs.load_merged(store.engine, "mobile-app")]
    assert [(e.id, e.content, e.updated_at) for e in playbook] == [
        (e.id, e.content, e.updated_at) for e in outputs.load_playbook(store.engine, "mobile-app")
    ]
    assert raw_digest(store) == digest


def test_new_memories_are_consolidated_by_the_next_run(store, embedder, instance) -> None:
    ingest_sample(store, "mobile-app")
    engine = ConsolidationEngine(store, embedder, "mobile-app", instance=instance)
    engine.execute()
    before = {p.id for p in outputs.load_patterns(store.engine, "mobile-app")}
    central = outputs.load_patterns(store.engine, "mobile-app")[0]
    columns = load_memories(store.engine, "mobile-app")
    source = columns.texts[columns.ids.index(central.central_memory_id)]
    insert_memories(
        store.engine,
        validate_memories(
            [{"id": "late-1", "project_id": "mobile-app", "content": source + " Seen again today."}]
        ),
    )
    again = engine.execute()
    assert again.metrics["reused"] == 0 and again.metrics["memories_embedded"] == 1
    after = outputs.load_patterns(store.engine, "mobile-app")
    assert any("late-1" in p.member_ids for p in after)
    assert {p.id for p in after} != before


def test_a_failing_phase_is_reported_with_what_completed(
    store, embedder, instance, monkeypatch
) -> None:
    ingest_sample(store, "mobile-app")

    def explode() -> None:
        raise RuntimeError("hierarchy exploded on purpose")

    before_phase(monkeypatch, "principles", explode)
    job_id = str(uuid.uuid4())
    result = ConsolidationEngine(store, embedder, "mobile-app", instance=instance).execute(job_id)
    assert result.status is JobStatus.FAILED
    assert result.phases_completed == ["pattern_extraction", "memory_merging"]
    assert "hierarchy exploded on purpose" in result.error_message
    assert "principles" in result.error_message
    assert "principles_created" not in result.metrics
    record = get_job(store.engine, job_id)
    assert record.status == "failed"
    assert record.phases_completed == ["pattern_extraction", "memory_merging"]
    assert "hierarchy exploded on purpose" in record.error_message
    assert instance.get_run_by_id(job_id).status == dg.DagsterRunStatus.FAILURE


def test_scope_travels_to_the_job_and_every_materialization(store, embedder, instance) -> None:
    ingest_sample(store, "mobile-app")
    scope = {"memory_types": ["warning", "error_fix"], "since": "2026-01-01T00:00:00Z"}
    engine = ConsolidationEngine(store, embedder, "mobile-app", scope, instance=instance)
    result = engine.execute()
    assert result.status is JobStatus.COMPLETED
    expected = {
        "memory_types": ["error_fix", "warning"],
        "since": "2026-01-01T00:00:00+00:00",
        "until": None,
    }
    assert get_job(store.engine, result.job_id).scope == expected
    records = instance.get_records_for_run(
        result.job_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    assert len(records) == 4
    for entry in records:
        metadata = entry.event_log_entry.dagster_event.step_materialization_data.materialization
        assert metadata.metadata["scope"].data == expected


def test_a_scoped_run_after_a_whole_run_keeps_every_entry_sound(store, embedder, instance) -> None:
    """A run narrowed to warnings replaces the project's patterns with the warnings' own; the
    entries other memories support stay active, and none may cite a pattern that is gone."""
    ingest_sample(store, "web-backend")
    whole = ConsolidationEngine(store, embedder, "web-backend", instance=instance).execute()
    assert whole.status is JobStatus.COMPLETED
    before = {e.id: e for e in outputs.load_playbook(store.engine, "web-backend")}
    scoped = ConsolidationEngine(
        store, embedder, "web-backend", {"memory_types": ["warning"]}, instance=instance
    ).execute()
    assert scoped.status is JobStatus.COMPLETED, scoped.error_message
    after = {e.id: e for e in outputs.load_playbook(store.engine, "web-backend")}
    assert set(before) <= set(after), "no entry is ever lost"
    assert integrity.isolation_problems(store.engine, "web-backend") == []
    relinked = [
        e
        for i, e in after.items()
        if i in before and e.source_pattern_ids != before[i].source_pattern_ids
    ]
    assert relinked, "entries of other memories lost the patterns the scoped run replaced"
    assert all(e.status == "active" and e.supporting_memory_ids for e in relinked)
    again = ConsolidationEngine(store, embedder, "web-backend", instance=instance).execute()
    assert again.status is JobStatus.COMPLETED
    assert integrity.isolation_problems(store.engine, "web-backend") == []


def test_bad_arguments_are_refused_clearly(store, embedder) -> None:
    with pytest.raises(ValueError, match="project_id"):
        ConsolidationEngine(store, embedder, "Mobile App")
    with pytest.raises(ValueError, match=r"scope\.memory_types"):
        ConsolidationEngine(store, embedder, "mobile-app", {"memory_types": ["gossip"]})
    with pytest.raises(ValueError, match="job_id"):
        ConsolidationEngine(store, embedder, "mobile-app").execute("job-1")
