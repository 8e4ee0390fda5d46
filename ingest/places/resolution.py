"""What resolving a place returns, and the errors it raises.

Errors::

    GazetteerError            the gazetteer cannot be used (missing, other version, service down)
    ├── PlaceNotFound         (also LookupError) no place matches; carries suggestions
    └── InvalidCoordinates    (also ValueError) "lat,lon" outside ±90/±180
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Kind = Literal["coordinates", "postal", "city", "admin", "country"]


class GazetteerError(Exception):
    """The gazetteer could not be used."""


class PlaceNotFound(GazetteerError, LookupError):
    """No place matches the query; ``suggestions`` are close names ("Valladolid (ES)")."""

    def __init__(self, query: str, suggestions: list[str]) -> None:
        self.query, self.suggestions = query, suggestions
        hint = f"; did you mean: {'; '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no place found for {query!r}{hint}")


class InvalidCoordinates(GazetteerError, ValueError):
    """Coordinates outside the valid latitude/longitude ranges."""


@dataclass(frozen=True, slots=True)
class Alternative:
    name: str
    country_code: str
    admin1: str | None
    population: int | None
    lat: float
    lon: float
    kind: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a query (or a site's address) was placed, and what else it could have meant."""

    query: str
    lat: float
    lon: float
    name: str
    country_code: str | None
    admin1: str | None
    kind: Kind
    precision: str  # what the point stands for: "exact", "postal", "city", "admin", "country"
    population: int | None = None
    alternatives: tuple[Alternative, ...] = ()
    candidates: int = 1  # how many places matched before ranking
    note: str | None = None  # how an ambiguity was settled, or a hint that was ignored
    source: str = "gazetteer"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready); :meth:`from_dict` reverses it (for caches)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resolution:
        fields = dict(data)
        fields["alternatives"] = tuple(Alternative(**a) for a in fields.get("alternatives") or ())
        return cls(**fields)
