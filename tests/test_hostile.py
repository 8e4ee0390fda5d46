"""Hostile servers and inputs (issue 14): every case ends in bounded time with one
``Error:`` line, keeps what was fetched before the failure, and stays under a
memory bound. Commands run as a user runs them, in a subprocess (bounded by a
timeout, so a hang fails the test instead of hanging it), against real loopback
servers (``tests/hostile_server.py``) and real stores on both backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text

from api.app import create_app
from db.engine import open_store
from db.models import IngestRun
from db.upsert import QUARANTINE, TRIAL
from ingest.ctgov.client import RegistryClient, RegistryQuery, RegistryUnavailable
from ingest.files.reader import iter_paths
from ingest.pipeline import ingest_items
from tests.conftest import V2
from tests.hostile_server import serve_hostile
from tests.registry_server import load_studies

TRIALSITE = Path(sys.executable).parent / "trialsite"
# Runs a command and reports its peak RSS (KiB) on the last line of stderr.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(f'RSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)
MB = 1024


class Ran:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        lines = proc.stderr.rstrip("\n").splitlines()
        self.rss_mb = int(lines.pop().removeprefix("RSS_KB=")) / MB
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.errors = [line for line in lines if line.strip()]


def trialsite(*args: str, timeout: float = 60) -> Ran:
    """Run ``trialsite ARGS`` in a subprocess; a hang past ``timeout`` fails the test."""
    env = {**os.environ, "NO_COLOR": "1", "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(TRIALSITE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return Ran(proc)


def stored(store_url: str) -> int:
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(TRIAL)).scalar_one())
    finally:
        engine.dispose()


def quarantined(store_url: str) -> int:
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(QUARANTINE)).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def studies() -> list[dict[str, Any]]:
    return load_studies()


def ctgov(store_url: str, base_url: str, *extra: str) -> Ran:
    return trialsite(
        "--db", store_url, "ingest", "ctgov", "--base-url", base_url, "--rate-limit", "0",
        "--page-size", "5", "--no-geocode", *extra,
    )  # fmt: skip


def test_a_looping_page_token_stops_with_one_line_and_keeps_the_pages(
    store_url: str, studies: list[dict[str, Any]]
) -> None:
    with serve_hostile("looping", studies) as server:
        ran = ctgov(store_url, server.base_url)
        hits = server.hits
    assert ran.code == 1
    assert len(ran.errors) == 1 and ran.errors[0].startswith("Error: registry repeated page token 't100'")
    assert hits == 3  # page 1, t100, t200 (which sends t100 again)
    assert stored(store_url) == 10


def test_more_pages_than_total_count_allows_stop_the_listing(
    store_url: str, studies: list[dict[str, Any]]
) -> None:
    with serve_hostile("endless_tokens", studies) as server:
        ran = ctgov(store_url, server.base_url)
    assert ran.code == 1
    assert len(ran.errors) == 1 and "listing of 10 studies" in ran.errors[0]
    assert stored(store_url) == 5


def test_a_failing_page_2_keeps_page_1(store_url: str, studies: list[dict[str, Any]]) -> None:
    with serve_hostile("page2_fails", studies, status=400) as server:
        ran = ctgov(store_url, server.base_url)
    assert ran.code == 1
    assert ran.errors == [
        f"Error: registry answered HTTP 400 for {server.base_url}/studies?format=json&pageSize=5"
        "&pageToken=page2: page 2 is broken"
    ]
    assert "seen 5: 5 inserted" in ran.stdout
    assert stored(store_url) == 5
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            run = conn.execute(select(IngestRun.__table__)).one()  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    assert (run.status, run.seen, run.inserted) == ("failed", 5, 5)


def test_a_trickled_registry_body_is_a_timeout_within_the_deadline() -> None:
    with serve_hostile("trickle", interval=0.2) as server:
        client = RegistryClient(
            server.base_url, rate_limit_per_minute=None, deadline=0.5, max_retries=1, sleep=lambda s: None
        )
        with client, pytest.raises(RegistryUnavailable, match=r"read timed out .* after 2 attempts"):
            list(client.fetch_studies(RegistryQuery(page_size=5)))
        assert server.hits == 2


def test_a_trickled_page_is_one_error_line(store_url: str) -> None:
    with serve_hostile("trickle", interval=0.2) as server:
        url = f"{server.base_url}/trial.html"
        ran = trialsite("--db", store_url, "ingest", "page", url, "--timeout", "1", "--no-geocode")
    assert ran.code == 1
    assert ran.errors == [f"Error: {url}: no complete answer within 1 s (--timeout)"]


def test_an_endless_page_stops_at_the_size_cap_in_bounded_memory(store_url: str) -> None:
    with serve_hostile("endless") as server:
        url = f"{server.base_url}/trial.html"
        ran = trialsite("--db", store_url, "ingest", "page", url, "--no-geocode")
    assert ran.code == 1
    assert ran.errors == [f"Error: {url}: response larger than 20 MB; stopped reading"]
    assert ran.rss_mb < 500


def test_file_urls_are_read_and_other_schemes_refused(store_url: str, tmp_path: Path) -> None:
    ran = trialsite("--db", store_url, "ingest", "page", "ftp://example.org/x.html", "--no-geocode")
    assert ran.code == 1
    assert ran.errors == [
        "Error: ftp://example.org/x.html: unsupported URL scheme 'ftp' (use http, https or file)"
    ]
    missing = tmp_path / "nope.html"
    ran = trialsite("--db", store_url, "ingest", "page", missing.as_uri(), "--no-geocode")
    assert ran.errors == [f"Error: {missing.as_uri()}: no such file"]


def test_a_store_refusal_in_a_batch_of_one_is_quarantined(engine: Engine, tmp_path: Path) -> None:
    """PostgreSQL refuses NUL in text; alone in its batch the record used to re-raise."""
    study = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())[4]
    study["protocolSection"]["identificationModule"]["briefTitle"] = "A title with a NUL \u0000 inside"
    path = tmp_path / "one.json"
    path.write_text(json.dumps(study))
    summary = ingest_items(engine, iter_paths([path]), command="test")
    if engine.dialect.name == "sqlite":
        assert (summary.inserted, summary.quarantined) == (1, 0)
        return
    assert (summary.inserted, summary.quarantined) == (0, 1)
    assert summary.quarantine[0]["reason"].startswith("the store refused it: ")


def test_a_read_only_store_is_one_line_and_leaves_no_quarantine(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder / 'ro.db'}"
    assert trialsite("--db", url, "db", "upgrade").code == 0
    view = read_only_view(folder)  # by file modes, or as root a read-only mount
    try:
        ran = subprocess.run(
            [*view, str(TRIALSITE), "--db", url, "ingest", "file", str(V2 / "dgg32_ctg-studies_10.json"),
             "--no-geocode"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        folder.chmod(0o755)
        for path in folder.iterdir():
            path.chmod(0o644)
    errors = [line for line in ran.stderr.splitlines() if line.strip()]
    assert ran.returncode == 1
    assert errors == [f"Error: the store at {folder / 'ro.db'} is read-only (its file or folder cannot be "
                      "written): this command writes to it"]  # fmt: skip
    assert quarantined(url) == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@127.0.0.1/x", "Error: --db: unsupported store 'mysql' (use sqlite:///PATH or postgresql://USER@HOST/DB)"),
        ("sqlite:///{tmp}/no_dir/x.db", "Error: --db: no store at {tmp}/no_dir/x.db (create one with trialsite ingest or trialsite db upgrade)"),
    ],
)  # fmt: skip
def test_bad_store_urls_are_one_line_and_create_nothing(url: str, message: str, tmp_path: Path) -> None:
    ran = trialsite("--db", url.format(tmp=tmp_path), "stats")
    assert ran.code == 1
    assert ran.errors == [message.format(tmp=tmp_path)]
    assert not (tmp_path / "no_dir").exists()


def test_a_corrupt_store_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"not a database at all " * 500)
    ran = trialsite("--db", f"sqlite:///{path}", "stats")
    assert ran.code == 1
    assert len(ran.errors) == 1 and "file is not a database" in ran.errors[0]


def test_an_item_past_the_rule_caps_keeps_its_text_for_review() -> None:
    """The parser's cost grew faster than the text (140 KB: 90 s, 5.7 GB): an item over
    MAX_ITEM_TEXT, or past a record's MAX_RULE_TEXT budget, is kept with no rules."""
    from ingest.criteria.rules import MAX_ITEM_TEXT, MAX_RULE_TEXT, parse_criteria

    phrase = "within the past 6 months of "
    long_item = phrase * (MAX_ITEM_TEXT // len(phrase) + 1)
    (item,) = parse_criteria(f"Inclusion Criteria:\n* {long_item}")
    assert item.text == long_item.strip() and item.rules == () and item.needs_review
    short = "HbA1c > 9% within 3 months of screening"
    items = parse_criteria("Exclusion Criteria:\n" + f"* {short}\n" * (MAX_RULE_TEXT // len(short) + 50))
    assert items[0].rules and not items[-1].rules and items[-1].needs_review


def test_an_unknown_status_is_quarantined_and_limits_are_checked(store_url: str, tmp_path: Path) -> None:
    studies = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())
    studies[2]["protocolSection"]["statusModule"]["overallStatus"] = "BOGUS_STATUS"
    path = tmp_path / "studies.json"
    path.write_text(json.dumps(studies))
    ran = trialsite("--db", store_url, "ingest", "file", str(path), "--no-geocode")
    assert ran.code == 2
    assert "9 inserted" in ran.stdout and "not a registry status: 'BOGUS_STATUS'" in ran.stdout
    assert stored(store_url) == 9
    for limit in ("0", "-1", "99999999999999999999"):
        ran = trialsite("--db", store_url, "quarantine", "--limit", limit)
        assert (ran.code, ran.errors) == (1, [f"Error: --limit must be between 1 and 1,000,000, got {limit}"])


def test_a_killed_run_is_marked_interrupted_by_the_next_load(engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    run = IngestRun.__table__  # type: ignore[attr-defined]
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with engine.begin() as conn:
        conn.execute(insert(run), [{"command": "ingest file", "started_at": long_ago, "status": "running"}])
    summary = ingest_items(engine, iter_paths([V2 / "dgg32_ctg-studies_10.json"]), command="test")
    with engine.connect() as conn:
        rows = conn.execute(select(run.c.id, run.c.status).order_by(run.c.id)).all()
    assert [status for _, status in rows] == ["interrupted", "ok"]
    assert rows[1].id == summary.run_id


def test_a_zip_bomb_member_and_a_bad_zip_are_quarantined_and_the_rest_loads(
    store_url: str, tmp_path: Path
) -> None:
    import zipfile

    folder = tmp_path / "in"
    folder.mkdir()
    studies = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())
    (folder / "a_good.json").write_text(json.dumps(studies))
    (folder / "b_bad.zip").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with zipfile.ZipFile(folder / "c_bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb.json", "w", force_zip64=True) as member:
            block = b" " * (1 << 20)
            for _ in range(1024):  # 1 GB of spaces, about 1 MB deflated
                member.write(block)
        archive.writestr("NCT00000000.json", json.dumps(studies[0]))
    ran = trialsite("--db", store_url, "ingest", "file", str(folder), "--no-geocode", timeout=120)
    assert ran.code == 2, ran.errors
    assert (
        "seen 13: 10 inserted, 0 updated, 0 unchanged, 1 older" in ran.stdout or "10 inserted" in ran.stdout
    )
    assert "not a readable zip archive" in ran.stdout
    assert "zip member refused unread" in ran.stdout
    assert stored(store_url) == 10
    assert ran.rss_mb < 500


def test_a_deeply_nested_page_is_quarantined_and_the_good_page_loads(store_url: str, tmp_path: Path) -> None:
    deep = tmp_path / "deep.html"
    deep.write_text(
        "<html><head><title>NCT01234567</title></head><body>"
        + "<div>" * 1000 + "NCT01234567 A study" + "</div>" * 1000 + "</body></html>"
    )  # fmt: skip
    good = Path(__file__).parent / "fixtures" / "pages" / "seed.html"
    ran = trialsite("--db", store_url, "ingest", "page", str(deep), str(good), "--no-geocode")
    assert ran.code == 2 and not ran.errors
    assert f"quarantined {deep}: nested too deeply to read" in ran.stdout
    assert stored(store_url) == 1


def test_an_xml_entity_in_a_title_quarantines_the_record(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "xxe.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE clinical_study [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        "<clinical_study><id_info><nct_id>NCT01234567</nct_id></id_info>"
        "<brief_title>&xxe;</brief_title><overall_status>Recruiting</overall_status></clinical_study>"
    )
    summary = ingest_items(engine, iter_paths([path]), command="test")
    assert (summary.inserted, summary.quarantined) == (0, 1)
    assert (
        summary.quarantine[0]["reason"]
        == "XML entity reference &xxe; is not allowed (entities are not expanded)"
    )


def test_terminal_escapes_and_markup_in_record_text_are_printed_inert(store_url: str, tmp_path: Path) -> None:
    study = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())[0]
    nct_id = study["protocolSection"]["identificationModule"]["nctId"]
    title = "Lupus \x1b]0;PWNED\x07study \x1b[31mred\x1b[0m :x: [bold]loud[/bold]"
    study["protocolSection"]["identificationModule"]["briefTitle"] = title
    path = tmp_path / "one.json"
    path.write_text(json.dumps(study))
    assert trialsite("--db", store_url, "ingest", "file", str(path), "--no-geocode").code == 0
    ran = trialsite("--db", store_url, "show", nct_id)
    assert ran.code == 0
    assert "\x1b" not in ran.stdout and "\x07" not in ran.stdout
    assert "Lupus ]0;PWNEDstudy [31mred[0m :x: [bold]loud[/bold]" in ran.stdout


@pytest.mark.parametrize(
    ("patient", "message"),
    [
        ('{"age": true}', "field age: expected a number, got true"),
        (json.dumps({"conditions": ["x" * 501]}), "field conditions[0]: String should have at most 500 characters"),
        (json.dumps({"conditions": ["lupus"] * 51}), "field conditions: List should have at most 50 items"),
        (json.dumps({"conditions": ["a" * 2_000_000]}), "a patient file is at most 1 MB"),
    ],
)  # fmt: skip
def test_oversized_or_mistyped_patients_are_refused_at_once(
    patient: str, message: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert trialsite("--db", url, "db", "upgrade").code == 0
    path = tmp_path / "patient.json"
    path.write_text(patient)
    ran = trialsite("--db", url, "match", "--patient", str(path))
    assert ran.code == 1
    assert len(ran.errors) == 1 and ran.errors[0].startswith(f"Error: {path}: {message}")
    assert ran.rss_mb < 500


@pytest.mark.parametrize(
    "args",
    [
        ("search", "lupus", "--limit", "0"),
        ("search", "lupus", "--limit", "-1"),
        ("search", "lupus", "--limit", "99999999999999999999"),
        ("match", "--age", "30", "--limit", "0"),
        ("sync", "--page-size", "0"),
        ("search", "--nope", "lupus"),
        ("bogus",),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_1(args: tuple[str, ...], tmp_path: Path) -> None:
    ran = trialsite("--db", f"sqlite:///{tmp_path}/none.db", *args)
    assert ran.code == 1, ran.errors
    assert len(ran.errors) == 1 and ran.errors[0].startswith("Error: "), ran.errors
    option = next((a for a in reversed(args) if a.startswith("--")), None)
    assert option is None or option in ran.errors[0]
    assert not (tmp_path / "none.db").exists()


def test_version_and_bare_help() -> None:
    assert trialsite("--version").stdout.startswith("trialsite ")
    bare = trialsite()
    assert bare.code == 0 and "Usage: trialsite" in bare.stdout


@pytest.mark.parametrize("query", ["😀", "", "   ", "the", "the of and", "—"])
def test_a_condition_with_no_searchable_word_is_refused(store_url: str, query: str) -> None:
    from tests.sample_store import load_sample

    load_sample(store_url)
    ran = trialsite("--db", store_url, "search", query)
    assert ran.code == 1 and ran.errors[0].startswith("Error: condition: "), ran.errors
    assert "no word to search on" in ran.errors[0] and len(ran.errors) == 1
    matched = trialsite("--db", store_url, "match", "--condition", query, "--age", "40")
    assert matched.code == 1 and "conditions[0]" in matched.errors[0]


def test_stopwords_and_scripts_are_treated_alike_on_both_stores(store_url: str) -> None:
    from tests.sample_store import load_sample

    load_sample(store_url)

    def ids(*condition: str) -> list[str]:
        ran = trialsite("--db", store_url, "search", *condition, "--json")
        assert ran.code == 0, ran.errors
        return [m["nct_id"] for m in json.loads(ran.stdout)["matches"]]

    lupus = ids("lupus")
    assert lupus and ids("the lupus") == lupus == ids("lupus of the")
    assert ids("مرض الكلى") == []  # Arabic words are words: searched, found nowhere, no error


def test_same_date_conflicts_resolve_alike_in_any_order(tmp_path: Path) -> None:
    """Two versions of one study with the same dates and other content: the same one is
    kept whichever comes first (alone or in one file), and the summary says they conflict."""
    study = json.loads((V2 / "NCT04267848.json").read_text())
    other = json.loads(json.dumps(study))
    other["protocolSection"]["identificationModule"]["briefTitle"] = "A retitled version, same dates"
    (tmp_path / "a.json").write_text(json.dumps(study))
    (tmp_path / "b.json").write_text(json.dumps(other))
    (tmp_path / "ab.json").write_text(json.dumps([study, other]))
    (tmp_path / "ba.json").write_text(json.dumps([other, study]))
    kept = set()
    for order in (["a.json", "b.json"], ["b.json", "a.json"], ["ab.json"], ["ba.json"]):
        url = f"sqlite:///{tmp_path}/{'-'.join(order)}.db"
        runs = [trialsite("--db", url, "ingest", "file", str(tmp_path / name), "--json") for name in order]
        assert all(r.code == 0 for r in runs), [r.errors for r in runs]
        assert sum(json.loads(r.stdout)["conflicting"] for r in runs) == 1
        shown = json.loads(trialsite("--db", url, "show", "NCT04267848", "--json").stdout)
        kept.add(shown["brief_title"])
    assert len(kept) == 1
    text = trialsite("--db", f"sqlite:///{tmp_path}/x.db", "ingest", "file", str(tmp_path / "ab.json"))
    assert "1 conflicting version with the same dates as another" in text.stdout


FULL_DISK = """import sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

@event.listens_for(Engine, "connect")
def _small_disk(dbapi_connection, record):
    pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
    dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 40}")

from cli import main
sys.argv = ["trialsite", *sys.argv[1:]]
main()
"""


def test_a_full_disk_is_one_line_and_leaves_no_quarantine(tmp_path: Path) -> None:
    """SQLite told the disk holds 40 more pages ("database or disk is full") mid-load: a store
    fault, not the records' — one Error line, exit 1, no quarantine row; the same load on a
    store with room then stores everything."""
    url = f"sqlite:///{tmp_path / 'full.db'}"
    assert trialsite("--db", url, "db", "upgrade").code == 0
    export = V2 / "nsclcbench_ctg-studies_100.json"
    ran = subprocess.run(
        [sys.executable, "-c", FULL_DISK, "--db", url, "ingest", "file", str(export), "--no-geocode"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    errors = [line for line in ran.stderr.splitlines() if line.strip()]
    assert ran.returncode == 1, ran.stderr
    assert len(errors) == 1 and errors[0].startswith("Error: ") and "full" in errors[0], errors
    assert quarantined(url) == 0
    again = trialsite("--db", url, "ingest", "file", str(export), "--no-geocode", "--json")
    assert again.code == 0 and json.loads(again.stdout)["quarantined"] == 0


def test_an_unwritable_cache_folder_is_one_error_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRIALSITE_GAZETTEER"}
    env["XDG_CACHE_HOME"] = "/proc/trialsite-cannot-write-here"
    ran = subprocess.run(
        [str(TRIALSITE), "--db", f"sqlite:///{tmp_path}/x.db", "geocode", "Palencia"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    errors = [line for line in ran.stderr.splitlines() if line.startswith("Error")]
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert errors == [errors[0]] and "cannot write the offline gazetteer" in errors[0]
    assert "XDG_CACHE_HOME" in errors[0]


@pytest.mark.parametrize(
    "command",
    [
        ("search", "lupus nephritis", "--near", "Palencia, Spain"),
        ("watch", "add", "w", "--search", "lupus", "--near", "Palencia"),
    ],
)
def test_a_missing_store_is_said_before_the_gazetteer_is_built(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    """A mistyped --db is an error at once, not after half a minute of building places."""
    env = {**os.environ, "TRIALSITE_GAZETTEER": str(tmp_path / "not-built.sqlite")}
    ran = subprocess.run(
        [str(TRIALSITE), "--db", f"sqlite:///{tmp_path}/missing.db", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert ran.returncode == 1 and ran.stderr.startswith("Error: --db: no store at"), ran.stderr
    assert not (tmp_path / "not-built.sqlite").exists() and "building" not in ran.stderr


def test_the_gazetteer_first_build_stays_under_500_mb(gazetteer_path: Path, tmp_path: Path) -> None:
    """The heaviest command on a new machine: every process it starts stays under 500 MB,
    and what it builds holds what the session's gazetteer holds, table by table."""
    import sqlite3

    target = tmp_path / "gazetteer.sqlite"
    ran = trialsite("gazetteer", "build", "--path", str(target), timeout=600)
    assert ran.code == 0 and "Traceback" not in "\n".join(ran.errors)
    assert ran.stdout.startswith(f"Gazetteer written to {target}:")
    assert ran.rss_mb < 500, f"peak RSS {ran.rss_mb:.0f} MB"
    tables = ("places", "names", "postal", "postal_regions", "admin1", "admin1_names", "suggest")
    built, reference = sqlite3.connect(target), sqlite3.connect(gazetteer_path)
    try:
        for table in tables:
            query = (
                f"SELECT count(*), total(length(name)) FROM {table}"
                if table != "postal"
                else ("SELECT count(*), total(lat) + total(lon) FROM postal")
            )
            assert built.execute(query).fetchone() == reference.execute(query).fetchone(), table
    finally:
        built.close()
        reference.close()


def test_a_load_killed_with_sigkill_is_marked_interrupted_at_once(store_url: str) -> None:
    """A load killed a moment ago (its heartbeat fresh) is marked interrupted by the next
    load on the same host, and `stats` shows it; a live one is left running."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    engine = open_store(store_url)
    run = IngestRun.__table__  # type: ignore[attr-defined]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here = __import__("socket").gethostname()
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(run),
                [
                    {
                        "command": "ingest file",
                        "started_at": now,
                        "status": "running",
                        "pid": gone.pid,
                        "host": here,
                    },
                    {
                        "command": "ingest file",
                        "started_at": now,
                        "status": "running",
                        "pid": os.getpid(),
                        "host": here,
                    },
                ],
            )
        ingest_items(engine, iter_paths([V2 / "dgg32_ctg-studies_10.json"]), command="test")
        with engine.connect() as conn:
            statuses = [r[0] for r in conn.execute(select(run.c.status).order_by(run.c.id))]
    finally:
        engine.dispose()
    assert statuses == ["interrupted", "running", "ok"]


@pytest.mark.parametrize(
    ("name", "command", "message"),
    [
        ("x.zip", ("ingest", "file"), "not a regular file"),
        ("x.xml", ("ingest", "file"), "not a regular file"),
        ("x.html", ("ingest", "page"), "not a regular file"),
        ("criteria.txt", ("criteria", "parse"), "criteria text is at most 1 MB"),
        ("letter.txt", ("referral", "parse"), "a referral letter is at most"),
        ("letter.txt", ("match", "--referral"), "a referral letter is at most"),
        ("patient.json", ("match", "--patient"), "a patient file is at most 1 MB"),
    ],
)
def test_an_endless_input_is_one_error_line_in_bounded_memory(
    name: str, command: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    """A file that never ends (here /dev/zero under an ordinary name) took 12-24 GB before."""
    endless = tmp_path / name
    endless.symlink_to("/dev/zero")
    ran = trialsite("--db", f"sqlite:///{tmp_path}/store.db", *command, str(endless), timeout=60)
    assert ran.code == 1 and len(ran.errors) == 1 and ran.errors[0].startswith("Error: "), ran.errors
    assert message in ran.errors[0] and ran.rss_mb < 500


def test_an_oversized_xml_file_is_quarantined_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    with big.open("wb") as handle:
        handle.write(b"<clinical_study>" + b" " * (65 * 1024 * 1024) + b"</clinical_study>")
    ran = trialsite("--db", f"sqlite:///{tmp_path}/store.db", "ingest", "file", str(big), "--no-geocode")
    assert ran.code == 2 and ran.rss_mb < 500
    assert "one XML document over 64 MB: not read" in ran.stdout + "\n".join(ran.errors)


def test_geocode_reads_stdin_as_it_comes_and_bounds_each_line(tmp_path: Path) -> None:
    """A 5 MB line among places is refused alone (it took 1.8 GB and never ended); an endless
    line (/dev/zero) is one Error line; some places not found is exit 2, none found exit 1."""
    places = b"Palencia\n" + b"a" * 5_000_000 + b"\nSeville\n"
    ran = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(TRIALSITE), "geocode"],
        input=places,
        capture_output=True,
        timeout=60,
    )
    errors = [line for line in ran.stderr.decode().splitlines() if line.startswith("Error")]
    assert ran.returncode == 2 and len(errors) == 1 and "a place is at most 500 characters" in errors[0]
    assert "Palencia → Palencia" in ran.stdout.decode() and "Seville → Sevilla" in ran.stdout.decode()
    assert int(ran.stderr.decode().splitlines()[-1].removeprefix("RSS_KB=")) / MB < 500
    with open("/dev/zero", "rb") as endless:
        zero = subprocess.run(
            [str(TRIALSITE), "geocode"], stdin=endless, capture_output=True, text=True, timeout=60
        )
    assert zero.returncode == 1 and zero.stderr.startswith("Error: stdin: a line over 16 MB")
    none = subprocess.run([str(TRIALSITE), "geocode", "Xyzzyqq"], capture_output=True, text=True, timeout=60)
    assert none.returncode == 1


def test_an_array_element_that_never_ends_is_quarantined_and_the_good_one_before_it_loads(
    tmp_path: Path,
) -> None:
    """A 70 MB element in a JSON array took 1 GB (300 MB: 1 GB); it is bounded like a document."""
    study = load_studies()[0]
    path = tmp_path / "studies.json"
    with path.open("wb") as handle:
        handle.write(b"[" + json.dumps(study).encode() + b', {"protocolSection": {"x": "')
        for _ in range(70):
            handle.write(b"a" * 1024 * 1024)
        handle.write(b'"}}]')
    url = f"sqlite:///{tmp_path}/store.db"
    ran = trialsite("--db", url, "ingest", "file", str(path), "--no-geocode", "--json")
    assert ran.code == 2 and ran.rss_mb < 500
    summary = json.loads(ran.stdout)
    assert (summary["inserted"], summary["quarantined"]) == (1, 1)
    assert stored(url) == 1


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("postgresql://nobody@127.0.0.1:1/x", "Error: cannot open the store: connection failed"),
        ("sqlite:////dev/zero", "Error: --db: /dev/zero is not a store file"),
    ],
)
def test_a_store_that_cannot_be_opened_is_one_error_line(db: str, message: str) -> None:
    """The driver's message held a newline and a tab: two lines where one was promised."""
    ran = trialsite("--db", db, "stats")
    assert ran.code == 1 and len(ran.errors) == 1 and ran.errors[0].startswith(message), ran.errors


@pytest.mark.parametrize("command", [("criteria", "parse"), ("referral", "parse")])
def test_a_text_that_is_not_utf8_is_one_error_line(command: tuple[str, ...], tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Inclusión: niña de 12 años con nefritis lúpica\n".encode("latin-1"))
    ran = trialsite(*command, str(latin1))
    assert ran.code == 1 and ran.errors == [f"Error: {latin1}: not a UTF-8 text file"], ran.errors


# == Issue 23: the nightly job under attack ==================================================
# Alerts go to hostile webhooks (tests/hostile_server.py); the registry changes under a
# listing (tests/registry_server.py). A store on each backend; commands in-process
# (CliRunner) unless two must overlap.

PATIENT = Path(__file__).resolve().parent.parent / "sample" / "patient.json"
DAY1, DAY2, DAY3 = "2026-12-01T09:00:00", "2026-12-02T09:00:00", "2026-12-03T09:00:00"


def run_cli(url: str, *args: str) -> Any:
    from typer.testing import CliRunner

    from cli import app

    return CliRunner().invoke(app, ["--db", url, *args])


def registry_client(server: Any) -> RegistryClient:
    return RegistryClient(
        server.base_url, rate_limit_per_minute=None, backoff_base=0.01, sleep=lambda s: None
    )


@contextmanager
def alerting_registry(store_url: str, count: int) -> Iterator[Any]:
    """The loopback registry on day 2, with ``count`` new recruiting lupus nephritis trials in
    Valladolid a watch on the demo patient (Palencia, 100 km) was added the day before: the
    next sync raises ``count`` alerts."""
    from ingest.sync.runner import run_sync
    from tests.registry_server import serve_registry
    from tests.test_watch import lupus_nephritis_trial

    base = load_studies()
    with serve_registry(base) as server:
        server.data_timestamp = DAY1
        engine = open_store(store_url)
        try:
            assert run_sync(engine, registry_client(server)).status == "succeeded"
        finally:
            engine.dispose()
        added = run_cli(store_url, "watch", "add", "palencia", "--patient", str(PATIENT))
        assert added.exit_code == 0, added.output
        new = [
            lupus_nephritis_trial(base[0], f"NCT0999{i:04d}", DAY2[:10], "RECRUITING") for i in range(count)
        ]
        server.set_studies([*base, *new], DAY2)
        yield server


def sync_args(server: Any, *extra: str) -> list[str]:
    return ["sync", "--base-url", server.base_url, "--rate-limit", "0", "--no-geocode", "--json", *extra]


@pytest.mark.parametrize("behaviour", ["silent", "trickle"])
def test_a_webhook_that_never_answers_or_trickles_costs_one_deadline_a_run(
    store_url: str, behaviour: str
) -> None:
    """It held the sync 10 s per alert (16 alerts: 164 s), or 60 s and more for one alert sending
    a header line every 5 s. Now the first POST's whole exchange has 10 s; the webhook is then
    not tried again in the run and the alerts it owed count as failed, tried next run."""
    from tests.hostile_server import serve_webhook

    with alerting_registry(store_url, 4) as server, serve_webhook(behaviour, interval=0.5) as hook:
        ran = trialsite("--db", store_url, *sync_args(server, "--webhook", hook.url), timeout=60)
    assert ran.code == 0, ran.errors
    summary = json.loads(ran.stdout)
    delivery = summary["delivery"]
    assert summary["alerts"] == 4 and len(hook.posts) == 1
    assert (delivery["delivered"], delivery["failed"], delivery["deferred"]) == (0, 4, 0)
    assert "no answer within 10 s" in delivery["errors"][0]
    assert "not tried: " in delivery["errors"][1] and "/hooks" not in " ".join(delivery["errors"])


def test_a_run_delivers_within_its_budget_and_leaves_the_rest_uncounted(engine: Engine) -> None:
    """A slow webhook that does answer: what the run's budget leaves is deferred, not failed."""
    from matching.watch.deliver import deliver_pending
    from tests.hostile_server import serve_webhook

    _alerts_in_store(engine, 6)
    with serve_webhook("ok", delay=0.4) as hook:
        report = deliver_pending(engine, webhook=hook.url, budget_s=1.0)
    assert report.failed == 0 and report.delivered >= 1 and report.deferred >= 1
    assert report.delivered + report.deferred == 6
    # The POST the budget cut short reached the webhook; its answer did not come in time.
    assert len(hook.posts) - report.delivered in (0, 1)
    with engine.connect() as conn:
        attempts = conn.execute(text("SELECT attempts FROM alert")).scalars().all()
    assert set(attempts) == {0}


def _alerts_in_store(engine: Engine, count: int) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with engine.begin() as conn:
        watch_id = conn.execute(
            text(
                "INSERT INTO watch (name, kind, condition, created_at) VALUES ('w', 'search', 'lupus', :t) RETURNING id"
            ),
            {"t": now},
        ).scalar_one()
        for i in range(count):
            conn.execute(
                text(
                    "INSERT INTO alert (watch_id, nct_id, kind, reason, created_at, attempts) "
                    "VALUES (:w, :n, 'matches', 'now matches: new trial in the registry', :t, 0)"
                ),
                {"w": watch_id, "n": f"NCT0999{i:04d}", "t": now},
            )


def test_two_overlapping_syncs_deliver_each_alert_once(store_url: str) -> None:
    """22 POSTs for 12 alerts: the lock was released before the watches and the delivery. The
    second sync now finds the lock held through the first one's delivery and exits 3."""
    from tests.hostile_server import serve_webhook

    gate = threading.Event()  # the first alert's answer waits for the second sync to be over
    with alerting_registry(store_url, 12) as server, serve_webhook("ok", delay=0.1, gate=gate) as hook:
        command = [str(TRIALSITE), "--db", store_url, *sync_args(server, "--webhook", hook.url)]
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(1200):
                if hook.posts or first.poll() is not None:
                    break
                time.sleep(0.05)
            second = trialsite("--db", store_url, *sync_args(server, "--webhook", hook.url), timeout=120)
            gate.set()
            out, _ = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                first.kill()
    assert first.returncode == 0 and json.loads(out)["delivery"]["delivered"] == 12
    assert second.code == 3 and "another sync is running" in second.errors[0]
    ids = [post["id"] for post in hook.posts]
    assert len(ids) == 12 == len(set(ids))


def test_a_redirecting_webhook_gets_each_alert_once_a_run_and_is_given_up_after_five(
    store_url: str,
) -> None:
    """A 307 loop gave 31 POSTs per alert, and a 307 elsewhere was followed with the alert and
    counted delivered. Redirects are not followed now: a 3xx is a failed delivery, said so; an
    alert is tried on 5 runs, then given up, and `alerts` shows it."""
    from tests.hostile_server import serve_webhook

    with (
        alerting_registry(store_url, 3) as server,
        serve_webhook("ok") as elsewhere,
        serve_webhook("redirect_away", target="") as away,
    ):
        away.target = elsewhere.url
        first = run_cli(store_url, *sync_args(server, "--webhook", away.url))
        delivery = json.loads(first.stdout)["delivery"]
        assert (delivery["delivered"], delivery["failed"]) == (0, 3)
        assert "answered 307 (a redirect: not followed)" in delivery["errors"][0]
        assert len(away.posts) == 3 and elsewhere.posts == []
        with serve_webhook("redirect_loop") as loop:
            for _ in range(5):
                run_cli(store_url, *sync_args(server, "--webhook", loop.url))
            assert len(loop.posts) == 3 * 4  # runs 2 to 5; the sixth tries nothing
    listed = json.loads(run_cli(store_url, "alerts", "--json").stdout)
    assert [a["delivery_given_up"] for a in listed] == [True] * 3
    assert all("answered 307" in a["last_delivery_error"] for a in listed)
    assert "delivery given up after 5 failed runs" in run_cli(store_url, "alerts").stdout


def rekeyed_studies(count: int) -> list[dict[str, Any]]:
    """``count`` registry studies: the 13 recorded ones re-keyed NCT09980000, NCT09980001, …"""
    import copy

    base = load_studies()
    studies = []
    for i in range(count):
        study = copy.deepcopy(base[i % len(base)])
        ident = study["protocolSection"]["identificationModule"]
        ident["nctId"] = f"NCT0998{i:04d}"
        ident.pop("nctIdAliases", None)
        studies.append(study)
    return studies


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(TRIAL.c.nct_id)).scalars())


@pytest.mark.parametrize("paging", ["offset", "key"])
def test_a_study_removed_mid_listing_costs_no_other_study(engine: Engine, paging: str) -> None:
    """250 studies paged by 10, one listed study removed while paging: by offset, every later
    study shifted back one place and one was never served; the run said success with 249 seen,
    and no later incremental run listed it again. The run now compares what it saw with
    totalCount, lists the query's ids and dates, and fetches by id what the store lacks."""
    from ingest.sync.runner import run_sync
    from tests.registry_server import nct_id_of, serve_registry

    studies = rekeyed_studies(250)
    with serve_registry(studies) as server:
        server.paging = paging
        gone = nct_id_of(studies[3])  # on page 1, already served when it goes

        def remove_on_page_5(request: Any) -> None:
            if len(server.requests_to("/studies")) == 5:
                server.set_studies([s for s in studies if nct_id_of(s) != gone])

        server.before_answer = remove_on_page_5
        summary = run_sync(engine, registry_client(server), page_size=10)
        server.before_answer = None
    assert summary.status == "succeeded" and summary.total == 250
    assert stored_ids(engine) >= {nct_id_of(s) for s in studies if nct_id_of(s) != gone}
    if paging == "key":  # a token by key: nothing shifts, every study is served once
        assert (summary.seen, summary.recovered, summary.warnings) == (250, 0, [])
        return
    assert summary.recovered == 1 and summary.seen == 250  # 249 served, 1 fetched by id
    assert summary.warnings == [
        "the registry's listing changed while it was read (250 announced, 249 served): "
        "1 study it skipped fetched by id"
    ]


def test_a_shift_the_counts_cannot_see_is_caught_by_the_removal_check(engine: Engine) -> None:
    """One listed study removed and one added while paging: 250 announced, 250 served, one
    live study skipped. The removal check lists every id and fetches those the store lacks."""
    from ingest.sync.runner import run_sync
    from tests.registry_server import nct_id_of, serve_registry

    studies = rekeyed_studies(251)
    first, extra = studies[:250], studies[250]
    gone = nct_id_of(first[3])
    with serve_registry(first) as server:

        def swap_on_page_5(request: Any) -> None:
            if len(server.requests_to("/studies")) == 5:
                server.set_studies([*(s for s in first if nct_id_of(s) != gone), extra])

        server.before_answer = swap_on_page_5
        summary = run_sync(engine, registry_client(server), page_size=10)
        server.before_answer = None
        live = {nct_id_of(s) for s in server.studies}
        assert summary.seen == 250 == summary.total and summary.recovered == 0
        skipped = live - stored_ids(engine)
        assert len(skipped) == 1  # what the run could not see
        server.data_timestamp = DAY2
        checked = run_sync(engine, registry_client(server), page_size=10, check_removed=True)
    assert checked.removal_check == "done" and checked.removed == 1 and checked.recovered == 1
    assert live <= stored_ids(engine)
    assert "1 study the registry lists was not in the store" in checked.warnings[0]


def test_a_registry_clock_older_than_the_watermark_keeps_it_and_warns(engine: Engine) -> None:
    from ingest.sync.runner import run_sync
    from ingest.sync.summary import get_watermark
    from tests.registry_server import serve_registry

    with serve_registry(load_studies()) as server:
        server.data_timestamp = DAY2
        assert run_sync(engine, registry_client(server)).watermark == DAY2
        server.data_timestamp = DAY1  # a mirror restored from an older snapshot
        again = run_sync(engine, registry_client(server))
    assert again.status == "succeeded" and again.watermark == DAY2 and get_watermark(engine) == DAY2
    assert again.warnings == [
        f"the registry's data timestamp {DAY1} is older than the watermark {DAY2}: "
        "the watermark is kept (is --base-url an older mirror?)"
    ]


# == Issue 23: the service under attack =======================================================
# The bundled sample on each backend, through the real ASGI app (tests/test_api.py's way),
# and as a process on a socket where the server log itself is the subject.

SECURITY_HEADER_NAMES = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.conftest import empty_store
    from tests.sample_store import load_sample

    with empty_store(request.param, tmp_path_factory.mktemp("hostile")) as url:
        load_sample(url)
        yield url


@pytest.fixture(scope="module")
def service(served_url: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(served_url), raise_server_exceptions=False) as client:
        yield client


def seed_bundle() -> dict[str, Any]:
    from tests.test_api import seed_bundle as seed

    return seed()


def is_outcome(response: Any) -> bool:
    return bool(
        response.headers["content-type"].startswith("application/fhir+json")
        and response.json()["resourceType"] == "OperationOutcome"
    )


def _set(bundle: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    import copy

    changed = copy.deepcopy(bundle)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


PATIENT_AT = ("entry", 0, "resource")
CONDITION_AT = ("entry", 1, "resource")
OBSERVATION_AT = ("entry", 2, "resource")


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        ((*PATIENT_AT, "address"), 1, "resource.address: expected an array, got 1"),
        ((*PATIENT_AT, "gender"), [], "resource.gender: expected one of male, female, other, unknown, got []"),
        ((*CONDITION_AT, "code"), "lupus", "entry[1].resource.code: expected an object, got 'lupus'"),
        ((*PATIENT_AT, "address"), [{"city": 5}], "address[0].city: expected a string, got 5"),
        ((*PATIENT_AT, "address"), ["Palencia"], "address[0]: expected an object"),
        ((*PATIENT_AT, "birthDate"), 19900101, "birthDate: expected a string"),
        ((*PATIENT_AT, "birthDate"), "1990-02-31", "'1990-02-31' is not a date of the calendar"),
        ((*PATIENT_AT, "birthDate"), "01/02/1990", "expected a FHIR date"),
        ((*CONDITION_AT, "code"), {"coding": "x"}, "code.coding: expected an array"),
        ((*CONDITION_AT, "code"), {"coding": [5]}, "code.coding[0]: expected an object"),
        ((*CONDITION_AT, "verificationStatus"), [], "verificationStatus: expected an object"),
        ((*OBSERVATION_AT, "valueQuantity"), {"value": "12"}, "valueQuantity.value: expected a number"),
        ((*OBSERVATION_AT, "valueQuantity"), {"value": True}, "valueQuantity.value: expected a number"),
        ((*OBSERVATION_AT, "effectiveDateTime"), {}, "effectiveDateTime: expected a string"),
        (("entry", 1), "Condition", "entry[1]: expected an object"),
        (("entry", 1, "resource"), [], "entry[1].resource: expected a resource"),
        ((*CONDITION_AT, "resourceType"), 5, "resource.resourceType: expected a string"),
    ],
)  # fmt: skip
def test_a_malformed_bundle_is_a_400_operation_outcome(
    service: Any, path: tuple[Any, ...], value: Any, says: str
) -> None:
    """113 of 2,079 fuzzed Bundles answered 500 (``"address": 1``, ``"gender": []``, a
    Condition with ``"code": "lupus"``)."""
    response = service.post("/getClinicalTrial", json={"patientData": _set(seed_bundle(), path, value)})
    assert response.status_code == 400 and is_outcome(response), response.text
    assert says in response.json()["issue"][0]["diagnostics"]


def _bundle_paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _bundle_paths(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _bundle_paths(inner, (*at, index))
    return found


@st.composite
def broken_bundles(draw: st.DrawFn) -> dict[str, Any]:
    """The seed Bundle with one element (at any depth, or a new one beside those read)
    replaced by a value of any JSON type."""
    bundle = _set(seed_bundle(), (*OBSERVATION_AT, "effectiveDateTime"), "2026-11-01")
    bundle["entry"].append(
        {"resource": {"resourceType": "MedicationStatement", "effectivePeriod": {"start": "2026-01-01"},
                      "medicationCodeableConcept": {"coding": [{"display": "mycophenolate"}]}}}
    )  # fmt: skip
    bundle["entry"].append({"resource": {"resourceType": "Procedure", "code": {"text": "kidney biopsy"}}})
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
        max_leaves=6,
    )
    paths = _bundle_paths(bundle)
    extra = st.tuples(st.sampled_from([p for p in paths if isinstance(p[-1], str)]), st.sampled_from(
        ["gender", "address", "birthDate", "code", "coding", "valueQuantity", "valueInteger", "text",
         "display", "effectivePeriod", "performedPeriod", "verificationStatus", "valueCodeableConcept"]
    )).map(lambda pair: (*pair[0][:-1], pair[1]))  # fmt: skip
    where = draw(st.sampled_from(paths) | extra)
    return _set(bundle, where, draw(json_values))


@settings(max_examples=int(os.environ.get("TRIALSITE_FUZZ_EXAMPLES", "25")) * 8, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(bundle=broken_bundles())
def test_no_bundle_answers_a_server_error(service: Any, bundle: dict[str, Any]) -> None:
    response = service.post("/getClinicalTrial", json={"patientData": bundle})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert is_outcome(response)


@pytest.mark.parametrize("phase", ["EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA"])
def test_every_phase_filter_answers(service: Any, served_url: str, phase: str) -> None:
    """``phase=PHASE1`` answered 500 (``KeyError: 'phase'``) when the filter removed every trial."""
    response = service.get("/api/v1/search", params={"condition": "lupus", "phase": phase})
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["matches"] or "phase filter removed" in outcome["hint"]
    ran = run_cli(served_url, "search", "lupus", "--phase", phase)
    assert ran.exit_code == 0, ran.output


DEEP = b'{"age": 40, "location": "Valladolid", "x": ' + b"[" * 300 + b"]" * 300 + b"}"


def test_deep_json_inside_a_patient_is_refused_naming_the_field(service: Any, tmp_path: Path) -> None:
    response = service.post("/api/v1/match", content=DEEP, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"] == "x: nested more than 10 levels deep"
    patient = tmp_path / "deep.json"
    patient.write_bytes(DEEP)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    for command in (("match", "--patient", str(patient)), ("watch", "add", "w", "--patient", str(patient))):
        ran = trialsite("--db", url, *command)
        assert ran.code == 1 and ran.errors == [f"Error: {patient}: field x: nested more than 10 levels deep"]


@pytest.mark.parametrize(
    "path", ["/api/v1/trials/%00", "/trials/%00", "/fhir/ResearchStudy/%00", "/api/v1/changes?trial_id=%00",
             "/api/v1/search?condition=lupus%00", "/?condition=lupus%00"],
)  # fmt: skip
def test_a_nul_byte_is_a_400_on_both_stores(service: Any, path: str) -> None:
    """PostgreSQL refuses NUL in text: these answered 500 from the driver."""
    response = service.get(path)
    assert response.status_code == 400, response.text
    assert all(name in response.headers for name in SECURITY_HEADER_NAMES)
    if path.startswith("/fhir"):
        assert is_outcome(response)


def test_a_nul_byte_in_a_body_is_refused_naming_the_field(service: Any) -> None:
    patient = {"age": 40, "location": "Valladolid", "conditions": ["lupus\u0000nephritis"]}
    response = service.post("/api/v1/match", json=patient)
    assert response.status_code == 422 and response.json()["field"] == "conditions[0]"
    bundle = _set(seed_bundle(), (*CONDITION_AT, "code"), {"text": "lupus\u0000"})
    response = service.post("/getClinicalTrial", json={"patientData": bundle})
    assert response.status_code == 400 and is_outcome(response)
    assert "a NUL character is not allowed" in response.json()["issue"][0]["diagnostics"]


def test_an_unexpected_failure_is_a_problem_with_headers_and_one_log_line(
    served_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No traceback and no exception message reach the log: either may hold a patient's
    details (SQLAlchemy puts a statement's parameters in its errors). The 500 carries the
    security headers as every other answer does (it did not, nor did the 413)."""
    import logging

    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(served_url)

    def boom() -> None:
        raise RuntimeError("[parameters: {'q': '(lupus & nephritis)', 'd_lon1': -4.654321}]")

    app.add_api_route("/boom", boom)
    with caplog.at_level(logging.DEBUG), TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
        too_large = client.post("/api/v1/match", content=b"x" * 1_100_000)
    assert response.status_code == 500 and response.json()["title"] == "Internal error"
    assert too_large.status_code == 413
    for answer in (response, too_large):
        assert all(name in answer.headers for name in SECURITY_HEADER_NAMES)
    said = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "RuntimeError on GET /boom: answered 500" in said
    assert "lupus" not in said and "-4.654321" not in said and not any(r.exc_info for r in caplog.records)


def test_a_forged_host_is_refused_and_steers_no_redirect(served_url: str) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(served_url, allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/api/v1/stats").status_code == 200
        slash = client.get("/api/v1/stats/", follow_redirects=False)
        assert slash.status_code == 307 and slash.headers["location"] == "http://127.0.0.1/api/v1/stats"
        forged = client.get("/api/v1/stats/", headers={"host": "evil.example"}, follow_redirects=False)
    assert forged.status_code == 400 and "location" not in forged.headers
    assert all(name in forged.headers for name in SECURITY_HEADER_NAMES)


def test_bidirectional_controls_from_the_registry_are_neutralised(store_url: str, tmp_path: Path) -> None:
    """U+202E in a title reversed what a reader saw in the pages, the CSV and the alerts."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from matching.watch.core import alert_payload

    study = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())[0]
    nct_id = study["protocolSection"]["identificationModule"]["nctId"]
    study["protocolSection"]["identificationModule"]["briefTitle"] = (
        "Lupus \u202egnp.exe\u202c \u2066study\u2069"
    )
    path = tmp_path / "one.json"
    path.write_text(json.dumps(study))
    assert trialsite("--db", store_url, "ingest", "file", str(path), "--no-geocode").code == 0
    condition = study["protocolSection"]["conditionsModule"]["conditions"][0]
    with TestClient(create_app(store_url)) as client:
        page = client.get(f"/trials/{nct_id}").text
        csv_text = client.get("/api/v1/search", params={"condition": condition, "format": "csv"}).text
        search_page = client.get("/", params={"condition": condition}).text
    shown = run_cli(store_url, "show", nct_id).stdout
    assert "Lupus gnp.exe study" in page and nct_id in csv_text
    for text_out in (page, csv_text, search_page, shown):
        assert not any(c in text_out for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    payload = alert_payload(
        {"id": 1, "watch": "w", "kind": "matches", "nct_id": nct_id, "reason": "now \u202ematches",
         "created_at": None, "detail": {"title": "Lupus \u202egnp.exe", "nearest_site": {"city": "\u2067Leon"}}}
    )  # fmt: skip
    assert "\u202e" not in json.dumps(payload) and payload["nearest_site"]["city"] == "Leon"


def _with_password_and_name(url: str, password: str, name: str) -> str:
    """A PostgreSQL test URL with a password (trust authentication ignores it) and an
    application_name that marks the connections of the process given it."""
    with_password = url.replace("postgres@", f"postgres:{password}@", 1)
    return f"{with_password}{'&' if '?' in with_password else '?'}application_name={name}"


def test_no_patient_value_or_password_reaches_the_server_log_while_postgresql_drops_connections(
    served_url: str, tmp_path: Path
) -> None:
    """PostgreSQL backends killed during matches: uvicorn logged the traceback, and SQLAlchemy
    put the statement's parameters in it (``'d_phi1': 0.7328…, 'q': '(lupus & nephritis)…'``).
    The start line printed the store's password. Now: a 503 or an answer, one line per
    failure, no value, no password; a forged Host is refused."""
    import threading
    import uuid

    import requests
    from sqlalchemy import create_engine

    from tests.conftest import PG_URL
    from tests.live_server import live_server

    if not served_url.startswith("postgresql"):
        pytest.skip("the connections dropped are PostgreSQL backends")
    name = f"trialsite_hostile_{uuid.uuid4().hex[:8]}"
    url = _with_password_and_name(served_url, "S3CRETPW", name)
    patient = {"age": 34, "sex": "female", "location": "41.652345,-4.724512", "radius_km": 150,
               "conditions": ["lupus nephritis"], "measurements": [{"name": "SLEDAI-2K", "value": 12}]}  # fmt: skip
    admin = create_engine(PG_URL)
    terminated = 0
    stop = threading.Event()

    def kill_backends() -> None:
        nonlocal terminated
        with admin.connect() as conn:
            while not stop.wait(0.03):
                killed = conn.execute(
                    text("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = :name"), {"name": name},
                ).scalar_one()  # fmt: skip
                conn.commit()
                terminated += int(killed or 0)

    statuses: list[int] = []
    try:
        with live_server(url, tmp_path, workers=1) as server:
            killer = threading.Thread(target=kill_backends, daemon=True)
            killer.start()
            with requests.Session() as session:
                for _ in range(60):
                    answer = session.post(f"{server.base_url}/api/v1/match", json=patient, timeout=30)
                    statuses.append(answer.status_code)
                    if answer.status_code == 503:
                        assert answer.headers["retry-after"] and "content-security-policy" in answer.headers
            stop.set()
            killer.join()
            forged = requests.get(
                f"{server.base_url}/api/v1/stats", headers={"Host": "evil.example"}, timeout=10
            )
            assert forged.status_code == 400
            time.sleep(0.5)
            log = server.log.read_text(errors="replace")
    finally:
        stop.set()
        admin.dispose()
    assert terminated > 0 and set(statuses) <= {200, 503}, statuses
    assert "S3CRETPW" not in log and "postgres:***@" in log
    for leak in (
        "nephritis",
        "lupus",
        "41.652345",
        "0.72697",
        "-4.724512",
        "parameters",
        "Traceback",
        "SELECT",
    ):
        assert leak not in log, leak


def test_a_store_password_is_never_printed(tmp_path: Path) -> None:
    from tests.conftest import PG_URL, pg_skip_reason

    if pg_skip_reason():
        pytest.skip(pg_skip_reason() or "")
    no_schema = (
        _with_password_and_name(PG_URL, "S3CRETPW", "x") + "&options=-csearch_path%3Dno_such_schema_here"
    )
    for db in (
        no_schema,
        "postgres ql://postgres:S3CRETPW@127.0.0.1/x",
        "postgresql://postgres:S3CRETPW@127.0.0.1:1/x",
    ):
        ran = trialsite("--db", db, "stats")
        assert ran.code == 1 and len(ran.errors) == 1 and "S3CRETPW" not in ran.errors[0], ran.errors


def test_credentials_and_server_paths_are_not_shown(store_url: str, tmp_path: Path) -> None:
    """``sync --base-url http://user:TOKEN@host/api/v2`` showed the token in /api/v1/stats
    (last_ingest_command) and /api/v1/trials/{id} (sources[].origin); ``ingest file`` showed
    the server's path. The token is sent as basic authentication; origins are kept and shown
    public (a file by its name); rows stored before are shown the same way."""
    import base64

    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.registry_server import serve_registry

    with serve_registry(load_studies()) as server:
        secret_url = server.base_url.replace("http://", "http://reader:T0KEN-XYZ@", 1)
        ran = run_cli(
            store_url, "sync", "--base-url", secret_url, "--rate-limit", "0", "--no-geocode", "--json"
        )
        sent = server.requests[0].headers.get("authorization")
    assert ran.exit_code == 0, ran.output
    assert sent == "Basic " + base64.b64encode(b"reader:T0KEN-XYZ").decode()
    folder = tmp_path / "srv-data-private"
    folder.mkdir()
    study = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())[2]  # not among the registry's
    (folder / "one-study.json").write_text(json.dumps(study))
    assert run_cli(store_url, "ingest", "file", str(folder / "one-study.json"), "--no-geocode").exit_code == 0
    nct_id = study["protocolSection"]["identificationModule"]["nctId"]
    synced = load_studies()[0]["protocolSection"]["identificationModule"]["nctId"]
    with TestClient(create_app(store_url)) as client:
        stats = client.get("/api/v1/stats").json()
        shown = [client.get(f"/api/v1/trials/{i}").json() for i in (nct_id, synced)]
        health = client.get("/healthz").text
    assert stats["last_ingest_command"] == "ingest file one-study.json"
    assert shown[0]["sources"][0]["origin"] == "one-study.json"
    assert shown[1]["sources"][0]["origin"] == f"{server.base_url}/studies"
    status = run_cli(store_url, "sync", "--status", "--json").stdout
    everything = json.dumps([stats, shown, health, status, ran.output])
    assert "T0KEN" not in everything and str(folder) not in everything and "reader:" not in everything
    # Rows stored before this rule are shown by it too.
    engine = open_store(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE source_record SET origin = :o WHERE nct_id = :n"),
                         {"o": f"{folder}/old-export.zip!{nct_id}.json", "n": nct_id})  # fmt: skip
            conn.execute(
                text("UPDATE ingest_run SET source = :s"), {"s": "https://u:OLD-T0KEN@mirror.example/api/v2"}
            )
    finally:
        engine.dispose()
    with TestClient(create_app(store_url)) as client:
        stats = client.get("/api/v1/stats").json()
        origin = client.get(f"/api/v1/trials/{nct_id}").json()["sources"][0]["origin"]
    assert origin == f"old-export.zip!{nct_id}.json"
    assert stats["last_ingest_command"] == "ingest file https://mirror.example/api/v2"


def read_only_view(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` cannot be written: as root (who writes through
    file modes), a mount namespace with the folder bind-mounted read-only; else its modes."""
    if os.geteuid() != 0:
        for path in folder.iterdir():
            path.chmod(0o444)
        folder.chmod(0o555)
        return []
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && ! touch "$0/.probe"', str(folder)],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        pytest.skip("cannot make a folder read-only for root here (unshare and mount not permitted)")
    return ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder)]


def test_a_read_only_sqlite_store_is_served_read_only(served_url: str, tmp_path: Path) -> None:
    """It answered "unable to open database file" (SQLite's WAL wants to write beside it)."""
    import shutil

    import requests

    from tests.live_server import free_port

    if not served_url.startswith("sqlite"):
        pytest.skip("a SQLite store's file")
    folder = tmp_path / "ro"
    folder.mkdir()
    engine = open_store(served_url)
    try:
        with engine.connect() as conn:  # the store as one file: no -wal beside it
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    shutil.copy(served_url.removeprefix("sqlite:///"), folder / "store.db")
    url = f"sqlite:///{folder / 'store.db'}"
    view = read_only_view(folder)
    try:
        stats = subprocess.run([*view, str(TRIALSITE), "--db", url, "stats", "--json"], capture_output=True,
                               text=True, timeout=60)  # fmt: skip
        load = subprocess.run([*view, str(TRIALSITE), "--db", url, "ingest", "file", str(V2 / "NCT04267848.json")],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        port = free_port()
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen([*view, str(TRIALSITE), "--db", url, "serve", "--port", str(port), "--workers", "1"],
                                      stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            answer = None
            for _ in range(300):
                try:
                    answer = requests.get(f"http://127.0.0.1:{port}/api/v1/search", params={"condition": "lupus"},
                                          timeout=5)  # fmt: skip
                    break
                except requests.ConnectionError:
                    assert server.poll() is None, log.read_text()
                    time.sleep(0.2)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        folder.chmod(0o755)
    assert stats.returncode == 0 and json.loads(stats.stdout)["trials"] == 241, stats.stderr
    assert load.returncode == 1 and "is read-only" in load.stderr and "Traceback" not in load.stderr
    assert answer is not None and answer.status_code == 200 and answer.json()["matches"]
    assert "read-only)" in log.read_text()


# Schemathesis on the FHIR routes, on both stores: Bundles generated from the published
# schema of the elements read (api/fhir_bundle.py), with wrong types in every one of them.
FHIR_SCHEMA = schemathesis.openapi.from_dict(create_app("sqlite://").openapi()).include(
    path_regex=r"^/(getClinicalTrial|fhir/)"
)


@pytest.fixture(scope="module")
def fhir_server(served_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.live_server import live_server

    with live_server(served_url, tmp_path_factory.mktemp("fhir")) as server:
        yield server.base_url


@FHIR_SCHEMA.parametrize()
@settings(max_examples=int(os.environ.get("TRIALSITE_FUZZ_EXAMPLES", "25")) * 4, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_the_fhir_routes_hold_their_contract_for_generated_bundles(case: Any, fhir_server: str) -> None:
    case.call_and_validate(
        base_url=fhir_server, timeout=30, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )


def test_a_control_character_in_a_path_forges_no_log_line(
    served_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from fastapi.testclient import TestClient

    with caplog.at_level(logging.INFO), TestClient(create_app(served_url)) as client:
        client.get("/api/v1/trials/x%0a2026-12-07 GET /admin 200 1 ms")
    lines = [r.getMessage() for r in caplog.records if r.name == "trialsite.access"]
    assert lines and all("\n" not in line for line in lines)
    assert any("/api/v1/trials/x\\x0a2026-12-07 GET /admin" in line for line in lines)
