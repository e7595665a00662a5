"""ConsolidationEngine: the programmatic entry point, running the same assets through Dagster."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from consolidation_assets.defs.config import scope_run_config
from consolidation_assets.defs.instance import dagster_instance
from consolidation_assets.defs.partitions import PROJECTS_PARTITION
from consolidation_assets.defs.run_results import (
    TRIGGER_TAG,
    ConsolidationResult,
    JobStatus,
    job_record_from_run,
    result_from_run,
)
from consolidation_assets.services import settings
from consolidation_assets.services.embedders import Embedder, make_embedder
from consolidation_assets.services.memory_input import validate_project_id
from consolidation_assets.store import MemoryStore
from consolidation_assets.store.jobs import JobRecord, save_job
from consolidation_assets.store.memories import count_memories
from consolidation_assets.store.scope import Scope

TRIGGERS = ("manual", "threshold", "scheduled", "backfill")

__all__ = ["ConsolidationEngine", "ConsolidationResult", "JobStatus"]


class ConsolidationEngine:
    """Consolidate one project: materialize the four assets for its partition, in process.

    ``db`` is a :class:`MemoryStore` or a database URL (``None``: the configured default);
    ``embedding_service`` an :class:`Embedder` (``None``: the packaged all-MiniLM-L6-v2);
    ``scope`` a :class:`Scope` or its dict form. ``instance`` is the Dagster instance the run is
    recorded in (``None``: the one in ``DAGSTER_HOME``), so runs started here show in the UI.
    ``log_level`` is the level of Dagster's console log for the run (its event log keeps all).
    """

    def __init__(
        self,
        db: MemoryStore | str | None,
        embedding_service: Embedder | None,
        project_id: str,
        scope: Scope | Mapping[str, Any] | None = None,
        *,
        instance: dg.DagsterInstance | None = None,
        trigger: str = "manual",
        log_level: str = "WARNING",
    ) -> None:
        self.project_id = validate_project_id(project_id)
        if trigger not in TRIGGERS:
            raise ValueError(f"trigger: {trigger!r} is not one of {', '.join(TRIGGERS)}")
        self.store = settings.memory_store(db)
        self.embeddings = embedding_service or make_embedder()
        self.scope = scope if isinstance(scope, Scope) else Scope.from_dict(scope)
        self.trigger = trigger
        self.log_level = log_level
        self._instance = instance

    def _dagster_instance(self) -> dg.DagsterInstance:
        if self._instance is None:
            self._instance = dagster_instance()
        return self._instance

    def execute(self, job_id: str | None = None) -> ConsolidationResult:
        """Run the four phases; never raises for a phase failure, which the result reports."""
        job_id = job_id or str(uuid.uuid4())
        try:
            uuid.UUID(job_id)
        except ValueError:
            raise ValueError(f"job_id: {job_id!r} is not a UUID (it becomes the run id)") from None
        from consolidation_assets.defs.definitions import defs

        if count_memories(self.store.engine, self.project_id) == 0:
            raise ValueError(
                f"project {self.project_id!r} has no memories in {self.store.display_url}; "
                "ingest some first"
            )
        instance = self._dagster_instance()
        instance.add_dynamic_partitions(PROJECTS_PARTITION, [self.project_id])
        started = datetime.now(UTC)
        record = JobRecord(
            id=job_id,
            project_id=self.project_id,
            status=JobStatus.RUNNING.value,
            trigger_type=self.trigger,
            scope=self.scope.to_dict(),
            started_at=started,
        )
        save_job(self.store.engine, record)
        job = defs.resolve_job_def("consolidation_job")
        try:
            job.execute_in_process(
                run_config={
                    **scope_run_config(self.scope),
                    "loggers": {"console": {"config": {"log_level": self.log_level}}},
                },
                instance=instance,
                partition_key=self.project_id,
                run_id=job_id,
                raise_on_error=False,
                tags={TRIGGER_TAG: self.trigger},
                resources={"memory_store": self.store, "embeddings": self.embeddings},
            )
        except Exception as exc:  # the run could not start: bad config, storage unreachable
            record.status = JobStatus.FAILED.value
            record.finished_at = datetime.now(UTC)
            record.duration_seconds = (record.finished_at - started).total_seconds()
            record.error_message = f"{type(exc).__name__}: {exc}"
            save_job(self.store.engine, record)
            return ConsolidationResult(
                job_id=job_id,
                status=JobStatus.FAILED,
                phases_completed=[],
                metrics={},
                duration_seconds=record.duration_seconds,
                error_message=record.error_message,
                project_id=self.project_id,
                trigger_type=self.trigger,
                scope=record.scope,
            )
        result = result_from_run(instance, job_id)
        save_job(self.store.engine, job_record_from_run(instance, job_id, result))
        return result
