"""``trialsite sync`` against the loopback registry moving over "registry days", on SQLite
and PostgreSQL: full then incremental from the registry's own watermark, the overlap day,
a run killed with SIGKILL and resumed to the store an uninterrupted run leaves, one run at
a time (exit 3), a stale lock taken over, a failing registry leaving the watermark alone."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli import app
from db.engine import open_store
from ingest.ctgov.client import RegistryClient
from ingest.sync.runner import run_sync
from ingest.sync.summary import get_watermark
from tests.registry_server import Fault, RegistryServer, load_studies, nct_id_of, serve_registry

ROOT = Path(__file__).resolve().parent.parent
DAY1, DAY2, DAY3 = "2026-12-01T09:00:00", "2026-12-02T09:00:00", "2026-12-03T09:00:00"


def client(server: RegistryServer) -> RegistryClient:
    return RegistryClient(
        server.base_url, rate_limit_per_minute=None, backoff_base=0.01, sleep=lambda s: None
    )


def touched(study: dict[str, Any], day: str, **status: Any) -> dict[str, Any]:
    """The study as the registry serves it after an update posted on ``day``."""
    changed = copy.deepcopy(study)
    module = changed["protocolSection"]["statusModule"]
    module["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    module.update(status)
    return changed


def day2(studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Day 2: the first study closes, the second is updated without news, one is new."""
    new = touched(studies[2], "2026-12-02")
    new["protocolSection"]["identificationModule"]["nctId"] = "NCT09999901"
    new["protocolSection"]["identificationModule"].pop("nctIdAliases", None)
    return [
        touched(studies[0], "2026-12-02", overallStatus="COMPLETED"),
        touched(studies[1], "2026-12-01", whyStopped="posted late on day 1"),
        *studies[2:],
        new,
    ]


def store_state(engine: Engine) -> dict[str, Any]:
    """What the store says about the trials, without run bookkeeping (ids, times, run logs)."""
    with engine.connect() as conn:
        return {
            "trials": sorted(
                conn.execute(text("SELECT nct_id, content_hash, overall_status FROM trial")).all()
            ),
            "sites": Counter(r[0] for r in conn.execute(text("SELECT nct_id FROM site"))),
            "criteria": Counter(r[0] for r in conn.execute(text("SELECT nct_id FROM criterion"))),
            "changes": Counter(
                tuple(r)
                for r in conn.execute(
                    text("SELECT nct_id, kind, field, old_value, new_value FROM change_event")
                )
            ),
            "quarantine": conn.execute(text("SELECT count(*) FROM quarantine")).scalar_one(),
            "removed": sorted(
                conn.execute(
                    text(
                        "SELECT nct_id, removed_from_registry FROM trial WHERE removed_from_registry IS NOT NULL"
                    )
                ).all()
            ),
            "watermark": get_watermark(engine),
        }


@pytest.fixture
def studies() -> list[dict[str, Any]]:
    return load_studies()


def test_full_then_incremental_from_the_registry_watermark(
    engine: Engine, studies: list[dict[str, Any]]
) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        first = run_sync(engine, client(server), page_size=4, geocode=None)
        assert (first.status, first.mode, first.watermark) == ("succeeded", "full", DAY1)
        assert first.inserted == len(studies) and first.pages == 4 and first.exit_code == 0
        assert "filter.advanced" not in server.requests_to("/studies")[0].params
        assert get_watermark(engine) == DAY1

        server.set_studies(day2(studies), DAY2)
        second = run_sync(engine, client(server), page_size=4, geocode=None)
    assert (second.status, second.mode, second.watermark) == ("succeeded", "incremental", DAY2)
    listing = server.requests_to("/studies")[-1].params
    assert listing["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-11-30,MAX]"
    # The day-1 late posting is caught by the overlap day; the new study is inserted.
    assert second.seen == 3 and second.inserted == 1 and second.updated == 2
    assert second.requests == 2  # /version and one page
    with engine.connect() as conn:
        status = conn.execute(
            text(
                "SELECT old_value, new_value FROM change_event WHERE nct_id = :n AND field = 'overall_status'"
            ),
            {"n": nct_id_of(studies[0])},
        ).all()
    assert status == [("RECRUITING", "COMPLETED")]
    assert get_watermark(engine) == DAY2


def test_a_failing_registry_keeps_the_watermark_and_what_was_stored(
    engine: Engine, studies: list[dict[str, Any]]
) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        run_sync(engine, client(server), page_size=4)
        server.set_studies(day2(studies), DAY2)
        # /version and page 1 answer; page 2 fails beyond its one retry.
        server.add_faults(Fault("timeout", delay=0.0), Fault("timeout", delay=0.0), "500", "500")
        failing = RegistryClient(
            server.base_url, rate_limit_per_minute=None, max_retries=1, sleep=lambda s: None
        )
        failed = run_sync(engine, failing, page_size=4, full=True)
    assert failed.status == "failed" and failed.exit_code == 1 and "HTTP 500" in (failed.error or "")
    assert failed.pages == 1 and failed.seen == 4 and failed.updated == 2  # page 1 kept
    assert get_watermark(engine) == DAY1


def _sync_process(url: str, base_url: str, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "cli", "--db", url, "sync", "--base-url", base_url, "--page-size", "4",
               "--rate-limit", "0", "--no-geocode", "--json", *extra]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("killed_after_pages", [1, 2])
def test_a_run_killed_with_sigkill_resumes_to_the_same_store(
    store_url: str, tmp_path: Path, studies: list[dict[str, Any]], killed_after_pages: int
) -> None:
    from tests.conftest import empty_store

    kind = "sqlite" if store_url.startswith("sqlite") else "postgresql"
    with serve_registry(studies) as server, empty_store(kind, tmp_path / "clean") as clean_url:
        server.data_timestamp = DAY1
        reference = open_store(clean_url)
        run_sync(reference, client(server), page_size=4)

        engine = open_store(store_url)
        # Hold the page after `killed_after_pages` back long enough to kill the process mid-run.
        server.add_faults(
            *([Fault("timeout", delay=0.0)] * (killed_after_pages + 1)), Fault("timeout", delay=30)
        )
        before = len(server.requests_to("/studies"))
        process = _sync_process(store_url, server.base_url)
        deadline = time.monotonic() + 60
        while (
            len(server.requests_to("/studies")) - before <= killed_after_pages and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        time.sleep(0.3)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        with engine.connect() as conn:
            running = conn.execute(text("SELECT status, pages, page_token FROM sync_run")).all()
        assert [r[0] for r in running] == ["running"] and running[0][1] == killed_after_pages
        assert get_watermark(engine) is None

        server.faults.clear()
        resumed = run_sync(engine, client(server), page_size=4)
        assert resumed.resumed and resumed.status == "succeeded"
        assert resumed.pages == 4 - killed_after_pages  # carried on from the checkpoint
        assert store_state(engine) == store_state(reference)
        with engine.connect() as conn:
            statuses = [r[0] for r in conn.execute(text("SELECT status FROM sync_run ORDER BY id"))]
        assert statuses == ["interrupted", "succeeded"]
        engine.dispose()
        reference.dispose()


def test_a_token_the_registry_forgot_restarts_the_listing(
    engine: Engine, studies: list[dict[str, Any]]
) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        server.add_faults(Fault("timeout", delay=0.0), Fault("timeout", delay=0.0), "500", "500")
        flaky = RegistryClient(
            server.base_url, rate_limit_per_minute=None, max_retries=1, sleep=lambda s: None
        )
        assert run_sync(engine, flaky, page_size=4).status == "failed"  # page 2 failed: checkpoint kept
        server.forget_tokens()
        resumed = run_sync(engine, client(server), page_size=4)
    assert resumed.resumed and resumed.restarted_listing and resumed.status == "succeeded"
    assert resumed.unchanged == 4 and resumed.inserted == len(studies) - 4
    assert get_watermark(engine) == DAY1


HOLD = (
    "import sys, time\n"
    "from db.engine import open_store\n"
    "from ingest.sync.lock import Lock\n"
    "Lock.acquire(open_store(sys.argv[1]))\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


def test_one_sync_at_a_time_and_a_killed_holder_does_not_block(
    store_url: str, studies: list[dict[str, Any]]
) -> None:
    open_store(store_url).dispose()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, store_url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with serve_registry(studies) as server:
            args = [
                "--db",
                store_url,
                "sync",
                "--base-url",
                server.base_url,
                "--no-geocode",
                "--rate-limit",
                "0",
            ]
            refused = CliRunner().invoke(app, args)
            assert refused.exit_code == 3, refused.output
            assert refused.stderr.startswith(f"Error: another sync is running: pid {holder.pid} on ")
            assert "since 20" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
            os.kill(
                holder.pid, signal.SIGKILL
            )  # its lock row (SQLite) or session (PostgreSQL) is left behind
            holder.wait(timeout=30)
            ok = CliRunner().invoke(app, [*args, "--json"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["inserted"] == len(studies)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_status_reports_runs_and_watermark(store_url: str, studies: list[dict[str, Any]]) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        CliRunner().invoke(
            app,
            ["--db", store_url, "sync", "--base-url", server.base_url, "--no-geocode", "--rate-limit", "0"],
        )
    report = json.loads(CliRunner().invoke(app, ["--db", store_url, "sync", "--status", "--json"]).stdout)
    assert report["watermark"] == DAY1
    assert report["runs"][0]["status"] == "succeeded" and report["runs"][0]["seen"] == len(studies)


def test_healthz_tells_the_last_sync(store_url: str, studies: list[dict[str, Any]]) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    engine = open_store(store_url)
    try:
        with serve_registry(studies) as server:
            server.data_timestamp = DAY1
            run_sync(engine, client(server), page_size=20)
    finally:
        engine.dispose()
    with TestClient(create_app(store_url)) as api:
        health = api.get("/healthz").json()
    assert health["last_sync"]["status"] == "succeeded" and health["sync_watermark"] == DAY1


def test_throttling_errors_and_timeouts_mid_run_lose_nothing(
    engine: Engine, studies: list[dict[str, Any]], tmp_path: Path
) -> None:
    """429 with Retry-After, 5xx, a timeout and a truncated body between and inside pages:
    retried as `ingest ctgov` retries them, and the store ends as a clean run leaves it."""
    from tests.conftest import empty_store

    kind = engine.dialect.name
    waits: list[float] = []
    with serve_registry(studies) as server, empty_store(kind, tmp_path / "clean") as clean_url:
        server.data_timestamp = DAY1
        reference = open_store(clean_url)
        run_sync(reference, client(server), page_size=4)
        server.add_faults(
            Fault("429", retry_after="2"),  # /version
            Fault("timeout", delay=0.0),  # page 1 answers
            "503",
            Fault("timeout", delay=1.5),  # page 2: 503, then no answer within the deadline
            "truncate",
            "502",  # page 3: a cut body, then a bad gateway
        )
        patient = RegistryClient(
            server.base_url,
            rate_limit_per_minute=None,
            backoff_base=0.01,
            sleep=waits.append,
            timeout=(2.0, 0.5),
        )
        run = run_sync(engine, patient, page_size=4)
        faults = [r.fault for r in server.requests if r.fault]
        assert run.status == "succeeded" and run.inserted == len(studies) and run.exit_code == 0
        assert run.requests == 1 + 4 + 5  # /version and 4 pages, and 5 retries
        assert 2.0 in waits  # Retry-After honoured
        assert "truncate" in faults and "429" in faults
        assert store_state(engine) == store_state(reference)
        reference.dispose()


def test_three_registry_days_a_killed_first_sync_ends_identical_to_a_clean_one(
    store_url: str, tmp_path: Path
) -> None:
    """Day 1: the first sync is killed with SIGKILL mid-run, the next resumes it; day 2:
    statuses change, a study is new; day 3: two studies are gone (`--check-removed`). Each
    day the store equals one that never failed."""
    from tests.conftest import empty_store

    hundred = load_studies(
        ROOT / "tests" / "fixtures" / "ctgov" / "v2-studies" / "nsclcbench_ctg-studies_100.json"
    )
    kind = "sqlite" if store_url.startswith("sqlite") else "postgresql"
    days = [(DAY1, hundred), (DAY2, day2(hundred)), (DAY3, day2(hundred)[2:])]
    with serve_registry(hundred) as server, empty_store(kind, tmp_path / "clean") as clean_url:
        clean, engine = open_store(clean_url), open_store(store_url)
        for number, (stamp, registry) in enumerate(days, start=1):
            server.set_studies(registry, stamp)
            extra = ("--check-removed",) if number == 3 else ()
            reference = run_sync(clean, client(server), page_size=20, check_removed=bool(extra) or None)
            assert reference.status == "succeeded"
            if number == 1:
                server.add_faults(*[Fault("timeout", delay=0.0)] * 3, Fault("timeout", delay=30))
                before = len(server.requests_to("/studies"))
                process = _sync_process(store_url, server.base_url, "--page-size", "20")
                deadline = time.monotonic() + 60
                while len(server.requests_to("/studies")) - before < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.3)
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                server.faults.clear()
            done = CliRunner().invoke(
                app,
                [
                    "--db",
                    store_url,
                    "sync",
                    "--base-url",
                    server.base_url,
                    "--page-size",
                    "20",
                    "--rate-limit",
                    "0",
                    "--no-geocode",
                    "--json",
                    *extra,
                ],
            )
            assert done.exit_code == 0, done.output
            summary = json.loads(done.stdout)
            assert summary["resumed"] == (number == 1)
            if number == 3:
                assert summary["removed"] == 2 == reference.removed
            assert store_state(engine) == store_state(clean), f"day {number}"
        removed = CliRunner().invoke(app, ["--db", store_url, "show", nct_id_of(hundred[0]), "--json"])
        assert json.loads(removed.stdout)["removed_from_registry"] == DAY3[:10]
        changes = CliRunner().invoke(app, ["--db", store_url, "changes", "--since", "2026-01-01", "--json"])
        assert '"removed"' in changes.stdout and '"COMPLETED"' in changes.stdout
        clean.dispose()
        engine.dispose()


def test_the_lock_is_per_store(engine: Engine, tmp_path: Path) -> None:
    """Two stores (PostgreSQL: two schemas of one database) sync side by side; one store
    takes one run at a time."""
    from ingest.sync.lock import Lock, SyncLocked
    from tests.conftest import empty_store

    with empty_store(engine.dialect.name, tmp_path / "other") as other_url:
        other = open_store(other_url)
        held = Lock.acquire(engine)
        try:
            Lock.acquire(other).release()
            with pytest.raises(SyncLocked):
                Lock.acquire(engine)
        finally:
            held.release()
            other.dispose()
        Lock.acquire(engine).release()
