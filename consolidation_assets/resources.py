"""Dagster resources: the memory store and the embedding service."""

from __future__ import annotations

import sys

import dagster as dg
import numpy as np
from pydantic import Field
from sqlalchemy import Engine
from tqdm import tqdm

from consolidation_assets import embedding, failpoints, settings
from consolidation_assets.store.embeddings import cached_dimension, fill_cached, store_vectors
from consolidation_assets.store.engine import get_engine, safe_url

EMBED_CHUNK = 4096


class MemoryStore(dg.ConfigurableResource):
    """The SQL database holding memories and every phase's output.

    Leave ``database_url`` empty to use ``CONSOLIDATION_DATABASE_URL``, or, when that is unset,
    a SQLite file in the Dagster instance directory.
    """

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means CONSOLIDATION_DATABASE_URL or the SQLite default",
    )

    @property
    def url(self) -> str:
        return self.database_url or settings.database_url()

    @property
    def engine(self) -> Engine:
        return get_engine(self.url)

    @property
    def display_url(self) -> str:
        return safe_url(self.url)


class EmbeddingService(dg.ConfigurableResource):
    """Sentence-transformers embeddings with a per-model cache in the memory store."""

    model: str = Field(
        default="",
        description="sentence-transformers model name or path; empty means the packaged "
        "all-MiniLM-L6-v2, loaded with no network",
    )
    device: str = Field(default="cpu", description="torch device")
    batch_size: int = Field(default=64, description="texts per forward pass")

    @property
    def model_id(self) -> str:
        return embedding.resolve_model(self.model)[0]

    def encode(self, texts: list[str], progress: bool | None = None) -> np.ndarray:
        """Embed texts directly, without the cache (queries, ad-hoc text)."""
        return embedding.encode(texts, self.model, self.device, self.batch_size, progress)

    def dimension(self) -> int:
        return embedding.embedding_dimension(self.model, self.device)

    def vectors_for(
        self,
        store: MemoryStore,
        content_hashes: list[str],
        texts: list[str],
        project_id: str | None = None,
    ) -> tuple[np.ndarray, int]:
        """One vector per text, from the cache where it can be; returns (vectors, newly embedded).

        Each distinct text missing from the cache is embedded once and stored, a chunk at a
        time: memory stays bounded, and an interrupted run keeps what it already embedded.
        ``project_id``, when the texts are that project's memories, lets the cache be read in
        one query.
        """
        model_id = self.model_id
        if not content_hashes:
            return np.zeros((0, 0), dtype=np.float32), 0
        dimension = cached_dimension(store.engine, model_id) or self.dimension()
        vectors = np.empty((len(content_hashes), dimension), dtype=np.float32)
        found = fill_cached(store.engine, model_id, content_hashes, vectors, project_id)
        missing: dict[str, list[int]] = {}
        for i in np.flatnonzero(~found).tolist():
            missing.setdefault(content_hashes[i], []).append(i)
        pending = list(missing)
        show = sys.stderr.isatty() and len(pending) > self.batch_size
        progress = tqdm(total=len(pending), desc="embedding", unit="text", disable=not show)
        for start in range(0, len(pending), EMBED_CHUNK):
            part = pending[start : start + EMBED_CHUNK]
            fresh = self.encode([texts[missing[h][0]] for h in part], progress=False)
            store_vectors(store.engine, model_id, dict(zip(part, fresh, strict=True)))
            failpoints.reached("embedding:stored")
            for content_hash, vector in zip(part, fresh, strict=True):
                vectors[missing[content_hash]] = vector
            progress.update(len(part))
        progress.close()
        return vectors, len(pending)
