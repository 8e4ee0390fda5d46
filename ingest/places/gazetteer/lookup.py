"""Offline place resolution: query text or a trial site's address → coordinates.

Reads the SQLite gazetteer built by :mod:`ingest.places.gazetteer.build` from GeoNames
data (CC BY 4.0 — see ``ATTRIBUTION``; cite it wherever results are shown).

Results and errors are defined in :mod:`ingest.places.resolution` (re-exported here).
Ambiguity is resolved by the country and region hints, then by population, and
reported: every :class:`Resolution` lists the other places the query could have
meant.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ingest.places.countries import country_code, country_population
from ingest.places.distance import haversine_km
from ingest.places.gazetteer.build import (
    ATTRIBUTION,
    BUILD_VERSION,
    POSTAL_SCALE,
    build_gazetteer,
    default_gazetteer_path,
)
from ingest.places.names import fold, looks_like_postal, postal_prefix_country, postal_variants
from ingest.places.query import (
    InvalidCoordinatesError,
    Reading,
    name_variants,
    parse_coordinates,
    query_readings,
)
from ingest.places.ranking import KIND_OF, SETTLEMENTS, Place, Ranked, rank_places, trust_city
from ingest.places.regions import RegionIndex
from ingest.places.resolution import (
    Alternative,
    GazetteerError,
    InvalidCoordinates,
    Kind,
    PlaceNotFound,
    Resolution,
)
from ingest.places.suggestions import Suggester

__all__ = [
    "ATTRIBUTION",
    "Alternative",
    "Gazetteer",
    "GazetteerError",
    "InvalidCoordinates",
    "Kind",
    "PlaceNotFound",
    "Resolution",
]

POSTAL_CITY_AGREEMENT_KM = 30.0
MAX_ALTERNATIVES = 5
FUZZY_NAME_CUTOFF = 90.0  # for misspelt site cities ("Forth Worth"), within their country


_PLACE_COLUMNS = (
    "p.id, p.kind, p.name, p.ascii_name, p.country_code, p.admin1_code, p.lat, p.lon, p.population, p.section"
)
_PLACE_SQL = f"SELECT {_PLACE_COLUMNS} FROM names n JOIN places p ON p.id = n.place_id WHERE n.name = ?"
_ADMIN_SQL = (
    f"SELECT {_PLACE_COLUMNS} FROM places p "
    "WHERE p.kind = 'admin' AND p.country_code = ? AND p.admin1_code = ?"
)
_POSTAL_SQL = (
    "SELECT p.code, p.country_code, p.place_name, r.name, p.lat, p.lon FROM postal p "
    "LEFT JOIN postal_regions r ON r.id = p.region_id WHERE p.code = ?"
)


class Gazetteer:
    """A read-only handle on the gazetteer file; safe to share between threads."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn, self.path = conn, path
        self._lock = threading.Lock()
        display = {
            (cc, code): name
            for cc, code, name in self._rows("SELECT country_code, admin1_code, name FROM admin1")
        }
        self.regions = RegionIndex(
            self._rows("SELECT name, country_code, admin1_code FROM admin1_names"), display
        )
        self._suggester = Suggester(self._rows)

    @classmethod
    def open(
        cls,
        path: Path | str | None = None,
        *,
        build_if_missing: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> Gazetteer:
        """Open the gazetteer at ``path`` (default: cache path), building it first if missing."""
        target = Path(path) if path is not None else default_gazetteer_path()
        for attempt in (1, 2):
            if not target.exists():
                if not build_if_missing:
                    raise GazetteerError(f"no gazetteer at {target}; run `trialsite gazetteer build`")
                try:
                    build_gazetteer(target, progress=progress)
                except OSError as exc:
                    raise GazetteerError(
                        f"cannot write the offline gazetteer at {target} ({exc.strerror or exc}): "
                        "set XDG_CACHE_HOME to a writable folder, or TRIALSITE_GAZETTEER to a file path"
                    ) from None
            conn = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'version.build'").fetchone()
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise GazetteerError(f"{target} is not a trialsite gazetteer: {exc}") from exc
            if row and row[0] == str(BUILD_VERSION):
                return cls(conn, target)
            conn.close()
            if not build_if_missing or attempt == 2:
                raise GazetteerError(
                    f"gazetteer {target} has format {row[0] if row else '?'}, expected "
                    f"{BUILD_VERSION}; rebuild it with `trialsite gazetteer build`"
                )
            target.unlink()
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Gazetteer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def metadata(self) -> dict[str, str]:
        """Data versions, build time, counts and the GeoNames attribution."""
        return {str(key): str(value) for key, value in self._rows("SELECT key, value FROM meta")}

    # -- public resolution ----------------------------------------------------------------

    def resolve(
        self, query: str, *, country_hint: str | None = None, state_hint: str | None = None
    ) -> Resolution:
        """Resolve free text: "lat,lon", a postal code, "City[, State][, Country]", a region…

        Raises :class:`PlaceNotFound` (with suggestions) or :class:`InvalidCoordinates`.
        """
        text = " ".join(query.split())
        try:
            point = parse_coordinates(text)
        except InvalidCoordinatesError as exc:
            raise InvalidCoordinates(str(exc)) from exc
        if point is not None:
            lat, lon = point
            return Resolution(
                query=query,
                lat=lat,
                lon=lon,
                name=f"{lat:.5f}, {lon:.5f}",
                country_code=None,
                admin1=None,
                kind="coordinates",
                precision="exact",
            )
        hint_cc = country_code(country_hint) if country_hint else None
        tried: list[Reading] = []
        for reading in query_readings(
            text, region_countries=self.regions.countries, country=hint_cc, state=state_hint
        ):
            if reading in tried or not reading.place:
                continue
            tried.append(reading)
            found = self._resolve_reading(query, reading)
            if found is not None:
                return found
        # Suggest within the country the query names, if it names one ("Pallencia, Spain").
        first = next((r for r in tried if r.country and r.note is None), None)
        place = first.place if first else text.split(",")[0]
        raise PlaceNotFound(query, self.suggest(place, country=first.country if first else hint_cc))

    def geocode_site(
        self, city: str | None, state: str | None, zip: str | None, country: str | None
    ) -> Resolution | None:
        """Coordinates for a registry site's address, or None; never raises for not-found.

        1. The postal code within the country — unless the site's city is known and no
           place of that name lies within 30 km of the postal point (they disagree; the
           registry geocodes by city, so the city wins).
        2. The city (the region hint chooses among namesakes).
        3. The region's centre, when the hint names a region none of the city's
           namesakes lies in (unless the city's name is unique in the country), or when
           the "city" is itself a region name ("Hokkaido").
        """
        cc = country_code(country) if country else None
        label = ", ".join(p for p in (city, state, zip, country) if p)
        postal = self._postal_places(zip, cc) if zip and cc else []
        ranked = self._settlement_candidates(city, cc, state) if city else Ranked([])
        if postal:
            lat, lon = postal[0][4] / POSTAL_SCALE, postal[0][5] / POSTAL_SCALE
            if not ranked.places or any(
                haversine_km(lat, lon, p.lat, p.lon) <= POSTAL_CITY_AGREEMENT_KM for p in ranked.places
            ):
                return self._postal_resolution(label, postal[:1])
        if ranked.places and trust_city(ranked):
            return self._place_resolution(label, ranked)
        regions = ranked.region or (self.regions.match(city, cc) if city and cc else set())
        admins = [p for pair in sorted(regions) for p in self._admin_places(*pair)]
        if admins:
            where = self.regions.name(admins[0].country_code, admins[0].admin1_code)
            notes = (
                [f"no place named {city!r} in {where}; the region's centre is used"] if ranked.places else []
            )
            return self._place_resolution(label, Ranked(admins[:1] + ranked.places, notes))
        return self._place_resolution(label, ranked) if ranked.places else None

    def suggest(self, text: str, *, country: str | None = None, limit: int = 5) -> list[str]:
        """Up to ``limit`` known place names close to ``text`` ("Valladolid (ES)")."""
        return self._suggester.suggest(text, country=country, limit=limit)

    # -- readings -------------------------------------------------------------------------

    def _resolve_reading(self, query: str, reading: Reading) -> Resolution | None:
        postal = self._postal_places(reading.place, reading.country)
        if postal:
            return self._postal_resolution(query, postal)
        ranked = self._candidates(reading.place, reading.country, reading.state, reading.strict)
        if not ranked.places:
            return None
        if reading.note:
            ranked.notes.insert(0, reading.note)
        return self._place_resolution(query, ranked)

    def _admin_places(self, country: str, code: str) -> list[Place]:
        return [Place(*row) for row in self._rows(_ADMIN_SQL, (country, code))]

    def _places_named(self, key: str, country: str | None) -> list[Place]:
        sql, params = _PLACE_SQL, [fold(key)]
        if country:
            sql, params = sql + " AND p.country_code = ?", [*params, country]
        return [Place(*row) for row in self._rows(sql, params)]

    def _candidates(self, place: str, country: str | None, state: str | None, strict: bool) -> Ranked:
        """Every kind of place named ``place``; variant spellings only find settlements."""
        key = fold(place)
        places = self._places_named(key, country)
        exact = bool(places)
        if not places and len(key) >= 4 and not country:
            # A region name alone, spelled another way ("Castilla y León", "Bavaria").
            places = [p for pair in sorted(self.regions.match(place)) for p in self._admin_places(*pair)]
        if not places:
            key, places = self._first_settlements(name_variants(place), country, key)
        ranked = self._rank(places, key, state, strict, exact=exact, country=country)
        if places and not exact and key != fold(place):
            ranked.notes.append(f"{place!r} read as {key!r}")
        return ranked

    def _settlement_candidates(self, city: str, country: str | None, state: str | None) -> Ranked:
        """Cities and localities for a site's city, trying registry spellings and then typos."""
        key = fold(city)
        places = [p for p in self._places_named(key, country) if p.kind in SETTLEMENTS]
        exact = bool(places)
        if not places:
            key, places = self._first_settlements(name_variants(city), country, key)
        if not places and country:
            close = self._suggester.closest(city, country=country, cutoff=FUZZY_NAME_CUTOFF)
            key, places = self._first_settlements(close, country, key)
        ranked = self._rank(places, key, state, strict=False, exact=exact, country=country)
        if places and not exact:
            ranked.notes.append(f"{city!r} read as {key!r}")
        return ranked

    def _first_settlements(
        self, variants: list[str], country: str | None, key: str
    ) -> tuple[str, list[Place]]:
        """The first spelling that names a city or locality, and those places."""
        for variant in variants:
            places = [p for p in self._places_named(variant, country) if p.kind in SETTLEMENTS]
            if places:
                return variant, places
        return key, []

    def _rank(
        self,
        places: list[Place],
        key: str,
        state: str | None,
        strict: bool,
        *,
        exact: bool,
        country: str | None,
    ) -> Ranked:
        return rank_places(
            places,
            key,
            state=state,
            strict=strict,
            exact=exact,
            country=country,
            regions=self.regions,
            places_named=self._places_named,
        )

    # -- postal codes ---------------------------------------------------------------------

    def _postal_places(self, text: str, country: str | None) -> list[tuple[Any, ...]]:
        """Postal rows for the most specific matching spelling, best country first."""
        if not looks_like_postal(text):
            return []
        country = country or postal_prefix_country(text)
        for key in postal_variants(text):
            sql, params = _POSTAL_SQL, [key]
            if country:
                sql, params = sql + " AND p.country_code = ?", [key, country]
            rows = self._rows(sql, params)
            if rows:
                # Bare 5-digit codes are most often US ZIP codes; otherwise the larger country.
                return sorted(
                    rows,
                    key=lambda r: (not (r[1] == "US" and len(key) == 5), -country_population(r[1])),
                )
        return []

    def _postal_resolution(self, query: str, rows: list[tuple[Any, ...]]) -> Resolution:
        code, cc, place, region, lat, lon = rows[0]
        others = tuple(
            Alternative(r[2], r[1], r[3], None, r[4] / POSTAL_SCALE, r[5] / POSTAL_SCALE, "postal")
            for r in rows[1 : MAX_ALTERNATIVES + 1]
        )
        note = None
        if len(rows) > 1:
            listed = ", ".join(r[1] for r in rows)
            note = f"postal code {code} exists in {len(rows)} countries ({listed}); chose {cc}"
        return Resolution(
            query=query,
            lat=lat / POSTAL_SCALE,
            lon=lon / POSTAL_SCALE,
            name=place,
            country_code=cc,
            admin1=region,
            kind="postal",
            precision="postal",
            alternatives=others,
            candidates=len(rows),
            note=note,
        )

    # -- building results -----------------------------------------------------------------

    def _place_resolution(self, query: str, ranked: Ranked) -> Resolution:
        best, *rest = ranked.places
        alternatives: list[Alternative] = []
        seen = {(best.name, best.country_code, best.admin1_code)}
        for p in rest:
            ident = (p.name, p.country_code, p.admin1_code)
            if ident in seen or (p.kind == best.kind and haversine_km(p.lat, p.lon, best.lat, best.lon) < 5):
                continue
            seen.add(ident)
            alternatives.append(
                Alternative(
                    p.name,
                    p.country_code,
                    self.regions.name(p.country_code, p.admin1_code),
                    p.population,
                    p.lat,
                    p.lon,
                    KIND_OF[p.kind],
                )
            )
            if len(alternatives) == MAX_ALTERNATIVES:
                break
        return Resolution(
            query=query,
            lat=best.lat,
            lon=best.lon,
            name=best.name,
            country_code=best.country_code,
            admin1=self.regions.name(best.country_code, best.admin1_code),
            kind=KIND_OF[best.kind],
            precision=KIND_OF[best.kind],
            population=best.population or None,
            alternatives=tuple(alternatives),
            candidates=len(ranked.places),
            note="; ".join(ranked.notes) or None,
        )
