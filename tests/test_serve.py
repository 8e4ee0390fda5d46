"""``trialsite serve`` as a process on a real socket: answers, holds up under concurrent
clients, stops cleanly on SIGTERM, and its OpenAPI contract survives Schemathesis."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from tests.live_server import LiveServer, live_server
from tests.sample_store import SEED_PAGE_ID, load_sample, seed_patient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{folder / 'trialsite.db'}"
    load_sample(url)
    with live_server(url, folder, workers=2) as running:
        yield running


def test_the_served_api_matches_the_seed_patient(server: LiveServer) -> None:
    response = requests.post(f"{server.base_url}/api/v1/match", json=seed_patient(), timeout=30)
    first = response.json()["matches"][0]
    assert first["nct_id"] == SEED_PAGE_ID
    assert (first["nearest_site"]["city"], first["nearest_site"]["distance_km"]) == ("Valladolid", 42.7)
    assert requests.get(f"{server.base_url}/api/v1/trials/NCT99999999", timeout=10).status_code == 404
    bad = requests.post(f"{server.base_url}/api/v1/match", json={"age": "abc"}, timeout=10)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("age:")


def test_sixteen_concurrent_clients_see_no_error(server: LiveServer) -> None:
    """Bounded: 16 clients mixing search and match for 4 seconds (bench/serve.py measures)."""
    stop = time.monotonic() + 4

    def client(n: int) -> tuple[int, int]:
        ok = failed = 0
        with requests.Session() as session:
            while time.monotonic() < stop:
                if n % 2:
                    r = session.post(f"{server.base_url}/api/v1/match", json=seed_patient(), timeout=30)
                    good = r.status_code == 200 and r.json()["matches"][0]["nct_id"] == SEED_PAGE_ID
                else:
                    r = session.get(
                        f"{server.base_url}/api/v1/search",
                        params={"condition": "cancer", "near": "Boston, MA", "radius_km": "200"},
                        timeout=30,
                    )
                    good = r.status_code == 200
                ok, failed = ok + good, failed + (not good)
        return ok, failed

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(client, range(16)))
    assert sum(f for _, f in results) == 0
    assert all(ok > 0 for ok, _ in results)


def test_the_access_log_has_paths_without_queries_or_patients(server: LiveServer) -> None:
    requests.get(
        f"{server.base_url}/api/v1/search",
        params={"condition": "Kawasaki-Quux", "near": "Palencia"},
        timeout=10,
    )
    requests.post(
        f"{server.base_url}/api/v1/match", json={"age": 61, "conditions": ["Kawasaki-Quux"]}, timeout=10
    )
    time.sleep(0.5)
    log = server.log.read_text()
    assert "GET /api/v1/search 200" in log
    assert "Kawasaki" not in log and "Palencia" not in log


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with live_server(url, tmp_path) as running:
        assert requests.get(f"{running.base_url}/healthz", timeout=10).json()["trials"] == 0
        started = time.monotonic()
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by
        # SIGTERM, which systemd counts as a clean stop).
        assert running.stop() in (0, -signal.SIGTERM)
        assert time.monotonic() - started < 15
    log = running.log.read_text()
    assert "holds no trials" in log and "Traceback" not in log
    assert "Application shutdown complete" in log and "Finished server process" in log


def test_serve_refuses_a_store_it_cannot_open(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.live_server import ROOT

    result = subprocess.run(
        [sys.executable, "-m", "cli", "--db", "mysql://nobody@127.0.0.1/x", "serve", "--port", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0


# -- Schemathesis against the served OpenAPI document ---------------------------------------


# The document the app serves (checked equal to the served one below); the requests go
# to the live server over its socket.
schema = schemathesis.openapi.from_dict(create_app("sqlite://").openapi())


def test_the_served_document_is_the_one_tested(server: LiveServer) -> None:
    assert requests.get(f"{server.base_url}/openapi.json", timeout=10).json() == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("TRIALSITE_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_contract_holds_for_generated_requests(case: Any, server: LiveServer) -> None:
    """No server error, and every response conforms to its documented schema (status,
    content type, body, headers); requests the schema forbids are refused.

    Left out: "positive data acceptance", which wants every schema-valid request answered
    2xx. A schema-valid request can still name a place that does not exist or a status
    that is no registry status: those are 422 problems naming the field, by design."""
    case.call_and_validate(
        base_url=server.base_url, timeout=30, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )
