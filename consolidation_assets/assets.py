"""The four consolidation assets, partitioned by project. Each is a thin call into ``steps``."""

from collections.abc import Callable

import dagster as dg
from sqlalchemy.exc import DBAPIError, OperationalError

from consolidation_assets import steps
from consolidation_assets.config import (
    HierarchyConfig,
    MergeConfig,
    PatternsConfig,
    PlaybookConfig,
    ScopedConfig,
    settings_metadata,
)
from consolidation_assets.partitions import projects
from consolidation_assets.resources import EmbeddingService, MemoryStore

GROUP = "consolidation"

PHASE_OF_ASSET = {
    "patterns": "pattern_extraction",
    "merged_memories": "memory_merging",
    "principles": "hierarchy_creation",
    "playbook_entries": "playbook_integration",
}


TRANSIENT_RETRIES = 3

Step = Callable[..., steps.PhaseReport]


def _run_phase(
    context: dg.AssetExecutionContext,
    step: Step,
    config: ScopedConfig,
    settings: object,
    memory_store: MemoryStore,
    embeddings: EmbeddingService,
) -> dg.MaterializeResult:
    """Run one phase for the run's project and report it as a materialization.

    A lost connection or a locked database asks Dagster to retry the step; deterministic
    errors fail at once, since retrying a bug only repeats it.
    """
    scope = config.scope()
    try:
        report = step(
            memory_store, embeddings, context.partition_key, scope, settings, context.run.run_id
        )
    except DBAPIError as exc:
        if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
            raise
        context.log.warning(f"transient database error, retrying: {exc.orig!r}")
        raise dg.RetryRequested(max_retries=TRANSIENT_RETRIES, seconds_to_wait=2) from exc
    context.log.info(
        f"{context.asset_key.to_user_string()}[{context.partition_key}]: "
        + ", ".join(f"{k}={v}" for k, v in report.metrics.items())
        + f" in {report.seconds:.2f} s"
    )
    return dg.MaterializeResult(
        metadata={
            **report.metrics,
            **settings_metadata(settings),
            "seconds": round(report.seconds, 3),
            "scope": dg.MetadataValue.json(scope.to_dict()),
            "dagster/row_count": report.row_count,
            "preview": dg.MetadataValue.md(report.preview or "_nothing yet_"),
            **report.extra,
        }
    )


@dg.asset(
    partitions_def=projects,
    group_name=GROUP,
    kinds={"python", "pytorch", "sql"},
    code_version="1",
)
def patterns(
    context: dg.AssetExecutionContext,
    config: PatternsConfig,
    memory_store: MemoryStore,
    embeddings: EmbeddingService,
) -> dg.MaterializeResult:
    """Recurring patterns across the project's memories.

    Memories are embedded (cache first), clustered by average linkage on their nearest-neighbour
    graph with no k to choose, and every cluster of at least ``min_support`` memories becomes a
    pattern labelled by its most central memory and its distinctive keywords.
    """
    return _run_phase(
        context, steps.run_pattern_extraction, config, config.settings(), memory_store, embeddings
    )


@dg.asset(
    partitions_def=projects,
    group_name=GROUP,
    kinds={"python", "sql"},
    deps=[patterns],
    code_version="1",
)
def merged_memories(
    context: dg.AssetExecutionContext,
    config: MergeConfig,
    memory_store: MemoryStore,
    embeddings: EmbeddingService,
) -> dg.MaterializeResult:
    """Near-duplicate memories merged into one, every source kept and linked.

    Exact duplicates always merge; near-duplicates merge when their duplicate score (the mean of
    cosine similarity and word coverage) clears the threshold, unless they commit to different
    details (numbers, versions, paths, ids, error codes, negation).
    """
    return _run_phase(
        context, steps.run_memory_merging, config, config.settings(), memory_store, embeddings
    )


@dg.asset(
    partitions_def=projects,
    group_name=GROUP,
    kinds={"python", "sql"},
    deps=[merged_memories],
    code_version="1",
)
def principles(
    context: dg.AssetExecutionContext,
    config: HierarchyConfig,
    memory_store: MemoryStore,
    embeddings: EmbeddingService,
) -> dg.MaterializeResult:
    """Principles abstracted from patterns (level 1) and from principles (level 2 and up).

    Each principle covers at least two patterns and is measured on their member memories.
    """
    return _run_phase(
        context, steps.run_hierarchy_creation, config, config.settings(), memory_store, embeddings
    )


@dg.asset(
    partitions_def=projects,
    group_name=GROUP,
    kinds={"python", "sql"},
    deps=[principles],
    code_version="1",
)
def playbook_entries(
    context: dg.AssetExecutionContext,
    config: PlaybookConfig,
    memory_store: MemoryStore,
    embeddings: EmbeddingService,
) -> dg.MaterializeResult:
    """The playbook agents read before they work: entries created, reinforced or marked stale.

    Entries are matched to principles and strong patterns by meaning; nothing is deleted and
    feedback counters survive every run.
    """
    return _run_phase(
        context, steps.run_playbook_integration, config, config.settings(), memory_store, embeddings
    )


consolidation_assets = [patterns, merged_memories, principles, playbook_entries]

consolidation_job = dg.define_asset_job(
    "consolidation_job",
    selection=dg.AssetSelection.assets(*consolidation_assets),
    description="The four consolidation phases for one project, in order.",
)
