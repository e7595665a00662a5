"""A Dagster run of the consolidation assets, read back as a ConsolidationResult.

The engine and the run-status sensors both build their results here, from the run's own event
log, so a run reads the same however it was launched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterRunStatus

from consolidation_assets.defs.assets import consolidation_job
from consolidation_assets.phases.registry import PHASES
from consolidation_assets.store.jobs import JobRecord
from consolidation_assets.store.scope import Scope

TRIGGER_TAG = "consolidation/trigger"
RETRY_NUMBER_TAG = "dagster/retry_number"
# The contract's phase names (pattern_extraction, ...) by asset, in the order they run.
PHASE_OF_ASSET = {p.name: p.step for p in PHASES}
PHASE_ORDER = [p.step for p in PHASES]


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


_NOT_METRICS = frozenset({"raw_max_seq"})
_FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


_STATUS_OF_RUN = {
    DagsterRunStatus.QUEUED: JobStatus.PENDING,
    DagsterRunStatus.NOT_STARTED: JobStatus.PENDING,
    DagsterRunStatus.STARTING: JobStatus.RUNNING,
    DagsterRunStatus.STARTED: JobStatus.RUNNING,
    DagsterRunStatus.SUCCESS: JobStatus.COMPLETED,
    DagsterRunStatus.FAILURE: JobStatus.FAILED,
    DagsterRunStatus.CANCELING: JobStatus.CANCELLED,
    DagsterRunStatus.CANCELED: JobStatus.CANCELLED,
}


@dataclass
class ConsolidationResult:
    """The outcome of one consolidation job (a Dagster run for one project)."""

    job_id: str
    status: JobStatus
    phases_completed: list[str]
    metrics: dict[str, Any]
    duration_seconds: float
    error_message: str | None = None
    project_id: str | None = None
    trigger_type: str | None = None
    scope: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "project_id": self.project_id,
            "status": self.status.value,
            "phases_completed": list(self.phases_completed),
            "metrics": dict(self.metrics),
            "duration_seconds": round(self.duration_seconds, 3),
            "error_message": self.error_message,
            "trigger_type": self.trigger_type,
            "scope": dict(self.scope),
        }


def _number(value: Any) -> float | int | None:
    raw = getattr(value, "value", value)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return raw


def _scope_of(metadata: dict[str, Any]) -> dict[str, Any] | None:
    value = metadata.get("scope")
    data = getattr(value, "data", None)
    return dict(data) if isinstance(data, dict) else None


def _error_text(error: Any) -> str:
    """The innermost cause of a Dagster error: the user's exception, not the wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = (getattr(error, "message", "") or "").strip()
    name = getattr(error, "cls_name", None)
    if name and not message.startswith(name):
        return f"{name}: {message}"
    return message


def trigger_of(tags: dict[str, str]) -> str:
    """How a run came about: our own tag, else what Dagster's tags say, else by hand."""
    if tags.get(TRIGGER_TAG):
        return tags[TRIGGER_TAG]
    if "dagster/backfill" in tags:
        return "backfill"
    if "dagster/schedule_name" in tags:
        return "scheduled"
    if "dagster/sensor_name" in tags:
        return "threshold"
    return "manual"


def scope_of_run(run: dg.DagsterRun) -> dict[str, Any]:
    """The run's scope from its run config (the same for every asset; patterns' first)."""
    ops = (run.run_config or {}).get("ops", {})
    for name in PHASE_OF_ASSET:
        config = ops.get(name, {}).get("config")
        if config is not None:
            try:
                return Scope.from_dict(
                    {k: config.get(k) for k in ("memory_types", "since", "until")}
                ).to_dict()
            except ValueError:
                break
    return Scope().to_dict()


def is_consolidation_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """A run of the consolidation assets for one project, whatever job launched it.

    The UI's ad-hoc runs carry their asset selection; other ad-hoc jobs only show theirs in the
    planned materializations of their event log.
    """
    if "dagster/partition" not in run.tags:
        return False
    if run.job_name == consolidation_job.name:
        return True
    selected = set(run.asset_selection or ())
    if not selected:
        planned = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        selected = {
            r.event_log_entry.dagster_event.asset_key
            for r in planned
            if r.event_log_entry.dagster_event is not None
        }
    return any(key is not None and key.to_user_string() in PHASE_OF_ASSET for key in selected)


def result_from_run(instance: dg.DagsterInstance, run_id: str) -> ConsolidationResult:
    """Read a run's status, completed phases, metrics and error from the instance."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        raise LookupError(f"no Dagster run {run_id}")
    run = record.dagster_run
    project_id = run.tags.get("dagster/partition")
    records = instance.get_records_for_run(
        run_id,
        of_type={
            DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.RUN_FAILURE,
        },
    ).records
    completed: set[str] = set()
    metrics: dict[str, Any] = {}
    scope: dict[str, Any] = {}
    errors: list[str] = []
    for entry in records:
        event = entry.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            asset = materialization.asset_key.to_user_string()
            if asset not in PHASE_OF_ASSET or (project_id and event.partition != project_id):
                continue
            completed.add(PHASE_OF_ASSET[asset])
            metadata = dict(materialization.metadata)
            scope = _scope_of(metadata) or scope
            for key, value in metadata.items():
                number = _number(value)
                if number is None or key.startswith("setting_") or key in _NOT_METRICS:
                    continue
                if key == "seconds":
                    metrics[f"{asset}_seconds"] = number
                elif key == "dagster/row_count":
                    metrics[f"{asset}_rows"] = number
                else:
                    metrics[key] = number
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            errors.append(f"{event.step_key}: {_error_text(error)}" if error else event.message)
        elif event.event_type == DagsterEventType.RUN_FAILURE and not errors:
            error = getattr(event.event_specific_data, "error", None)
            errors.append(_error_text(error) if error else (event.message or "run failed"))
    status = _STATUS_OF_RUN.get(run.status, JobStatus.PENDING)
    start = record.start_time or record.create_timestamp.timestamp()
    end = record.end_time or (time.time() if status is JobStatus.RUNNING else start)
    return ConsolidationResult(
        job_id=run_id,
        status=status,
        phases_completed=[p for p in PHASE_ORDER if p in completed],
        metrics=metrics,
        duration_seconds=max(0.0, end - start),
        error_message="; ".join(errors) if errors else None,
        project_id=project_id,
        trigger_type=trigger_of(dict(run.tags)),
        scope=scope or scope_of_run(run),
    )


def job_record_from_run(
    instance: dg.DagsterInstance, run_id: str, result: ConsolidationResult | None = None
) -> JobRecord:
    """The consolidation_jobs row of a run, as its event log and tags tell it."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        raise LookupError(f"no Dagster run {run_id}")
    result = result or result_from_run(instance, run_id)
    run = record.dagster_run
    started = record.start_time or record.create_timestamp.timestamp()
    finished = record.end_time if result.status in _FINISHED else None
    return JobRecord(
        id=run_id,
        project_id=result.project_id or "",
        status=result.status.value,
        trigger_type=result.trigger_type or "manual",
        scope=scope_of_run(run),
        phases_completed=result.phases_completed,
        metrics=result.metrics,
        started_at=datetime.fromtimestamp(started, UTC),
        finished_at=datetime.fromtimestamp(finished, UTC) if finished else None,
        duration_seconds=round(result.duration_seconds, 3),
        error_message=result.error_message,
        retry_count=int(run.tags.get(RETRY_NUMBER_TAG, 0)),
    )
