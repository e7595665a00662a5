"""Queries behind the automation: what arrived, and which projects are behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from consolidation_assets.store.models import ConsolidationJob, Memory


@dataclass(frozen=True)
class ProjectArrivals:
    """New memories of one project since a cursor: how many, and the highest ``seq``."""

    project_id: str
    count: int
    max_seq: int


def arrivals_since(engine: Engine, last_seq: int) -> list[ProjectArrivals]:
    """Memories stored after ``last_seq``, per project: one grouped query over new rows only."""
    query = (
        select(Memory.project_id, func.count(), func.max(Memory.seq))
        .where(Memory.seq > last_seq)
        .group_by(Memory.project_id)
    )
    with engine.connect() as conn:
        return [ProjectArrivals(p, int(n), int(m)) for p, n, m in conn.execute(query)]


def projects_behind(engine: Engine) -> list[str]:
    """Projects holding memories ingested after their last completed whole-project run."""
    with engine.connect() as conn:
        latest = {
            p: when
            for p, when in conn.execute(
                select(Memory.project_id, func.max(Memory.ingested_at)).group_by(Memory.project_id)
            )
        }
        runs = conn.execute(
            select(
                ConsolidationJob.project_id, ConsolidationJob.started_at, ConsolidationJob.scope
            ).where(ConsolidationJob.status == "completed")
        ).all()
    covered: dict[str, datetime] = {}
    for project, started, scope in runs:
        whole = not scope or not any(scope.get(k) for k in ("memory_types", "since", "until"))
        if whole and started is not None and (project not in covered or started > covered[project]):
            covered[project] = started
    return sorted(
        p for p, newest in latest.items() if p not in covered or _as_utc(newest) > covered[p]
    )


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
