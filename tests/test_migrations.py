"""The Alembic migrations: they build the schema the models describe, and go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables)
from db.engine import create_store_engine, open_store
from db.migrate import current_revision, downgrade, head_revision, include_object, upgrade
from ingest.files.reader import iter_paths
from ingest.pipeline import ingest_items
from tests.conftest import V2, stored_needs


def test_migrations_build_the_models_schema_and_round_trip(store_url: str) -> None:
    engine = create_store_engine(store_url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine) == "0010"
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": include_object})
            differences = compare_metadata(context, SQLModel.metadata)
        assert differences == []
        tables = set(inspect(engine).get_table_names())
        assert {
            "trial",
            "site",
            "criterion",
            "trial_search_doc",
            "geocode_cache",
            "quarantine",
            "change_event",
            "sync_run",
            "watch",
            "watch_hit",
            "alert",
        } <= tables
        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert not {"trial", "site", "trial_search", "trial_search_doc"} & set(
            inspect(engine).get_table_names()
        )
        upgrade(engine)
        assert current_revision(engine) == "0010"
    finally:
        engine.dispose()


def test_the_needs_summary_is_filled_from_stored_criteria(store_url: str) -> None:
    """A store with criteria from before migration 0006 gets every trial's needs row."""
    engine = open_store(store_url)
    try:
        ingest_items(engine, iter_paths([V2 / "dgg32_ctg-studies_10.json"]), command="test")
        downgrade(engine, "0005")
        upgrade(engine)
        summaries, counted = stored_needs(engine)
    finally:
        engine.dispose()
    assert summaries == counted and len(summaries) == 10
