"""The four consolidation assets, partitioned by project. Each is a thin call into ``steps``."""

import dagster as dg

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


def _result(
    context: dg.AssetExecutionContext,
    report: steps.PhaseReport,
    config: ScopedConfig,
    settings: object,
) -> dg.MaterializeResult:
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
            "scope": dg.MetadataValue.json(config.scope().to_dict()),
            "dagster/row_count": report.row_count,
            "preview": dg.MetadataValue.md(report.preview or "_nothing yet_"),
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
    settings = config.settings()
    report = steps.run_pattern_extraction(
        memory_store,
        embeddings,
        context.partition_key,
        config.scope(),
        settings,
        context.run.run_id,
    )
    return _result(context, report, config, settings)


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

    Exact duplicates always merge; near-duplicates merge above the similarity threshold unless
    they commit to different details (numbers, versions, paths, ids, error codes, negation).
    """
    settings = config.settings()
    report = steps.run_memory_merging(
        memory_store,
        embeddings,
        context.partition_key,
        config.scope(),
        settings,
        context.run.run_id,
    )
    return _result(context, report, config, settings)


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
    settings = config.settings()
    report = steps.run_hierarchy_creation(
        memory_store,
        embeddings,
        context.partition_key,
        config.scope(),
        settings,
        context.run.run_id,
    )
    return _result(context, report, config, settings)


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
    settings = config.settings()
    report = steps.run_playbook_integration(
        memory_store,
        embeddings,
        context.partition_key,
        config.scope(),
        settings,
        context.run.run_id,
    )
    return _result(context, report, config, settings)


consolidation_assets = [patterns, merged_memories, principles, playbook_entries]

consolidation_job = dg.define_asset_job(
    "consolidation_job",
    selection=dg.AssetSelection.assets(*consolidation_assets),
    description="The four consolidation phases for one project, in order.",
)
