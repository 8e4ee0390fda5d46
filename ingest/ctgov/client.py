"""ClinicalTrials.gov API v2 client: fetch raw study objects, page by page.

``RegistryClient.fetch_studies(RegistryQuery(...))`` yields the API's study
objects untouched (parsing is ``ingest.ctgov.parser``'s job); ``fetch_study(nct_id)``
gets one. The contract is the official OpenAPI spec,
``tests/fixtures/ctgov/openapi/ctg-oas-v2.0.5.yaml``. The network is injected
(a ``requests.Session`` and a base URL), and so are the clock, ``sleep`` and
random source that pacing and retries use, so tests run against a local
server without waiting.

Every request goes through one loop (:meth:`RegistryClient._get_json`): pace
(:class:`~ingest.ctgov.retry.RateLimiter`), send, read the whole body, decode
JSON, and on failure ask :func:`~ingest.ctgov.retry.should_retry`. Transient
failures are retried with exponential backoff and full jitter, never sooner
than a ``Retry-After`` header asks.

Errors (each ``str()`` is one line naming the URL)::

    RegistryError            any failure talking to the registry; .url, .status
    ├── StudyNotFound        GET /studies/{nctId} answered 404; .nct_id
    └── RegistryUnavailable  a transient failure outlasted every retry; .attempts

A fatal answer (400 and other 4xx) raises ``RegistryError`` carrying the
registry's own message, without retrying. Invalid query values raise
``ValueError`` before any request is made.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import orjson
import requests
from requests.adapters import HTTPAdapter

from ingest.ctgov.query import RegistryQuery, normalize_nct_id
from ingest.ctgov.retry import (
    RETRY_AFTER_STATUSES,
    RateLimiter,
    parse_retry_after,
    retry_wait,
    should_retry,
)
from ingest.fetch import BodyTooLarge, read_body, read_timeout

__all__ = [
    "DEFAULT_BASE_URL",
    "USER_AGENT",
    "PageProgress",
    "RegistryClient",
    "RegistryError",
    "RegistryQuery",
    "RegistryUnavailable",
    "StudyNotFound",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"


def _package_version() -> str:
    try:
        return version("trialsite")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


USER_AGENT = (
    f"trialsite/{_package_version()} (+https://github.com/trialsite/trialsite; clinical-trial matching)"
)

_INVALID_BODY = "truncated or invalid JSON body"
# Each request's whole answer must arrive within this many seconds (``--timeout``);
# a slower one counts as a read timeout for the retry policy.
DEFAULT_REQUEST_DEADLINE = 60.0
# An API answer larger than this is an error, not read further: a page of 1,000
# studies with results is ~50 MB; parsed, 64 MB of JSON stays well under 500 MB RSS.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# Pages beyond what ``totalCount`` allows (the spec lets a page be empty and still
# carry a token, so a few are tolerated) end the listing as a looping registry.
EXTRA_PAGES = 10


class RegistryError(Exception):
    """A request to the registry failed; ``url`` and HTTP ``status`` (if any) say which."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class StudyNotFound(RegistryError):
    """The registry has no study with this NCT id (nor an alias of it)."""

    def __init__(self, nct_id: str, *, url: str) -> None:
        super().__init__(f"{nct_id} not found in the registry (HTTP 404 from {url})", url=url, status=404)
        self.nct_id = nct_id


class RegistryUnavailable(RegistryError):
    """Transient failures (overload, timeouts, dropped or cut-off responses) persisted."""

    def __init__(self, problem: str, *, url: str, attempts: int, status: int | None = None) -> None:
        super().__init__(
            f"registry unavailable: {problem} for {url} (gave up after {attempts} attempts)",
            url=url,
            status=status,
        )
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class PageProgress:
    """Passed to ``on_page`` after each page arrives (before its studies are yielded)."""

    page: int  # 1 for the first page
    studies_so_far: int  # including this page's studies (after ``limit``)
    total_count: int | None  # the registry's totalCount for the whole query, if given


def _one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(response: requests.Response) -> str:
    """The registry's error message: text/plain per the spec; JSON bodies tolerated."""
    body = response.text
    try:
        data = orjson.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                body = data[key]
                break
    return _one_line(body) or response.reason or "no message"


def _describe(error: BaseException) -> str:
    if isinstance(error, ValueError | requests.exceptions.ChunkedEncodingError):
        return _INVALID_BODY
    if isinstance(error, requests.exceptions.ContentDecodingError):
        return "undecodable body"
    if isinstance(error, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(error, requests.Timeout):
        return "read timed out"
    return "connection failed"


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``https://user:TOKEN@host/api/v2`` → (``https://host/api/v2``, (user, TOKEN))."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    return (
        urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)),
        (unquote(parts.username), unquote(parts.password or "")),
    )


class RegistryClient:
    """Talks to the ClinicalTrials.gov API v2 (or anything serving its contract).

    ``session`` is injected (a new one when omitted, closed by :meth:`close`);
    the client does not retry inside ``requests``/``urllib3`` — the default
    adapter's ``max_retries=0`` is kept — so every retry is counted and paced
    here. ``timeout`` is ``(connect, read)`` seconds per socket operation and
    ``deadline`` the seconds a whole request may take (a body that trickles in is
    cut off then and counts as a timeout); a body over ``max_response_bytes`` is
    an error. ``Retry-After`` is honoured up to ``retry_after_cap`` seconds, so one
    request takes at most ``(max_retries + 1) * deadline`` plus the waits
    (``max_retries * retry_after_cap``): about 16 minutes with the defaults.
    ``rate_limit_per_minute``
    of None or 0 turns pacing off. ``clock``/``sleep``/``rng`` exist for tests.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        session: requests.Session | None = None,
        *,
        rate_limit_per_minute: float | None = 50,
        timeout: tuple[float, float] = (10.0, 60.0),
        deadline: float = DEFAULT_REQUEST_DEADLINE,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        retry_after_cap: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"invalid max_retries {max_retries!r}: must be >= 0")
        if not deadline > 0:
            raise ValueError(f"invalid timeout {deadline!r}: must be a positive number of seconds")
        # Credentials in the URL (a mirror behind basic auth) are sent as such and kept out of
        # base_url: it names the registry in errors, logs and the store.
        self.base_url, self._auth = _split_credentials(base_url.rstrip("/"))
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self.timeout = (timeout[0], read_timeout(deadline, timeout[1]))
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._clock = clock
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(rate_limit_per_minute, clock=clock, sleep=sleep)
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self.requests_made = 0  # every HTTP request sent, retries included
        self.last_total_count: int | None = None  # the totalCount of the last listing that gave one

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public ---------------------------------------------------------------

    def fetch_studies(
        self,
        query: RegistryQuery,
        *,
        on_page: Callable[[PageProgress], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the study objects matching ``query``, in the registry's order.

        Follows ``nextPageToken`` until the registry stops sending one or
        ``query.limit`` studies have been yielded. A page may hold no studies
        and still carry a token (the spec says so): paging goes on. A token seen
        before in this listing, or more pages than ``totalCount`` allows, raises
        :class:`RegistryError` (the studies already yielded stay yielded).
        """
        url = f"{self.base_url}/studies"
        base_params = query.to_params()
        token: str | None = None
        page = 0
        yielded = 0
        total: int | None = None
        seen_tokens: set[str] = set()
        while True:
            params = dict(base_params)
            if query.limit is not None:
                params["pageSize"] = str(min(query.effective_page_size, query.limit - yielded))
            if token is None:
                params["countTotal"] = "true"  # answered on the first page only
            else:
                params["pageToken"] = token
            studies, next_token, count, page_url = self._fetch_page(url, params)
            page += 1
            if page == 1:
                total = count
            if query.limit is not None:
                studies = studies[: query.limit - yielded]
            if on_page is not None:
                on_page(PageProgress(page, yielded + len(studies), total))
            for study in studies:
                yield study
                yielded += 1
            if next_token is None or (query.limit is not None and yielded >= query.limit):
                return
            if next_token in seen_tokens or next_token == token:
                raise RegistryError(
                    f"registry repeated page token {_one_line(next_token, 60)!r} after page {page} "
                    f"for {page_url}; stopping to avoid a loop",
                    url=page_url,
                )
            if total is not None and page >= -(-total // query.effective_page_size) + EXTRA_PAGES:
                raise RegistryError(
                    f"registry sent page {page} of a listing of {total} studies "
                    f"({query.effective_page_size} a page) for {page_url}; stopping to avoid a loop",
                    url=page_url,
                )
            if token is not None:
                seen_tokens.add(token)
            token = next_token

    def fetch_version(self) -> str:
        """The registry's ``dataTimestamp`` (``GET /version``): when its data was last refreshed."""
        data, full_url = self._get_json(f"{self.base_url}/version", {})
        stamp = data.get("dataTimestamp") if isinstance(data, dict) else None
        if not isinstance(stamp, str) or not stamp.strip():
            raise RegistryError(f"unexpected response from {full_url}: no 'dataTimestamp'", url=full_url)
        return stamp.strip()

    def fetch_page(
        self, query: RegistryQuery, token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``query``'s listing from ``token`` (None: the first page): its study
        objects and the next page's token (None after the last page). A sync keeps the token
        as its checkpoint, so a killed run carries on from it."""
        params = query.to_params()
        if token is not None:
            params["pageToken"] = token
        else:
            params["countTotal"] = "true"  # answered on the first page only
        studies, next_token, count, page_url = self._fetch_page(f"{self.base_url}/studies", params)
        if token is None:
            self.last_total_count = count
        if next_token is not None and next_token == token:
            raise RegistryError(
                f"registry repeated page token {token!r} for {page_url}; stopping to avoid a loop",
                url=page_url,
            )
        return studies, next_token

    def fetch_study(self, nct_id: str) -> dict[str, Any]:
        """One study object. An alias NCT id is redirected (301) to its current id."""
        nct_id = normalize_nct_id(nct_id)
        url = f"{self.base_url}/studies/{nct_id}"
        try:
            data, full_url = self._get_json(url, {"format": "json"})
        except RegistryError as exc:
            if exc.status == 404:
                raise StudyNotFound(nct_id, url=exc.url) from None
            raise
        if not isinstance(data, dict) or "protocolSection" not in data:
            raise RegistryError(f"unexpected response from {full_url}: not a study object", url=full_url)
        return data

    # -- internals --------------------------------------------------------------

    def _fetch_page(
        self, url: str, params: dict[str, str]
    ) -> tuple[list[dict[str, Any]], str | None, int | None, str]:
        data, full_url = self._get_json(url, params)
        studies = data.get("studies") if isinstance(data, dict) else None
        if not isinstance(studies, list):
            raise RegistryError(f"unexpected response from {full_url}: no 'studies' list", url=full_url)
        next_token = data.get("nextPageToken") or None
        count = data.get("totalCount")
        return (
            studies,
            str(next_token) if next_token is not None else None,
            count if isinstance(count, int) else None,
            full_url,
        )

    def _get_json(self, url: str, params: dict[str, str]) -> tuple[Any, str]:
        """GET and decode, retrying transient failures; returns (data, requested URL)."""
        full_url = requests.Request("GET", url, params=params).prepare().url or url
        attempts = self.max_retries + 1
        problem = ""
        status: int | None = None
        for attempt in range(attempts):
            self._limiter.wait()
            self.requests_made += 1
            retry_after: float | None = None
            try:
                deadline = self._clock() + self.deadline
                with self.session.get(
                    full_url, headers=self._headers, timeout=self.timeout, stream=True, auth=self._auth
                ) as response:
                    status = response.status_code
                    if 200 <= status < 300:
                        body = read_body(
                            response, deadline=deadline, max_bytes=self.max_response_bytes, clock=self._clock
                        )
                        return orjson.loads(body), full_url
                    # An error answer's message is read within the same deadline, and 1 MB.
                    response._content = read_body(
                        response, deadline=deadline, max_bytes=1024 * 1024, clock=self._clock
                    )
                    if not should_retry(status=status):
                        raise RegistryError(
                            f"registry answered HTTP {status} for {full_url}: {_error_text(response)}",
                            url=full_url,
                            status=status,
                        )
                    problem = f"HTTP {status} {response.reason or ''}".rstrip()
                    if status in RETRY_AFTER_STATUSES:
                        retry_after = parse_retry_after(response.headers.get("Retry-After"))
            except BodyTooLarge as exc:
                raise RegistryError(
                    f"{exc}; try a smaller --page-size", url=full_url, status=status
                ) from None
            except (requests.RequestException, ValueError) as exc:
                if not should_retry(error=exc):
                    raise RegistryError(
                        f"request to {full_url} failed: {_one_line(str(exc))}", url=full_url
                    ) from exc
                problem = _describe(exc)
                status = None
            if attempt + 1 < attempts:
                wait = retry_wait(
                    attempt,
                    retry_after=retry_after,
                    base=self.backoff_base,
                    cap=self.backoff_cap,
                    retry_after_cap=self.retry_after_cap,
                    rng=self._rng,
                )
                log.warning(
                    "%s for %s; retry %d of %d in %.1f s",
                    problem,
                    full_url,
                    attempt + 1,
                    self.max_retries,
                    wait,
                )
                self._sleep(wait)
        raise RegistryUnavailable(problem, url=full_url, attempts=attempts, status=status)
