"""Read an HTTP body with an overall deadline and a size cap.

``requests``' ``timeout`` bounds each socket read, not the request: a server that
trickles one byte every few seconds never trips it, and one that streams forever
fills memory. :func:`read_body` reads a ``stream=True`` response piece by piece
(``read1``: whatever has arrived, so a trickle still returns control) and stops
at ``deadline`` (a ``clock()`` value) with :class:`DeadlineExceeded` — a
``requests.Timeout``, so a retry policy treats it as a read timeout — or past
``max_bytes`` with :class:`BodyTooLarge`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

CHUNK = 64 * 1024


class DeadlineExceeded(requests.Timeout):
    """The whole response did not arrive within the request's deadline."""


class BodyTooLarge(Exception):
    """The body outgrew the stated cap; reading stopped there."""

    def __init__(self, url: str, max_bytes: int) -> None:
        super().__init__(f"{url}: response larger than {max_bytes // (1024 * 1024)} MB; stopped reading")
        self.url = url
        self.max_bytes = max_bytes


def read_timeout(deadline_seconds: float, read: float) -> float:
    """The per-read socket timeout to use under an overall deadline (never longer than it)."""
    return max(0.001, min(read, deadline_seconds))


def read_body(
    response: requests.Response,
    *,
    deadline: float,
    max_bytes: int,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """The whole (decoded) body of a ``stream=True`` response, within ``deadline`` and ``max_bytes``."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(response.url, max_bytes)
    parts: list[bytes] = []
    size = 0
    raw = response.raw
    while True:
        if clock() > deadline:
            raise DeadlineExceeded(f"{response.url}: no complete answer within the request deadline")
        try:
            piece = raw.read1(CHUNK, decode_content=True)
        except requests.RequestException:
            raise
        except Exception as exc:  # urllib3's ProtocolError, ReadTimeoutError, DecodeError...
            raise _as_requests_error(exc) from exc
        if not piece:
            break
        size += len(piece)
        if size > max_bytes:
            raise BodyTooLarge(response.url, max_bytes)
        parts.append(piece)
    return b"".join(parts)


def _as_requests_error(exc: Exception) -> requests.RequestException:
    """urllib3's errors as the ``requests`` errors the retry policy knows."""
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

    if isinstance(exc, ReadTimeoutError):
        return requests.ReadTimeout(str(exc))
    if isinstance(exc, DecodeError):
        return requests.exceptions.ContentDecodingError(str(exc))
    if isinstance(exc, ProtocolError):
        return requests.exceptions.ChunkedEncodingError(str(exc))
    if isinstance(exc, OSError):
        return requests.ConnectionError(str(exc))
    raise exc
