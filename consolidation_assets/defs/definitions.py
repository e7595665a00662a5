"""The code location: the asset graph, its checks, automation and resources.

The memory store's URL is read from ``CONSOLIDATION_DATABASE_URL`` when a run starts (the UI
shows the variable's name, not the URL); when it is unset the SQLite default under
``DAGSTER_HOME`` is put there first. The optional LLM writer reads its model, base URL and key
from ``CONSOLIDATION_LLM_*`` the same way; with no model set, the extractive writer runs. Steps
run in one process per run, so a run loads its memories and vectors once and shares them
through the run-scoped ``run_cache``.
"""

import dagster as dg
from dagster_openai import OpenAIResource

from consolidation_assets.defs.assets import consolidation_assets, consolidation_job, memories
from consolidation_assets.defs.checks import consolidation_checks
from consolidation_assets.defs.resources import (
    EmbedderResource,
    MemoryStoreResource,
    RunCache,
    WritingResource,
)
from consolidation_assets.defs.schedules import nightly_consolidation
from consolidation_assets.defs.sensors import job_record_sensors, new_memories_sensor
from consolidation_assets.services.settings import (
    DATABASE_URL_ENV,
    LLM_API_KEY_ENV,
    LLM_BASE_URL_ENV,
    LLM_MODEL_ENV,
    export_database_url,
    export_llm_defaults,
)

export_database_url()
export_llm_defaults()

RESOURCES = {
    "memory_store": MemoryStoreResource(database_url=dg.EnvVar(DATABASE_URL_ENV)),
    "embeddings": EmbedderResource(),
    "run_cache": RunCache(),
    "llm": OpenAIResource(api_key=dg.EnvVar(LLM_API_KEY_ENV), base_url=dg.EnvVar(LLM_BASE_URL_ENV)),
    "writing": WritingResource(model=dg.EnvVar(LLM_MODEL_ENV)),
}

defs = dg.Definitions(
    assets=[memories, *consolidation_assets],
    asset_checks=consolidation_checks,
    jobs=[consolidation_job],
    sensors=[new_memories_sensor, *job_record_sensors],
    schedules=[nightly_consolidation],
    resources=RESOURCES,
    executor=dg.in_process_executor,
)
