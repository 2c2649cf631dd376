"""Migrations on SQLite and PostgreSQL: an empty database upgrades to the models' schema and back."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from drgsim.clinic.db import current_revision, downgrade, make_engine, upgrade
from drgsim.clinic.models import Base


def tables(url: str) -> set[str]:
    engine = make_engine(url, pooled=False)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_matches_models_and_downgrade_empties(db_url):
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == "0003"
    assert tables(db_url) == set(Base.metadata.tables) | {"alembic_version"}
    engine = make_engine(db_url, pooled=False)
    with engine.connect() as conn:  # the migration creates exactly what the models declare
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
    downgrade(db_url)
    assert current_revision(db_url) is None
    assert tables(db_url) <= {"alembic_version"}
    upgrade(db_url)  # and up again
    assert current_revision(db_url) == "0003"
