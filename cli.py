"""trialsite command line: the root app and the commands that read the store.

Thin: each command parses arguments, calls the library, prints. The command groups
live beside what they drive (ingest/cli.py, matching/cli.py, db/cli.py). Errors a
user can cause print one ``Error: …`` line and exit 1; an ingest that quarantined
records exits 2.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli import serve
from db.cli import (
    CommandGroup,
    JsonFlag,
    db_app,
    dispose_engine,
    fail,
    get_engine,
    out,
    print_json,
    report_unexpected,
    shown_time,
    state,
)
from ingest.cli import criteria_app, ingest_app, print_items
from ingest.places import cli as places_cli
from matching import cli as matching_cli
from matching.watch import cli as watch_cli
from matching.watch.sync_cli import sync

app = typer.Typer(
    name="trialsite",
    help="Ingest ClinicalTrials.gov records and match patients to nearby recruiting sites.",
    no_args_is_help=True,
    cls=CommandGroup,
    add_completion=False,
    rich_markup_mode=None,
    # No locals in tracebacks: they could hold a patient's details.
    pretty_exceptions_show_locals=False,
)
app.add_typer(ingest_app, name="ingest")
app.add_typer(db_app, name="db")


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version as installed

        out.print(f"trialsite {installed('trialsite')}", markup=False)
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="TRIALSITE_DATABASE_URL",
            help="Store URL (default sqlite:///trialsite.db), e.g. postgresql://postgres@127.0.0.1/test.",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an unexpected failure, print the full traceback.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print trialsite's version and exit."
        ),
    ] = False,
) -> None:
    """Ingest ClinicalTrials.gov records and match patients to nearby recruiting sites.

    \b
    Example:
      trialsite ingest file studies.json && trialsite stats
    """
    state.db = db
    state.engine = None
    state.debug = debug
    ctx.call_on_close(dispose_engine)


@app.command("show")
def show(
    nct_id: Annotated[str, typer.Argument(help="NCT id (or page-derived id) of a stored trial.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one stored trial with its sites, conditions and criteria.

    \b
    Example:
      trialsite show NCT04267848 --json
    """
    from db.queries import get_trial

    trial = get_trial(get_engine(), nct_id)
    if trial is None:
        wanted = nct_id.strip().upper()
        if wanted.isdigit() and len(wanted) <= 8:
            wanted = f"NCT{int(wanted):08d}"  # "05923112" → NCT05923112
            trial = get_trial(get_engine(), wanted)
        if trial is None and wanted.startswith("NCT") and wanted[3:].isdigit() and len(wanted) == 11:
            fail(f"{nct_id} is not in the store (load it with: trialsite ingest ctgov --ids {wanted})")
        if trial is None:
            fail(
                f"{nct_id} is not in the store: give an NCT number (NCT01234567) or a stored page id (PAGE-…)"
            )
    if as_json:
        from ingest.criteria.needs import with_needs_view

        with_needs_view(trial["criteria"])
        print_json(trial)
        return
    _print_trial(trial)


def _dated(value: str | None, kind: str | None) -> str | None:
    return f"{value} ({kind.lower()})" if value and kind else value


def _print_trial(t: dict[str, Any]) -> None:
    out.print(f"[bold]{escape(t['nct_id'])}[/bold]  {escape(t['brief_title'] or t['official_title'] or '')}")
    if t["official_title"] and t["brief_title"]:
        out.print(t["official_title"], style="dim", markup=False)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    ages = f"{t['minimum_age'] or 'no minimum'} – {t['maximum_age'] or 'no maximum'}"
    rows = [
        (
            "REMOVED",
            f"no longer listed by the registry (checked {t['removed_from_registry']}): "
            "kept here, not offered by match or search"
            if t.get("removed_from_registry")
            else None,
        ),
        ("status", t["overall_status"]),
        ("study type", t["study_type"]),
        ("phases", ", ".join(t["phases"]) or None),
        ("ages", ages),
        ("sex", t["sex"]),
        ("healthy volunteers", {True: "yes", False: "no"}.get(t["healthy_volunteers"])),
        ("start", _dated(t["start_date"], t["start_date_type"])),
        ("completion", _dated(t["completion_date"], t["completion_date_type"])),
        ("enrollment", str(t["enrollment"]) if t["enrollment"] is not None else None),
        ("lead sponsor", t["lead_sponsor"]),
        ("collaborators", ", ".join(c["name"] for c in t["collaborators"] or []) or None),
        ("conditions", "; ".join(t["conditions"]) or None),
        ("MeSH", "; ".join(t["mesh_terms"]) or None),
        ("last update", t["last_update_post_date"]),
    ]
    for label, value in rows:
        if value:
            facts.add_row(label, value)
    out.print(facts)
    if t["sites"]:
        count = len(t["sites"])
        table = Table(title=f"{count} site" if count == 1 else f"{count} sites", show_lines=False)
        for col in ("facility", "city", "country", "status", "lat, lon", "contact"):
            table.add_column(col, overflow="fold")  # wrapped, never cut (e-mail addresses)
        for s in t["sites"][:50]:
            contact = (s["contacts"] or [{}])[0]
            table.add_row(
                s["facility"] or "",
                ", ".join(p for p in (s["city"], s["state"]) if p),
                s["country"] or "",
                s["status"] or "",
                f"{s['latitude']:.3f}, {s['longitude']:.3f}" if s["latitude"] is not None else "—",
                " ".join(p for p in (contact.get("name"), contact.get("phone"), contact.get("email")) if p),
            )
        out.print(table)
        if len(t["sites"]) > 50:
            out.print(f"… {len(t['sites']) - 50} more sites (use --json for all)")
    if t["criteria"]:
        out.print(f"[bold]Eligibility criteria[/bold] ({len(t['criteria'])} items, parsed rules under each)")
        print_items(t["criteria"])
    elif t["eligibility_criteria"]:
        out.print("[bold]Eligibility criteria[/bold]")
        out.print(t["eligibility_criteria"], markup=False)


@app.command("stats")
def stats(as_json: JsonFlag = False) -> None:
    """What the store holds: trials, sites, statuses, quarantine, last ingest.

    \b
    Example:
      trialsite stats --json
    """
    from db.queries import get_stats

    data = get_stats(get_engine())
    if as_json:
        print_json(data)
        return
    out.print(f"trials: {data['trials']}")
    out.print(f"sites: {data['sites']} ({data['sites_with_coordinates']} with coordinates)")
    for status_name, count in data["by_status"].items():
        out.print(f"  {status_name}: {count}")
    out.print(f"quarantined records: {data['quarantined']}")
    out.print(f"change events: {data['change_events']}")
    if data["last_ingest"] is None:
        out.print("last ingest: never")
    else:
        counts = data["last_ingest_counts"]
        out.print(
            f"last ingest: {data['last_ingest_status']} — {data['last_ingest_command']}, finished "
            f"{shown_time(data['last_ingest'])}; {counts['seen']} seen, {counts['inserted']} inserted, "
            f"{counts['updated']} updated, {counts['quarantined']} quarantined",
            markup=False,
        )


@app.command("quarantine")
def quarantine(
    limit: Annotated[int, typer.Option("--limit", help="How many to list, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List quarantined records with the reason each was refused.

    \b
    Example:
      trialsite quarantine --limit 10
    """
    from db.queries import list_quarantine

    rows = list_quarantine(get_engine(), _checked_limit(limit))
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no quarantined records")
    for r in rows:
        out.print(f"{r['nct_id'] or '-'}  {r['origin']}\n    {r['reason']}", markup=False)


@app.command("changes")
def changes(
    nct_id: Annotated[str | None, typer.Argument(help="Only this trial's changes.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many to list, newest first.")] = 100,
    since: Annotated[
        str | None, typer.Option("--since", help="Only events detected on or after this day (YYYY-MM-DD).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List change events recorded when newer versions of trials were loaded (by ingest or sync).

    \b
    Examples:
      trialsite changes NCT05923112
      trialsite changes --since 2026-12-01 --json      # across trials: what the last syncs changed
    """
    from datetime import date

    from db.queries import list_changes

    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        fail(f"--since: expected a day (YYYY-MM-DD), got {since!r}")
    rows = list_changes(get_engine(), nct_id, _checked_limit(limit), since=day)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no change events")
    for r in rows:
        what = f" {r['field']}" if r["field"] else ""
        when = str(r.get("detected_at") or "")[:10]
        if r["kind"] == "record":  # the raw record's paths that changed, one a line
            paths = str(r["new_value"] or "").splitlines()
            out.print(
                f"{when} {r['nct_id']} source record: {len(paths)} {'field' if len(paths) == 1 else 'fields'} changed",
                markup=False,
            )
            for path in paths:
                out.print(f"    {path}", markup=False)
            continue
        out.print(
            f"{when} {r['nct_id']} {r['kind']}{what}: {_value(r['old_value'])} → {_value(r['new_value'])}",
            markup=False,
        )


def _value(value: object) -> str:
    """A change's value whole (the terminal wraps it), on one line."""
    return "(none)" if value is None else " ".join(str(value).split())


MAX_LIMIT = 1_000_000


def _checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        fail(f"--limit must be between 1 and {MAX_LIMIT:,}, got {limit}")
    return limit


app.add_typer(criteria_app, name="criteria")
app.add_typer(places_cli.gazetteer_app, name="gazetteer")
app.command("geocode")(places_cli.geocode)
for _name in ("match", "search"):
    app.command(_name)(getattr(matching_cli, _name))
app.command("serve")(serve)
app.command("sync")(sync)
app.add_typer(watch_cli.watch_app, name="watch")
app.command("alerts")(watch_cli.alerts)
app.add_typer(matching_cli.referral_app, name="referral")


def main() -> None:
    """The ``trialsite`` entry point: a failure nobody foresaw is one ``Error:`` line naming
    where its details were written; ``--debug`` shows the traceback instead."""
    try:
        app()
    except Exception as exc:
        if state.debug:
            raise
        raise SystemExit(report_unexpected(exc)) from None


if __name__ == "__main__":
    main()
