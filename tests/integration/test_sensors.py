"""The automation: the new-memories sensor, the nightly schedule and the job-record sensors."""

import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from consolidation_assets.defs.definitions import defs
from consolidation_assets.defs.partitions import PROJECTS_PARTITION
from consolidation_assets.defs.run_results import TRIGGER_TAG
from consolidation_assets.defs.schedules import nightly_consolidation
from consolidation_assets.defs.sensors import (
    new_memories_sensor,
    record_completed_runs,
    record_failed_runs,
    record_started_runs,
)
from consolidation_assets.services.memory_input import validate_memories
from consolidation_assets.store.jobs import JobRecord, get_job, save_job
from consolidation_assets.store.memories import insert_memories
from tests.helpers import before_phase, ingest_sample, run_resources


def add_memories(store, project: str, count: int, prefix: str) -> None:
    records = [
        {"id": f"{prefix}-{i}", "project_id": project, "content": f"Note {i} from {prefix}."}
        for i in range(count)
    ]
    insert_memories(store.engine, validate_memories(records))


def tick(instance, store, cursor):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"memory_store": store}, definitions=defs
    ) as context:
        return new_memories_sensor(context)


def test_sensor_registers_projects_and_requests_runs_once(instance, store, monkeypatch) -> None:
    monkeypatch.setenv("CONSOLIDATION_RUN_THRESHOLD", "100")
    ingest_sample(store, "web-backend")
    add_memories(store, "tiny", 5, "tiny")

    first = tick(instance, store, None)
    (added,) = first.dynamic_partitions_requests
    assert sorted(added.partition_keys) == ["tiny", "web-backend"]
    (request,) = first.run_requests
    assert request.partition_key == "web-backend"
    assert request.run_key == "web-backend:213"
    assert request.tags[TRIGGER_TAG] == "threshold"

    instance.add_dynamic_partitions(PROJECTS_PARTITION, ["tiny", "web-backend"])
    second = tick(instance, store, first.cursor)
    assert second.run_requests == [] and second.dynamic_partitions_requests == []
    assert second.cursor == first.cursor

    add_memories(store, "web-backend", 120, "more")
    third = tick(instance, store, second.cursor)
    (again,) = third.run_requests
    assert again.partition_key == "web-backend" and again.run_key != request.run_key
    assert third.dynamic_partitions_requests == []


def test_schedule_requests_only_projects_behind(instance, store) -> None:
    ingest_sample(store, "web-backend")
    ingest_sample(store, "mobile-app")
    save_job(
        store.engine,
        JobRecord(
            id=str(uuid.uuid4()),
            project_id="web-backend",
            status="completed",
            trigger_type="manual",
            scope={"memory_types": [], "since": None, "until": None},
            started_at=datetime.now(UTC) + timedelta(minutes=1),
        ),
    )
    context = dg.build_schedule_context(
        instance=instance,
        resources={"memory_store": store},
        scheduled_execution_time=datetime(2026, 11, 25, 2, tzinfo=UTC),
    )
    requests = nightly_consolidation(context)
    assert [r.partition_key for r in requests] == ["mobile-app"]
    assert requests[0].tags[TRIGGER_TAG] == "scheduled"
    assert instance.has_dynamic_partition(PROJECTS_PARTITION, "mobile-app")


def run_job(instance, store, embedder, project: str, **tags):
    instance.add_dynamic_partitions(PROJECTS_PARTITION, [project])
    return defs.resolve_job_def("consolidation_job").execute_in_process(
        instance=instance,
        partition_key=project,
        raise_on_error=False,
        tags=tags,
        resources=run_resources(store, embedder),
    )


def status_context(name, instance, result, store, failure=False):
    event = result.get_run_failure_event() if failure else result.get_run_success_event()
    context = dg.build_run_status_sensor_context(
        sensor_name=name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=event,
        resources={"memory_store": store},
    )
    return context.for_run_failure() if failure else context


def test_failure_sensor_records_exactly_what_materialized(
    instance, store, embedder, monkeypatch
) -> None:
    ingest_sample(store, "mobile-app")

    def fail() -> None:
        raise RuntimeError("third phase broke on purpose")

    before_phase(monkeypatch, "principles", fail)
    result = run_job(instance, store, embedder, "mobile-app")
    assert not result.success
    record_failed_runs(status_context("record_failed_runs", instance, result, store, True))
    record = get_job(store.engine, result.run_id)
    assert record.status == "failed"
    assert record.phases_completed == ["pattern_extraction", "memory_merging"]
    assert "third phase broke on purpose" in record.error_message
    assert record.trigger_type == "manual" and record.finished_at is not None
    assert record.metrics["patterns_extracted"] > 0


def test_success_sensors_record_every_launch_path(instance, store, embedder) -> None:
    ingest_sample(store, "mobile-app")
    result = run_job(instance, store, embedder, "mobile-app", **{"dagster/backfill": "abc"})
    assert result.success
    record_completed_runs(status_context("record_completed_runs", instance, result, store))
    record = get_job(store.engine, result.run_id)
    assert record.status == "completed" and record.trigger_type == "backfill"
    assert len(record.phases_completed) == 4 and record.metrics["playbook_entries_created"] > 0

    adhoc = dg.materialize(
        [a for a in defs.assets],
        instance=instance,
        partition_key="mobile-app",
        resources=run_resources(store, embedder),
        selection=["patterns"],
    )
    record_started_runs(status_context("record_started_runs", instance, adhoc, store))
    adhoc_record = get_job(store.engine, adhoc.run_id)
    assert adhoc_record.phases_completed == ["pattern_extraction"]
    assert adhoc_record.status == "completed" and adhoc_record.trigger_type == "manual"


@pytest.mark.parametrize("sensor", [record_completed_runs, record_started_runs])
def test_job_record_sensors_ignore_other_runs(instance, store, sensor) -> None:
    @dg.op
    def unrelated_op() -> None:
        return None

    @dg.job
    def unrelated() -> None:
        unrelated_op()

    result = unrelated.execute_in_process(instance=instance)
    sensor(status_context(sensor.name, instance, result, store))
    assert get_job(store.engine, result.run_id) is None
