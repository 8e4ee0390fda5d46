"""The --online geocoder's cache in the store. The network is never touched: geopy's
Nominatim is the third-party boundary, replaced here by an object with its interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ingest.places.cache import geocode_online_cached


@dataclass
class _Location:
    latitude: float
    longitude: float
    address: str
    raw: dict[str, Any]


@dataclass
class RecordingGeocoder:
    """Answers like Nominatim for one place and records every query it is sent."""

    queries: list[str] = field(default_factory=list)

    def geocode(self, query: str, **kwargs: Any) -> _Location | None:
        self.queries.append(query)
        if "valladolid" not in query.lower():
            return None
        raw = {
            "addresstype": "city",
            "address": {"city": "Valladolid", "state": "Castilla y León", "country_code": "es"},
        }
        return _Location(41.6521, -4.7286, "Valladolid, Castilla y León, España", raw)


def test_online_answers_are_cached_including_not_found(engine: Engine) -> None:
    geocoder = RecordingGeocoder()
    first = geocode_online_cached(engine, "Valladolid, Spain", geocoder=geocoder)
    assert first is not None and first.source == "online" and first.country_code == "ES"
    again = geocode_online_cached(engine, "VALLADOLID,  spain", geocoder=geocoder)
    assert again == first
    assert geocode_online_cached(engine, "Nowhere-on-Earth", geocoder=geocoder) is None
    assert geocode_online_cached(engine, "nowhere on earth", geocoder=geocoder) is None
    assert geocoder.queries == ["Valladolid, Spain", "Nowhere-on-Earth"]
