"""The asset graph: ``memories`` (observed, never materialized) and one asset per phase of the
registry, each partitioned by project and depending on exactly what its phase reads.

Each phase asset is a thin call into ``services.runner``; its code version is the phase's
algorithm version, so the UI marks outputs stale when the algorithm changes as well as when new
memories arrive.
"""

import json
from typing import Any

import dagster as dg
from dagster_openai import OpenAIResource
from sqlalchemy.exc import DBAPIError, OperationalError

from consolidation_assets.defs.config import CONFIG_CLASSES, ScopedConfig, settings_metadata
from consolidation_assets.defs.observations import MEMORIES
from consolidation_assets.defs.partitions import projects
from consolidation_assets.defs.resources import RunCache
from consolidation_assets.phases.registry import PHASES, Phase
from consolidation_assets.services.embedders import Embedder
from consolidation_assets.services.llm_writer import LLMSettings
from consolidation_assets.services.runner import LLMConnection, RunState, run_phase
from consolidation_assets.store import MemoryStore
from consolidation_assets.store.scope import Scope

GROUP = "consolidation"
TRANSIENT_RETRIES = 3

memories = dg.AssetSpec(
    MEMORIES,
    partitions_def=projects,
    group_name=GROUP,
    kinds={"sql"},
    description=(
        "The project's raw memories, as agents wrote them: read by every phase, never rewritten. "
        "Observed, not materialized: ingest and the new-memories sensor record each project's "
        "data version (memories stored and the latest arrival)."
    ),
)


def run_state(
    context: dg.AssetExecutionContext,
    store: MemoryStore,
    embedder: Embedder,
    scope: Scope,
    run_cache: RunCache,
) -> RunState:
    """The run's shared state for this project and scope, made by its first step."""
    project, run_id = context.partition_key, context.run.run_id
    key = (run_id, store.url, project, json.dumps(scope.to_dict()), embedder.model_id)
    return run_cache.state(key, lambda: RunState(store, embedder, project, scope, run_id))


def _materialize(
    phase: Phase,
    context: dg.AssetExecutionContext,
    config: ScopedConfig,
    store: MemoryStore,
    embedder: Embedder,
    run_cache: RunCache,
    llm: LLMConnection | None = None,
) -> dg.MaterializeResult:
    """Run one phase for the run's project and report it as a materialization.

    A lost connection or a locked database asks Dagster to retry the step; deterministic
    errors fail at once, since retrying a bug only repeats it.
    """
    scope = config.scope()
    settings = config.settings_for(phase)
    try:
        state = run_state(context, store, embedder, scope, run_cache)
        report = run_phase(state, phase.name, settings, llm)
    except DBAPIError as exc:
        if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
            raise
        context.log.warning(f"transient database error, retrying: {exc.orig!r}")
        raise dg.RetryRequested(max_retries=TRANSIENT_RETRIES, seconds_to_wait=2) from exc
    context.log.info(
        f"{phase.name}[{context.partition_key}]: "
        + ", ".join(f"{k}={v}" for k, v in report.metrics.items())
        + f" in {report.seconds:.2f} s"
    )
    metadata: dict[str, Any] = {
        **report.metrics,
        **settings_metadata(settings),
        "seconds": round(report.seconds, 3),
        "scope": dg.MetadataValue.json(scope.to_dict()),
        "dagster/row_count": report.row_count,
        "preview": dg.MetadataValue.md(report.preview or "_nothing yet_"),
        **report.extra,
    }
    return dg.MaterializeResult(metadata=metadata)


def phase_asset(phase: Phase) -> dg.AssetsDefinition:
    """The asset of one phase, with its generated run config; a phase that words texts also
    takes the optional LLM writer's client and settings."""
    config_type = CONFIG_CLASSES[phase.name]
    decorate = dg.asset(
        name=phase.name,
        partitions_def=projects,
        group_name=GROUP,
        kinds=set(phase.kinds),
        deps=[MEMORIES, *phase.upstream],
        code_version=phase.version,
        description=phase.description,
        metadata={"phase": phase.step, "output_tables": ", ".join(phase.outputs)},
    )

    if phase.writes_text:

        @decorate
        def _writing_asset(
            context: dg.AssetExecutionContext,
            config: config_type,  # type: ignore[valid-type]
            memory_store: dg.ResourceParam[MemoryStore],
            embeddings: dg.ResourceParam[Embedder],
            run_cache: RunCache,
            llm: OpenAIResource,
            writing: dg.ResourceParam[LLMSettings],
        ) -> dg.MaterializeResult:
            if not writing.model:
                return _materialize(phase, context, config, memory_store, embeddings, run_cache)
            with llm.get_client(context) as client:
                connection = LLMConnection(client, writing)
                return _materialize(
                    phase, context, config, memory_store, embeddings, run_cache, connection
                )

        return _writing_asset

    @decorate
    def _asset(
        context: dg.AssetExecutionContext,
        config: config_type,  # type: ignore[valid-type]
        memory_store: dg.ResourceParam[MemoryStore],
        embeddings: dg.ResourceParam[Embedder],
        run_cache: RunCache,
    ) -> dg.MaterializeResult:
        return _materialize(phase, context, config, memory_store, embeddings, run_cache)

    return _asset


consolidation_assets = [phase_asset(p) for p in PHASES]

consolidation_job = dg.define_asset_job(
    "consolidation_job",
    selection=dg.AssetSelection.assets(*consolidation_assets),
    description="Every consolidation phase for one project, in order.",
)
