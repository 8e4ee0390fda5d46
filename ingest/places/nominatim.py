"""Online geocoding through Nominatim (OpenStreetMap), only when explicitly asked for.

The offline gazetteer answers by default; this is the ``--online`` fallback for
places it does not know. It touches the network, so callers cache its answers
(``Resolution.to_dict``/``from_dict`` round-trip) and nothing calls it implicitly.
Nominatim's usage policy (https://operations.osmfoundation.org/policies/nominatim/):
an identifying user agent, at most one request per second, no bulk geocoding.
Results are © OpenStreetMap contributors, ODbL.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from ingest.places.resolution import GazetteerError, Kind, Resolution

USER_AGENT = "trialsite/0.1 (ClinicalTrials.gov ingest and trial-site matching)"
ATTRIBUTION = "Data © OpenStreetMap contributors, ODbL; geocoded by Nominatim"
MIN_INTERVAL_S = 1.0  # Nominatim usage policy: at most one request per second

# Nominatim's "addresstype" → what the point stands for.
_KIND_BY_TYPE: dict[str, Kind] = {
    "postcode": "postal",
    "city": "city",
    "town": "city",
    "village": "city",
    "hamlet": "city",
    "municipality": "city",
    "suburb": "city",
    "neighbourhood": "city",
    "quarter": "city",
    "borough": "city",
    "state": "admin",
    "province": "admin",
    "region": "admin",
    "county": "admin",
    "state_district": "admin",
    "country": "country",
}
_NAME_KEYS = ("city", "town", "village", "hamlet", "municipality", "suburb", "county", "state")


class Geocoder(Protocol):
    """What is used of a geopy geocoder (tests inject a fake)."""

    def geocode(self, query: str, **kwargs: Any) -> Any: ...


class OnlineGeocodingError(GazetteerError):
    """The online service failed (network, quota, refusal); the query itself may be fine."""


_lock = threading.Lock()
_last_request = 0.0


def _throttle() -> None:
    global _last_request
    with _lock:
        wait = _last_request + MIN_INTERVAL_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_request = time.monotonic()


def default_geocoder(timeout: float = 10.0) -> Geocoder:
    from geopy.geocoders import Nominatim

    geocoder: Geocoder = Nominatim(user_agent=USER_AGENT, timeout=timeout)
    return geocoder


def geocode_online(query: str, *, geocoder: Geocoder | None = None) -> Resolution | None:
    """Resolve ``query`` with Nominatim; None if it finds nothing.

    ``geocoder`` defaults to a rate-limited geopy ``Nominatim``; pass any object with
    a geopy-style ``geocode`` method to use another service or, in tests, a fake.
    Raises :class:`OnlineGeocodingError` when the service cannot be reached or refuses.
    """
    from geopy.exc import GeopyError

    if geocoder is None:
        geocoder = default_geocoder()
        _throttle()
    try:
        location = geocoder.geocode(query, exactly_one=True, addressdetails=True, language="en")
    except GeopyError as exc:
        raise OnlineGeocodingError(f"online geocoding of {query!r} failed: {exc}") from exc
    if location is None:
        return None
    raw: dict[str, Any] = getattr(location, "raw", None) or {}
    address: dict[str, Any] = raw.get("address") or {}
    kind = _KIND_BY_TYPE.get(str(raw.get("addresstype") or raw.get("type") or ""), "city")
    name = next((address[k] for k in _NAME_KEYS if address.get(k)), None)
    if name is None:
        name = str(getattr(location, "address", "") or query).split(",")[0]
    code = address.get("country_code")
    return Resolution(
        query=query,
        lat=float(location.latitude),
        lon=float(location.longitude),
        name=str(name),
        country_code=str(code).upper() if code else None,
        admin1=address.get("state"),
        kind=kind,
        precision=kind,
        note=ATTRIBUTION,
        source="online",
    )
