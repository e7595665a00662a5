"""The memory high-water mark a run consolidates, pinned by its first step.

A snapshot row is needed only while its run is live: every step of the run reads up to it.
Once the run's job record is final the row is deleted with that record's write, and rows older
than ``SNAPSHOT_RETENTION`` (runs recorded nowhere, such as in-process test runs, or runs whose
worker died) are swept whenever a new run pins its own, so the table holds live runs only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from consolidation_assets.store._sql import insert_ignoring_duplicates
from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import Memory, RunSnapshot

# Longer than any run lasts: a step of a run older than this would re-pin, not fail.
SNAPSHOT_RETENTION = timedelta(days=7)


def newest_seq(engine: Engine, project_id: str) -> int:
    """The arrival number of the project's newest memory (0 when it has none)."""
    with engine.connect() as conn:
        return conn.scalar(select(func.max(Memory.seq)).where(Memory.project_id == project_id)) or 0


def _pinned(engine: Engine, run_id: str, project_id: str) -> int | None:
    with engine.connect() as conn:
        return conn.scalar(
            select(RunSnapshot.max_seq).where(
                RunSnapshot.run_id == run_id, RunSnapshot.project_id == project_id
            )
        )


def pin_snapshot(engine: Engine, run_id: str | None, project_id: str) -> int:
    """The run's bound on memory arrival numbers: pinned by its first step, read by the rest.

    Steps of one run may run in different processes; they all consolidate the memories that
    had arrived when the first of them started. Without a run id the bound is simply now's.
    """
    if run_id is None:
        return newest_seq(engine, project_id)
    pinned = _pinned(engine, run_id, project_id)
    if pinned is not None:
        return pinned
    bound = newest_seq(engine, project_id)
    now = datetime.now(UTC)
    with transaction(engine) as session:
        session.execute(
            delete(RunSnapshot).where(RunSnapshot.created_at < now - SNAPSHOT_RETENTION)
        )
        statement = insert_ignoring_duplicates(session, RunSnapshot.__table__)
        session.execute(
            statement,
            [{"run_id": run_id, "project_id": project_id, "max_seq": bound, "created_at": now}],
        )
    return _pinned(engine, run_id, project_id)  # type: ignore[return-value]


def release_snapshot(session: Session, run_id: str) -> None:
    """Forget a finished run's snapshot, in the caller's transaction."""
    session.execute(delete(RunSnapshot).where(RunSnapshot.run_id == run_id))


def snapshot_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(RunSnapshot)) or 0)
