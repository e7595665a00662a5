"""The nightly consolidation: every project with memories newer than its last complete run."""

import dagster as dg

from consolidation_assets.defs.assets import consolidation_job
from consolidation_assets.defs.partitions import PROJECTS_PARTITION
from consolidation_assets.defs.run_results import TRIGGER_TAG
from consolidation_assets.services import settings
from consolidation_assets.store import MemoryStore
from consolidation_assets.store.arrivals import projects_behind


@dg.schedule(
    job=consolidation_job,
    cron_schedule=settings.nightly_cron(),
    execution_timezone=settings.schedule_timezone(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Consolidates, once a night, every project whose memories changed since its "
    "last completed run, so projects that never reach the sensor's threshold are consolidated "
    "too. CONSOLIDATION_NIGHTLY_CRON sets when (default 0 2 * * *).",
)
def nightly_consolidation(
    context: dg.ScheduleEvaluationContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.SkipReason | list[dg.RunRequest]:
    behind = projects_behind(memory_store.engine)
    if not behind:
        return dg.SkipReason("every project is consolidated up to its latest memory")
    context.instance.add_dynamic_partitions(PROJECTS_PARTITION, behind)
    stamp = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    return [
        dg.RunRequest(
            partition_key=project,
            run_key=f"{project}:nightly:{stamp}",
            tags={TRIGGER_TAG: "scheduled"},
        )
        for project in behind
    ]
