"""trialsite command line: every entry point. Thin: parse arguments, call, print.

Errors a user can cause print one ``Error: …`` line and exit 1; an ingest that
quarantined records exits 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

app = typer.Typer(
    name="trialsite",
    help="Ingest ClinicalTrials.gov records and match patients to nearby recruiting sites.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
ingest_app = typer.Typer(help="Load trial records into the store.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store's schema.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(db_app, name="db")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


@dataclass
class State:
    db: str | None = None
    engine: Engine | None = None


state = State()


def fail(message: str, code: int = 1) -> NoReturn:
    print_error(message)
    raise typer.Exit(code)


def print_error(message: str) -> None:
    """One unwrapped line on stderr, whatever the terminal width."""
    typer.echo(f"Error: {message}", err=True)


def get_engine() -> Engine:
    from db.engine import open_store

    if state.engine is None:
        try:
            state.engine = open_store(state.db)
        except OperationalError as exc:
            fail(f"cannot open the store: {exc.orig}")
    return state.engine


def print_json(value: Any) -> None:
    sys.stdout.write(
        orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )


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
) -> None:
    """Ingest ClinicalTrials.gov records and match patients to nearby recruiting sites.

    Example: trialsite ingest file studies.json && trialsite stats
    """
    state.db = db
    state.engine = None
    ctx.call_on_close(_dispose)


def _dispose() -> None:
    if state.engine is not None:
        state.engine.dispose()
        state.engine = None


# -- db ----------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the store's schema migrations (also done automatically on first use).

    Example: trialsite --db postgresql://postgres@127.0.0.1/test db upgrade
    """
    from db.engine import open_store
    from db.migrate import current_revision, upgrade

    engine = open_store(state.db, migrate=False)
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    out.print(
        f"schema at revision {after}" + (" (already current)" if before == after else f" (was {before})")
    )


# -- ingest ------------------------------------------------------------------


def _progress(total: int | None, label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn() if total else TextColumn("{task.completed} records"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _report(summary: Any, as_json: bool) -> int:
    """Print an ingest summary; returns the exit code (0 all loaded, 2 some quarantined)."""
    data = summary.to_dict()
    if as_json:
        print_json(data)
    else:
        out.print(
            f"seen {data['seen']}: {data['inserted']} inserted, {data['updated']} updated, "
            f"{data['unchanged']} unchanged, {data['stale']} older than stored (kept stored), "
            f"{data['quarantined']} quarantined; {data['change_events']} change events"
        )
        for q in data["quarantine"][:20]:
            out.print(f"  quarantined {q['origin']}: {q['reason']}", markup=False)
        if len(data["quarantine"]) > 20:
            out.print(f"  … and {len(data['quarantine']) - 20} more (trialsite quarantine)")
    return int(summary.exit_code)


PARALLEL_FROM = 2000  # records; below this a worker pool's start-up costs more than it saves
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@ingest_app.command("file")
def ingest_file(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Study JSON, JSON array, directory, or ctg-studies.json.zip."),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Parsing processes (default: one per spare core on loads of 2,000+ records)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Load saved registry records: study JSON, website export arrays, folders, bulk zip.

    Example: trialsite ingest file ctg-studies.json.zip --json
    """
    from ingest.files import SourceFileError, count_records_hint, iter_paths
    from ingest.pipeline import ingest_items

    engine = get_engine()
    total = count_records_hint(paths) if all(p.exists() for p in paths) else None
    if workers is None:
        workers = max(1, (os.cpu_count() or 1) - 1) if total and total >= PARALLEL_FROM else 0
    try:
        with _progress(total, "ingesting") as progress:
            task = progress.add_task("ingest", total=total)
            summary = ingest_items(
                engine,
                iter_paths(paths),
                command="ingest file",
                source=" ".join(str(p) for p in paths),
                progress=lambda n: progress.advance(task, n),
                workers=workers,
            )
    except SourceFileError as exc:
        fail(str(exc))
    raise typer.Exit(_report(summary, as_json))


@ingest_app.command("ctgov")
def ingest_ctgov(
    condition: Annotated[
        str | None, typer.Option("--condition", "--cond", help="Condition or disease.")
    ] = None,
    term: Annotated[str | None, typer.Option("--term", help="Other terms.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Location text (query.locn).")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="Overall status, e.g. RECRUITING (repeatable)."),
    ] = None,
    near: Annotated[
        str | None, typer.Option("--near", help="LAT,LON centre for a geographic search.")
    ] = None,
    radius: Annotated[float, typer.Option("--radius", help="Radius in km around --near.")] = 50.0,
    updated_since: Annotated[
        str | None,
        typer.Option("--updated-since", help="Only studies updated on or after YYYY-MM-DD."),
    ] = None,
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="NCT ids (repeatable or comma-separated).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Stop after N studies.")] = None,
    page_size: Annotated[int, typer.Option("--page-size", help="Studies per page (max 1000).")] = 100,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", help="Requests per minute (0 = no limit).")
    ] = 50,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Registry API base URL (for mirrors and tests).")
    ] = "https://clinicaltrials.gov/api/v2",
    as_json: JsonFlag = False,
) -> None:
    """Fetch studies from the ClinicalTrials.gov API v2 and store them.

    Example: trialsite ingest ctgov --condition "lupus nephritis" --status RECRUITING --limit 200
    """
    from ingest.ctgov import RegistryClient, RegistryError, RegistryQuery, StudyNotFound
    from ingest.files import JSON, RawItem
    from ingest.pipeline import ingest_items

    try:
        centre = _parse_lat_lon(near) if near else None
        id_list = [i.strip() for chunk in (ids or []) for i in chunk.split(",") if i.strip()]
        query = RegistryQuery(
            condition=condition,
            term=term,
            location=location,
            overall_status=tuple(status or ()),
            near=centre,
            radius_km=radius,
            updated_since=updated_since,
            limit=limit,
            page_size=page_size,
        )
        single = [RegistryQuery(ids=[i]).ids[0] for i in id_list]
    except ValueError as exc:
        fail(str(exc))
    engine = get_engine()
    missing: list[str] = []
    with RegistryClient(base_url, rate_limit_per_minute=rate_limit or None) as client:

        def items() -> Iterator[RawItem]:
            if single:
                for nct_id in single:
                    try:
                        study = client.fetch_study(nct_id)
                    except StudyNotFound as exc:
                        print_error(str(exc))
                        missing.append(nct_id)
                        continue
                    yield RawItem(f"{base_url}/studies/{nct_id}", JSON, study)
                return
            for study in client.fetch_studies(
                query, on_page=lambda p: progress.update(task, total=p.total_count)
            ):
                yield RawItem(f"{base_url}/studies", JSON, study)

        try:
            with _progress(limit, "fetching") as progress:
                task = progress.add_task("fetch", total=limit)
                summary = ingest_items(
                    engine,
                    items(),
                    command="ingest ctgov",
                    source=base_url,
                    progress=lambda n: progress.advance(task, n),
                )
        except RegistryError as exc:
            fail(str(exc))
    code = _report(summary, as_json)
    raise typer.Exit(1 if missing else code)


def _parse_lat_lon(text: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = text.split(",")
        return float(lat_text), float(lon_text)
    except ValueError:
        raise ValueError(f"--near must be LAT,LON in decimal degrees, got {text!r}") from None


# -- reads -------------------------------------------------------------------


@app.command("show")
def show(
    nct_id: Annotated[str, typer.Argument(help="NCT id (or page-derived id) of a stored trial.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one stored trial with its sites, conditions and criteria.

    Example: trialsite show NCT04267848 --json
    """
    from db.queries import get_trial

    trial = get_trial(get_engine(), nct_id)
    if trial is None:
        fail(f"{nct_id} is not in the store (load it with: trialsite ingest ctgov --ids {nct_id})")
    if as_json:
        print_json(trial)
        return
    _print_trial(trial)


def _print_trial(t: dict[str, Any]) -> None:
    out.print(f"[bold]{t['nct_id']}[/bold]  {t['brief_title'] or ''}")
    if t["official_title"]:
        out.print(t["official_title"], style="dim", markup=False)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    ages = f"{t['minimum_age'] or 'no minimum'} – {t['maximum_age'] or 'no maximum'}"
    rows = [
        ("status", t["overall_status"]),
        ("study type", t["study_type"]),
        ("phases", ", ".join(t["phases"]) or None),
        ("ages", ages),
        ("sex", t["sex"]),
        ("healthy volunteers", {True: "yes", False: "no"}.get(t["healthy_volunteers"])),
        (
            "start",
            f"{t['start_date']} ({(t['start_date_type'] or '').lower()})" if t["start_date"] else None,
        ),
        (
            "completion",
            f"{t['completion_date']} ({(t['completion_date_type'] or '').lower()})"
            if t["completion_date"]
            else None,
        ),
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
        table = Table(title=f"{len(t['sites'])} sites", show_lines=False)
        for col in ("facility", "city", "country", "status", "lat, lon", "contact"):
            table.add_column(col)
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
    if t["eligibility_criteria"]:
        out.print("[bold]Eligibility criteria[/bold]")
        out.print(t["eligibility_criteria"], markup=False)


@app.command("stats")
def stats(as_json: JsonFlag = False) -> None:
    """What the store holds: trials, sites, statuses, quarantine, last ingest.

    Example: trialsite stats --json
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
    out.print(f"last ingest: {data['last_ingest'] or 'never'} ({data['last_ingest_command'] or '-'})")


@app.command("quarantine")
def quarantine(
    limit: Annotated[int, typer.Option("--limit", help="How many to list, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List quarantined records with the reason each was refused.

    Example: trialsite quarantine --limit 10
    """
    from db.queries import list_quarantine

    rows = list_quarantine(get_engine(), limit)
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
    as_json: JsonFlag = False,
) -> None:
    """List change events recorded when newer versions of trials were loaded.

    Example: trialsite changes NCT05923112
    """
    from db.queries import list_changes

    rows = list_changes(get_engine(), nct_id, limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no change events")
    for r in rows:
        what = r["field"] or ""
        out.print(
            f"{r['nct_id']} {r['kind']} {what}: {r['old_value']!s:.60} → {r['new_value']!s:.60}",
            markup=False,
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
