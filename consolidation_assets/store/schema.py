"""Schema migrations of the memory store, with Alembic, shipped in the package.

``upgrade`` brings an empty or older database to the current schema. It runs from
``consolidation db upgrade``, from ``make demo``/``make ui``, and from every process's first use
of a database, under a lock so two processes starting together do not both migrate.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

BASELINE_REVISION = "0001"
_LOCK_KEY = zlib.crc32(b"consolidation-assets schema migration")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("consolidation_assets.store") / "migrations")
    )
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine, conn: Connection) -> Iterator[None]:
    """One migrating process at a time: an advisory lock on PostgreSQL, a lock file on SQLite."""
    if engine.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with Path(f"{database}.migrate-lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> str:
    """Migrate to the head revision if needed; returns the revision the database is at.

    A database created before migrations existed (tables but no revision) is stamped with the
    baseline first, since the baseline is the schema those versions created.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return head
    with engine.connect() as conn, _migration_lock(engine, conn):
        conn.commit()
        revision = MigrationContext.configure(conn).get_current_revision()
        if revision != head:
            config = alembic_config(conn)
            if revision is None and inspect(conn).has_table("memories"):
                command.stamp(config, BASELINE_REVISION)
            command.upgrade(config, "head")
        conn.commit()
    return head
