"""``trialsite sync``: the nightly job (cron, systemd timer)."""

from __future__ import annotations

from typing import Annotated

import typer

from db.cli import JsonFlag, err, fail, get_engine, out, print_json
from ingest.ctgov.client import DEFAULT_BASE_URL


def sync(
    base_url: Annotated[
        str, typer.Option("--base-url", help="Registry API v2 base URL (mirrors, tests).")
    ] = DEFAULT_BASE_URL,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=1000, help="Studies per page (at most 1000).")
    ] = 1000,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", min=0, help="Requests a minute (0 = no limit).")
    ] = 50,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore the watermark: page through every study.")
    ] = False,
    geocode: Annotated[
        bool, typer.Option("--geocode/--no-geocode", help="Place sites the registry gave no coordinates.")
    ] = True,
    status: Annotated[
        bool, typer.Option("--status", help="Show the last runs and the watermark, and exit.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Bring the store in step with the registry: every study the first time (or with
    --full), then those updated since the day before the last succeeded run's registry
    timestamp (GET /version). Each page is stored with its checkpoint: a run killed at any
    point is carried on by the next. One run at a time.

    Exit codes: 0 done, 2 done with records quarantined, 3 another sync holds the lock,
    1 failed (the watermark then stays where it was).

    \b
    Examples:
      trialsite sync                       # nightly: incremental after the first run
      trialsite sync --json                # one summary object (status, mode, counts, resumed, …)
      trialsite sync --status --json       # the last runs: how old is the data?
      trialsite --db postgresql://postgres@127.0.0.1/test sync --full
    """
    from contextlib import ExitStack

    from ingest.ctgov.client import RegistryClient, RegistryError
    from ingest.sync.lock import SyncLocked
    from ingest.sync.runner import SyncSummary, get_watermark, list_runs, run_sync

    engine = get_engine(bulk_writes=True)
    if status:
        runs = list_runs(engine)
        report = {"watermark": get_watermark(engine), "runs": runs}
        if as_json:
            print_json(report)
            return
        out.print(f"watermark: {report['watermark'] or 'none (no sync has succeeded yet)'}", markup=False)
        for run in runs:
            out.print(
                f"#{run['id']} {run['mode']} {run['status']}: started {run['started_at']}, "
                f"finished {run['finished_at'] or '-'}; {run['seen']} seen, {run['inserted']} inserted, "
                f"{run['updated']} updated, {run['quarantined']} quarantined"
                + (f"; resumed run #{run['resumed_from']}" if run["resumed_from"] else "")
                + (f"; error: {run['error']}" if run["error"] else ""),
                markup=False,
            )
        return

    def page_done(summary: SyncSummary) -> None:
        err.print(
            f"page {summary.pages}: {summary.seen} seen, {summary.inserted} inserted, "
            f"{summary.updated} updated, {summary.unchanged} unchanged",
            markup=False,
            highlight=False,
        )

    with ExitStack() as stack, RegistryClient(base_url, rate_limit_per_minute=rate_limit or None) as client:
        located = None
        if geocode:
            from ingest.cli import site_geocoding

            located = stack.enter_context(site_geocoding())
        try:
            summary = run_sync(
                engine, client, full=full, page_size=page_size, geocode=located, on_page=page_done
            )
        except SyncLocked as exc:
            fail(str(exc), code=3)
        except RegistryError as exc:  # before the run started (GET /version)
            fail(f"the registry at {base_url} could not be reached: {exc}")
    if as_json:
        print_json(summary.to_dict())
    else:
        out.print(
            f"sync {summary.status} ({summary.mode}{', resumed' if summary.resumed else ''}): "
            f"{summary.seen} seen, {summary.inserted} inserted, {summary.updated} updated, "
            f"{summary.unchanged} unchanged, {summary.quarantined} quarantined; {summary.requests} requests "
            f"in {summary.duration_s:g} s; watermark {summary.watermark if summary.status == 'succeeded' else 'unchanged'}",
            markup=False,
        )
    if summary.error:
        err.print(f"Error: {summary.error}", markup=False, highlight=False)
    raise typer.Exit(summary.exit_code)
