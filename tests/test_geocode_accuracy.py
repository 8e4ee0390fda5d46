"""Acceptance: the offline gazetteer places registry sites where the registry does.

For every distinct (city, state, country) among fixture sites that carry a
``geoPoint``, ``geocode_site`` is given "city, state, country" (no zip code) and
its point compared with the registry's. At least 95 % must land within 25 km.
``bench/geocode_accuracy.py`` prints the same figures with the worst cases.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.geocode_accuracy import fixture_places
from ingest.places.distance import haversine_km
from ingest.places.gazetteer.lookup import Gazetteer

WITHIN_KM = 25.0
REQUIRED_SHARE = 0.95


def test_sites_land_within_25_km_of_the_registry_point(gazetteer_path: Path) -> None:
    places = fixture_places()
    assert len(places) > 2000  # the fixtures hold ~2,650 distinct places
    errors: list[float] = []
    with Gazetteer.open(gazetteer_path, build_if_missing=False) as gazetteer:
        for (city, state, country), (lat, lon) in places.items():
            found = gazetteer.geocode_site(city, state, None, country)
            errors.append(haversine_km(lat, lon, found.lat, found.lon) if found else float("inf"))
    within = sum(1 for km in errors if km <= WITHIN_KM) / len(errors)
    found_errors = sorted(km for km in errors if km != float("inf"))
    median = statistics.median(found_errors)
    p90 = found_errors[int(0.9 * (len(found_errors) - 1))]
    print(
        f"\ngeocoded {len(found_errors)}/{len(errors)} distinct registry places; "
        f"within {WITHIN_KM:.0f} km: {within:.1%}; median error {median:.2f} km; p90 {p90:.2f} km"
    )
    assert within >= REQUIRED_SHARE
    assert median < 1.0
