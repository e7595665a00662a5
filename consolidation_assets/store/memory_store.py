"""The memory store as one object: where it is, and its engine."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from consolidation_assets.store.engine import get_engine, safe_url


@dataclass(frozen=True)
class MemoryStore:
    """The SQL database holding memories and every phase's output, by its SQLAlchemy URL.

    The engine is shared per URL and process, and the schema is migrated on first use.
    """

    url: str

    @property
    def engine(self) -> Engine:
        return get_engine(self.url)

    @property
    def display_url(self) -> str:
        """The URL with its password masked, for logs, metadata and errors."""
        return safe_url(self.url)
