"""Coordinates for trial sites the registry gave none (pages, legacy XML, ~2 % of API sites).

At ingest the pipeline calls :func:`site_geocoder`'s function on each site without
coordinates; ``trialsite geocode --sites`` runs :func:`geocode_stored_sites` over
the store. Registry coordinates are never replaced. Each geocoded site records
where its point came from (``geo_source``: gazetteer or online) and what it
stands for (``geo_precision``: postal, city, admin).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select, update

from db.record import Site
from db.upsert import SITE
from ingest.places.gazetteer.lookup import Gazetteer


def site_geocoder(gazetteer: Gazetteer) -> Callable[[Site], None]:
    """A function that fills a parsed site's coordinates from its address, when it has none."""
    cache: dict[tuple[str | None, ...], Any] = {}

    def geocode(site: Site) -> None:
        if site.latitude is not None and site.longitude is not None:
            return
        key = (site.city, site.state, site.zip, site.country)
        if key not in cache:
            cache[key] = gazetteer.geocode_site(site.city, site.state, site.zip, site.country)
        found = cache[key]
        if found is not None:
            site.latitude, site.longitude = found.lat, found.lon
            site.geo_source, site.geo_precision = found.source, found.precision

    return geocode


def geocode_stored_sites(engine: Engine, gazetteer: Gazetteer, *, online: bool = False) -> dict[str, Any]:
    """Geocode every stored site without coordinates; returns counts for the report."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(SITE.c.id, SITE.c.city, SITE.c.state, SITE.c.zip, SITE.c.country).where(
                SITE.c.latitude.is_(None)
            )
        ).all()
    by_precision: Counter[str] = Counter()
    updates = []
    for row in rows:
        found = gazetteer.geocode_site(row.city, row.state, row.zip, row.country)
        if found is None and online:
            from ingest.places.cache import geocode_online_cached

            label = ", ".join(p for p in (row.city, row.state, row.zip, row.country) if p)
            found = geocode_online_cached(engine, label) if label else None
        if found is None:
            continue
        by_precision[found.precision] += 1
        updates.append(
            {
                "id": row.id,
                "latitude": found.lat,
                "longitude": found.lon,
                "geo_source": found.source,
                "geo_precision": found.precision,
            }
        )
    with engine.begin() as conn:
        for values in updates:
            site_id = values.pop("id")
            conn.execute(update(SITE).where(SITE.c.id == site_id).values(**values))
    return {
        "missing": len(rows),
        "geocoded": len(updates),
        "by_precision": dict(by_precision),
        "still_missing": len(rows) - len(updates),
    }
