"""Retry policy and request pacing for the ClinicalTrials.gov API client.

:func:`should_retry` is the one place that decides whether a failed request is
worth trying again; the client's loop asks nothing else. The rest is arithmetic
with injected clocks, so tests can check it without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

# Overload and gateway answers; the registry sends 429 when a client exceeds
# its rate limit (about 50 requests a minute per IP) and 503 during deploys.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses whose Retry-After header says how long to stay away (RFC 9110 §10.2.3).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def should_retry(*, status: int | None = None, error: BaseException | None = None) -> bool:
    """Is this failure transient: an HTTP status, or the exception a request raised?

    Transient: 429 and 5xx gateway/overload statuses; connection refused, reset
    or dropped; connect and read timeouts; a body cut short (``requests`` raises
    ``ChunkedEncodingError`` for a short ``Content-Length`` body); a body that is
    not valid JSON (``ValueError``, as a cut-off body often parses as garbage).
    Fatal: every other status and error, including TLS certificate failures.
    """
    if isinstance(error, requests.RequestException):
        if isinstance(error, requests.exceptions.SSLError):
            return False
        return isinstance(
            error,
            requests.ConnectionError
            | requests.Timeout
            | requests.exceptions.ChunkedEncodingError
            | requests.exceptions.ContentDecodingError
            | requests.JSONDecodeError,
        )
    if error is not None:
        # requests' own ValueErrors (InvalidURL, MissingSchema...) were handled above.
        return isinstance(error, ValueError)
    return status in RETRY_STATUSES


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: ``"120"`` or an HTTP-date.

    None when absent or unreadable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)].

    Full jitter spreads retrying clients apart (AWS Architecture Blog,
    "Exponential Backoff And Jitter", 2015). ``attempt`` counts from 0.
    """
    return rng.uniform(0.0, min(cap, base * 2.0 ** min(attempt, 32)))


def retry_wait(
    attempt: int,
    *,
    retry_after: float | None,
    base: float,
    cap: float,
    retry_after_cap: float,
    rng: random.Random,
) -> float:
    """Seconds to wait before retry ``attempt``: the backoff, but never less than
    what the server asked for in Retry-After (itself capped at ``retry_after_cap``)."""
    wait = backoff_delay(attempt, base=base, cap=cap, rng=rng)
    if retry_after is not None:
        wait = max(wait, min(retry_after, retry_after_cap))
    return wait


class RateLimiter:
    """Spaces calls at least ``60 / per_minute`` seconds apart.

    Even spacing keeps any rolling minute at ``per_minute`` calls or fewer,
    without the burst a window counter allows. ``per_minute`` of None or 0
    turns pacing off. Thread-safe: concurrent callers queue behind each other.
    """

    def __init__(
        self,
        per_minute: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute is not None and per_minute < 0:
            raise ValueError(f"invalid rate limit {per_minute!r} per minute: must be >= 0")
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_at: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next call may go; returns the seconds slept."""
        if self.interval <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            slept = 0.0
            if self._next_at is not None and now < self._next_at:
                slept = self._next_at - now
                self._sleep(slept)
                now = max(self._clock(), self._next_at)
            self._next_at = now + self.interval
            return slept
