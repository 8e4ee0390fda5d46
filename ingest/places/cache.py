"""The ``--online`` geocoder's answers, cached in the store: each place is asked for once.

Only place names go online (a patient's location when the user asks for
``--online``, a site's address); nothing else about a patient does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, Table, insert, select

from db.models import GeocodeCache
from ingest.places.names import fold_text
from ingest.places.nominatim import Geocoder, geocode_online
from ingest.places.resolution import Resolution

CACHE: Table = GeocodeCache.__table__  # type: ignore[attr-defined]


def geocode_online_cached(
    engine: Engine, query: str, *, geocoder: Geocoder | None = None
) -> Resolution | None:
    """The cached answer for ``query`` (also a cached "not found"), else ask Nominatim and keep it."""
    key = fold_text(query)[:500]
    with engine.connect() as conn:
        row = conn.execute(select(CACHE.c.resolution).where(CACHE.c.query == key)).first()
    if row is not None:
        return Resolution.from_dict(row.resolution) if row.resolution else None
    found = geocode_online(query, geocoder=geocoder)
    with engine.begin() as conn:
        conn.execute(
            insert(CACHE),
            {"query": key, "resolution": found.to_dict() if found else None, "fetched_at": datetime.now(UTC)},
        )
    return found
