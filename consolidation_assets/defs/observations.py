"""The ``memories`` asset's observations: each project's raw memories as a data version.

Raw memories are only ever added, so (memories stored, highest arrival number) changes exactly
when a project's memories do. Ingest and the new-memories sensor record it as an observation of
the project's partition; every consolidation asset depends on ``memories``, so the UI marks a
project's outputs stale as soon as new memories arrive.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from consolidation_assets.defs.instance import dagster_instance
from consolidation_assets.defs.partitions import PROJECTS_PARTITION
from consolidation_assets.store import MemoryStore
from consolidation_assets.store.memories import data_versions

MEMORIES = dg.AssetKey("memories")
# The tag Dagster reads an observation's data version from (what an observable source's
# DataVersion becomes).
DATA_VERSION_TAG = "dagster/data_version"


def memories_observations(
    store: MemoryStore, projects: Iterable[str] | None = None
) -> list[dg.AssetObservation]:
    """One observation per project (all, or those named) with its current data version."""
    wanted = None if projects is None else sorted(set(projects))
    return [
        dg.AssetObservation(
            asset_key=MEMORIES,
            partition=project,
            tags={DATA_VERSION_TAG: f"{count}-{latest}"},
            metadata={"memories": count, "latest_arrival": latest},
        )
        for project, (count, latest) in sorted(data_versions(store.engine, wanted).items())
    ]


def announce_projects(store: MemoryStore, projects: Iterable[str]) -> None:
    """After an ingest: register the projects as partitions of the instance in
    ``DAGSTER_HOME`` and record their memories' data versions, outside any run."""
    names = sorted(set(projects))
    with dagster_instance() as instance:
        instance.add_dynamic_partitions(PROJECTS_PARTITION, names)
        for observation in memories_observations(store, names):
            instance.report_runless_asset_event(observation)
