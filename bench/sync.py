"""Benchmark `trialsite sync`: a full sync of a re-keyed registry, then an incremental one.

Serves N studies (default 50,000: the real fixture records re-keyed with new NCT ids) from
the loopback registry (``tests/registry_server.py``, the API v2 contract: /version,
/studies with page tokens and ``AREA[LastUpdatePostDate]RANGE``), runs the real command in
a subprocess into SQLite and into PostgreSQL, then moves the registry on a day with 2 % of
the studies changed and runs it again. Prints, per run: studies seen, studies/s, requests,
the subprocess's peak RSS, the store's size; and the incremental run's time as a share of
the full one's. ``--check-removed`` adds a removal check (every NCT id listed) to the
incremental run.

    python -m bench.sync                          # 50,000 studies, SQLite and PostgreSQL
    python -m bench.sync --count 10000 --backend sqlite
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ingest import _load, drop_schema, fixture_studies, pg_schema_url
from tests.registry_server import serve_registry

ROOT = Path(__file__).resolve().parent.parent
DAY1, DAY2 = "2026-12-01T09:00:00", "2026-12-02T09:00:00"


def rekeyed(templates: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` studies: templates with new NCT ids. Only the modules that differ are
    copied (the rest is shared), so 50,000 studies cost little memory in the server."""
    studies = []
    for i in range(count):
        template = templates[i % len(templates)]
        section = dict(template["protocolSection"])
        ident = dict(section["identificationModule"])
        ident["nctId"] = f"NCT{90000000 + i:08d}"
        ident.pop("nctIdAliases", None)
        section["identificationModule"] = ident
        study = dict(template)
        study["protocolSection"] = section
        studies.append(study)
    return studies


def changed(studies: list[dict[str, Any]], share: float, seed: int = 7) -> list[dict[str, Any]]:
    """Day 2: ``share`` of the studies updated (a new last-update date; a third close)."""
    rng = random.Random(seed)
    out = list(studies)
    for i in rng.sample(range(len(studies)), int(len(studies) * share)):
        study = dict(out[i])
        section = dict(study["protocolSection"])
        status = copy.deepcopy(section["statusModule"])
        status["lastUpdatePostDateStruct"] = {"date": DAY2[:10], "type": "ACTUAL"}
        if i % 3 == 0:
            status["overallStatus"] = "COMPLETED"
        section["statusModule"] = status
        study["protocolSection"] = section
        out[i] = study
    return out


def run_sync(db_url: str, base_url: str, extra: list[str]) -> tuple[float, float, dict[str, Any]]:
    """The real command; returns (seconds, its peak RSS in MB, its JSON summary)."""
    command = [sys.executable, "-m", "cli", "--db", db_url, "sync", "--base-url", base_url,
               "--rate-limit", "0", "--no-geocode", "--json", *extra]  # fmt: skip
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if code not in (0, 2):
            raise SystemExit(f"sync failed ({code}): {stderr.read()[-2000:].decode()}")
        summary = json.loads(stdout.read())
    return elapsed, usage.ru_maxrss / 1024, summary


def store_size_mb(db_url: str) -> float | None:
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    return None


def pg_size_mb(schema: str) -> float:
    import psycopg

    from bench.ingest import PG_URL

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
            (schema,),
        ).fetchone()
    return float(row[0] or 0) / 1e6 if row else 0.0


def bench_backend(name: str, db_url: str, day1: list[dict[str, Any]], day2: list[dict[str, Any]],
                  check_removed: bool, size: Any) -> None:  # fmt: skip
    with serve_registry(day1) as server:
        server.data_timestamp = DAY1
        full_s, full_rss, full = run_sync(db_url, server.base_url, [])
        print(
            f"{name} full: {full['seen']:,} studies in {full_s:.1f} s = {full['seen'] / full_s:,.0f} studies/s; "
            f"{full['requests']} requests; peak RSS {full_rss:.0f} MB; store {size():,.0f} MB; "
            f"status {full['status']}, {full['quarantined']} quarantined (load {_load()})"
        )
        server.set_studies(day2, DAY2)
        inc_s, inc_rss, inc = run_sync(db_url, server.base_url, ["--check-removed"] if check_removed else [])
        print(
            f"{name} incremental ({len(day2):,} in the registry, 2 % changed): {inc['seen']:,} seen, "
            f"{inc['updated']:,} updated in {inc_s:.1f} s = {inc['seen'] / inc_s:,.0f} studies/s; "
            f"{inc['requests']} requests; peak RSS {inc_rss:.0f} MB; removal check {inc['removal_check']}; "
            f"{100 * inc_s / full_s:.1f} % of the full run's time (load {_load()})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=50_000, help="studies in the registry")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--check-removed", action="store_true", help="list every id in the incremental run")
    args = parser.parse_args()

    templates = fixture_studies()
    day1 = rekeyed(templates, args.count)
    day2 = changed(day1, 0.02)
    print(
        f"registry: {args.count:,} studies re-keyed from {len(templates)} real records; 2 % change on day 2"
    )
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            bench_backend("sqlite", url, day1, day2, args.check_removed, lambda: store_size_mb(url) or 0.0)
    if args.backend in ("postgresql", "both"):
        made = pg_schema_url()
        if made is not None:
            schema, url = made
            try:
                bench_backend("postgresql", url, day1, day2, args.check_removed, lambda: pg_size_mb(schema))
            finally:
                drop_schema(schema)


if __name__ == "__main__":
    main()
