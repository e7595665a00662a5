"""Schema migrations: an empty or older database reaches the current schema, with no drift."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from consolidation_assets.store.engine import create_bare_engine, get_engine
from consolidation_assets.store.models import Base
from consolidation_assets.store.schema import (
    BASELINE_REVISION,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)


def drop_everything(engine) -> None:
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_upgrade_of_an_empty_database_matches_the_models(database_url) -> None:
    engine = create_bare_engine(database_url)
    drop_everything(engine)
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision() == current_revision(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_a_database_from_before_migrations_is_brought_up_to_date(database_url) -> None:
    engine = create_bare_engine(database_url)
    drop_everything(engine)
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), BASELINE_REVISION)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.commit()
    assert current_revision(engine) is None and inspect(engine).has_table("memories")
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    indexes = {i["name"] for i in inspect(engine).get_indexes("memories")}
    assert "ix_memories_project_ingested" in indexes
    engine.dispose()


def test_first_use_of_a_database_migrates_it(database_url) -> None:
    engine = get_engine(database_url)
    assert current_revision(engine) == head_revision()
