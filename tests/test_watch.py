"""Removals, watches and alerts over "registry days" of the loopback registry, on SQLite and
PostgreSQL: trials the registry drops are marked (never deleted) and skipped by match and
search, a half-done listing marks nothing, the mass-removal guard, trial pages never marked;
a watch on the demo patient alerts once on a new recruiting lupus nephritis trial in
Valladolid and on nothing else, and once when it closes; alerts piped to a command and
POSTed to a webhook, failed deliveries tried again next run."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli import app
from db.queries import get_trial
from ingest.ctgov.client import RegistryClient
from ingest.sync.runner import run_sync
from matching.watch import evaluate_watches
from tests.registry_server import Fault, RegistryServer, load_studies, nct_id_of, serve_registry

ROOT = Path(__file__).resolve().parent.parent
PATIENT = ROOT / "sample" / "patient.json"
DAY1, DAY2, DAY3 = "2026-12-01T09:00:00", "2026-12-02T09:00:00", "2026-12-03T09:00:00"
NEW_LN = "NCT09990001"


def client(server: RegistryServer, **options: Any) -> RegistryClient:
    return RegistryClient(
        server.base_url, rate_limit_per_minute=None, backoff_base=0.01, sleep=lambda s: None, **options
    )


def lupus_nephritis_trial(template: dict[str, Any], nct_id: str, day: str, status: str) -> dict[str, Any]:
    """A real registry record re-keyed into a lupus nephritis trial recruiting at Río Hortega,
    Valladolid (no API v2 record of such a trial exists in the fixtures; see their README)."""
    study = copy.deepcopy(template)
    study.pop("derivedSection", None)
    section = study["protocolSection"]
    section["identificationModule"] = {
        "nctId": nct_id,
        "briefTitle": "Re-keyed test record: a lupus nephritis trial in Valladolid",
    }
    section["statusModule"].update(
        overallStatus=status, lastUpdatePostDateStruct={"date": day, "type": "ACTUAL"}
    )
    section["conditionsModule"] = {"conditions": ["Lupus Nephritis"]}
    section["eligibilityModule"] = {
        "eligibilityCriteria": "Inclusion Criteria:\n\n* Biopsy-proven lupus nephritis\n",
        "sex": "ALL",
        "minimumAge": "18 Years",
        "maximumAge": "65 Years",
    }
    section["contactsLocationsModule"] = {
        "locations": [
            {
                "facility": "Hospital Universitario Río Hortega",
                "status": "RECRUITING",
                "city": "Valladolid",
                "country": "Spain",
                "geoPoint": {"lat": 41.63077, "lon": -4.72731},
            }
        ]
    }
    return study


def touched(study: dict[str, Any], day: str, **status: Any) -> dict[str, Any]:
    changed = copy.deepcopy(study)
    module = changed["protocolSection"]["statusModule"]
    module["lastUpdatePostDateStruct"] = {"date": day[:10], "type": "ACTUAL"}
    module.update(status)
    return changed


@pytest.fixture
def studies() -> list[dict[str, Any]]:
    return load_studies()


def cli(url: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["--db", url, *args])


def alerts(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT w.name, a.nct_id, a.kind FROM alert a JOIN watch w ON w.id = a.watch_id ORDER BY a.id"
            )
        )
        return [tuple(r) for r in rows]


def test_a_watch_on_the_demo_patient_alerts_once_on_a_new_nearby_trial(
    engine: Engine, store_url: str, studies: list[dict[str, Any]]
) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        assert run_sync(engine, client(server), page_size=5).status == "succeeded"
        added = cli(store_url, "watch", "add", "palencia", "--patient", str(PATIENT), "--json")
        assert added.exit_code == 0, added.output
        assert json.loads(added.output)["matching_now"] == 0
        with engine.begin() as conn:
            assert evaluate_watches(conn) == []  # nothing changed since it was added

        # Day 2: a recruiting lupus nephritis trial opens in Valladolid (about 45 km from Palencia);
        # another trial closes and one far away is new: neither concerns the watch.
        far = touched(studies[2], DAY2)
        far["protocolSection"]["identificationModule"]["nctId"] = "NCT09990002"
        day2 = [
            touched(studies[0], DAY2, overallStatus="COMPLETED"),
            *studies[1:],
            far,
            lupus_nephritis_trial(studies[0], NEW_LN, DAY2[:10], "RECRUITING"),
        ]
        server.set_studies(day2, DAY2)
        synced = cli(store_url, "sync", "--base-url", server.base_url, "--rate-limit", "0",
                     "--no-geocode", "--json")  # fmt: skip
        assert synced.exit_code == 0, synced.output
        summary = json.loads(synced.stdout)
        assert summary["alerts"] == 1 and summary["mode"] == "incremental"
        assert alerts(engine) == [("palencia", NEW_LN, "matches")]
        listed = json.loads(cli(store_url, "alerts", "--json").stdout)
        assert listed[0]["reason"] == "now matches: new trial in the registry"
        assert listed[0]["nearest_site"]["city"] == "Valladolid"
        assert 40 < listed[0]["nearest_site"]["distance_km"] < 50
        assert "age" not in json.dumps(listed) and "Palencia" not in json.dumps(listed)  # no patient detail
        text_out = cli(store_url, "alerts", "--watch", "palencia").stdout
        assert NEW_LN in text_out and "Valladolid" in text_out

        # Day 2 again: nothing new, no second alert (exactly once per event).
        again = cli(store_url, "sync", "--base-url", server.base_url, "--rate-limit", "0", "--no-geocode",
                    "--json")  # fmt: skip
        assert json.loads(again.stdout)["alerts"] == 0
        # Day 3: the trial stops recruiting: one alert that it no longer matches.
        day3 = [*day2[:-1], lupus_nephritis_trial(studies[0], NEW_LN, DAY3[:10], "ACTIVE_NOT_RECRUITING")]
        server.set_studies(day3, DAY3)
        third = cli(store_url, "sync", "--base-url", server.base_url, "--rate-limit", "0", "--no-geocode",
                    "--json")  # fmt: skip
        assert json.loads(third.stdout)["alerts"] == 1
    assert alerts(engine) == [("palencia", NEW_LN, "matches"), ("palencia", NEW_LN, "no_longer_matches")]
    last = json.loads(cli(store_url, "alerts", "--json").stdout)[-1]
    assert last["reason"] == "no longer matches: trial status active not recruiting (was recruiting)"
    changes = cli(store_url, "changes", "--since", "2026-01-01", "--json")
    assert '"COMPLETED"' in changes.stdout  # the day-2 status change is in changes


def test_a_search_watch_and_watch_list_and_remove(
    engine: Engine, store_url: str, studies: list[dict[str, Any]]
) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        run_sync(engine, client(server), page_size=5)
        added = cli(store_url, "watch", "add", "ln-castilla", "--search", "lupus nephritis", "--near",
                    "Valladolid, Spain", "--radius", "50")  # fmt: skip
        assert added.exit_code == 0, added.output
        assert "0 trials match now" in added.stdout
        duplicate = cli(store_url, "watch", "add", "ln-castilla", "--search", "lupus nephritis")
        assert duplicate.exit_code == 1 and "exists" in duplicate.output
        server.set_studies(
            [*studies, lupus_nephritis_trial(studies[0], NEW_LN, DAY2[:10], "RECRUITING")], DAY2
        )
        run_sync(engine, client(server), page_size=5)
        with engine.begin() as conn:
            raised = evaluate_watches(conn)
    assert [(a["watch"], a["nct_id"], a["kind"]) for a in raised] == [("ln-castilla", NEW_LN, "matches")]
    listed = json.loads(cli(store_url, "watch", "list", "--json").stdout)
    assert [(w["name"], w["kind"], w["matching_now"]) for w in listed] == [("ln-castilla", "search", 1)]
    assert cli(store_url, "watch", "remove", "ln-castilla").exit_code == 0
    assert json.loads(cli(store_url, "watch", "list", "--json").stdout) == []
    assert alerts(engine) == []  # its alerts went with it
    missing = cli(store_url, "watch", "remove", "ln-castilla")
    assert missing.exit_code == 1 and "no watch named" in missing.output


def test_watch_add_refuses_unclear_requests(engine: Engine, store_url: str, tmp_path: Path) -> None:
    both = cli(store_url, "watch", "add", "x", "--patient", str(PATIENT), "--search", "lupus")
    assert both.exit_code == 1 and "one of the two" in both.output
    bad_name = cli(store_url, "watch", "add", "no spaces", "--search", "lupus")
    assert bad_name.exit_code == 1 and "watch name" in bad_name.output
    broken = tmp_path / "p.json"
    broken.write_text('{"age": "34"}')
    bad_patient = cli(store_url, "watch", "add", "p", "--patient", str(broken))
    assert bad_patient.exit_code == 1 and "age" in bad_patient.output
    assert "STORES THE PATIENT DETAILS" in cli(store_url, "watch", "add", "--help").stdout


def test_removed_trials_are_marked_kept_skipped_and_restored(engine: Engine, store_url: str) -> None:
    # A hundred real records: one gone is 1 %, under the mass-removal guard's 5 %.
    studies = load_studies(
        ROOT / "tests" / "fixtures" / "ctgov" / "v2-studies" / "nsclcbench_ctg-studies_100.json"
    )
    ln = lupus_nephritis_trial(studies[0], NEW_LN, "2026-12-01", "RECRUITING")
    with serve_registry([*studies, ln]) as server:
        server.data_timestamp = DAY1
        run_sync(engine, client(server), page_size=50)
        page = cli(store_url, "ingest", "page", str(ROOT / "sample" / "lupus-nephritis-trial-page.txt"))
        assert page.exit_code == 0, page.output
        found = cli(store_url, "search", "lupus nephritis", "--near", "Palencia, Spain", "--json")
        assert NEW_LN in found.stdout

        # Day 3: the lupus nephritis trial is gone from the registry (404, absent from listings).
        server.set_studies(studies, DAY3)
        first = run_sync(engine, client(server), page_size=50, check_removed=False)
        assert first.removal_check == "not due" and first.removed == 0
        checked = cli(store_url, "sync", "--base-url", server.base_url, "--rate-limit", "0", "--no-geocode",
                      "--check-removed", "--json")  # fmt: skip
        assert checked.exit_code == 0, checked.output
        summary = json.loads(checked.stdout)
        assert summary["removed"] == 1 and summary["removal_check"] == "done"
        assert server.requests_to("/studies")[-1].params["fields"] == "NCTId"
        assert server.requests_to("/studies")[-1].params["pageSize"] == "1000"

        shown = json.loads(cli(store_url, "show", NEW_LN, "--json").stdout)
        assert shown["removed_from_registry"] == "2026-12-03"
        assert "no longer listed by the registry" in cli(store_url, "show", NEW_LN).stdout
        changes = json.loads(cli(store_url, "changes", "--since", "2026-01-01", "--json").stdout)
        assert any(c["nct_id"] == NEW_LN and c["kind"] == "removed" for c in _events(changes))
        for command in (
            ["search", "lupus nephritis", "--near", "Palencia, Spain", "--json"],
            ["match", "--patient", str(PATIENT), "--json"],
        ):
            answer = cli(store_url, *command)
            assert answer.exit_code == 0 and NEW_LN not in answer.stdout
        from fastapi.testclient import TestClient

        from api.app import create_app

        with TestClient(create_app(store_url)) as api:
            assert api.get(f"/api/v1/trials/{NEW_LN}").json()["removed_from_registry"] == "2026-12-03"
            assert "No longer listed by ClinicalTrials.gov" in api.get(f"/trials/{NEW_LN}").text
            found = api.get(
                "/api/v1/search", params={"condition": "lupus nephritis", "near": "Palencia, Spain"}
            )
            assert found.status_code == 200 and NEW_LN not in found.text
        # The trial page (PAGE-…/NCT03673748 from a page) is not the registry listing's to remove.
        with engine.connect() as conn:
            marked = conn.execute(
                text("SELECT nct_id FROM trial WHERE removed_from_registry IS NOT NULL")
            ).all()
        assert marked == [(NEW_LN,)]

        # It comes back: restored, offered again.
        server.set_studies([*studies, touched(ln, "2026-12-04")], "2026-12-04T09:00:00")
        back = run_sync(engine, client(server), page_size=50)
        assert back.restored == 1
    assert get_trial(engine, NEW_LN)["removed_from_registry"] is None  # type: ignore[index]
    assert NEW_LN in cli(store_url, "search", "lupus nephritis", "--near", "Palencia, Spain", "--json").stdout


def _events(changes: Any) -> list[dict[str, Any]]:
    return changes if isinstance(changes, list) else changes.get("changes", [])


def test_a_listing_that_fails_half_way_marks_nothing(engine: Engine, studies: list[dict[str, Any]]) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        run_sync(engine, client(server), page_size=5)
        server.set_studies(studies[:-1], DAY2)
        # /version, the update's one page, the id listing's first page answer; its second fails.
        server.add_faults(*[Fault("timeout", delay=0.0)] * 3, "500", "500")
        flaky = client(server, max_retries=1)
        run = run_sync(engine, flaky, page_size=5, check_removed=True, id_page_size=5)
    assert run.status == "succeeded" and run.removal_check == "failed" and run.exit_code == 1
    assert "did not complete" in (run.error or "") and run.removed == 0
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM trial WHERE removed_from_registry IS NOT NULL")).scalar()
            == 0
        )


def test_the_mass_removal_guard(engine: Engine, store_url: str, studies: list[dict[str, Any]]) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        run_sync(engine, client(server), page_size=5)
        server.set_studies(studies[:8], DAY2)  # 5 of 13 gone: 38 %
        refused = cli(store_url, "sync", "--base-url", server.base_url, "--rate-limit", "0", "--no-geocode",
                      "--check-removed", "--json")  # fmt: skip
        assert refused.exit_code == 1
        assert json.loads(refused.stdout)["removal_check"] == "refused"
        assert "--allow-mass-removal" in refused.stderr and "nothing was marked" in refused.stderr
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM trial WHERE removed_from_registry IS NOT NULL")
                ).scalar()
                == 0
            )
        allowed = run_sync(engine, client(server), check_removed=True, allow_mass_removal=True)
    assert allowed.removed == 5 and allowed.exit_code == 0
    gone = {nct_id_of(s) for s in studies[8:]}
    with engine.connect() as conn:
        marked = {
            r[0]
            for r in conn.execute(text("SELECT nct_id FROM trial WHERE removed_from_registry IS NOT NULL"))
        }
    assert marked == gone


def test_removal_checks_come_by_themselves_after_a_week(
    engine: Engine, studies: list[dict[str, Any]]
) -> None:
    with serve_registry(studies) as server:
        server.data_timestamp = DAY1
        run_sync(engine, client(server))
        server.set_studies(studies[:-1], "2026-12-05T09:00:00")
        assert run_sync(engine, client(server)).removal_check == "not due"  # 4 days
        server.set_studies(studies[:-1], "2026-12-08T09:00:00")
        weekly = run_sync(engine, client(server))  # 1 of 13: a few are never "mass"
    assert weekly.removal_check == "done" and weekly.removed == 1


@contextmanager
def webhook_receiver(failures: int) -> Iterator[list[dict[str, Any]]]:
    """A real HTTP server on loopback taking POSTs; the first ``failures`` get 503."""
    received: list[dict[str, Any]] = []
    left = [failures]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if left[0] > 0:
                left[0] -= 1
                self.send_response(503)
            else:
                received.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.append({"url": f"http://127.0.0.1:{server.server_address[1]}/hook"})
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


def test_alerts_go_to_a_command_and_a_webhook_and_failures_are_retried(
    engine: Engine, store_url: str, studies: list[dict[str, Any]], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox.jsonl"
    with serve_registry(studies) as server, webhook_receiver(failures=1) as posted:
        hook = posted.pop(0)["url"]
        server.data_timestamp = DAY1
        run_sync(engine, client(server))
        assert cli(store_url, "watch", "add", "p", "--patient", str(PATIENT)).exit_code == 0
        server.set_studies(
            [*studies, lupus_nephritis_trial(studies[0], NEW_LN, DAY2[:10], "RECRUITING")], DAY2
        )
        sync = ["sync", "--base-url", server.base_url, "--rate-limit", "0", "--no-geocode", "--json"]
        failing = cli(store_url, *sync, "--notify-cmd", "cat >/dev/null; exit 4", "--webhook", hook)
        assert failing.exit_code == 0, failing.output  # a failed delivery never fails the sync
        delivery = json.loads(failing.stdout)["delivery"]
        assert delivery["delivered"] == 0 and delivery["failed"] == 2
        assert "exited 4" in failing.stderr and "answered 503" in failing.stderr
        assert posted == []

        retried = cli(store_url, *sync, "--notify-cmd", f"cat >> {inbox}", "--webhook", hook)
        delivery = json.loads(retried.stdout)["delivery"]
        assert (delivery["delivered"], delivery["failed"], delivery["errors"]) == (2, 0, [])
        lines = inbox.read_text().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["nct_id"] == NEW_LN
        assert [p["nct_id"] for p in posted] == [NEW_LN]
        assert json.loads(lines[0]) == posted[0]

        third = cli(store_url, *sync, "--notify-cmd", f"cat >> {inbox}", "--webhook", hook)
        assert json.loads(third.stdout)["delivery"]["delivered"] == 0  # delivered once
    assert len(inbox.read_text().splitlines()) == 1


def test_a_webhook_answer_that_never_ends_is_not_read() -> None:
    """Only the status of the webhook's answer counts: an endless body (it was read whole,
    without bound) neither holds the sync nor fills its memory."""
    from matching.watch.deliver import webhook_sender

    class Endless(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        send = webhook_sender(f"http://127.0.0.1:{server.server_address[1]}/hook")
        outcome: list[str | None] = []
        worker = threading.Thread(target=lambda: outcome.append(send(b"{}", 10.0)), daemon=True)
        worker.start()
        worker.join(30)
        assert outcome == [None], "the delivery did not come back"
    finally:
        server.shutdown()
        server.server_close()


def test_a_notify_command_that_talks_a_lot_costs_no_memory() -> None:
    """Its stdout goes nowhere and its stderr to a file: 300 MB of output used to be held.

    Measured as a grandchild's peak RSS (RUSAGE_CHILDREN of a small wrapper): a process
    forked straight from pytest would report pytest's own size (Linux keeps it across exec)."""
    inner = (
        "from matching.watch.deliver import command_sender\n"
        "print(command_sender('head -c 300000000 /dev/zero; echo boom >&2; exit 3')(b'{}', 30.0))\n"
    )
    wrapper = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", wrapper, sys.executable, "-c", inner],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    said, rss_kb = ran.stdout.splitlines()
    assert said == "--notify-cmd exited 3: boom"
    assert int(rss_kb) < 200 * 1024
