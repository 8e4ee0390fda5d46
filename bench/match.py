"""Benchmark matching at registry scale: `match` and `search` latency on a cloned store.

Builds a store of N trials (default 500,000) by cloning the real fixture records:
the ~470 fixture studies and the seed page go through the real ingest pipeline
into a small template store once; each clone copies one template's trial row,
conditions, arms, interventions, criteria and search row under a new NCT id
(NCT7xxxxxxx, never a real one), and re-places its sites on real gazetteer
cities: a city of the template site's own country, drawn by population, with
~5 km of jitter (sites without a country go anywhere, by population). Site
statuses and contacts are the template's. Per-clone sites are capped so the
mean is ``--sites-per-trial`` (huge templates like NCT04267848, 1,148 sites,
would otherwise dominate). Raw source records are not cloned: matching never
reads them.

Then it times ``match_trials`` (candidates, distances, hard filters, criteria
evaluation) and ``search_trials``, both with limit 20, in-process for varied patients —
real site cities plus remote points, radii 25-500 km, fixture and common
conditions, ages 10-85 — after a warm-up, and prints p50/p95/p99/max in ms,
where match's time went (box count, candidate SQL, criteria load and evaluation,
no-match hint: exclusive time of those functions) and the slowest patients.

    python -m bench.match                                    # 500,000 trials, SQLite and PostgreSQL
    python -m bench.match --trials 20000 --backend sqlite --workdir /tmp/bench-match
    python -m bench.match --backend postgresql --keep        # keep the PostgreSQL schema

The SQLite store is cached in ``--workdir`` and reused when built with the same
parameters (schema revision and gazetteer included); PostgreSQL gets a fresh
schema, dropped at the end unless ``--keep`` (``--pg-schema NAME`` then reuses
it). ``--save FILE`` appends every patient's timings as JSON lines. ``--warm-cache`` reads
the SQLite store through once before timing: the figures then are those of a store the
operating system holds in memory; without it, whatever of it the page cache kept.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, text

from db.upsert import ARM, CONDITION, CRITERION, INTERVENTION, NEEDS, TRIAL

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "ctgov" / "v2-studies"
SEED_PAGE = ROOT / "tests" / "fixtures" / "seeds" / "000_7eec3db7379f51b9.txt"
PG_URL = os.environ.get("TRIALSITE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STORE_VERSION = 1  # bump when the generated data changes, so cached stores are rebuilt
CHUNK = 2000  # clones generated and written per transaction (bounds memory)
JITTER_DEG = 0.05  # ~5 km: sites of one city spread over its area, not one point
TODAY = date(2026, 1, 15)  # fixed, so criteria with time windows evaluate alike on every run
# Results asked for, as a table shows them (the CLI's default without --json): match and
# search both rank every candidate but build only these.
LIMIT = 20
COMMON_CONDITIONS = (
    *("lung cancer", "lupus nephritis", "breast cancer", "low back pain", "kidney disease", "SLE"),
    *("type 2 diabetes", "depression", "schizophrenia", "obesity"),
)


def _columns(table: Table) -> str:
    """A table's columns, nct_id first, without the ``id`` the database assigns."""
    names = [c.name for c in table.columns if c.name not in ("id", "nct_id")]
    return ", ".join(["nct_id", *names])


# Copied from a template under the clone's nct_id (the site columns are the clone's own).
TRIAL_COLUMNS = _columns(TRIAL)
CHILD_COLUMNS = {
    **{t.name: _columns(t) for t in (CONDITION, ARM, INTERVENTION, CRITERION)},
    # SQLite: triggers index it in the FTS5 table; PostgreSQL: the tsvector computes itself.
    "trial_search_doc": "nct_id, title, conditions, mesh, is_open",
    "trial_needs": _columns(NEEDS),  # what the ingest derives from the criterion rows, copied
}
SITE_COLUMNS = (
    "nct_id, position, facility, city, state, zip, country, country_code, status, "
    "latitude, longitude, geo_source, geo_precision, contacts"
)
# Sites before the search documents: SQLite indexes a document's open sites when it is written.
TABLES = {"trial": TRIAL_COLUMNS, "site": SITE_COLUMNS, **CHILD_COLUMNS}

Row = tuple[Any, ...]


@dataclass
class Template:
    trial: Row  # without nct_id
    children: dict[str, list[Row]]  # table -> rows without nct_id
    sites: list[Row]  # (facility, country, country_code, status, contacts)
    site_count: int = 0  # sites per clone, after the cap


def build_template_store(path: Path) -> None:
    """The fixtures and the seed page through the real ingest pipeline."""
    from db.engine import open_store
    from ingest.files.reader import iter_paths
    from ingest.pages.load import ingest_pages
    from ingest.pipeline import ingest_items

    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = open_store(f"sqlite:///{partial}")
    ingest_items(engine, iter_paths([FIXTURES]), command="bench match")
    ingest_pages(engine, [str(SEED_PAGE)])
    engine.dispose()
    partial.rename(path)


def load_templates(path: Path) -> tuple[list[Template], str]:
    """The template trials, and the schema revision they are stored in (the clones' too)."""
    from db.engine import open_store

    open_store(f"sqlite:///{path}").dispose()  # brings a template store of an older schema up to date
    conn = sqlite3.connect(path)
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    templates: dict[str, Template] = {}
    for row in conn.execute(f"SELECT {TRIAL_COLUMNS} FROM trial ORDER BY nct_id"):
        templates[row[0]] = Template(row[1:], {table: [] for table in CHILD_COLUMNS}, [])
    for table, columns in CHILD_COLUMNS.items():
        order = "nct_id" if table in ("trial_search_doc", "trial_needs") else "nct_id, position"
        for row in conn.execute(f"SELECT {columns} FROM {table} ORDER BY {order}"):
            templates[row[0]].children[table].append(row[1:])
    for row in conn.execute(
        "SELECT nct_id, facility, country, country_code, status, contacts FROM site ORDER BY nct_id, position"
    ):
        templates[row[0]].sites.append(row[1:])
    conn.close()
    return list(templates.values()), revision


def cap_sites(templates: list[Template], mean: float) -> int:
    """The smallest per-clone site cap giving at least ``mean`` sites per trial; sets site_count."""
    counts = [len(t.sites) for t in templates]
    cap = max(counts)
    for candidate in range(1, max(counts) + 1):
        if sum(min(n, candidate) for n in counts) >= mean * len(counts):
            cap = candidate
            break
    for t in templates:
        t.site_count = min(len(t.sites), cap)
    return cap


class Cities:
    """Gazetteer cities, drawn by population within a country or world-wide."""

    def __init__(self, gazetteer: Path) -> None:
        conn = sqlite3.connect(f"{gazetteer.resolve().as_uri()}?mode=ro", uri=True)
        rows = conn.execute(
            "SELECT country_code, name, lat, lon, population FROM places "
            "WHERE kind = 'city' AND section = 0 AND population > 0 ORDER BY id"
        ).fetchall()
        conn.close()
        self.world = self._pool(rows)
        by_country: dict[str, list[Row]] = {}
        for row in rows:
            by_country.setdefault(row[0], []).append(row)
        self.countries = {cc: self._pool(r) for cc, r in by_country.items()}
        self.small = [r for r in rows if r[4] < 2000]

    @staticmethod
    def _pool(rows: list[Row]) -> tuple[list[Row], list[int]]:
        return rows, list(itertools.accumulate(r[4] for r in rows))

    def pick(self, rng: random.Random, country_code: str | None) -> Row:
        """(country_code, name, lat, lon, population) of a city, jittered."""
        rows, cumulative = self.countries.get(country_code or "", self.world)
        cc, name, lat, lon, population = rows[bisect(cumulative, rng.random() * cumulative[-1])]
        lat = max(-89.9, min(89.9, lat + rng.uniform(-JITTER_DEG, JITTER_DEG)))
        lon = (lon + rng.uniform(-JITTER_DEG, JITTER_DEG) + 180.0) % 360.0 - 180.0
        return cc, name, lat, lon, population


def clone_rows(templates: list[Template], start: int, stop: int, cities: Cities) -> dict[str, list[Row]]:
    """Rows of clones ``start``..``stop``: clone k copies template k mod T; deterministic in k."""
    rows: dict[str, list[Row]] = {table: [] for table in TABLES}
    for k in range(start, stop):
        template = templates[k % len(templates)]
        nct_id = (f"NCT7{k:07d}",)
        rows["trial"].append(nct_id + template.trial)
        for table, children in template.children.items():
            rows[table].extend(nct_id + child for child in children)
        if not template.site_count:
            continue
        rng = random.Random(k)
        chosen = template.sites
        if template.site_count < len(chosen):
            chosen = rng.sample(chosen, template.site_count)
        for position, (facility, country, country_code, status, contacts) in enumerate(chosen):
            cc, city, lat, lon, _ = cities.pick(rng, country_code)
            where = (city, None, None, country, country_code or cc, status, round(lat, 5), round(lon, 5))
            rows["site"].append((*nct_id, position, facility, *where, "gazetteer", "city", contacts))
    return rows


def write_sqlite(path: Path, chunks: Iterator[dict[str, list[Row]]]) -> None:
    """Bulk executemany in one transaction per chunk; triggers fill the R*Tree, FTS5 indexes."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY"):
        conn.execute(f"PRAGMA {pragma}")
    statements = {
        t: f"INSERT INTO {t} ({c}) VALUES ({', '.join('?' * (c.count(',') + 1))})" for t, c in TABLES.items()
    }
    for rows in chunks:
        conn.execute("BEGIN")
        for table, table_rows in rows.items():
            conn.executemany(statements[table], table_rows)
        conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def write_postgresql(engine: Engine, chunks: Iterator[dict[str, list[Row]]]) -> None:
    """COPY per table and chunk; the generated tsvector and the GiST index compute themselves."""
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        assert pg is not None
        pg.execute("SET synchronous_commit TO off")
        for rows in chunks:
            with pg.cursor() as cursor:
                for table, table_rows in rows.items():
                    with cursor.copy(f"COPY {table} ({TABLES[table]}) FROM STDIN") as copy:
                        for row in table_rows:
                            copy.write_row(row)
            pg.commit()
        pg.autocommit = True
        # Steady state, as autovacuum leaves it after a bulk load: statistics, hint bits set
        # and an all-visible map (index-only scans), not the first reader's cleanup work.
        pg.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
    finally:
        raw.close()


Sex = Literal["female", "male"]


@dataclass(frozen=True)
class Query:
    condition: str
    lat: float
    lon: float
    place: str
    radius_km: float
    age: int
    sex: Sex | None


def make_queries(
    count: int, seed: int, templates: list[Template], cities: Cities, conditions: list[str]
) -> list[Query]:
    """Patients where the sites are (a site's country, by population), plus remote ones."""
    rng = random.Random(seed)
    weights = [t.site_count for t in templates]
    queries = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.08:  # anywhere on the globe: mostly ocean
            lat, lon = math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)
            place = f"{lat:.2f},{lon:.2f}"
        elif roll < 0.15:  # a village
            cc, name, lat, lon, _ = rng.choice(cities.small)
            place = f"{name}, {cc} (village)"
        else:
            template = rng.choices(templates, weights)[0]
            cc, name, lat, lon, _ = cities.pick(rng, rng.choice(template.sites)[2])
            place = f"{name}, {cc}"
        condition = rng.choice(COMMON_CONDITIONS if rng.random() < 0.4 else conditions)
        radius = round(25 * 20 ** rng.random())
        sex: Sex | None = rng.choice(("female", "male", "female", "male", None))
        queries.append(Query(condition, lat, lon, place, radius, rng.randint(10, 85), sex))
    return queries


class Phases:
    """Exclusive time per instrumented function (nested calls are not counted twice)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._stack: list[list[float]] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [time.perf_counter(), 0.0]
            self._stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self._stack.pop()
                elapsed = time.perf_counter() - frame[0]
                self.totals[name] = self.totals.get(name, 0.0) + elapsed - frame[1]
                if self._stack:
                    self._stack[-1][1] += elapsed

        return timed

    def take(self) -> dict[str, float]:
        totals, self.totals = self.totals, {}
        return totals


def instrument(phases: Phases) -> list[tuple[ModuleType, str, Any]]:
    """Wrap the matching steps with phase timers; returns what to restore."""
    import matching.candidates
    import matching.match
    import matching.search

    # Names looked up in the module that calls them; those a refactor removed are skipped.
    targets = [
        (matching.candidates, "count_sites_in_box", "box count"),
        (matching.candidates, "find_trials", "relevance"),
        (matching.match, "find_candidates", "candidate sql"),
        (matching.match, "criteria_needs", "criteria needs"),
        (matching.match, "complete_candidates", "complete rows"),
        (matching.match, "load_criteria", "criteria load"),
        (matching.match, "evaluate_trial_criteria", "criteria eval"),
        (matching.match, "no_match_hint", "no-match hint"),
        (matching.match, "condition_presence", "no-match hint"),
        (matching.search, "find_candidates", "candidate sql"),
    ]
    saved = []
    for module, attr, name in targets:
        original = getattr(module, attr, None)
        if original is not None:
            saved.append((module, attr, original))
            setattr(module, attr, phases.wrap(name, original))
    return saved


@dataclass
class Timing:
    query: Query
    match_ms: float = 0.0
    search_ms: float = 0.0
    matches: int = 0
    found: int = 0
    considered: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def _failed(conn: Connection, what: str, exc: Exception) -> str:
    conn.rollback()
    return f"{what}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"


def run_queries(
    conn: Connection, queries: list[Query], phases: Phases, label: str = "", search_limit: int | None = LIMIT
) -> list[Timing]:
    from matching.match import Place, match_trials
    from matching.patient import Patient
    from matching.search import SearchQuery, search_trials

    timings = []
    for i, q in enumerate(queries, 1):
        place = Place(q.lat, q.lon, q.place)
        patient = Patient(age=q.age, sex=q.sex, radius_km=q.radius_km, conditions=[q.condition])
        timing = Timing(q)
        phases.take()
        start = time.perf_counter()
        try:
            matched = match_trials(conn, patient, place, today=TODAY, limit=LIMIT)
            timing.matches, timing.considered = len(matched.matches), matched.considered
        except Exception as exc:  # a query the store refuses is a finding, not the end of the run
            timing.error = _failed(conn, "match", exc)
        middle = time.perf_counter()
        timing.match_ms, timing.phases = (
            (middle - start) * 1000,
            {k: v * 1000 for k, v in phases.take().items()},
        )
        try:
            found = search_trials(
                conn, SearchQuery(q.condition, place, radius_km=q.radius_km, limit=search_limit)
            )
            timing.found = len(found.matches)
        except Exception as exc:
            timing.error = _failed(conn, "search", exc)
        timing.search_ms = (time.perf_counter() - middle) * 1000
        phases.take()
        timings.append(timing)
        if label and i % 25 == 0:
            print(f"  {label}: {i} of {len(queries)} patients", file=sys.stderr, flush=True)
    return timings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def report(name: str, timings: list[Timing]) -> None:
    failed = [t for t in timings if t.error]
    if failed:
        errors = Counter(t.error for t in failed)
        print(f"{name}: {len(failed)} of {len(timings)} patients FAILED (left out of the figures):")
        for error, count in errors.most_common(3):
            print(f"  {count} x {error}")
        timings = [t for t in timings if not t.error]
    if not timings:
        return
    for label, values, counts in (
        ("match ", [t.match_ms for t in timings], [t.matches for t in timings]),
        ("search", [t.search_ms for t in timings], [t.found for t in timings]),
    ):
        print(
            f"{name} {label}: p50 {percentile(values, 50):7.1f} ms  p95 {percentile(values, 95):7.1f} ms  "
            f"p99 {percentile(values, 99):7.1f} ms  max {max(values):7.1f} ms  "
            f"mean {statistics.fmean(values):6.1f} ms; mean results {statistics.fmean(counts):.1f}"
        )
    names = sorted({k for t in timings for k in t.phases})
    other = [t.match_ms - sum(t.phases.values()) for t in timings]
    parts = [(n, [t.phases.get(n, 0.0) for t in timings]) for n in names] + [("rest", other)]
    print(
        f"{name} match time by phase, mean / p95 ms: "
        + "; ".join(f"{n} {statistics.fmean(v):.1f} / {percentile(v, 95):.1f}" for n, v in parts)
    )
    print(f"{name} slowest match queries:")
    for t in sorted(timings, key=lambda t: -t.match_ms)[:5]:
        q = t.query
        phases = ", ".join(f"{k} {v:.0f}" for k, v in sorted(t.phases.items(), key=lambda kv: -kv[1])[:3])
        print(
            f"  {t.match_ms:7.1f} ms (search {t.search_ms:6.1f} ms)  {q.condition!r} within {q.radius_km:g} km "
            f"of {q.place}: {t.considered} candidates, {t.matches} shown [{phases}]"
        )


def measure(
    name: str,
    engine: Engine,
    queries: list[Query],
    warmup: list[Query],
    save: Path | None = None,
    search_limit: int | None = LIMIT,
) -> None:
    phases = Phases()
    saved = instrument(phases)
    try:
        with engine.connect() as conn:
            run_queries(conn, warmup, phases, search_limit=search_limit)
            timings = run_queries(conn, queries, phases, name, search_limit)
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)
    report(name, timings)
    if save is not None:
        with save.open("a") as out:
            for t in timings:
                out.write(json.dumps({"backend": name, **asdict(t)}) + "\n")


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        trials = conn.execute(text("SELECT count(*) FROM trial")).scalar_one()
        sites = conn.execute(text("SELECT count(*) FROM site")).scalar_one()
    return int(trials), int(sites)


def build(
    label: str,
    write: Callable[[Iterator[dict[str, list[Row]]]], None],
    templates: list[Template],
    cities: Cities,
    trials: int,
) -> float:
    start = time.perf_counter()
    step = max(CHUNK, trials // 10 // CHUNK * CHUNK)

    def progress(done: int) -> None:
        if done % step == 0 or done == trials:
            elapsed = time.perf_counter() - start
            print(f"  {label}: {done:,} trials in {elapsed:.0f} s", file=sys.stderr, flush=True)

    def chunks() -> Iterator[dict[str, list[Row]]]:
        for first in range(0, trials, CHUNK):
            yield clone_rows(templates, first, min(trials, first + CHUNK), cities)
            progress(min(trials, first + CHUNK))

    write(chunks())
    return time.perf_counter() - start


def sqlite_store(args: argparse.Namespace, work: Path, params: dict[str, Any], **kw: Any) -> Engine:
    from db.engine import open_store

    path = work / f"match-{args.trials}.db"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists() and json.loads(meta.read_text()).get("params") == params:
        built = json.loads(meta.read_text())
        print(f"sqlite: reusing {path} (built in {built['seconds']:.0f} s)")
    else:
        meta.unlink(missing_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        open_store(f"sqlite:///{path}").dispose()
        seconds = build("sqlite", lambda chunks: write_sqlite(path, chunks), trials=args.trials, **kw)
        meta.write_text(json.dumps({"params": params, "seconds": seconds}))
        print(f"sqlite: built in {seconds:.0f} s")
    engine = open_store(f"sqlite:///{path}")
    trials, sites = counts(engine)
    size = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
    print(f"sqlite: {trials:,} trials, {sites:,} sites, {size / 1e9:.2f} GB ({path})")
    if args.warm_cache:
        start = time.perf_counter()
        with path.open("rb") as store:
            while store.read(1 << 24):
                pass
        print(f"sqlite: store read once into the page cache in {time.perf_counter() - start:.0f} s")
    return engine


def pg_admin(sql: str) -> list[Row]:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def postgresql_store(args: argparse.Namespace, schema: str, params: dict[str, Any], **kw: Any) -> Engine:
    from db.engine import open_store

    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    found = pg_admin(
        f"SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = '{schema}'"
    )
    if found and found[0][0] and json.loads(found[0][0]).get("params") == params:
        print(f"postgresql: reusing schema {schema}")
    else:
        pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        pg_admin(f'CREATE SCHEMA "{schema}"')
        engine = open_store(url)
        seconds = build(
            "postgresql", lambda chunks: write_postgresql(engine, chunks), trials=args.trials, **kw
        )
        engine.dispose()
        comment = json.dumps({"params": params, "seconds": seconds}).replace("'", "''")
        pg_admin(f"COMMENT ON SCHEMA \"{schema}\" IS '{comment}'")
        print(f"postgresql: built in {seconds:.0f} s")
    engine = open_store(url)
    trials, sites = counts(engine)
    size = pg_admin(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
        f"ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'm')"
    )[0][0]
    print(f"postgresql: {trials:,} trials, {sites:,} sites, {int(size) / 1e9:.2f} GB (schema {schema})")
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=500_000, help="trials in the store")
    parser.add_argument("--sites-per-trial", type=float, default=6.2, help="mean sites per trial")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) the stores here")
    parser.add_argument("--queries", type=int, default=200, help="timed patients")
    parser.add_argument("--warmup", type=int, default=20, help="untimed patients first")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--search-limit", type=int, default=LIMIT, help="results a search builds (0: every one, as --json)"
    )
    parser.add_argument(
        "--warm-cache",
        action="store_true",
        help="read the SQLite store once before timing, as a long-running service has it cached",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument(
        "--save", type=Path, default=None, help="append per-patient timings here (JSON lines)"
    )
    parser.add_argument("--pg-schema", default=None, help="PostgreSQL schema to use (reused if complete)")
    args = parser.parse_args()

    from ingest.places.gazetteer.lookup import Gazetteer

    gazetteer = Gazetteer.open().path  # built first if missing
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        template_path = work / "templates.db"
        if not template_path.exists():
            start = time.perf_counter()
            build_template_store(template_path)
            print(f"templates: fixtures ingested in {time.perf_counter() - start:.1f} s")
        templates, revision = load_templates(template_path)
        cap = cap_sites(templates, args.sites_per_trial)
        cities = Cities(gazetteer)
        print(
            f"templates: {len(templates)} trials, {sum(len(t.sites) for t in templates):,} sites; "
            f"clones keep at most {cap} sites each"
        )
        conditions = sorted(
            {c[2] for t in templates for c in t.children["trial_condition"] if c[1] == "listed"}
        )
        queries = make_queries(args.queries, args.seed, templates, cities, conditions)
        warmup = make_queries(args.warmup, args.seed + 1, templates, cities, conditions)
        params = {
            "version": STORE_VERSION,
            "schema": revision,
            "trials": args.trials,
            "sites_per_trial": args.sites_per_trial,
            "templates": len(templates),
            "gazetteer": gazetteer.name,  # sites are placed on its cities
        }
        kw = {"templates": templates, "cities": cities}
        if args.backend in ("sqlite", "both"):
            engine = sqlite_store(args, work, params, **kw)
            measure("sqlite", engine, queries, warmup, args.save, args.search_limit or None)
            engine.dispose()
        if args.backend in ("postgresql", "both"):
            schema = args.pg_schema or f"bench_{uuid.uuid4().hex[:8]}"
            try:
                engine = postgresql_store(args, schema, params, **kw)
                measure("postgresql", engine, queries, warmup, args.save, args.search_limit or None)
                engine.dispose()
            finally:
                if args.keep:
                    print(f"postgresql: kept schema {schema} (--pg-schema {schema} reuses it)")
                else:
                    pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
