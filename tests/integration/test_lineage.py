"""Honest lineage: ``memories`` is observed with a data version per project, and every phase's
materialization records the version it consolidated, so new memories make it stale."""

from __future__ import annotations

import dagster as dg
from dagster._utils.test.data_versions import get_stale_status_resolver

from consolidation_assets.defs.assets import consolidation_assets, memories
from consolidation_assets.defs.observations import DATA_VERSION_TAG, MEMORIES, announce_projects
from consolidation_assets.phases.registry import PHASE_NAMES as NAMES
from consolidation_assets.services.ingest import ingest_memories
from consolidation_assets.store.memories import data_versions
from tests.helpers import ingest_sample, run_resources


def observed_version(instance: dg.DagsterInstance, project: str) -> str | None:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=MEMORIES, asset_partitions=[project]), limit=1
    ).records
    return records[0].asset_observation.tags.get(DATA_VERSION_TAG) if records else None


def test_ingest_records_each_projects_data_version_and_runs_record_what_they_read(
    store, embedder
) -> None:
    ingest_sample(store, "mobile-app")
    ingest_sample(store, "web-backend")
    announce_projects(store, ["mobile-app", "web-backend"])
    instance = dg.DagsterInstance.get()
    versions = data_versions(store.engine)
    assert observed_version(instance, "mobile-app") == "{}-{}".format(*versions["mobile-app"])
    assert observed_version(instance, "web-backend") == "{}-{}".format(*versions["web-backend"])

    result = dg.materialize(
        [memories, *consolidation_assets],
        selection=consolidation_assets,
        instance=instance,
        partition_key="mobile-app",
        resources=run_resources(store, embedder),
    )
    assert result.success
    assert stale(instance, "mobile-app") == dict.fromkeys(NAMES, "FRESH")

    ingest_sample(store, "data-pipeline")
    announce_projects(store, ["data-pipeline"])
    assert stale(instance, "mobile-app") == dict.fromkeys(NAMES, "FRESH"), (
        "another project's memories leave this one fresh"
    )
    late = {"id": "late-1", "project_id": "mobile-app", "content": "A memory that came later."}
    ingest_memories([late], database_url=store.url)
    announce_projects(store, ["mobile-app"])
    assert observed_version(instance, "mobile-app") == "{}-{}".format(
        versions["mobile-app"][0] + 1, data_versions(store.engine)["mobile-app"][1]
    )
    assert stale(instance, "mobile-app") == dict.fromkeys(NAMES, "STALE")


def stale(instance: dg.DagsterInstance, project: str) -> dict[str, str]:
    """Each phase asset's stale status for the project, as the UI computes it."""
    observed = dg.AssetsDefinition(specs=[memories])
    resolver = get_stale_status_resolver(instance, [observed, *consolidation_assets])
    return {name: resolver.get_status(dg.AssetKey(name), project).value for name in NAMES}
