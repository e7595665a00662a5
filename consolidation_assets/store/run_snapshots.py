"""The memory high-water mark a run consolidates, pinned by its first step."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from consolidation_assets.store._sql import insert_ignoring_duplicates
from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import Memory, RunSnapshot


def newest_seq(engine: Engine, project_id: str) -> int:
    """The arrival number of the project's newest memory (0 when it has none)."""
    with engine.connect() as conn:
        return conn.scalar(select(func.max(Memory.seq)).where(Memory.project_id == project_id)) or 0


def pin_snapshot(engine: Engine, run_id: str | None, project_id: str) -> int:
    """The run's bound on memory arrival numbers: pinned by its first step, read by the rest.

    Steps of one run may run in different processes; they all consolidate the memories that
    had arrived when the first of them started. Without a run id the bound is simply now's.
    """
    if run_id is None:
        return newest_seq(engine, project_id)
    with engine.connect() as conn:
        pinned = conn.scalar(
            select(RunSnapshot.max_seq).where(
                RunSnapshot.run_id == run_id, RunSnapshot.project_id == project_id
            )
        )
    if pinned is not None:
        return pinned
    bound = newest_seq(engine, project_id)
    with transaction(engine) as session:
        statement = insert_ignoring_duplicates(session, RunSnapshot.__table__)
        session.execute(
            statement,
            [
                {
                    "run_id": run_id,
                    "project_id": project_id,
                    "max_seq": bound,
                    "created_at": datetime.now(UTC),
                }
            ],
        )
    with engine.connect() as conn:
        return conn.scalar(
            select(RunSnapshot.max_seq).where(
                RunSnapshot.run_id == run_id, RunSnapshot.project_id == project_id
            )
        )
