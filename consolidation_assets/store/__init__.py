"""The memory store: schema, engine and every query. Imports nothing above it (only the plain
data types of ``phases``), and nothing of Dagster."""

from consolidation_assets.store.memory_store import MemoryStore

__all__ = ["MemoryStore"]
