"""Issue 23's cases, run the way an attacker or a careless operator would: the service as a
process on a socket (SQLite and, where reachable, PostgreSQL) and the nightly job against
hostile webhooks and a registry that changes under a listing. Each case prints what
happened in figures (statuses, POSTs, seconds, leaks); ``bench/hostile.py`` runs them.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from db.engine import open_store
from ingest.ctgov.client import RegistryClient
from ingest.sync.runner import run_sync
from tests.conftest import PG_URL, empty_store, pg_skip_reason
from tests.hostile_server import serve_webhook
from tests.live_server import live_server
from tests.registry_server import load_studies, nct_id_of, serve_registry
from tests.sample_store import load_sample
from tests.test_api import seed_bundle
from tests.test_watch import lupus_nephritis_trial

TRIALSITE = str(Path(sys.executable).parent / "trialsite")
PATIENT = Path(__file__).resolve().parent.parent / "sample" / "patient.json"
DAY1, DAY2 = "2026-12-01T09:00:00", "2026-12-02T09:00:00"
Report = Callable[[str, str, float], None]


def report_line(case: str, outcome: str, seconds: float) -> None:
    print(f"{case:62s} {seconds:7.1f}s  {outcome}", flush=True)


def timed(report: Report, case: str, run: Callable[..., str], *args: Any) -> None:
    started = time.perf_counter()
    try:
        outcome = run(*args)
    except Exception as exc:  # a case that breaks is a figure too
        outcome = f"FAILED: {type(exc).__name__}: {exc}"
    report(case, outcome, time.perf_counter() - started)


def trialsite(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRIALSITE, *args], capture_output=True, text=True, timeout=timeout)


# -- the service ----------------------------------------------------------------------------


def broken_bundles(count: int, seed: int = 23) -> Iterator[dict[str, Any]]:
    """The seed Bundle with one element at any depth (or a new one beside those read)
    replaced by a random JSON value."""
    rng = random.Random(seed)
    names = ["gender", "address", "birthDate", "code", "coding", "valueQuantity", "text", "display",
             "effectivePeriod", "verificationStatus", "resourceType", "entry", "resource"]  # fmt: skip

    def value(depth: int = 0) -> Any:
        kind = rng.randrange(7 if depth < 2 else 5)
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        if kind == 6:
            return {rng.choice(names): value(depth + 1) for _ in range(rng.randrange(3))}
        return (None, rng.random() < 0.5, rng.randint(-(10**12), 10**12), rng.uniform(-1e6, 1e6),
                "".join(rng.choice("ab1-é\u0000 ") for _ in range(rng.randrange(8))))[kind]  # fmt: skip

    for _ in range(count):
        bundle = seed_bundle()
        path = rng.choice(_paths(bundle)[1:])
        target: Any = bundle
        for step in path[:-1]:
            target = target[step]
        if isinstance(target, dict) and rng.random() < 0.3:
            target[rng.choice(names)] = value()
        else:
            target[path[-1]] = value()
        yield bundle


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, inner in items:
        found += _paths(inner, (*at, key))
    return found


def service_cases(report: Report, urls: dict[str, str], folder: Path) -> None:
    for backend, url in urls.items():
        name = f"trialsite_bench_{uuid.uuid4().hex[:8]}"
        served = url
        if backend == "postgresql":
            served = url.replace("postgres@", "postgres:S3CRETPW@", 1) + f"&application_name={name}"
        with live_server(served, folder, workers=1) as server:
            base = server.base_url
            timed(report, f"[{backend}] 2,079 fuzzed Bundles to /getClinicalTrial", _fuzz, base)
            timed(report, f"[{backend}] search by each phase (6)", _phases, base)
            timed(report, f"[{backend}] 300-deep JSON in a patient field", _deep, base)
            timed(report, f"[{backend}] NUL in 4 paths", _nul, base)
            if backend == "postgresql":
                timed(report, "[postgresql] 200 matches, backends killed every 30 ms", _drops, base, name)
            timed(report, f"[{backend}] forged Host", _forged_host, base)
            time.sleep(0.5)
            leaks = [
                w for w in ("S3CRETPW", "nephritis", "Traceback", "parameters") if w in server.log.read_text()
            ]
            report(
                f"[{backend}] server log: password, patient value, traceback", f"found: {leaks or 'none'}", 0
            )


def _fuzz(base: str) -> str:
    statuses: Counter[int] = Counter()
    with requests.Session() as session:
        for bundle in broken_bundles(2079):
            statuses[
                session.post(f"{base}/getClinicalTrial", json={"patientData": bundle}, timeout=60).status_code
            ] += 1
    errors = sum(n for status, n in statuses.items() if status >= 500)
    return f"{errors} answered 5xx; statuses {dict(sorted(statuses.items()))}"


def _phases(base: str) -> str:
    phases = ["EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA"]
    got = [requests.get(f"{base}/api/v1/search", params={"condition": "lupus", "phase": p}, timeout=60).status_code
           for p in phases]  # fmt: skip
    return f"statuses {dict(Counter(got))}"


def _deep(base: str) -> str:
    body = b'{"age":40,"location":"Valladolid","x":' + b"[" * 300 + b"]" * 300 + b"}"
    answer = requests.post(
        f"{base}/api/v1/match", data=body, headers={"content-type": "application/json"}, timeout=60
    )
    return f"{answer.status_code}: {answer.json().get('detail')}"


def _nul(base: str) -> str:
    paths = ["/api/v1/trials/%00", "/trials/%00", "/fhir/ResearchStudy/%00", "/api/v1/changes?trial_id=%00"]
    return f"statuses {[requests.get(base + p, timeout=60).status_code for p in paths]}"


def _forged_host(base: str) -> str:
    answer = requests.get(
        f"{base}/api/v1/stats/", headers={"Host": "evil.example"}, allow_redirects=False, timeout=60
    )
    return f"{answer.status_code}, Location: {answer.headers.get('location')}"


def _drops(base: str, name: str) -> str:
    admin = create_engine(PG_URL)
    stop, killed = threading.Event(), [0]

    def kill() -> None:
        with admin.connect() as conn:
            while not stop.wait(0.03):
                killed[0] += conn.execute(
                    text("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = :n"), {"n": name}).scalar_one() or 0  # fmt: skip
                conn.commit()

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    patient = json.loads(PATIENT.read_text())
    try:
        with requests.Session() as session:
            got = Counter(
                session.post(f"{base}/api/v1/match", json=patient, timeout=60).status_code for _ in range(200)
            )
    finally:
        stop.set()
        killer.join()
        admin.dispose()
    return f"{killed[0]} backends killed; statuses {dict(got)}"


# -- the nightly job ------------------------------------------------------------------------


def _client(server: Any) -> RegistryClient:
    return RegistryClient(server.base_url, rate_limit_per_minute=None, sleep=lambda s: None)


@contextmanager
def alerting(url: str, count: int) -> Iterator[Any]:
    """A store on day 1 with a watch on the demo patient; the registry on day 2 has ``count``
    new lupus nephritis trials in Valladolid (``count`` alerts at the next sync)."""
    base = load_studies()
    with serve_registry(base) as server:
        server.data_timestamp = DAY1
        engine = open_store(url)
        try:
            run_sync(engine, _client(server))
        finally:
            engine.dispose()
        trialsite("--db", url, "watch", "add", "palencia", "--patient", str(PATIENT))
        new = [
            lupus_nephritis_trial(base[0], f"NCT0999{i:04d}", DAY2[:10], "RECRUITING") for i in range(count)
        ]
        server.set_studies([*base, *new], DAY2)
        yield server


def _sync(url: str, server: Any, hook: str) -> list[str]:
    return [TRIALSITE, "--db", url, "sync", "--base-url", server.base_url, "--rate-limit", "0", "--no-geocode",
            "--json", "--webhook", hook]  # fmt: skip


def job_cases(report: Report, folder: Path) -> None:
    stores = iter(range(100))

    def store() -> str:
        return f"sqlite:///{folder / f'job-{next(stores)}.db'}"

    def webhook(behaviour: str, **options: Any) -> str:
        url = store()
        with alerting(url, 16) as server, serve_webhook(behaviour, **options) as hook:
            started = time.perf_counter()
            ran = subprocess.run(_sync(url, server, hook.url), capture_output=True, text=True, timeout=900)
            delivery = json.loads(ran.stdout)["delivery"]
            return (f"sync {time.perf_counter() - started:.1f} s, exit {ran.returncode}; {len(hook.posts)} POSTs; "
                    f"delivered {delivery['delivered']}, failed {delivery['failed']}")  # fmt: skip

    timed(report, "sync, 16 alerts, webhook accepts and never answers", webhook, "silent")
    timed(
        report,
        "sync, 16 alerts, webhook sends a header line every 5 s",
        lambda: webhook("trickle", interval=5),
    )

    def overlapping() -> str:
        url = store()
        with alerting(url, 12) as server, serve_webhook("ok", delay=0.3) as hook:
            first = subprocess.Popen(
                _sync(url, server, hook.url), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            while not hook.posts and first.poll() is None:
                time.sleep(0.05)
            second = subprocess.run(_sync(url, server, hook.url), capture_output=True, text=True, timeout=900)
            first.communicate(timeout=900)
            ids = [p["id"] for p in hook.posts]
        return (
            f"{len(ids)} POSTs for 12 alerts ({len(set(ids))} distinct); second sync exit {second.returncode}"
        )

    timed(report, "two overlapping syncs, 12 alerts", overlapping)

    def redirects() -> str:
        url = store()
        with (
            alerting(url, 3) as server,
            serve_webhook("ok") as target,
            serve_webhook("redirect_away") as away,
        ):
            away.target = target.url
            subprocess.run(_sync(url, server, away.url), capture_output=True, timeout=900)
            with serve_webhook("redirect_loop") as loop:
                for _ in range(6):
                    subprocess.run(_sync(url, server, loop.url), capture_output=True, timeout=900)
            return (f"307 elsewhere: {len(away.posts)} POSTs, {len(target.posts)} followed; 307 loop over 6 runs: "
                    f"{len(loop.posts)} POSTs for 3 alerts (given up after 5 runs)")  # fmt: skip

    timed(report, "redirecting webhooks, 3 alerts", redirects)

    def mid_listing(paging: str) -> str:
        studies = []
        for i in range(250):
            study = copy.deepcopy(load_studies()[i % 13])
            study["protocolSection"]["identificationModule"]["nctId"] = f"NCT0998{i:04d}"
            study["protocolSection"]["identificationModule"].pop("nctIdAliases", None)
            studies.append(study)
        gone = nct_id_of(studies[3])
        engine = open_store(store())
        try:
            with serve_registry(studies) as server:
                server.paging = paging
                server.before_answer = lambda r: (
                    server.set_studies([s for s in studies if nct_id_of(s) != gone])
                    if len(server.requests_to("/studies")) == 5 else None
                )  # fmt: skip
                summary = run_sync(engine, _client(server), page_size=10)
            with engine.connect() as conn:
                stored = set(conn.execute(text("SELECT nct_id FROM trial")).scalars())
        finally:
            engine.dispose()
        missed = {nct_id_of(s) for s in studies} - {gone} - stored
        return f"{summary.seen} seen of {summary.total}, {summary.recovered} fetched by id; {len(missed)} live missed"

    for paging in ("offset", "key"):
        timed(report, f"250 studies by 10, one removed mid-listing ({paging} tokens)", mid_listing, paging)
    timed(report, "sync with a token in --base-url; ingest file by path", _credentials, store(), folder)


def _credentials(url: str, folder: Path) -> str:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with serve_registry(load_studies()) as server:
        secret = server.base_url.replace("http://", "http://reader:T0KEN@", 1)
        trialsite("--db", url, "sync", "--base-url", secret, "--rate-limit", "0", "--no-geocode")
    exported = folder / "private-dir" / "export.json"
    exported.parent.mkdir(exist_ok=True)
    exported.write_text(json.dumps(load_studies()[0]))
    trialsite("--db", url, "ingest", "file", str(exported), "--no-geocode")
    with TestClient(create_app(url)) as client:
        shown = (
            client.get("/api/v1/stats").text
            + client.get(f"/api/v1/trials/{nct_id_of(load_studies()[0])}").text
        )
    return f"token shown {shown.count('T0KEN')} times, server path {shown.count(str(exported.parent))} times"


def main_cases(folder: Path) -> None:
    print(f"\n{'issue 23: service and nightly job':62s} {'time':>8s}  outcome")
    urls: dict[str, str] = {}
    with contextmanager_stack() as stack:
        for backend in ("sqlite", "postgresql"):
            if backend == "postgresql" and pg_skip_reason():
                report_line("[postgresql] cases", f"skipped: {pg_skip_reason()}", 0)
                continue
            url = stack(empty_store(backend, folder))
            load_sample(url)
            urls[backend] = url
        service_cases(report_line, urls, folder)
        job_cases(report_line, folder)
        ran = trialsite("--db", PG_URL.replace("postgres@", "postgres:S3CRETPW@", 1) + "?options=-csearch_path%3Dnone_x",
                        "stats")  # fmt: skip
        report_line("store error with a password in --db", f"password shown: {'S3CRETPW' in ran.stderr}", 0)


@contextmanager
def contextmanager_stack() -> Iterator[Callable[[Any], Any]]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield stack.enter_context


if __name__ == "__main__":
    with suppress(KeyboardInterrupt), __import__("tempfile").TemporaryDirectory() as tmp:
        main_cases(Path(tmp))
