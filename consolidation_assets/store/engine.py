"""One SQLAlchemy engine per database URL per process, with the schema created on first use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url``; the first call migrates the schema to the head."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_bare_engine(url)
            from consolidation_assets.store.schema import upgrade

            upgrade(engine)
            _engines[url] = engine
        return engine


def create_bare_engine(url: str) -> Engine:
    """An engine with the backend's connection settings and no schema work."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def safe_url(url: str) -> str:
    """The URL with its password masked, for logs, metadata and error messages."""
    return make_url(url).render_as_string(hide_password=True)


def dispose_all() -> None:
    """Close every pooled connection (tests and forked processes)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits together or not at all."""
    with Session(engine) as session, session.begin():
        yield session
