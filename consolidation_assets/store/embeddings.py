"""The embedding cache: (model id, content hash) -> float32 vector, stored as bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import Engine, select

from consolidation_assets.store._sql import chunks, from_bytes, insert_ignoring_duplicates, to_bytes
from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import MemoryEmbedding


def cached_vectors(engine: Engine, model_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """The cached vectors among ``hashes`` for ``model_id``."""
    found: dict[str, np.ndarray] = {}
    unique = sorted(set(hashes))
    with engine.connect() as conn:
        for part in chunks(unique):
            rows = conn.execute(
                select(MemoryEmbedding.content_hash, MemoryEmbedding.vector).where(
                    MemoryEmbedding.model_id == model_id,
                    MemoryEmbedding.content_hash.in_(part),
                )
            )
            found.update({row.content_hash: from_bytes(row.vector) for row in rows})
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
