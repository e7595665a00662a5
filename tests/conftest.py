"""Shared fixtures: the real embedding model once per session, and an isolated store and
Dagster instance per test on each backend. Helpers that are not fixtures are in ``helpers.py``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from consolidation_assets.services.embedders import make_embedder
from consolidation_assets.store import MemoryStore
from consolidation_assets.store.engine import dispose_all
from tests.helpers import RememberingEmbedder

POSTGRES_ADMIN_URL = os.environ.get(
    "CONSOLIDATION_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own Dagster home and memory store; nothing leaks between tests."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("CONSOLIDATION_DATABASE_URL", f"sqlite:///{tmp_path / 'memories.db'}")
    # No LLM writer unless a test configures one, whatever the developer's shell has set.
    monkeypatch.setenv("CONSOLIDATION_LLM_MODEL", "")
    yield
    dispose_all()


@pytest.fixture(scope="session", autouse=True)
def shared_model_exports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ONNX export of the model for the whole session, whatever DAGSTER_HOME a test uses
    (the CLI, the webserver and the daemon inherit it): exporting takes seconds, not each
    test's business."""
    folder = tmp_path_factory.mktemp("model_exports")
    previous = os.environ.get("CONSOLIDATION_MODEL_CACHE")
    os.environ["CONSOLIDATION_MODEL_CACHE"] = str(folder)
    # Module-scoped fixtures run before each test's own environment is set: they too must see
    # no LLM writer unless a test configures one.
    previous_model = os.environ.get("CONSOLIDATION_LLM_MODEL")
    os.environ["CONSOLIDATION_LLM_MODEL"] = ""
    yield folder
    for name, value in (
        ("CONSOLIDATION_MODEL_CACHE", previous),
        ("CONSOLIDATION_LLM_MODEL", previous_model),
    ):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def no_inherited_definitions_state() -> Iterator[None]:
    """Each test starts without a current definitions-state storage, and leaves none behind.

    Dagster keeps the storage in a context variable, with a weak reference to its instance. A
    test that leaves it set (a sensor context built without ``with``, say) would make a later
    test that builds new Definitions fail once that instance is garbage collected.
    """
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


@pytest.fixture(scope="session")
def embedder() -> RememberingEmbedder:
    """The packaged all-MiniLM-L6-v2 on the default runtime (ONNX Runtime where installed),
    loaded once for the whole session; a text embedded once in the session is not embedded
    again (its vector is the model's, bit for bit)."""
    model = RememberingEmbedder(make_embedder())
    model.encode(["warm up"])
    return model


class PostgresServer:
    """Fresh databases on the test server, created on demand and dropped at the session's end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create_database(self, purpose: str) -> str:
        name = f"consolidation_test_{purpose}_{os.getpid()}_{secrets.token_hex(3)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL server of the tests; skipped locally when none answers, required in CI."""
    try:
        server = PostgresServer(POSTGRES_ADMIN_URL)
        with server.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = (
            f"no PostgreSQL at {make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)}"
            f" ({type(exc).__name__}); set CONSOLIDATION_TEST_POSTGRES_URL to run these tests"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    yield server
    server.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each store test runs on SQLite and on PostgreSQL."""
    return request.param


@pytest.fixture(scope="session")
def postgres_store_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database("store")


@pytest.fixture(scope="session")
def postgres_instance_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database("dagster")


def _empty_store(url: str) -> None:
    """Every table of the memory store emptied, the schema kept (fast isolation on PostgreSQL)."""
    from consolidation_assets.store.engine import get_engine
    from consolidation_assets.store.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """An empty memory store on the test's backend, also exported as the default URL."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'memories.db'}"
    else:
        url = request.getfixturevalue("postgres_store_url")
        _empty_store(url)
    monkeypatch.setenv("CONSOLIDATION_DATABASE_URL", url)
    return url


@pytest.fixture
def store(database_url: str) -> MemoryStore:
    return MemoryStore(database_url)


@pytest.fixture
def instance(backend: str, request: pytest.FixtureRequest) -> Iterator[dg.DagsterInstance]:
    """A temporary Dagster instance with its storage on the test's backend."""
    overrides = None
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_instance_url")
        overrides = {"storage": {"postgres": {"postgres_url": url}}}
    with dg.instance_for_test(overrides=overrides) as dagster_instance:
        if backend == "postgresql":
            dagster_instance.wipe()
        yield dagster_instance


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The PostgreSQL variant of a test is slow: ``make test-fast`` runs every test on SQLite,
    ``make test`` on both backends."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgresql":
            item.add_marker(pytest.mark.slow)
