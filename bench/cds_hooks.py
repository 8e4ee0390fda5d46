"""Benchmark the CDS Hooks card: how long an EHR waits for ``patient-view`` on the sample store.

Loads the bundled sample (what ``make run`` loads) into a fresh store, starts ``trialsite
serve`` as a user would (one worker by default) and the loopback EHR of
``tests/ehr_server.py``, warms the service up with a few calls, then sends ``--count`` hook
requests one after another for each case and prints p50 / p95 / p99 / max in milliseconds,
measured at the client (the whole HTTP exchange):

- ``prefetch``: the seed patient with the four prefetch keys of the discovery document (one card);
- ``fhirServer``: the same patient read from the loopback FHIR server with a Bearer token
  (four reads, then one card);
- ``no card``: the mCODE patient in Newburyport, MA (breast cancer: nothing near her);
- ``handoff``: opening a card's link (the ``/match`` page with her trials).

    python -m bench.cds_hooks                       # SQLite, 200 requests a case
    python -m bench.cds_hooks --backend postgresql --count 500 --workers 2

Only loopback traffic; it stops by itself.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import requests

from tests.conftest import empty_store
from tests.ehr_server import MCODE, SEED, hook_request, load_patients, prefetch_for, serve_ehr
from tests.live_server import live_server
from tests.sample_store import load_sample

SERVICE = "/cds-services/trialsite-nearby-trials"
SEED_ID = "seed-palencia"
MCODE_ID = "1e208b6b-77f1-4808-a32b-9f9caf1ec334"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(count: int, call: Callable[[], None]) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    patients = load_patients(SEED, MCODE)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cds-")))
        url = stack.enter_context(empty_store(args.backend, folder))
        load_sample(url)
        ehr = stack.enter_context(serve_ehr(copy.deepcopy(patients)))
        env = {"TRIALSITE_FHIR_SERVERS": ehr.fhir_base}
        server = stack.enter_context(live_server(url, folder, workers=args.workers, env=env))
        session = requests.Session()
        endpoint = server.base_url + SERVICE
        by_prefetch = hook_request(SEED_ID, prefetch=prefetch_for(patients[SEED_ID]))
        by_server = hook_request(SEED_ID, ehr=ehr)
        no_card = hook_request(MCODE_ID, prefetch=prefetch_for(patients[MCODE_ID]))
        links: list[str] = []

        def card(body: dict[str, object]) -> Callable[[], None]:
            def call() -> None:
                answer = session.post(endpoint, json=body, timeout=30).json()
                assert len(answer["cards"]) == 1, answer
                links.append(answer["cards"][0]["links"][0]["url"])

            return call

        def nothing() -> None:
            assert session.post(endpoint, json=no_card, timeout=30).json() == {"cards": []}

        def handoff() -> None:
            assert session.get(links.pop(), timeout=30).status_code == 200

        for _ in range(10):  # warm up: the vocabulary, the gazetteer, the store's pages
            card(by_prefetch)()
            card(by_server)()
            nothing()
        cases = [
            ("prefetch (one card)", card(by_prefetch)),
            ("fhirServer + token (4 reads, one card)", card(by_server)),
            ("no card (mCODE patient, Newburyport)", nothing),
            ("handoff page (the card's link)", handoff),
        ]
        print(
            f"CDS Hooks patient-view on the sample store ({args.backend}, {args.workers} worker"
            f"{'s' if args.workers > 1 else ''}), {args.count} requests a case, one at a time, ms:"
        )
        print(f"{'case':42} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
        for name, call in cases:
            times = timed(args.count, call)
            print(
                f"{name:42} {statistics.median(times):7.1f} {percentile(times, 95):7.1f} "
                f"{percentile(times, 99):7.1f} {max(times):7.1f}"
            )


if __name__ == "__main__":
    main()
