"""Adding memories from Python, through the same gate as ``consolidation ingest``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from consolidation_assets.services import settings
from consolidation_assets.services.memory_input import (
    InvalidMemoriesError,
    Problem,
    parse_jsonl,
    validate_memories,
)
from consolidation_assets.store.engine import get_engine
from consolidation_assets.store.memories import (
    ConflictingIdsError,
    IngestReport,
    NewMemory,
    insert_memories,
)


def store_memories(
    engine: Engine, memories: Sequence[NewMemory], source: str = "memories"
) -> IngestReport:
    """Store validated memories, all or nothing; an id already stored with other content is
    refused like any other bad input, with its line."""
    try:
        return insert_memories(engine, memories)
    except ConflictingIdsError as exc:
        problems = [
            Problem(
                line,
                "id",
                f"{memory_id!r} is already stored with other content or in another project",
            )
            for line, memory_id in exc.conflicts
        ]
        raise InvalidMemoriesError(source, problems) from None


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
    return store_memories(get_engine(database_url or settings.database_url()), memories, source)


def ingest_jsonl(
    data: bytes,
    *,
    project: str | None = None,
    database_url: str | None = None,
    source: str = "memories.jsonl",
) -> IngestReport:
    """Validate and store a JSONL document, all or nothing, exactly as the CLI does."""
    memories = parse_jsonl(data, source, project)
    return store_memories(get_engine(database_url or settings.database_url()), memories, source)
