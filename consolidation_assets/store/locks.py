"""One writer of a project's consolidated outputs at a time, whoever launched the run.

The run queue keeps Dagster's runs of one project apart, but two engines started by hand, or a
run and a script, would otherwise interleave their writes. Each phase therefore takes the
project's lock for as long as it reads its inputs and writes its outputs:

- PostgreSQL: a session advisory lock keyed on the project. The server frees it when the
  holding connection ends, so a killed process cannot leave it behind.
- SQLite: an exclusive ``flock`` on a file beside the database, one per project. The kernel frees
  it when the holding process dies, so a stale lock cannot outlive a crash either (a lock row in
  the database would need a liveness rule to tell a crash from a slow run).

A second writer waits up to the timeout, then fails with an error naming the project.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

# The setting that bounds the wait, named in the error so a user knows what to change.
LOCK_TIMEOUT_ENV = "CONSOLIDATION_LOCK_TIMEOUT_SECONDS"
_POLL_SECONDS = 0.2
_memory_locks: dict[tuple[int, str], threading.Lock] = {}
_memory_locks_guard = threading.Lock()


class ProjectBusyError(RuntimeError):
    """Another writer held the project's lock for longer than the timeout."""


def advisory_key(project_id: str) -> int:
    """A signed 64-bit key for the project, apart from the migration lock's key space."""
    digest = hashlib.sha256(f"consolidation-project:{project_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def project_lock(engine: Engine, project_id: str, timeout: float) -> Iterator[None]:
    """Hold the project's write lock; ProjectBusyError after ``timeout`` seconds of waiting."""
    deadline = time.monotonic() + timeout
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, project_id, deadline, timeout):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with _memory_lock(engine, project_id, timeout):
            yield
        return
    with _file_lock(
        Path(f"{database}.locks") / f"{project_id}.lock", project_id, deadline, timeout
    ):
        yield


def _busy(project_id: str, timeout: float) -> ProjectBusyError:
    return ProjectBusyError(
        f"project {project_id!r} is being consolidated by another run: its outputs stayed locked "
        f"for {timeout:g} s ({LOCK_TIMEOUT_ENV}); nothing was written"
    )


@contextmanager
def _advisory_lock(
    engine: Engine, project_id: str, deadline: float, timeout: float
) -> Iterator[None]:
    key = advisory_key(project_id)
    with engine.connect() as conn:
        while not conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
            conn.rollback()
            if time.monotonic() >= deadline:
                raise _busy(project_id, timeout)
            time.sleep(_POLL_SECONDS)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


@contextmanager
def _file_lock(path: Path, project_id: str, deadline: float, timeout: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(project_id, timeout) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _memory_lock(engine: Engine, project_id: str, timeout: float) -> Iterator[None]:
    """An in-memory database lives in one process: a thread lock is enough."""
    with _memory_locks_guard:
        lock = _memory_locks.setdefault((id(engine), project_id), threading.Lock())
    if not lock.acquire(timeout=timeout):
        raise _busy(project_id, timeout)
    try:
        yield
    finally:
        lock.release()
