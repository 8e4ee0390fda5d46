"""RegistryClient against a real local HTTP server playing the registry.

Nothing of ours is mocked: requests cross loopback to ``tests/registry_server``,
which serves recorded real study objects (``fixtures/registry/studies.json``).
Only time is faked: ``sleep`` records the waits it is asked for and returns.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from ingest.ctgov.client import (
    USER_AGENT,
    PageProgress,
    RegistryClient,
    RegistryError,
    RegistryQuery,
    RegistryUnavailable,
    StudyNotFound,
)
from ingest.ctgov.retry import (
    RateLimiter,
    backoff_delay,
    parse_retry_after,
    retry_wait,
    should_retry,
)
from tests.registry_server import Fault, RegistryServer, load_studies, nct_id_of, serve_registry

ALIAS, CANONICAL = "NCT05712863", "NCT03103880"  # a real alias, listed in nctIdAliases


class FakeTime:
    """A clock that only moves when slept on; records every wait."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def studies() -> list[dict[str, Any]]:
    return load_studies()


@pytest.fixture
def registry(studies: list[dict[str, Any]]) -> Iterator[RegistryServer]:
    with serve_registry(studies) as server:
        yield server


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(server: RegistryServer, fake_time: FakeTime, **options: Any) -> RegistryClient:
    settings: dict[str, Any] = {
        "rate_limit_per_minute": None,
        "timeout": (2.0, 2.0),
        "max_retries": 3,
        "clock": fake_time.clock,
        "sleep": fake_time.sleep,
        "rng": random.Random(7),
    }
    settings.update(options)
    return RegistryClient(server.base_url, **settings)


@pytest.fixture
def client(registry: RegistryServer, fake_time: FakeTime) -> Iterator[RegistryClient]:
    with make_client(registry, fake_time) as c:
        yield c


def ids(studies: list[dict[str, Any]]) -> list[str]:
    return [nct_id_of(s) for s in studies]


# -- paging ----------------------------------------------------------------------


def test_pages_yield_every_fixture_study_in_order(
    client: RegistryClient, registry: RegistryServer, studies: list[dict[str, Any]]
) -> None:
    progress: list[PageProgress] = []
    got = list(client.fetch_studies(RegistryQuery(page_size=5), on_page=progress.append))

    assert got == studies  # raw objects, untouched
    assert [(p.page, p.studies_so_far, p.total_count) for p in progress] == [
        (1, 5, 13),
        (2, 10, 13),
        (3, 13, 13),
    ]
    pages = registry.requests_to("/studies")
    assert len(pages) == 3
    assert pages[0].params["countTotal"] == "true" and "pageToken" not in pages[0].params
    tokens = [p.params.get("pageToken") for p in pages[1:]]
    assert all(tokens) and len(set(tokens)) == 2
    assert all("countTotal" not in p.params for p in pages[1:])
    assert {p.params["pageSize"] for p in pages} == {"5"}
    assert {p.params["format"] for p in pages} == {"json"}


def test_empty_page_with_token_keeps_paging(
    client: RegistryClient, registry: RegistryServer, studies: list[dict[str, Any]]
) -> None:
    progress: list[PageProgress] = []
    stream = client.fetch_studies(RegistryQuery(page_size=5), on_page=progress.append)
    first = next(stream)  # page 1 is in
    registry.add_faults("empty_page")  # page 2 comes back empty, with a token
    got = [first, *stream]

    assert ids(got) == ids(studies)
    assert [p.studies_so_far for p in progress] == [5, 5, 10, 13]
    assert [r.fault for r in registry.requests_to("/studies")] == [None, "empty_page", None, None]


def test_limit_stops_early_and_shrinks_the_last_page(
    client: RegistryClient, registry: RegistryServer, studies: list[dict[str, Any]]
) -> None:
    got = list(client.fetch_studies(RegistryQuery(page_size=5, limit=7)))

    assert ids(got) == ids(studies[:7])
    assert [r.params["pageSize"] for r in registry.requests_to("/studies")] == ["5", "2"]


def test_filters_reach_the_server(client: RegistryClient, registry: RegistryServer) -> None:
    query = RegistryQuery(ids=["NCT05914155", ALIAS, "NCT09999999"], page_size=1)
    assert ids(list(client.fetch_studies(query))) == ["NCT05914155", CANONICAL]

    query = RegistryQuery(condition="kidney", overall_status=["NOT_YET_RECRUITING"])
    assert ids(list(client.fetch_studies(query))) == ["NCT05887817"]


# -- retries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "at_least"),
    [("1", 1.0), ("0", 0.0), ("http-date", 1.5), ("600", 120.0)],
)
def test_429_waits_at_least_retry_after(
    client: RegistryClient,
    registry: RegistryServer,
    fake_time: FakeTime,
    retry_after: str,
    at_least: float,
) -> None:
    if retry_after == "http-date":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    registry.add_faults(Fault("429", retry_after=retry_after))

    assert nct_id_of(client.fetch_study(CANONICAL)) == CANONICAL
    (wait,) = fake_time.waits
    assert wait >= at_least
    assert wait <= 120.0  # Retry-After is capped
    assert [r.fault for r in registry.requests] == ["429", None]


def test_500_and_503_are_retried(
    client: RegistryClient, registry: RegistryServer, fake_time: FakeTime
) -> None:
    registry.add_faults("500", Fault("503", retry_after="2"), "502")

    assert nct_id_of(client.fetch_study("NCT05923281")) == "NCT05923281"
    assert len(registry.requests) == 4
    assert len(fake_time.waits) == 3 and fake_time.waits[1] >= 2.0


def test_persistent_503_gives_registry_unavailable(client: RegistryClient, registry: RegistryServer) -> None:
    registry.add_faults(*["503"] * 4)

    with pytest.raises(RegistryUnavailable) as caught:
        client.fetch_study("NCT05923281")
    assert caught.value.status == 503 and caught.value.attempts == 4
    assert "HTTP 503" in str(caught.value) and "/studies/NCT05923281" in str(caught.value)


def test_read_timeout_is_retried(registry: RegistryServer, fake_time: FakeTime) -> None:
    registry.add_faults(Fault("timeout", delay=5.0))
    started = time.monotonic()
    with make_client(registry, fake_time, timeout=(1.0, 0.3)) as client:
        assert nct_id_of(client.fetch_study("NCT05923281")) == "NCT05923281"
    assert time.monotonic() - started < 2.0
    assert [r.fault for r in registry.requests] == ["timeout", None]


def test_truncated_page_is_retried(
    client: RegistryClient, registry: RegistryServer, studies: list[dict[str, Any]]
) -> None:
    stream = client.fetch_studies(RegistryQuery(page_size=5))
    first = next(stream)
    registry.add_faults("truncate")

    assert ids([first, *stream]) == ids(studies)
    assert [r.fault for r in registry.requests_to("/studies")] == [None, "truncate", None, None]


def test_persistent_truncation_names_the_url(client: RegistryClient, registry: RegistryServer) -> None:
    registry.add_faults(*["truncate"] * 4)

    with pytest.raises(RegistryUnavailable) as caught:
        list(client.fetch_studies(RegistryQuery(page_size=5)))
    message = str(caught.value)
    assert "truncated or invalid JSON body" in message
    assert f"{registry.base_url}/studies?" in message and caught.value.url in message
    assert caught.value.attempts == 4 and len(registry.requests) == 4
    assert "\n" not in message


def test_dropped_connection_is_retried(client: RegistryClient, registry: RegistryServer) -> None:
    registry.add_faults("drop", "drop")

    assert nct_id_of(client.fetch_study("NCT05923281")) == "NCT05923281"
    assert [r.fault for r in registry.requests] == ["drop", "drop", None]


def test_connection_refused_gives_registry_unavailable(fake_time: FakeTime) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        RegistryClient(
            f"http://127.0.0.1:{port}/api/v2",
            rate_limit_per_minute=None,
            max_retries=1,
            sleep=fake_time.sleep,
        ) as client,
        pytest.raises(RegistryUnavailable, match="connection failed"),
    ):
        client.fetch_study("NCT05923281")
    assert len(fake_time.waits) == 1


# -- single studies ------------------------------------------------------------------


def test_404_is_study_not_found_in_one_line(
    client: RegistryClient, registry: RegistryServer, fake_time: FakeTime
) -> None:
    with pytest.raises(StudyNotFound) as caught:
        client.fetch_study("nct09999999")
    url = f"{registry.base_url}/studies/NCT09999999?format=json"
    assert str(caught.value) == f"NCT09999999 not found in the registry (HTTP 404 from {url})"
    assert isinstance(caught.value, RegistryError) and caught.value.status == 404
    assert caught.value.nct_id == "NCT09999999"
    assert len(registry.requests) == 1 and fake_time.waits == []


def test_alias_redirect_is_followed_through_retries(client: RegistryClient, registry: RegistryServer) -> None:
    registry.add_faults("503")

    study = client.fetch_study(ALIAS)
    assert nct_id_of(study) == CANONICAL
    assert [r.path.rsplit("/", 1)[1] for r in registry.requests] == [ALIAS, ALIAS, CANONICAL]


def test_fatal_400_is_not_retried_and_carries_the_registry_message(
    client: RegistryClient, registry: RegistryServer, fake_time: FakeTime
) -> None:
    with pytest.raises(RegistryError) as caught:
        client.fetch_study("NCT00000000")  # the spec's nctId pattern rejects it
    assert caught.value.status == 400 and not isinstance(caught.value, RegistryUnavailable)
    assert "HTTP 400" in str(caught.value) and "is not a valid NCT number" in str(caught.value)
    assert len(registry.requests) == 1 and fake_time.waits == []


def test_user_agent_names_trialsite(client: RegistryClient, registry: RegistryServer) -> None:
    client.fetch_study("NCT05923281")
    list(client.fetch_studies(RegistryQuery(limit=1)))

    for request in registry.requests:
        assert request.headers["user-agent"] == USER_AGENT
        assert request.headers["user-agent"].startswith("trialsite/")
        assert "+https://github.com/trialsite/trialsite" in request.headers["user-agent"]


def test_injected_session_is_used_and_left_open(registry: RegistryServer) -> None:
    with requests.Session() as session:
        with RegistryClient(registry.base_url, session, rate_limit_per_minute=None) as client:
            client.fetch_study("NCT05923281")
        assert session.get(f"{registry.base_url}/studies/NCT05923281").status_code == 200


# -- pacing --------------------------------------------------------------------------


def test_rate_limiter_spaces_requests(registry: RegistryServer, fake_time: FakeTime) -> None:
    with make_client(registry, fake_time, rate_limit_per_minute=30) as client:
        for _ in range(4):
            client.fetch_study("NCT05923281")
    assert fake_time.waits == pytest.approx([2.0, 2.0, 2.0])
    assert len(registry.requests) == 4


def test_rate_limiter_never_exceeds_n_per_rolling_minute(fake_time: FakeTime) -> None:
    limiter = RateLimiter(50, clock=fake_time.clock, sleep=fake_time.sleep)
    sent: list[float] = []
    for i in range(120):
        if i % 40 == 0:
            fake_time.now += 300  # idle: the next call goes at once
        limiter.wait()
        sent.append(fake_time.now)
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u < t + 60) <= 50
    assert fake_time.waits == pytest.approx([1.2] * 117)


def test_rate_limiter_off() -> None:
    limiter = RateLimiter(None, sleep=lambda s: pytest.fail("slept"))
    assert [limiter.wait() for _ in range(3)] == [0.0, 0.0, 0.0]


# -- the retry-vs-fatal decision, Retry-After and backoff --------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_should_retry_transient_statuses(status: int) -> None:
    assert should_retry(status=status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422, 501])
def test_should_not_retry_other_statuses(status: int) -> None:
    assert not should_retry(status=status)


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (requests.ConnectionError("reset"), True),
        (requests.ReadTimeout("slow"), True),
        (requests.ConnectTimeout("slow"), True),
        (requests.exceptions.ChunkedEncodingError("IncompleteRead"), True),
        (ValueError("unexpected end of data"), True),
        (requests.exceptions.SSLError("certificate verify failed"), False),
        (requests.exceptions.InvalidURL("bad"), False),
        (requests.exceptions.MissingSchema("no scheme"), False),
        (RuntimeError("bug"), False),
    ],
)
def test_should_retry_errors(error: BaseException, retry: bool) -> None:
    assert should_retry(error=error) is retry


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(1)
    for attempt in range(12):
        ceiling = min(60.0, 1.0 * 2**attempt)
        waits = [backoff_delay(attempt, base=1.0, cap=60.0, rng=rng) for _ in range(50)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2  # spread across the whole range
    wait = retry_wait(0, retry_after=900, base=1, cap=60, retry_after_cap=120, rng=rng)
    assert wait == 120.0


# -- RegistryQuery -----------------------------------------------------------------------


def test_query_params_for_every_option() -> None:
    query = RegistryQuery(
        condition="lupus nephritis",
        term="mesenchymal",
        location="Valladolid",
        overall_status=["recruiting", "NOT_YET_RECRUITING"],
        near=(41.6523, -4.7245),
        radius_km=50,
        updated_since=date(2024, 1, 15),
        ids=["nct03673748", "NCT05914155"],
        page_size=20,
    )
    assert query.to_params() == {
        "format": "json",
        "query.cond": "lupus nephritis",
        "query.term": "mesenchymal",
        "query.locn": "Valladolid",
        "filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING",
        "filter.geo": "distance(41.6523,-4.7245,50km)",
        "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2024-01-15,MAX]",
        "filter.ids": "NCT03673748,NCT05914155",
        "pageSize": "20",
    }


def test_query_params_go_over_the_wire(client: RegistryClient, registry: RegistryServer) -> None:
    query = RegistryQuery(
        term="AREA[Phase]PHASE2",
        location="Spain",
        near=(40.4168, -3.7038),
        radius_km=12.5,
        updated_since="2023-06-01",
        limit=3,
    )
    list(client.fetch_studies(query))
    (first,) = registry.requests_to("/studies")
    assert first.params == {**query.to_params(), "countTotal": "true"}
    assert first.params["filter.geo"] == "distance(40.4168,-3.7038,12.5km)"
    assert first.params["pageSize"] == "3"


def test_query_defaults_and_page_size_cap() -> None:
    assert RegistryQuery().to_params() == {"format": "json", "pageSize": "100"}
    assert RegistryQuery(page_size=5000).to_params()["pageSize"] == "1000"
    assert RegistryQuery(page_size=5000, limit=2500).to_params()["pageSize"] == "1000"
    assert RegistryQuery(limit=7).to_params()["pageSize"] == "7"
    assert RegistryQuery(overall_status="RECRUITING|COMPLETED").overall_status == (
        "RECRUITING",
        "COMPLETED",
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ids": ["NCT123"]}, "invalid NCT id 'NCT123'"),
        ({"ids": "NCT03673748,03673748"}, "invalid NCT id '03673748'"),
        ({"updated_since": "2024-13-01"}, "invalid date '2024-13-01'"),
        ({"updated_since": "yesterday"}, "expected YYYY-MM-DD"),
        ({"near": (41.6, -4.7), "radius_km": 0}, "invalid radius 0 km"),
        ({"radius_km": -5}, "must be greater than 0"),
        ({"near": (91.0, 0.0)}, "latitude must be within"),
        ({"overall_status": ["RECRUTING"]}, "unknown overall status RECRUTING"),
        ({"limit": 0}, "invalid limit 0"),
        ({"page_size": 0}, "invalid page size 0"),
    ],
)
def test_query_rejects_bad_values(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        RegistryQuery(**options)


def test_fetch_study_rejects_a_bad_id_before_any_request(
    client: RegistryClient, registry: RegistryServer
) -> None:
    with pytest.raises(ValueError, match="invalid NCT id"):
        client.fetch_study("NCT-1")
    assert registry.requests == []
