"""Adding memories from Python, through the same gate as ``consolidation ingest``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from consolidation_assets import settings
from consolidation_assets.memory_input import parse_jsonl, validate_memories
from consolidation_assets.store.engine import get_engine
from consolidation_assets.store.memories import IngestReport, insert_memories


def ingest_memories(
    records: Iterable[Mapping[str, Any]],
    *,
    project: str | None = None,
    database_url: str | None = None,
    source: str = "memories",
) -> IngestReport:
    """Validate and store records (dicts in the JSONL contract's shape), all or nothing.

    Raises InvalidMemoriesError naming every bad record (numbered from 1), field and reason;
    then nothing is written. ``project`` fills in and enforces each record's ``project_id``.
    """
    memories = validate_memories(records, source, project)
    engine = get_engine(database_url or settings.database_url())
    return insert_memories(engine, memories, source)


def ingest_jsonl(
    data: bytes,
    *,
    project: str | None = None,
    database_url: str | None = None,
    source: str = "memories.jsonl",
) -> IngestReport:
    """Validate and store a JSONL document, all or nothing, exactly as the CLI does."""
    memories = parse_jsonl(data, source, project)
    engine = get_engine(database_url or settings.database_url())
    return insert_memories(engine, memories, source)
