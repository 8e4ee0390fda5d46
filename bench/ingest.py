"""Benchmark bulk ingest: `trialsite ingest file` on a registry-style bulk archive.

Builds ``ctg-studies.json.zip`` with N studies (default 100,000) by re-keying
the real fixture records (new NCT ids, same content), then times the real
command in a subprocess into SQLite and into PostgreSQL, and prints studies
per second, the subprocess's peak RSS, and the ratio to plain ``json``
decoding of the same archive (read every member and ``json.loads`` it).

    python -m bench.ingest                    # 100,000 studies, SQLite and PostgreSQL
    python -m bench.ingest --count 20000 --backend sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "ctgov" / "v2-studies"
PG_URL = os.environ.get("TRIALSITE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fixture_studies() -> list[dict[str, Any]]:
    studies: dict[str, dict[str, Any]] = {}
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        for study in data if isinstance(data, list) else [data]:
            studies.setdefault(study["protocolSection"]["identificationModule"]["nctId"], study)
    return list(studies.values())


def build_archive(path: Path, count: int) -> int:
    """Write ``count`` re-keyed studies, one JSON member each; returns uncompressed bytes."""
    studies = fixture_studies()
    # Serialize each template once; re-keying is a replacement of its NCT id.
    templates = [(s["protocolSection"]["identificationModule"]["nctId"], json.dumps(s)) for s in studies]
    total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for i in range(count):
            old_id, text = templates[i % len(templates)]
            new_id = f"NCT{90000000 + i:08d}"
            body = text.replace(old_id, new_id).encode()
            total += len(body)
            archive.writestr(f"{new_id}.json", body)
    return total


def time_plain_json(path: Path) -> float:
    start = time.perf_counter()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            json.loads(archive.read(info))
    return time.perf_counter() - start


def run_ingest(archive: Path, db_url: str, extra: list[str]) -> tuple[float, float, dict[str, Any]]:
    """Run the real command; returns (seconds, its peak RSS in MB, its JSON summary)."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "cli", "--db", db_url, "ingest", "file", str(archive), "--json", *extra],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
        )
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"ingest failed ({child.returncode}): {stderr.read()[-2000:].decode()}")
        summary = json.loads(stdout.read())
    return elapsed, usage.ru_maxrss / 1024, summary


def pg_schema_url() -> tuple[str, str] | None:
    try:
        import psycopg
    except ImportError:
        return None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        print(f"postgresql: skipped, not reachable ({exc})")
        return None
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _load() -> str:
    """The 1-minute load average: wall-clock figures on a shared machine need it beside them."""
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000, help="studies in the archive")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the archive here")
    parser.add_argument(
        "--mode",
        choices=["full", "deferred", "both"],
        default="both",
        help="full: criteria parsed at ingest (the default command); deferred: --defer-criteria",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        archive = work / "ctg-studies.json.zip"
        start = time.perf_counter()
        size = build_archive(archive, args.count)
        print(
            f"archive: {args.count:,} studies, {size / 1e6:,.0f} MB of JSON, "
            f"{archive.stat().st_size / 1e6:,.0f} MB zipped, built in {time.perf_counter() - start:.1f} s"
        )
        plain = time_plain_json(archive)
        print(
            f"plain json decoding: {plain:.1f} s ({args.count / plain:,.0f} studies/s); load average {_load()}"
        )

        modes = ["full", "deferred"] if args.mode == "both" else [args.mode]
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        for backend in backends:
            for mode in modes:
                schema = None
                if backend == "sqlite":
                    target = work / f"bench-{mode}.db"
                    target.unlink(missing_ok=True)
                    url = f"sqlite:///{target}"
                else:
                    found = pg_schema_url()
                    if found is None:
                        break
                    schema, url = found
                extra = ["--defer-criteria"] if mode == "deferred" else []
                try:
                    elapsed, rss, summary = run_ingest(archive, url, extra)
                finally:
                    if schema:
                        drop_schema(schema)
                print(
                    f"{backend} ({mode} criteria): {summary['inserted']:,} inserted in {elapsed:.1f} s = "
                    f"{args.count / elapsed:,.0f} studies/s; peak RSS {rss:,.0f} MB; "
                    f"{elapsed / plain:.1f}x plain json decoding; load average {_load()}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
