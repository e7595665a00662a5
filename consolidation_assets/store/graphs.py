"""Neighbour graphs kept between runs, so a growing project is searched only where it grew."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Engine, select

from consolidation_assets.phases.graph import KEY_BYTES, StoredGraph
from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import NeighborGraph


def load_graph(
    engine: Engine, project_id: str, model_id: str, scope_key: str, k: int
) -> StoredGraph | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(NeighborGraph).where(
                NeighborGraph.project_id == project_id,
                NeighborGraph.model_id == model_id,
                NeighborGraph.scope_key == scope_key,
                NeighborGraph.k == k,
            )
        ).first()
    if row is None:
        return None
    return StoredGraph(
        keys=np.frombuffer(row.keys, dtype=f"S{KEY_BYTES}"),
        indices=np.frombuffer(row.indices, dtype=np.int32).reshape(row.texts, k).astype(np.int64),
        similarities=np.frombuffer(row.similarities, dtype=np.float32).reshape(row.texts, k),
        k=k,
    )


def save_graph(
    engine: Engine, project_id: str, model_id: str, scope_key: str, graph: StoredGraph
) -> None:
    with transaction(engine) as session:
        row = session.get(NeighborGraph, (project_id, model_id, scope_key, graph.k))
        if row is None:
            row = NeighborGraph(
                project_id=project_id, model_id=model_id, scope_key=scope_key, k=graph.k
            )
            session.add(row)
        row.texts = int(graph.keys.size)
        row.keys = np.ascontiguousarray(graph.keys, dtype=f"S{KEY_BYTES}").tobytes()
        row.indices = np.ascontiguousarray(graph.indices, dtype=np.int32).tobytes()
        row.similarities = np.ascontiguousarray(graph.similarities, dtype=np.float32).tobytes()
        row.updated_at = datetime.now(UTC)
