"""Alembic migrations, run programmatically (``trialsite db upgrade``, and on first use)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # The engine is handed over as an attribute, not a URL: URLs may hold "%" escapes
    # that ConfigParser would try to interpolate.
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


# Tables and indexes migrations 0002 and 0007 create in each dialect's own form (FTS5,
# R*Tree, tsvector, GiST, SQLite's site_open): autogenerate must not propose to drop them.
HAND_MADE = ("trial_search", "site_rtree", "ix_site_point", "ix_trial_search", "site_open")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ in ("table", "index") and (name or "").startswith(HAND_MADE))


def upgrade_if_needed(engine: Engine) -> bool:
    """Upgrade to head if the store is behind; True when something was applied."""
    if current_revision(engine) == head_revision(engine):
        return False
    upgrade(engine)
    return True
