"""Benchmark the HTTP service under load: ``trialsite serve`` on a registry-scale store.

Builds (or reuses) a store of N cloned trials with ``bench.match``'s builder (default
50,000), starts ``trialsite serve`` as a user would (its default workers) on a loopback
port, then runs 1, 8 and 32 concurrent clients for a bounded time each, every client
mixing ``GET /api/v1/search`` and ``POST /api/v1/match`` (limit 20) for varied patients
(``bench.match``'s: real site cities and remote points, radii 25-500 km, fixture and
common conditions). Prints requests per second, p50/p95/p99 latency and errors per level.

    python -m bench.serve                                  # 50,000 trials, SQLite and PostgreSQL
    python -m bench.serve --backend sqlite --seconds 15 --clients 1 8 16 32
    python -m bench.serve --workdir /tmp/bench-serve       # keep and reuse the SQLite store

Only loopback traffic; every level stops by itself after ``--seconds``.
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.match import (
    STORE_VERSION,
    Cities,
    Query,
    build_template_store,
    cap_sites,
    load_templates,
    make_queries,
    percentile,
    pg_admin,
    postgresql_store,
    sqlite_store,
)
from tests.live_server import live_server


@dataclass
class Level:
    clients: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    by_kind: dict[str, list[float]]


def request_for(query: Query, n: int) -> tuple[str, str, dict[str, Any]]:
    """Even requests search, odd ones match, for the same varied places and conditions."""
    place = f"{query.lat:.4f},{query.lon:.4f}"
    if n % 2 == 0:
        return (
            "search",
            "GET",
            {
                "params": {
                    "condition": query.condition,
                    "near": place,
                    "radius_km": query.radius_km,
                    "limit": 20,
                }
            },
        )
    patient: dict[str, Any] = {
        "age": query.age,
        "location": place,
        "radius_km": query.radius_km,
        "conditions": [query.condition],
    }
    if query.sex:
        patient["sex"] = query.sex
    return "match", "POST", {"json": patient, "params": {"limit": 20}}


def run_level(base_url: str, queries: list[Query], clients: int, seconds: float) -> Level:
    stop = time.monotonic() + seconds
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {"search": [], "match": []}
    errors = 0

    def client(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        with requests.Session() as session:
            while time.monotonic() < stop:
                n = next(counter)
                kind, method, options = request_for(rng.choice(queries), n)
                path = "/api/v1/search" if kind == "search" else "/api/v1/match"
                started = time.perf_counter()
                try:
                    response = session.request(method, base_url + path, timeout=60, **options)
                    ok = response.status_code == 200
                except requests.RequestException:
                    ok = False
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if ok:
                        latencies.append(elapsed)
                        by_kind[kind].append(elapsed)
                    else:
                        errors += 1

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return Level(clients, time.monotonic() - started, latencies, errors, by_kind)


def report(label: str, level: Level) -> None:
    done = len(level.latencies_ms)
    values = level.latencies_ms or [0.0]
    line = (
        f"{label}: {level.clients:>2} clients  {done / level.seconds:7.1f} req/s  "
        f"p50 {percentile(values, 50):6.1f}  p95 {percentile(values, 95):6.1f}  "
        f"p99 {percentile(values, 99):6.1f} ms  errors {level.errors}  ({done:,} requests"
    )
    for kind, times in level.by_kind.items():
        if times:
            line += f"; {kind} p95 {percentile(times, 95):.1f} ms"
    print(line + ")", flush=True)


def measure(label: str, url: str, work: Path, queries: list[Query], args: argparse.Namespace) -> None:
    with live_server(url, work, workers=args.workers, startup_s=600) as server:
        run_level(server.base_url, queries, 4, args.warmup)  # warm caches, untimed
        for clients in args.clients:
            report(label, run_level(server.base_url, queries, clients, args.seconds))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=50_000, help="trials in the store")
    parser.add_argument("--sites-per-trial", type=float, default=6.2, help="mean sites per trial")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) the SQLite store here")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=20, help="time per level")
    parser.add_argument("--warmup", type=float, default=5, help="untimed seconds first")
    parser.add_argument("--workers", type=int, default=0, help="server workers (0: serve's default)")
    parser.add_argument("--queries", type=int, default=400, help="distinct patients to draw from")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    args.warm_cache = False  # bench.match's store builders read these
    args.keep = False

    from ingest.places.gazetteer.lookup import Gazetteer

    gazetteer = Gazetteer.open().path
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        template_path = work / "templates.db"
        if not template_path.exists():
            build_template_store(template_path)
        templates, revision = load_templates(template_path)
        cap_sites(templates, args.sites_per_trial)
        cities = Cities(gazetteer)
        conditions = sorted(
            {c[2] for t in templates for c in t.children["trial_condition"] if c[1] == "listed"}
        )
        queries = make_queries(args.queries, args.seed, templates, cities, conditions)
        params = {
            "version": STORE_VERSION,
            "schema": revision,
            "trials": args.trials,
            "sites_per_trial": args.sites_per_trial,
            "templates": len(templates),
            "gazetteer": gazetteer.name,
        }
        kw = {"templates": templates, "cities": cities}
        if args.backend in ("sqlite", "both"):
            sqlite_store(args, work, params, **kw).dispose()
            measure("sqlite", f"sqlite:///{work / f'match-{args.trials}.db'}", work, queries, args)
        if args.backend in ("postgresql", "both"):
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            try:
                engine = postgresql_store(args, schema, params, **kw)
                url = str(engine.url.render_as_string(hide_password=False))
                engine.dispose()
                measure("postgresql", url, work, queries, args)
            finally:
                pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
