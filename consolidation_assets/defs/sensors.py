"""Sensors: consolidate projects as memories arrive, and keep consolidation_jobs true.

``new_memories_sensor`` watches the memory store and requests one run per project once enough
new memories have arrived. The run-status sensors write the consolidation_jobs row of every run
of the consolidation assets, however it was launched (UI, sensor, schedule, backfill, CLI,
engine), with the same function the engine uses.
"""

import dagster as dg

from consolidation_assets.defs.assets import consolidation_job
from consolidation_assets.defs.observations import memories_observations
from consolidation_assets.defs.partitions import PROJECTS_PARTITION, projects
from consolidation_assets.defs.run_results import (
    TRIGGER_TAG,
    is_consolidation_run,
    job_record_from_run,
)
from consolidation_assets.services import settings
from consolidation_assets.services.triggers import ArrivalCursor, plan_arrivals
from consolidation_assets.store import MemoryStore
from consolidation_assets.store.arrivals import arrivals_since
from consolidation_assets.store.jobs import save_job


@dg.sensor(
    job=consolidation_job,
    minimum_interval_seconds=settings.sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a consolidation run for a project once CONSOLIDATION_RUN_THRESHOLD "
    "new memories (default 100) have arrived; registers new projects as partitions and records "
    "the new data version of their memories.",
)
def new_memories_sensor(
    context: dg.SensorEvaluationContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.SensorResult:
    cursor = ArrivalCursor.from_json(context.cursor)
    arrivals = arrivals_since(memory_store.engine, cursor.last_seq)
    if not arrivals:
        return dg.SensorResult(skip_reason="no new memories", cursor=cursor.to_json())
    plan = plan_arrivals(cursor, arrivals, settings.run_threshold())
    for project, reason in plan.skipped.items():
        context.log.warning(f"ignoring memories of project {project!r}: {reason}")
    unregistered = [
        p for p in plan.seen if not context.instance.has_dynamic_partition(PROJECTS_PARTITION, p)
    ]
    requests = [
        dg.RunRequest(partition_key=project, run_key=run_key, tags={TRIGGER_TAG: "threshold"})
        for project, run_key in sorted(plan.due.items())
    ]
    pending = ", ".join(f"{p}: {n}" for p, n in sorted(plan.cursor.pending.items()))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[projects.build_add_request(unregistered)]
        if unregistered
        else [],
        asset_events=memories_observations(memory_store, plan.seen),
        cursor=plan.cursor.to_json(),
        skip_reason=None if requests else f"below the threshold ({pending})",
    )


def _record(
    context: dg.RunStatusSensorContext, memory_store: dg.ResourceParam[MemoryStore]
) -> None:
    run = context.dagster_run
    if not is_consolidation_run(context.instance, run):
        return
    record = job_record_from_run(context.instance, run.run_id)
    save_job(memory_store.engine, record)
    context.log.info(f"consolidation_jobs {run.run_id}: {record.status} {record.phases_completed}")


_INTERVAL = settings.sensor_interval_seconds()


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.STARTED,
    minimum_interval_seconds=_INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records consolidation runs as running when they start.",
)
def record_started_runs(
    context: dg.RunStatusSensorContext, memory_store: dg.ResourceParam[MemoryStore]
) -> None:
    _record(context, memory_store)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    minimum_interval_seconds=_INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records completed consolidation runs with the metrics of their phases.",
)
def record_completed_runs(
    context: dg.RunStatusSensorContext, memory_store: dg.ResourceParam[MemoryStore]
) -> None:
    _record(context, memory_store)


@dg.run_failure_sensor(
    minimum_interval_seconds=_INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records failed consolidation runs (any job, the UI's included) with the phases "
    "that materialized and the error of the failing step.",
)
def record_failed_runs(
    context: dg.RunFailureSensorContext, memory_store: dg.ResourceParam[MemoryStore]
) -> None:
    _record(context, memory_store)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.CANCELED,
    minimum_interval_seconds=_INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records cancelled consolidation runs.",
)
def record_cancelled_runs(
    context: dg.RunStatusSensorContext, memory_store: dg.ResourceParam[MemoryStore]
) -> None:
    _record(context, memory_store)


job_record_sensors = [
    record_started_runs,
    record_completed_runs,
    record_failed_runs,
    record_cancelled_runs,
]
