"""The store's per-connection settings hold on every pooled connection, not just the first use."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from db.engine import open_store


def _settings(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return {
                name: str(conn.execute(text(f"PRAGMA {name}")).scalar_one())
                for name in ("journal_mode", "foreign_keys", "temp_store")
            } | {"mmap": str(conn.execute(text("PRAGMA mmap_size")).scalar_one() > 0)}
        return {
            "jit": conn.execute(text("SHOW jit")).scalar_one(),
            "schema": conn.execute(text("SELECT current_schema()")).scalar_one(),
        }


def test_connection_settings_survive_the_pool(engine: Engine) -> None:
    first = _settings(engine)
    # The pool rolls back a returned connection: a setting made in an open transaction
    # would be gone at the next checkout.
    again = _settings(engine)
    assert again == first
    if engine.dialect.name == "sqlite":
        assert first == {"journal_mode": "wal", "foreign_keys": "1", "temp_store": "2", "mmap": "True"}
    else:
        assert first["jit"] == "off"
        # The URL's own options (the test schema's search_path) are kept beside it.
        assert first["schema"].startswith("t_")


def test_bulk_writers_read_sqlite_without_a_memory_map(tmp_path: Path) -> None:
    """Loads open the store unmapped (mapped pages would count in the load's resident set);
    everything else reads through the map."""
    url = f"sqlite:///{tmp_path / 'trialsite.db'}"
    for memory_map, mapped in ((True, True), (False, False)):
        engine = open_store(url, memory_map=memory_map)
        try:
            with engine.connect() as conn:
                assert (conn.execute(text("PRAGMA mmap_size")).scalar_one() > 0) is mapped
        finally:
            engine.dispose()
