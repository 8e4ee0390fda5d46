"""How close the offline gazetteer puts registry sites to the registry's own geoPoint.

For every distinct (city, state, country) among fixture sites that have a
``geoPoint``, geocode "city, state, country" with ``Gazetteer.geocode_site``
(without the zip code, as the acceptance criterion asks) and compare. Also
times free-text resolution of the issue's example queries, unknown places
(with suggestions), and optionally a fresh build.

    .venv/bin/python bench/geocode_accuracy.py [--worst 20] [--gazetteer PATH] [--build]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.places.distance import haversine_km  # noqa: E402
from ingest.places.gazetteer.build import build_gazetteer  # noqa: E402
from ingest.places.gazetteer.lookup import Gazetteer, PlaceNotFound  # noqa: E402

FIXTURES = (ROOT / "tests/fixtures/ctgov/v2-studies", ROOT / "tests/fixtures/ctgov/aact-fixtures/v2")
EXAMPLES = (
    "Palencia, Spain",
    "Valladolid",
    "Boston, MA",
    "Rochester, Minnesota",
    "Seville",
    "47003 Spain",
    "02115",
    "41.65,-4.72",
    "Munich",
    "Paris, TX",
)
UNKNOWN = ("Valladolud", "Pallencia, Spain", "Bostn, MA", "Xyzzyqq")
Place = tuple[str, str | None, str]  # city, state, country


def fixture_places() -> dict[Place, tuple[float, float]]:
    """Distinct (city, state, country) → the registry point most often given for it."""
    points: dict[Place, Counter[tuple[float, float]]] = {}
    for folder in FIXTURES:
        for file in sorted(folder.glob("*.json")):
            data = orjson.loads(file.read_bytes())
            for study in data if isinstance(data, list) else [data]:
                module = study.get("protocolSection", {}).get("contactsLocationsModule", {})
                for site in module.get("locations") or []:
                    point, city, country = site.get("geoPoint"), site.get("city"), site.get("country")
                    if point and city and country:
                        key = (city, site.get("state"), country)
                        points.setdefault(key, Counter())[(point["lat"], point["lon"])] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in points.items()}


def accuracy(gazetteer: Gazetteer, worst: int) -> None:
    places = fixture_places()
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
    print(f"distinct registry places with a geoPoint: {len(places)}")
    print(f"geocoded: {len(errors)}   not found: {len(missing)}")
    print(f"within 25 km: {within}/{len(places)} = {within / len(places):.1%}")
    print(
        f"error: median {statistics.median(kms):.2f} km   p90 {kms[int(0.9 * (len(kms) - 1))]:.2f} km"
        f"   p95 {kms[int(0.95 * (len(kms) - 1))]:.2f} km   max {kms[-1]:.0f} km"
    )
    print(f"geocode_site: {elapsed / len(places) * 1000:.2f} ms per place ({len(places) / elapsed:.0f}/s)")
    if worst:
        print(f"\nlargest errors (top {worst}):")
        for km, place, got in sorted(errors, key=lambda e: -e[0])[:worst]:
            print(f"  {km:8.1f} km  {place} -> {got}")
        for place in missing[:worst]:
            print(f"  not found   {place}")


def latency(gazetteer: Gazetteer) -> None:
    print("\nresolve() latency, warm (median of 20 runs):")
    for query in EXAMPLES:
        runs = []
        for _ in range(20):
            started = time.perf_counter()
            found = gazetteer.resolve(query)
            runs.append(time.perf_counter() - started)
        print(
            f"  {query!r:24} {statistics.median(runs) * 1000:6.2f} ms  -> {found.name}, {found.country_code}"
        )
    print("unknown places (PlaceNotFound with suggestions), first call / warm:")
    for query in UNKNOWN:
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            try:
                gazetteer.resolve(query)
            except PlaceNotFound as exc:
                suggestions = exc.suggestions
            timings.append(time.perf_counter() - started)
        print(f"  {query!r:24} {timings[0] * 1000:6.1f} / {timings[1] * 1000:5.1f} ms  {suggestions[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worst", type=int, default=15, help="list the N largest errors")
    parser.add_argument("--gazetteer", type=Path, default=None, help="gazetteer file")
    parser.add_argument("--build", action="store_true", help="time a fresh build into a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.gazetteer
        if args.build:
            stats = build_gazetteer(Path(tmp) / "gazetteer.sqlite")
            print(
                f"build: {stats.seconds:.1f} s, {stats.size_bytes / 1e6:.0f} MB, {stats.places:,} places, "
                f"{stats.names:,} names, {stats.postal_codes:,} postal codes, {stats.admin_regions:,} regions\n"
            )
            path = stats.path
        started = time.perf_counter()
        with Gazetteer.open(path) as gazetteer:
            print(f"open: {(time.perf_counter() - started) * 1000:.0f} ms")
            accuracy(gazetteer, args.worst)
            latency(gazetteer)


if __name__ == "__main__":
    main()
