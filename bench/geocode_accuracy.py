"""How close the offline gazetteer puts registry sites to the registry's own geoPoint.

For every distinct (city, state, country) among fixture sites that have a
``geoPoint``, geocode "city, state, country" with ``Gazetteer.geocode_site``
(without the zip code, as the acceptance criterion asks) and compare.

    .venv/bin/python bench/geocode_accuracy.py [--worst 20] [--gazetteer PATH]
"""

from __future__ import annotations

import argparse
import glob
import statistics
import time
from collections import Counter
from pathlib import Path

import orjson

from matching.gazetteer import Gazetteer
from matching.geo import haversine_km

ROOT = Path(__file__).resolve().parent.parent

FIXTURES = (
    "tests/fixtures/ctgov/v2-studies/*.json",
    "tests/fixtures/ctgov/aact-fixtures/v2/*.json",
)
Place = tuple[str, str | None, str]  # city, state, country


def fixture_places(root: Path = ROOT) -> dict[Place, tuple[float, float]]:
    """Distinct (city, state, country) → the registry point most often given for it."""
    points: dict[Place, Counter[tuple[float, float]]] = {}
    for pattern in FIXTURES:
        for file in sorted(glob.glob(str(root / pattern))):
            data = orjson.loads(Path(file).read_bytes())
            for study in data if isinstance(data, list) else [data]:
                module = study.get("protocolSection", {}).get("contactsLocationsModule", {})
                for site in module.get("locations") or []:
                    point, city, country = site.get("geoPoint"), site.get("city"), site.get("country")
                    if point and city and country:
                        key = (city, site.get("state"), country)
                        points.setdefault(key, Counter())[(point["lat"], point["lon"])] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in points.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worst", type=int, default=15, help="list the N largest errors")
    parser.add_argument("--gazetteer", type=Path, default=None, help="gazetteer file")
    args = parser.parse_args()

    places = fixture_places()
    with Gazetteer.open(args.gazetteer) as gazetteer:
        errors: list[tuple[float, Place, str]] = []
        missing: list[Place] = []
        started = time.perf_counter()
        for place, (lat, lon) in places.items():
            found = gazetteer.geocode_site(place[0], place[1], None, place[2])
            if found is None:
                missing.append(place)
                continue
            km = haversine_km(lat, lon, found.lat, found.lon)
            errors.append((km, place, f"{found.name}, {found.admin1}, {found.country_code} [{found.kind}]"))
        elapsed = time.perf_counter() - started

    kms = sorted(e[0] for e in errors)
    within = sum(1 for km in kms if km <= 25.0)
    print(f"distinct places with a registry geoPoint: {len(places)}")
    print(f"geocoded: {len(errors)}   not found: {len(missing)}")
    print(f"within 25 km: {within}/{len(places)} = {within / len(places):.1%}")
    print(
        f"median error: {statistics.median(kms):.2f} km   "
        f"p90: {kms[int(0.9 * (len(kms) - 1))]:.2f} km   max: {kms[-1]:.0f} km"
    )
    print(f"speed: {elapsed / len(places) * 1000:.2f} ms per place ({len(places) / elapsed:.0f}/s)")
    if args.worst:
        print(f"\nlargest errors (top {args.worst}):")
        for km, place, got in sorted(errors, key=lambda e: -e[0])[: args.worst]:
            print(f"  {km:8.1f} km  {place} -> {got}")
        for place in missing[: args.worst]:
            print(f"  not found   {place}")


if __name__ == "__main__":
    main()
