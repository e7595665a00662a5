"""Dagster resources: the memory store and the embedding service."""

from __future__ import annotations

import dagster as dg
import numpy as np
from pydantic import Field
from sqlalchemy import Engine

from consolidation_assets import embedding, settings
from consolidation_assets.store.embeddings import cached_vectors, store_vectors
from consolidation_assets.store.engine import get_engine, safe_url


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

    def vectors_for(
        self, store: MemoryStore, content_hashes: list[str], texts: list[str]
    ) -> tuple[np.ndarray, int]:
        """One vector per text, from the cache where it can be; returns (vectors, newly embedded).

        Each distinct text missing from the cache is embedded once and stored, so a text is
        embedded once per model whatever memories repeat it.
        """
        model_id = self.model_id
        found = cached_vectors(store.engine, model_id, content_hashes)
        missing: dict[str, str] = {}
        for content_hash, text in zip(content_hashes, texts, strict=True):
            if content_hash not in found:
                missing.setdefault(content_hash, text)
        if missing:
            fresh = self.encode(list(missing.values()))
            new = dict(zip(missing, fresh, strict=True))
            store_vectors(store.engine, model_id, new)
            found.update(new)
        if not content_hashes:
            return np.zeros((0, 0), dtype=np.float32), 0
        return np.stack([found[h] for h in content_hashes]).astype(np.float32), len(missing)
