"""The last word on every request: no input answers 5xx, and no failure leaks into the log.

:class:`Guard` sits inside the security headers and the access log, around the whole app:

- a NUL character in the path or the query string is a 400 at once (PostgreSQL refuses NUL
  in text: ``/api/v1/trials/%00`` was a 500 from the driver);
- an exception the app did not handle is answered here and never re-raised, so the server
  (uvicorn) logs no traceback — SQLAlchemy puts a statement's parameters into its errors,
  and a match's parameters are a patient's place and conditions. The log gets one line:
  the exception's type, the method and the path (escaped), never its message;
- the store dropping a connection is a 503 with ``Retry-After`` (the store, not the
  request, failed); a value the store refuses is a 400; anything else a 500.

FHIR routes answer an ``OperationOutcome``, the others RFC 9457 problem details.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError

log = logging.getLogger("trialsite.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FHIR_PREFIXES = ("/getClinicalTrial", "/fhir/")
RETRY_AFTER_S = 5


def is_fhir(path: str) -> bool:
    return path.startswith(FHIR_PREFIXES)


def error_body(path: str, status: int, title: str, detail: str, code: str) -> tuple[bytes, bytes]:
    """(body, content type): an OperationOutcome on FHIR routes, else a problem."""
    if is_fhir(path):
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": detail}],
        }
        return orjson.dumps(outcome), b"application/fhir+json"
    problem = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return orjson.dumps(problem), b"application/problem+json"


def shown_path(path: str) -> str:
    """A path as the log may show it: control characters escaped (no forged log lines)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in path[:300])


def failure(exc: BaseException) -> tuple[int, str, str, str]:
    """(status, title, detail, FHIR issue code) for an exception no route handled."""
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return 503, "Store unavailable", "the store did not answer; try again shortly", "transient"
    if isinstance(exc, DataError):
        return 400, "Invalid input", "a value in the request cannot be searched for", "invalid"
    return 500, "Internal error", "the service failed to answer; see the server log", "exception"


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if "\x00" in path or b"\x00" in unquote_to_bytes(scope.get("query_string") or b""):
            where = "path" if "\x00" in path else "query"
            await self._answer(
                send, path, 400, "Invalid input", f"{where}: a NUL character is not allowed", "invalid"
            )
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            status, title, detail, code = failure(exc)
            # Never the message, never a traceback: either may hold a patient's details.
            log.error(
                "%s on %s %s: answered %d", type(exc).__name__, scope.get("method"), shown_path(path), status
            )
            if not started:
                await self._answer(send, path, status, title, detail, code)

    @staticmethod
    async def _answer(send: Send, path: str, status: int, title: str, detail: str, code: str) -> None:
        body, content_type = error_body(path, status, title, detail, code)
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if status == 503:
            headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
