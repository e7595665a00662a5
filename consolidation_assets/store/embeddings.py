"""The embedding cache: (model id, content hash) -> float32 vector, stored as bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import Engine, select

from consolidation_assets.store._sql import chunks, from_bytes, insert_ignoring_duplicates, to_bytes
from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import Memory, MemoryEmbedding


def cached_dimension(engine: Engine, model_id: str) -> int | None:
    """The dimension of the model's cached vectors, if any are cached."""
    with engine.connect() as conn:
        return conn.scalar(
            select(MemoryEmbedding.dim).where(MemoryEmbedding.model_id == model_id).limit(1)
        )


def fill_cached(
    engine: Engine,
    model_id: str,
    hashes: Sequence[str],
    out: np.ndarray,
    project_id: str | None = None,
) -> np.ndarray:
    """Write the cached vector of ``hashes[i]`` into ``out[i]``; returns which rows were found.

    Rows go straight into the caller's matrix, so a project's vectors are held once, not also
    as one small array per memory. With ``project_id`` the vectors of the project's memories
    are read in one query instead of lists of hashes.
    """
    positions: dict[str, list[int]] = {}
    for i, content_hash in enumerate(hashes):
        positions.setdefault(content_hash, []).append(i)
    found = np.zeros(len(hashes), dtype=bool)
    vector = (MemoryEmbedding.content_hash, MemoryEmbedding.vector)
    if project_id is not None:
        of_project = select(Memory.content_hash).where(Memory.project_id == project_id)
        queries = [
            select(*vector).where(
                MemoryEmbedding.model_id == model_id,
                MemoryEmbedding.content_hash.in_(of_project),
            )
        ]
    else:
        queries = [
            select(*vector).where(
                MemoryEmbedding.model_id == model_id, MemoryEmbedding.content_hash.in_(part)
            )
            for part in chunks(sorted(positions))
        ]
    with engine.connect() as conn:
        for query in queries:
            for content_hash, data in conn.execute(query):
                rows_of_hash = positions.get(content_hash)
                if rows_of_hash is not None:
                    out[rows_of_hash] = from_bytes(data)
                    found[rows_of_hash] = True
    return found


def store_vectors(engine: Engine, model_id: str, vectors: Mapping[str, np.ndarray]) -> None:
    """Add vectors to the cache; a vector another process stored meanwhile is kept."""
    if not vectors:
        return
    rows = [
        {"model_id": model_id, "content_hash": h, "dim": int(v.shape[0]), "vector": to_bytes(v)}
        for h, v in vectors.items()
    ]
    with transaction(engine) as session:
        statement = insert_ignoring_duplicates(session, MemoryEmbedding.__table__)
        for part in chunks(rows, 2_000):
            session.execute(statement, list(part))
