import dagster as dg

from consolidation_assets.assets import consolidation_assets, consolidation_job
from consolidation_assets.resources import EmbeddingService, MemoryStore

defs = dg.Definitions(
    assets=consolidation_assets,
    jobs=[consolidation_job],
    resources={"memory_store": MemoryStore(), "embeddings": EmbeddingService()},
    executor=dg.in_process_executor,
)
