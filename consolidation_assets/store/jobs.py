"""consolidation_jobs: one row per Dagster run of the consolidation assets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import ConsolidationJob
from consolidation_assets.store.run_snapshots import release_snapshot

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


@dataclass
class JobRecord:
    id: str
    project_id: str
    status: str
    trigger_type: str
    scope: dict[str, Any] = field(default_factory=dict)
    phases_completed: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    error_message: str | None = None
    retry_count: int = 0


def save_job(engine: Engine, record: JobRecord) -> None:
    """Insert or overwrite the record of one run; a finished run's snapshot goes with it."""
    values = asdict(record)
    with transaction(engine) as session:
        row = session.get(ConsolidationJob, record.id)
        if row is None:
            session.add(ConsolidationJob(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        if record.status in FINAL_STATUSES:
            release_snapshot(session, record.id)


def get_job(engine: Engine, job_id: str) -> JobRecord | None:
    with engine.connect() as conn:
        row = conn.execute(select(ConsolidationJob).where(ConsolidationJob.id == job_id)).first()
    return _record(row) if row else None


def list_jobs(engine: Engine, project_id: str | None = None) -> list[JobRecord]:
    query = select(ConsolidationJob).order_by(ConsolidationJob.started_at)
    if project_id:
        query = query.where(ConsolidationJob.project_id == project_id)
    with engine.connect() as conn:
        return [_record(r) for r in conn.execute(query)]


def _record(row: Any) -> JobRecord:
    return JobRecord(
        id=row.id,
        project_id=row.project_id,
        status=row.status,
        trigger_type=row.trigger_type,
        scope=row.scope,
        phases_completed=list(row.phases_completed),
        metrics=dict(row.metrics),
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_seconds=row.duration_seconds,
        error_message=row.error_message,
        retry_count=row.retry_count,
    )
