"""Choosing among places that share a name: population, name quality, region hints.

Ambiguity is resolved by the country and region hints, then by weight
(population × kind × name bonuses); the losers are kept, in order, so the
result can say what else the query could have meant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.places.distance import haversine_km
from ingest.places.names import fold
from ingest.places.regions import RegionIndex
from ingest.places.resolution import Kind

# Ranking weight of a candidate: population x kind weight x bonuses. A region is a poor
# stand-in for a town of the same name; a town's own name beats an exonym or nickname of
# a bigger place ("Seville" is still Sevilla, 300 times larger than Seville, Ohio); a
# district of a larger city (Salamanca, Madrid) is rarely what a bare name means.
_KIND_WEIGHT = {"city": 1.0, "locality": 1.0, "admin": 0.05, "country": 1.0}
_PRIMARY_BONUS = 10.0
# Within a known country a local name is stronger evidence still: "Mirano, Italy" is the
# town of Mirano, not Milan (whose Japanese name is "Mirano").
_PRIMARY_BONUS_IN_COUNTRY = 100.0
_SECTION_WEIGHT = 0.2
SETTLEMENTS = ("city", "locality")
# Localities (postal place names no city covers) are towns too; their point is the mean of
# their postal codes.
KIND_OF: dict[str, Kind] = {"city": "city", "locality": "city", "admin": "admin", "country": "country"}
NEAR_HINT_KM = 75.0  # a place this close to a place named like the hint counts as "in" it
LARGE_CITY = 100_000  # a namesake this large outweighs a contradicting region hint


@dataclass(frozen=True, slots=True)
class Place:
    """A gazetteer row (city, locality, admin region or country)."""

    id: int
    kind: str
    name: str
    ascii_name: str | None
    country_code: str
    admin1_code: str | None
    lat: float
    lon: float
    population: int
    section: int


@dataclass
class Ranked:
    """Candidates, best first, and what ranking them revealed."""

    places: list[Place]
    notes: list[str] = field(default_factory=list)
    exact: bool = True  # matched by the name as given (not a variant spelling)
    region: set[tuple[str, str]] = field(default_factory=set)  # regions the hint names
    in_region: bool = True  # False: the hint names a region, and no candidate lies in it


def rank_places(
    places: list[Place],
    key: str,
    *,
    state: str | None,
    strict: bool,
    exact: bool,
    country: str | None,
    regions: RegionIndex,
    places_named: Callable[[str, str | None], list[Place]],
) -> Ranked:
    """Order ``places`` (all named ``key``) best first, honouring a region hint ``state``.

    With ``strict`` a hint that no candidate satisfies rejects them all (the reading
    of the query was wrong); otherwise it is reported and ignored.
    """
    primary_bonus = _PRIMARY_BONUS_IN_COUNTRY if country else _PRIMARY_BONUS

    def primary(p: Place) -> bool:
        return p.kind in SETTLEMENTS and key in (fold(p.name), fold(p.ascii_name or ""))

    def weight(p: Place) -> float:
        bonus = primary_bonus if primary(p) else 1.0
        section = _SECTION_WEIGHT if p.section else 1.0
        return max(p.population, 1) * _KIND_WEIGHT[p.kind] * bonus * section

    ordered = sorted(places, key=weight, reverse=True)
    if not state or not ordered:
        return Ranked(ordered, exact=exact)
    countries = {p.country_code for p in ordered}
    codes = {pair for cc in countries for pair in regions.match(state, cc)}
    inside = [p for p in ordered if (p.country_code, p.admin1_code) in codes]
    if not inside and not codes:
        inside = _near_places_named(ordered, state, countries, places_named)
    if inside:
        # Within the named region, a town's own name outranks a bigger city's nickname
        # ("Franklin, Ohio" is Franklin, not Columbus, once also called Franklinton).
        inside.sort(key=primary, reverse=True)
        return Ranked(inside + [p for p in ordered if p not in inside], exact=exact, region=codes)
    if strict:
        return Ranked([])
    note = f"none of the places named {key!r} is in {state!r}"
    return Ranked(ordered, [note], exact=exact, region=codes, in_region=False)


def _near_places_named(
    places: list[Place],
    hint: str,
    countries: set[str],
    places_named: Callable[[str, str | None], list[Place]],
) -> list[Place]:
    """Places near the largest places named like the hint ("Taipei, Zhongzheng Dist.")."""
    anchors = sorted(
        (a for cc in countries for a in places_named(hint, cc)),
        key=lambda a: a.population,
        reverse=True,
    )[:3]
    return [
        p for p in places if any(haversine_km(p.lat, p.lon, a.lat, a.lon) <= NEAR_HINT_KM for a in anchors)
    ]


def trust_city(ranked: Ranked) -> bool:
    """Take the best namesake even though it lies outside the region a site names?

    Yes when the region is not recognised, or when the name is exact and the city
    unique in the country or large (registry regions have typos: "Taiyuan,
    Shaanxi" is Taiyuan, Shanxi); otherwise the region is the safer guess.
    """
    if ranked.in_region or not ranked.region:
        return True
    best = ranked.places[0]
    unique = len({(p.name, p.admin1_code) for p in ranked.places}) == 1
    return ranked.exact and (unique or best.population >= LARGE_CITY)
