"""``trialsite serve``: the HTTP service (JSON API, FHIR, web pages) under uvicorn."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from db.cli import err, fail, get_engine, shown_store_url, state


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=0, max=64, help="Worker processes (0, the default: one per core, up to 4)."
        ),
    ] = 0,
    allowed_hosts: Annotated[
        str | None,
        typer.Option(
            "--allowed-hosts",
            help="Host names the service answers, comma-separated ('*' any; default: --host and localhost). "
            "Behind a proxy: the public name.",
        ),
    ] = None,
) -> None:
    """Serve the web pages, the JSON API (/api/v1), FHIR (/getClinicalTrial) and /docs.

    The service reads the same store as the other commands (global --db). Patient
    details sent to it are used for the answer only: never stored, never logged (the
    access log records method, path and status, without query strings).

    \b
    A request whose Host header names another host is refused (400): a forged Host cannot
    steer the redirects the service builds. A public deployment sits behind a reverse proxy
    (TLS, timeouts, rate limits): deploy/nginx-trialsite.conf.

    \b
    Examples:
      trialsite serve                         # then open http://127.0.0.1:8000
      trialsite --db postgresql://postgres@127.0.0.1/test serve --port 8080 --workers 4
      trialsite serve --allowed-hosts trials.example.org   # behind nginx, its public name
    """
    import uvicorn

    from api.app import ENV_ALLOWED_HOSTS
    from api.ehr_settings import EhrSettings, SettingsError
    from api.handoff import start_shared
    from db.engine import Settings, is_read_only
    from db.migrate import current_revision, head_revision
    from db.queries import get_stats
    from ingest.places.cli import open_gazetteer

    try:
        ehr = EhrSettings.from_env()  # CDS Hooks and SMART launch: refused here, not in each worker
    except SettingsError as exc:
        fail(str(exc))
    url = Settings.from_env(state.db).database_url
    shown = shown_store_url()  # the password never printed
    engine = get_engine()  # opens and migrates the store, or says why it cannot
    revision, head = current_revision(engine), head_revision(engine)
    if revision != head:
        fail(f"the store at {shown} is at schema revision {revision}, not {head}: run `trialsite db upgrade`")
    trials = get_stats(engine)["trials"]
    gazetteer_path = os.environ.get("TRIALSITE_GAZETTEER")
    with open_gazetteer() as gazetteer:  # built here, once, if missing
        gazetteer_path = str(gazetteer.path)
    if not trials:
        err.print(f"the store at {shown} holds no trials: load some with `trialsite ingest …` or `make run`")
    count = workers or min(4, os.cpu_count() or 1)
    hosts = _allowed_hosts(allowed_hosts, host)
    os.environ["TRIALSITE_DATABASE_URL"] = url
    os.environ["TRIALSITE_GAZETTEER"] = gazetteer_path
    os.environ[ENV_ALLOWED_HOSTS] = ",".join(hosts)
    err.print(
        f"serving {trials:,} trials from {shown} (schema {revision}{', read-only' if is_read_only(engine) else ''}) "
        f"on http://{host}:{port} with {count} worker{'s' if count > 1 else ''} for Host "
        f"{', '.join(hosts)}; Ctrl-C to stop"
    )
    sys.stdout.flush()
    # Card links and SMART launch states live in memory: with several workers, in one process
    # of their own that every worker reaches (api.handoff), so a link opens on any worker.
    shared = start_shared(ehr.handoff_ttl_s) if count > 1 else None
    try:
        _run(uvicorn, port=port, host=host, count=count)
    finally:
        if shared is not None:
            shared.stop()


def _run(uvicorn: Any, *, host: str, port: int, count: int) -> None:
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=count,
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


def _allowed_hosts(given: str | None, bind: str) -> list[str]:
    """The Host names to answer: those given, else the bind address and localhost (an
    all-interfaces bind, 0.0.0.0 or ::, names no host: give --allowed-hosts then)."""
    if given is not None:
        hosts = [h.strip().lower() for h in given.split(",") if h.strip()]
        if not hosts:
            fail("--allowed-hosts: give host names, comma-separated, or '*' for any")
        return hosts
    hosts = [] if bind in ("0.0.0.0", "::", "") else [bind.lower()]
    return list(dict.fromkeys([*hosts, "localhost", "127.0.0.1"]))
