"""The ASGI application: ``create_app(database_url)``, served by ``trialsite serve``.

- ``/api/v1/…`` — the JSON API (:mod:`api.routes.v1`), the shapes of the CLI's ``--json``;
- ``/getClinicalTrial``, ``/fhir/…`` — FHIR R4 for matching front ends (:mod:`api.routes.fhir`);
- ``/``, ``/match``, ``/trials/{id}`` — the web pages (:mod:`api.routes.pages`);
- ``/cds-services…`` — CDS Hooks (:mod:`api.routes.cds`); ``/launch``, ``/handoff/{id}`` — the
  pages an EHR opens (:mod:`api.routes.launch`), set up by :mod:`api.ehr_settings`;
- ``/healthz``, ``/openapi.json``, ``/docs``.

Request bodies over :data:`MAX_BODY_BYTES` get 413 before they are read whole; every
response — a 413, a refused Host, a 500 included — carries a Content-Security-Policy of
``'self'`` (no inline script, no off-site asset) and the other security headers. Patient
details arrive only in POST bodies and are never logged (:mod:`api.guard`: no traceback,
no SQL parameters). With ``allowed_hosts`` a request naming another Host is refused (400),
so a forged Host cannot steer the redirects the app builds from it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from api.cds_hooks import HookCounts
from api.ehr_settings import EhrSettings
from api.guard import Guard, is_fhir, shown_path
from api.handoff import Handoffs, connect_shared
from api.problems import install_problem_handlers, problem_response
from api.service import Service

MAX_BODY_BYTES = 1_000_000
ENV_ALLOWED_HOSTS = "TRIALSITE_ALLOWED_HOSTS"  # set by `trialsite serve --allowed-hosts`
access = logging.getLogger("trialsite.access")
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """413 for a body over the limit: by Content-Length at once, else while it streams in."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "Request body too large", f"body: expected at most {self.limit:,} bytes"
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"
                ]
                headers.extend(SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class AccessLog:
    """One line per request: method, path (never the query string), status, milliseconds.

    A search's query string is an advocate's words, and a form may be mistyped into a
    URL: neither reaches the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            access.info(
                "%s %s %d %.0f ms",
                scope["method"],
                _logged_path(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )


def _logged_path(path: str) -> str:
    """A path as the access log shows it: control characters escaped ("%0a" forges no log
    line), and a card's handoff id left out (it opens a patient's profile for minutes)."""
    if path.startswith("/handoff/"):
        return "/handoff/…"
    return shown_path(path)


def create_app(
    database_url: str | None = None,
    *,
    gazetteer_path: Path | None = None,
    allowed_hosts: Sequence[str] | None = None,
    ehr_settings: EhrSettings | None = None,
) -> FastAPI:
    """The service on the store at ``database_url`` (default: ``TRIALSITE_DATABASE_URL`` or
    ``./trialsite.db``); the store is opened (and migrated) when the server starts.
    ``allowed_hosts``: the Host names it answers (None: any; ``trialsite serve`` always gives them).
    ``ehr_settings``: CDS Hooks and SMART launch (default: from the environment)."""
    from api.routes import cds, fhir, launch, pages, v1

    settings = ehr_settings or EhrSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service.open(database_url, gazetteer_path)
        app.state.service = service
        app.state.handoffs = connect_shared(settings.handoff_ttl_s) or Handoffs(settings.handoff_ttl_s)
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="trialsite",
        version=_version(),
        summary="Match referred patients to nearby recruiting clinical-trial sites; search trials by condition and place.",
        description=(
            "ClinicalTrials.gov records, normalized and matched offline. Patient details sent to "
            "`/api/v1/match` or `/getClinicalTrial` are used for the answer only: never stored or logged. "
            "Errors are RFC 9457 problem details naming the field."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ehr_settings = settings
    app.state.hook_counts = HookCounts()
    install_problem_handlers(app)
    _document_components(app)
    app.include_router(v1.router)
    app.include_router(fhir.router)
    app.include_router(cds.router)
    app.include_router(launch.router)
    app.include_router(pages.router)
    pages.mount_static(app)
    # Innermost first: each add_middleware wraps what was added before it.
    app.add_middleware(BodyLimit)
    app.add_middleware(cds.CdsCors, origins=settings.ehr_origins)
    app.add_middleware(Guard)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts), www_redirect=False)
    app.add_middleware(AccessLog)
    app.add_middleware(SecurityHeaders)
    return app


def _document_components(app: FastAPI) -> None:
    """Add the schemas operations name by hand (the patient body, problems) to the document."""
    from fastapi.openapi.utils import get_openapi

    from api.models import extra_schemas
    from api.routes.fhir import OUTCOME_SCHEMA

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(extra_schemas())
            # Invalid input is answered as a problem (api.problems), not FastAPI's own shape.
            problem = {"$ref": "#/components/schemas/Problem"}
            for path, methods in document.get("paths", {}).items():
                for operation in methods.values():
                    responses = operation.setdefault("responses", {})
                    invalid = responses.get("422")
                    if invalid is not None:
                        invalid["description"] = "A field is invalid; `detail` names it (problem details)."
                        invalid["content"] = {"application/problem+json": {"schema": problem}}
                    # What api.guard answers on any route: a NUL in the path or query, the store down.
                    content = (
                        {"application/fhir+json": {"schema": OUTCOME_SCHEMA}}
                        if is_fhir(path)
                        else {"application/problem+json": {"schema": problem}}
                    )
                    responses.setdefault(
                        "400",
                        {"description": "A NUL character in the path or query string.", "content": content},
                    )
                    responses.setdefault(
                        "503",
                        {
                            "description": "The store did not answer; try again (`Retry-After`).",
                            "content": content,
                        },
                    )
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """The factory ``uvicorn`` calls in each worker (``trialsite serve`` sets the variables)."""
    for logger in (access, logging.getLogger("trialsite.api")):  # requests, and failures (api.guard)
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False
    gazetteer = os.environ.get("TRIALSITE_GAZETTEER")
    hosts = os.environ.get(ENV_ALLOWED_HOSTS)
    return create_app(
        os.environ.get("TRIALSITE_DATABASE_URL"),
        gazetteer_path=Path(gazetteer) if gazetteer else None,
        allowed_hosts=[h.strip() for h in hosts.split(",") if h.strip()] if hosts else None,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trialsite")
    except PackageNotFoundError:
        return "0"
