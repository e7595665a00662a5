"""What each phase last wrote for a project and under which inputs (see services.runner)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import Base, PhaseState


@dataclass(frozen=True)
class StoredState:
    input_digest: str
    metrics: dict[str, Any]
    row_count: int
    preview: str


def load_state(engine: Engine, project_id: str, phase: str) -> StoredState | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(PhaseState).where(PhaseState.project_id == project_id, PhaseState.phase == phase)
        ).first()
    if row is None:
        return None
    return StoredState(row.input_digest, dict(row.metrics), row.row_count, row.preview)


def save_state(
    engine: Engine,
    project_id: str,
    phase: str,
    state: StoredState,
    run_id: str | None,
) -> None:
    with transaction(engine) as session:
        row = session.get(PhaseState, (project_id, phase))
        if row is None:
            row = PhaseState(project_id=project_id, phase=phase)
            session.add(row)
        row.input_digest = state.input_digest
        row.metrics = state.metrics
        row.row_count = state.row_count
        row.preview = state.preview
        row.run_id = run_id
        row.updated_at = datetime.now(UTC)


def output_rows(engine: Engine, project_id: str, table_name: str) -> int:
    """How many live rows the project has in a phase's output table (active ones, where the
    table keeps a status)."""
    table = Base.metadata.tables[table_name]
    query = select(func.count()).select_from(table).where(table.c.project_id == project_id)
    if "status" in table.c:
        query = query.where(table.c.status == "active")
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)
