"""Great-circle distance and bounding boxes for site candidate filtering.

A bounding box lets SQL pre-filter sites with plain indexed comparisons on
latitude and longitude; the exact distance is then computed for the few rows
that pass. Boxes are conservative: they may include points slightly farther
than the radius, never exclude a nearer one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
KM_PER_MILE = 1.609344  # the international mile


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two WGS84 points (spherical Earth)."""
    return distances_from(lat1, lon1)(lat2, lon2)


def distances_from(lat1: float, lon1: float) -> Callable[[float, float], float]:
    """``haversine_km`` from a fixed point, its terms computed once: a match measures tens of
    thousands of sites from the patient. The same operations in the same order, so the
    same distances to the last bit."""
    phi1 = math.radians(lat1)
    cos_phi1 = math.cos(phi1)
    radians, sin, cos, asin, sqrt = math.radians, math.sin, math.cos, math.asin, math.sqrt

    def distance(lat2: float, lon2: float) -> float:
        phi2 = radians(lat2)
        a = sin((phi2 - phi1) / 2) ** 2 + cos_phi1 * cos(phi2) * sin(radians(lon2 - lon1) / 2) ** 2
        return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(a)))

    return distance


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Latitude range plus one or two longitude ranges (two when it crosses ±180°).

    ``lon_ranges`` are ``(west, east)`` pairs with ``west <= east``, each within
    [-180, 180]; a point is inside when its latitude is in range and its longitude
    is in any of them. SQL: ``lat BETWEEN :min_lat AND :max_lat AND (lon BETWEEN w1
    AND e1 [OR lon BETWEEN w2 AND e2])``.
    """

    min_lat: float
    max_lat: float
    lon_ranges: tuple[tuple[float, float], ...]

    def contains(self, lat: float, lon: float) -> bool:
        if not self.min_lat <= lat <= self.max_lat:
            return False
        return any(west <= lon <= east for west, east in self.lon_ranges)


def bounding_box(lat: float, lon: float, radius_km: float) -> BoundingBox:
    """Smallest lat/lon box holding every point within ``radius_km`` of (lat, lon).

    Uses the exact spherical result (J. P. Matuschek, "Finding Points Within a
    Distance of a Latitude/Longitude Using Bounding Coordinates"): the longitude
    half-width is ``asin(sin(r) / cos(lat))``. If the circle covers a pole, the
    box spans all longitudes up to that pole; if it crosses the antimeridian the
    longitude range is split in two.
    """
    if radius_km < 0:
        raise ValueError(f"radius must be non-negative, got {radius_km}")
    angular = radius_km / EARTH_RADIUS_KM
    lat_r = math.radians(lat)
    min_lat = lat_r - angular
    max_lat = lat_r + angular
    full = ((-180.0, 180.0),)
    if max_lat >= math.pi / 2 or min_lat <= -math.pi / 2 or angular >= math.pi:
        return BoundingBox(max(math.degrees(min_lat), -90.0), min(math.degrees(max_lat), 90.0), full)
    delta = math.degrees(math.asin(min(1.0, math.sin(angular) / math.cos(lat_r))))
    lo, hi = math.degrees(min_lat), math.degrees(max_lat)
    if delta >= 180.0:
        return BoundingBox(lo, hi, full)
    west, east = lon - delta, lon + delta
    if west < -180.0:
        return BoundingBox(lo, hi, ((west + 360.0, 180.0), (-180.0, east)))
    if east > 180.0:
        return BoundingBox(lo, hi, ((west, 180.0), (-180.0, east - 360.0)))
    return BoundingBox(lo, hi, ((west, east),))
