"""The phase assets through `materialize` on a temporary instance, by project partition."""

import dataclasses

import dagster as dg
import numpy as np
import pytest

from consolidation_assets.defs.assets import consolidation_assets
from consolidation_assets.defs.definitions import RESOURCES, defs
from consolidation_assets.defs.partitions import PROJECTS_PARTITION
from consolidation_assets.phases.registry import PHASES
from consolidation_assets.services.embedders import HashingEmbedder
from consolidation_assets.store import outputs
from consolidation_assets.store.embeddings import fill_cached
from consolidation_assets.store.memories import load_memories
from tests.helpers import ingest_sample, raw_digest, run_resources

EXPECTED_METRICS = {
    "patterns": {"memories_processed", "patterns_extracted", "memories_embedded", "coverage"},
    "merged_memories": {"memories_processed", "memories_merged", "merge_groups"},
    "principles": {"principles_created", "patterns_considered", "levels"},
    "playbook_entries": {
        "playbook_entries_created",
        "playbook_entries_updated",
        "playbook_entries_stale",
        "playbook_entries_active",
    },
}


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("consolidation_job")
    assert set(EXPECTED_METRICS) <= {n.name for n in job.nodes}
    graph = defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.materializable_asset_keys
    }
    assert parents == {
        "patterns": {"memories"},
        "merged_memories": {"memories", "patterns"},
        "principles": {"memories", "patterns"},
        "playbook_entries": {"memories", "patterns", "principles"},
    }, "each asset depends on what its phase reads, and every phase reads the memories"


@pytest.fixture
def materialized(instance, store, embedder):
    ingest_sample(store, "web-backend")
    instance.add_dynamic_partitions(PROJECTS_PARTITION, ["web-backend", "mobile-app"])
    before = raw_digest(store)
    result = dg.materialize(
        consolidation_assets,
        instance=instance,
        partition_key="web-backend",
        resources=run_resources(store, embedder),
    )
    return result, before


def test_materializing_a_project_writes_every_phase(materialized, store) -> None:
    result, before = materialized
    assert result.success
    for asset, keys in EXPECTED_METRICS.items():
        (event,) = result.asset_materializations_for_node(asset)
        assert event.partition == "web-backend"
        metadata = event.metadata
        assert keys <= set(metadata), asset
        for key in keys:
            assert isinstance(metadata[key], dg.IntMetadataValue | dg.FloatMetadataValue), key
        assert isinstance(metadata["dagster/row_count"], dg.IntMetadataValue)
        assert isinstance(metadata["seconds"], dg.FloatMetadataValue)
        assert metadata["scope"].data == {"memory_types": [], "since": None, "until": None}
        assert isinstance(metadata["preview"], dg.MarkdownMetadataValue)
        assert any(k.startswith("setting_") for k in metadata)
    patterns = outputs.load_patterns(store.engine, "web-backend")
    first = result.asset_materializations_for_node("patterns")[0].metadata
    assert first["patterns_extracted"].value == len(patterns) > 5
    assert first["memories_processed"].value >= 150
    assert outputs.load_playbook(store.engine, "web-backend")
    assert outputs.load_patterns(store.engine, "mobile-app") == []
    assert raw_digest(store) == before


def test_unknown_partition_is_refused(instance, store, embedder) -> None:
    with pytest.raises(dg.DagsterUnknownPartitionError):
        dg.materialize(
            consolidation_assets,
            instance=instance,
            partition_key="never-registered",
            resources=run_resources(store, embedder),
        )


def test_a_scoped_run_considers_only_its_memory_types(instance, store, embedder) -> None:
    ingest_sample(store, "web-backend")
    instance.add_dynamic_partitions(PROJECTS_PARTITION, ["web-backend"])
    scope = {"memory_types": ["error_fix"], "since": None, "until": None}
    result = dg.materialize(
        consolidation_assets,
        instance=instance,
        partition_key="web-backend",
        resources=run_resources(store, embedder),
        run_config={"ops": {name: {"config": scope} for name in EXPECTED_METRICS}},
    )
    metadata = result.asset_materializations_for_node("patterns")[0].metadata
    assert metadata["scope"].data["memory_types"] == ["error_fix"]
    everything = load_memories(store.engine, "web-backend")
    errors = everything.memory_types.count("error_fix")
    assert metadata["memories_processed"].value == errors < len(everything.ids)


def test_every_phase_setting_is_run_config_with_its_description(instance, store) -> None:
    job = defs.resolve_job_def("consolidation_job")
    ops = job.run_config_schema.config_type.fields["ops"].config_type.fields
    for phase in PHASES:
        fields = ops[phase.name].config_type.fields["config"].config_type.fields
        for setting in dataclasses.fields(phase.settings_type):
            assert setting.name in fields, (phase.name, setting.name)
            assert fields[setting.name].description == setting.metadata["description"]
            assert fields[setting.name].default_value == setting.default
        assert {"memory_types", "since", "until"} <= set(fields)


def test_the_wiring_runs_with_any_embedder(instance, store) -> None:
    """The deterministic hashing embedder stands in for the model: the run, its settings from
    run config and the embedding cache work the same with any Embedder."""
    ingest_sample(store, "data-pipeline")
    instance.add_dynamic_partitions(PROJECTS_PARTITION, ["data-pipeline"])
    embedder = HashingEmbedder()
    result = dg.materialize(
        consolidation_assets,
        instance=instance,
        partition_key="data-pipeline",
        resources=run_resources(store, embedder),
        run_config={"ops": {"patterns": {"config": {"min_support": 5}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("patterns")[0].metadata
    assert metadata["setting_min_support"].value == 5
    assert all(p.support >= 5 for p in outputs.load_patterns(store.engine, "data-pipeline"))
    hashes = sorted(set(load_memories(store.engine, "data-pipeline").content_hashes))
    assert metadata["memories_embedded"].value == len(hashes)
    out = np.zeros((len(hashes), embedder.dimension), dtype=np.float32)
    assert fill_cached(store.engine, embedder.model_id, hashes, out).all()


def test_the_ui_shows_the_database_url_variable_never_the_url() -> None:
    memory_store = RESOURCES["memory_store"]
    assert memory_store.database_url == dg.EnvVar("CONSOLIDATION_DATABASE_URL")
