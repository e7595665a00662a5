import dagster as dg

from consolidation_assets.assets import consolidation_assets, consolidation_job
from consolidation_assets.checks import consolidation_checks
from consolidation_assets.resources import EmbeddingService, MemoryStore
from consolidation_assets.schedules import nightly_consolidation
from consolidation_assets.sensors import job_record_sensors, new_memories_sensor

defs = dg.Definitions(
    assets=consolidation_assets,
    asset_checks=consolidation_checks,
    jobs=[consolidation_job],
    sensors=[new_memories_sensor, *job_record_sensors],
    schedules=[nightly_consolidation],
    resources={"memory_store": MemoryStore(), "embeddings": EmbeddingService()},
    executor=dg.in_process_executor,
)
