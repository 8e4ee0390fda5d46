"""``trialsite sync``: the nightly job (cron, systemd timer) — a sync, the watches, the alerts.

It drives both ``ingest`` (the sync) and ``matching`` (watches and alerts), so it lives with
the higher of the two (:mod:`matching.watch.job` composes the run under one lock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from db.cli import JsonFlag, err, fail, get_engine, out, print_json, progress_bar, shown_time
from ingest.ctgov.client import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from ingest.sync.summary import SyncSummary


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
    check_removed: Annotated[
        bool,
        typer.Option(
            "--check-removed",
            help="After the update, list every NCT id and mark stored trials the registry dropped "
            "(done anyway when the last check is 7 days old).",
        ),
    ] = False,
    allow_mass_removal: Annotated[
        bool,
        typer.Option("--allow-mass-removal", help="Mark removals even if over 5 % of stored trials."),
    ] = False,
    notify_cmd: Annotated[
        str | None,
        typer.Option(
            "--notify-cmd", help="Shell command given each new alert as a JSON line on stdin (exit 0 = sent)."
        ),
    ] = None,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="URL each new alert is POSTed to as JSON (2xx = sent).")
    ] = None,
    status: Annotated[
        bool, typer.Option("--status", help="Show the last runs and the watermark, and exit.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Bring the store in step with the registry: every study the first time (or with
    --full), then those updated since the day before the last succeeded run's registry
    timestamp (GET /version). Each page is stored with its checkpoint: a run killed at any
    point is carried on by the next. One run at a time.

    After the update, trials the registry no longer lists are marked removed (with
    --check-removed, or when the last check is 7 days old), the watches are asked again over
    the trials that changed (alerts: `trialsite alerts`), and new alerts go to --notify-cmd
    and --webhook: 10 s a webhook POST, 30 s a command, 60 s for all of a run's delivery;
    redirects are not followed; a failed delivery is tried again on the next runs, up to 5,
    then given up; it never fails the sync. The lock is held over all of it: two overlapping
    runs never deliver an alert twice.

    Exit codes: 0 done, 2 done with records quarantined, 3 another sync holds the lock,
    1 failed (the watermark then stays where it was; or the removal check failed or was
    refused, with the update kept).

    \b
    Examples:
      trialsite sync                       # nightly: incremental after the first run
      trialsite sync --json                # one summary object (status, mode, counts, resumed, …)
      trialsite sync --status --json       # the last runs: how old is the data?
      trialsite sync --check-removed       # also mark trials the registry no longer lists
      trialsite sync --notify-cmd 'mail -s "new trial alert" renal@hospital.example'
      trialsite sync --webhook https://chat.example/hooks/trialsite
      trialsite --db postgresql://postgres@127.0.0.1/test sync --full
    """
    from contextlib import ExitStack

    from db.display import public_url
    from ingest.ctgov.client import RegistryClient, RegistryError
    from ingest.sync.lock import SyncLocked
    from ingest.sync.summary import get_watermark, list_runs
    from matching.watch.cli import alert_line
    from matching.watch.job import run_nightly

    engine = get_engine(bulk_writes=not status)  # --status only reads (a read-only store too)
    if status:
        _print_status(list_runs(engine), get_watermark(engine), as_json)
        return

    if webhook is not None and not webhook.startswith(("http://", "https://")):
        fail(f"--webhook {public_url(webhook)!r}: expected an http:// or https:// URL")

    def raised(alert: dict[str, Any]) -> None:
        err.print(f"alert: {alert_line(alert)}", markup=False, highlight=False, soft_wrap=True)

    with ExitStack() as stack, RegistryClient(base_url, rate_limit_per_minute=rate_limit or None) as client:
        located = None
        if geocode:
            from ingest.cli import site_geocoding

            located = stack.enter_context(site_geocoding())
        page_done = stack.enter_context(_progress())
        try:
            run = run_nightly(
                engine,
                client,
                notify_cmd=notify_cmd,
                webhook=webhook,
                on_alert=raised,
                full=full,
                page_size=page_size,
                geocode=located,
                on_page=page_done,
                check_removed=True if check_removed else None,
                allow_mass_removal=allow_mass_removal,
            )
        except SyncLocked as exc:
            fail(str(exc), code=3)
        except RegistryError as exc:  # before the run started (GET /version)
            fail(f"the registry at {client.base_url} could not be reached: {exc}")
    summary, delivery = run.summary, run.delivery
    if as_json:
        print_json(summary.to_dict() | {"delivery": delivery.to_dict() if delivery else None})
    else:
        out.print(
            f"sync {summary.status} ({summary.mode}{', resumed' if summary.resumed else ''}): "
            f"{summary.seen} seen, {summary.inserted} inserted, {summary.updated} updated, "
            f"{summary.unchanged} unchanged, {summary.quarantined} quarantined, {summary.removed} removed"
            + (f", {summary.restored} restored" if summary.restored else "")
            + f"; {summary.alerts} {'alert' if summary.alerts == 1 else 'alerts'}; {summary.requests} requests in {summary.duration_s:g} s; "
            f"watermark {summary.watermark if summary.status == 'succeeded' else 'unchanged'}",
            markup=False,
        )
        if delivery is not None and (delivery.delivered or delivery.failed or delivery.deferred):
            out.print(
                f"alerts delivered: {delivery.delivered}; failed (tried again next run): {delivery.failed}"
                + (f", given up: {delivery.given_up}" if delivery.given_up else "")
                + (f"; left for the next run: {delivery.deferred}" if delivery.deferred else "")
                + f"; {delivery.duration_s:g} s",
                markup=False,
            )
    for warning in summary.warnings:
        err.print(f"Warning: {warning}", markup=False, highlight=False)
    if delivery is not None:
        for problem in delivery.errors[:5]:
            err.print(f"Warning: {problem}", markup=False, highlight=False)
    if summary.error:
        err.print(f"Error: {summary.error}", markup=False, highlight=False)
    raise typer.Exit(summary.exit_code)


def _print_status(runs: list[dict[str, Any]], watermark: str | None, as_json: bool) -> None:
    if as_json:
        print_json({"watermark": watermark, "runs": runs})
        return
    out.print(f"watermark: {watermark or 'none (no sync has succeeded yet)'}", markup=False)
    for run in runs:
        out.print(
            f"#{run['id']} {run['mode']} {run['status']}: started {shown_time(run['started_at'])}, "
            f"finished {shown_time(run['finished_at'])}; {run['seen']} seen, {run['inserted']} inserted, "
            f"{run['updated']} updated, {run['quarantined']} quarantined, {run['removed']} removed"
            + (f"; resumed run #{run['resumed_from']}" if run["resumed_from"] else "")
            + (f"; error: {run['error']}" if run["error"] else ""),
            markup=False,
        )


@contextmanager
def _progress() -> Iterator[Callable[[SyncSummary], None]]:
    """A progress bar on a terminal; one plain line a page otherwise (cron, journald)."""
    if not err.is_terminal:

        def line(summary: SyncSummary) -> None:
            err.print(
                f"page {summary.pages}: {summary.seen}"
                + (f" of {summary.total}" if summary.total is not None else "")
                + f" seen, {summary.inserted} inserted, {summary.updated} updated, "
                f"{summary.unchanged} unchanged",
                markup=False,
                highlight=False,
            )

        yield line
        return
    with progress_bar(None, "sync") as bar:
        task = bar.add_task("sync", total=None)

        def advance(summary: SyncSummary) -> None:
            bar.update(task, completed=summary.seen, total=summary.total)

        yield advance
