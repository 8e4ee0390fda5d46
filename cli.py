"""trialsite command line: every entry point. Thin: parse arguments, call, print.

Errors a user can cause print one ``Error: …`` line and exit 1; an ingest that
quarantined records exits 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

app = typer.Typer(
    name="trialsite",
    help="Ingest ClinicalTrials.gov records and match patients to nearby recruiting sites.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    # No locals in tracebacks: they could hold a patient's details.
    pretty_exceptions_show_locals=False,
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


@contextmanager
def site_geocoding() -> Iterator[Callable[[Any], None]]:
    """The ingest hook that places sites without coordinates (the gazetteer stays open meanwhile)."""
    from matching.site_geocoding import site_geocoder

    with open_gazetteer() as gazetteer:
        yield site_geocoder(gazetteer)


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


GeocodeFlag = Annotated[
    bool,
    typer.Option(
        "--geocode/--no-geocode", help="Geocode sites without coordinates with the offline gazetteer."
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option("--limit", help="At most this many trials (default: all with --json, 20 in tables)."),
]
TABLE_LIMIT = 20
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
            "--workers",
            help="Parsing processes (default on loads of 2,000+ records: one per core, or per spare "
            "core with --defer-criteria).",
        ),
    ] = None,
    geocode: GeocodeFlag = True,
    criteria: Annotated[
        bool,
        typer.Option(
            "--criteria/--defer-criteria",
            help="Parse eligibility criteria now, or leave it to `trialsite criteria reparse --pending`.",
        ),
    ] = True,
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
        # Parsing criteria, the workers are the slow stage: one per core (on 2 cores, 1.6x the
        # studies/s of one). Deferring them, the writing process is: one per spare core.
        cores = os.cpu_count() or 1
        workers = (cores if criteria else max(1, cores - 1)) if total and total >= PARALLEL_FROM else 0
    try:
        with ExitStack() as stack, _progress(total, "ingesting") as progress:
            task = progress.add_task("ingest", total=total)
            summary = ingest_items(
                engine,
                iter_paths(paths),
                command="ingest file",
                source=" ".join(str(p) for p in paths),
                progress=lambda n: progress.advance(task, n),
                workers=workers,
                geocode=stack.enter_context(site_geocoding()) if geocode else None,
                criteria=criteria,
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
    geocode: GeocodeFlag = True,
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
            with ExitStack() as stack, _progress(limit, "fetching") as progress:
                task = progress.add_task("fetch", total=limit)
                summary = ingest_items(
                    engine,
                    items(),
                    command="ingest ctgov",
                    source=base_url,
                    progress=lambda n: progress.advance(task, n),
                    geocode=stack.enter_context(site_geocoding()) if geocode else None,
                )
        except RegistryError as exc:
            fail(str(exc))
    code = _report(summary, as_json)
    raise typer.Exit(1 if missing else code)


@ingest_app.command("page")
def ingest_page(
    sources: Annotated[list[str], typer.Argument(help="Trial page files (HTML or text) or URLs.")],
    geocode: GeocodeFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Load trial pages sourced from ClinicalTrials.gov (HTML or their plain-text rendering).

    A page without an NCT id is stored under a stable id derived from its content,
    or attached to the registry record of the same trial when the store has it.
    Example: trialsite ingest page saved-trial.html https://example.org/trials/123 --json
    """
    from ingest.pages import PageSourceError, ingest_pages

    engine = get_engine()
    try:
        with ExitStack() as stack:
            summary = ingest_pages(
                engine, sources, geocode=stack.enter_context(site_geocoding()) if geocode else None
            )
    except PageSourceError as exc:
        fail(str(exc))
    raise typer.Exit(_report(summary, as_json))


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


def _dated(value: str | None, kind: str | None) -> str | None:
    return f"{value} ({kind.lower()})" if value and kind else value


def _print_trial(t: dict[str, Any]) -> None:
    out.print(f"[bold]{t['nct_id']}[/bold]  {t['brief_title'] or t['official_title'] or ''}")
    if t["official_title"] and t["brief_title"]:
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
    if t["criteria"]:
        out.print(f"[bold]Eligibility criteria[/bold] ({len(t['criteria'])} items, parsed rules under each)")
        _print_items(t["criteria"])
    elif t["eligibility_criteria"]:
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


# -- criteria ----------------------------------------------------------------

criteria_app = typer.Typer(help="Eligibility criteria: items and checkable rules.", no_args_is_help=True)
app.add_typer(criteria_app, name="criteria")


def _print_items(items: list[dict[str, Any]]) -> None:
    from ingest.criteria.describe import item_lines

    for line in item_lines(items):
        out.print(line, markup=False)


@criteria_app.command("parse")
def criteria_parse(
    source: Annotated[str, typer.Argument(help="A file of eligibility criteria text, or - for stdin.")],
    as_json: JsonFlag = False,
) -> None:
    """Split criteria text into inclusion/exclusion items and show the rules found in each.

    Example: trialsite criteria parse criteria.txt
    Example: echo "Inclusion Criteria: * eGFR >= 30 mL/min/1.73 m2" | trialsite criteria parse -
    """
    from ingest.pipeline import criteria_rows

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{source}: {exc.strerror or exc}")
    items = criteria_rows(text)
    if as_json:
        print_json(items)
    elif not items:
        out.print("no criteria items found")
    else:
        _print_items(items)


@criteria_app.command("reparse")
def criteria_reparse(
    pending: Annotated[
        bool, typer.Option("--pending", help="Only trials never parsed (after ingest file --defer-criteria).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Re-run the criteria parser over every stored trial (after the parser improves).

    Example: trialsite criteria reparse
    Example: trialsite criteria reparse --pending
    """
    from db.queries import get_stats
    from ingest.reparse import reparse_criteria

    engine = get_engine()
    total = get_stats(engine)["trials"]
    with _progress(total, "reparsing") as progress:
        task = progress.add_task("reparse", total=total)
        counts = reparse_criteria(engine, pending_only=pending, progress=lambda n: progress.advance(task, n))
    if as_json:
        print_json(counts)
    else:
        share = counts["items_with_rules"] / counts["items"] if counts["items"] else 0.0
        out.print(
            f"reparsed {counts['trials']} trials: {counts['items']} items, "
            f"{counts['items_with_rules']} with rules ({share:.0%}), {counts['needs_review']} for human review"
        )


# -- places ------------------------------------------------------------------

gazetteer_app = typer.Typer(help="The offline gazetteer (GeoNames data, CC-BY 4.0).", no_args_is_help=True)
app.add_typer(gazetteer_app, name="gazetteer")


def open_gazetteer() -> Any:
    """The local gazetteer, built on first use with a progress bar (about a minute, once)."""
    from matching.gazetteer import Gazetteer
    from matching.gazetteer_build import default_gazetteer_path

    path = Path(os.environ.get("TRIALSITE_GAZETTEER") or default_gazetteer_path())
    if path.exists():
        return Gazetteer.open(path)
    err.print(f"building the offline gazetteer at {path} (once)…")
    with Progress(
        TextColumn("gazetteer"), BarColumn(), TaskProgressColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("build", total=None)
        return Gazetteer.open(
            path, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )


@gazetteer_app.command("build")
def gazetteer_build(
    path: Annotated[
        Path | None, typer.Option("--path", help="Where to write it (default: user cache).")
    ] = None,
) -> None:
    """Build the offline gazetteer from GeoNames cities and postal codes (CC-BY 4.0).

    Example: trialsite gazetteer build
    """
    from matching.gazetteer_build import build_gazetteer, default_gazetteer_path

    target = path or Path(os.environ.get("TRIALSITE_GAZETTEER") or default_gazetteer_path())
    with Progress(
        TextColumn("gazetteer"), BarColumn(), TaskProgressColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("build", total=None)
        stats = build_gazetteer(
            target, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    out.print(f"gazetteer written to {target}: {stats}", markup=False)
    out.print("Contains GeoNames data (https://www.geonames.org), licensed CC-BY 4.0.")


@app.command("geocode")
def geocode(
    places: Annotated[list[str] | None, typer.Argument(help="Places; none = one per line on stdin.")] = None,
    sites: Annotated[
        bool, typer.Option("--sites", help="Geocode stored sites that have no coordinates.")
    ] = False,
    online: Annotated[
        bool, typer.Option("--online", help="Fall back to Nominatim (network; cached).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Resolve places offline: "Palencia, Spain", "02115", "47003 Spain", "41.65,-4.72".

    Output with --json is one JSON object per line (query, lat, lon, name, country_code, …).
    Place data: GeoNames (https://www.geonames.org), CC-BY 4.0.
    Example: trialsite geocode "Palencia, Spain" "Boston, MA" --json
    """
    from matching.gazetteer import GazetteerError

    if sites:
        from matching.site_geocoding import geocode_stored_sites

        with open_gazetteer() as gazetteer:
            report = geocode_stored_sites(get_engine(), gazetteer, online=online)
        print_json(report) if as_json else out.print(
            f"sites without coordinates: {report['missing']}; geocoded {report['geocoded']} "
            f"({report['by_precision']}); still missing {report['still_missing']}",
            markup=False,
        )
        return
    queries = places or [line.strip() for line in sys.stdin if line.strip()]
    if not queries:
        fail("give places as arguments or one per line on stdin")
    failures = 0
    with open_gazetteer() as gazetteer:
        for query in queries:
            try:
                found = gazetteer.resolve(query)
            except GazetteerError as exc:
                if online:
                    found = _online(query)
                if not online or found is None:
                    failures += 1
                    if as_json:
                        sys.stdout.write(orjson.dumps({"query": query, "error": str(exc)}).decode() + "\n")
                    else:
                        print_error(str(exc))
                    continue
            if as_json:
                sys.stdout.write(orjson.dumps(found.to_dict()).decode() + "\n")
            else:
                where = f"{found.name}{', ' + found.admin1 if getattr(found, 'admin1', None) else ''}"
                out.print(
                    f"{query} → {where}, {found.country_code or '-'} ({found.lat:.4f}, {found.lon:.4f}) [{found.kind}]",
                    markup=False,
                )
                if found.note:
                    out.print(f"    {found.note}", markup=False)
                if found.alternatives:
                    others = "; ".join(
                        ", ".join(p for p in (a.name, a.admin1, a.country_code) if p)
                        for a in found.alternatives[:5]
                    )
                    out.print(f"    could also be: {others}", markup=False)
    raise typer.Exit(1 if failures else 0)


def _online(query: str) -> Any:
    from matching.online_cache import geocode_online_cached

    return geocode_online_cached(get_engine(), query)


# -- matching ----------------------------------------------------------------


def _render_matches(outcome: Any, *, miles: bool, title: str) -> None:
    from matching.explain import outcome_lines

    for line in outcome_lines(outcome, miles=miles, title=title):
        out.print(line, markup=False)


@app.command("match")
def match(
    patient_file: Annotated[
        str | None, typer.Option("--patient", help="Patient JSON file, or - for stdin (see --schema).")
    ] = None,
    age: Annotated[float | None, typer.Option("--age", help="Age in years.")] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="female or male.")] = None,
    location: Annotated[str | None, typer.Option("--location", help='Place or "lat,lon".')] = None,
    radius: Annotated[float | None, typer.Option("--radius", help="Radius in km (default 100).")] = None,
    condition: Annotated[
        list[str] | None, typer.Option("--condition", help="Condition (repeatable).")
    ] = None,
    measurement: Annotated[
        list[str] | None,
        typer.Option("--measurement", help='NAME=VALUE[ UNIT], e.g. "eGFR=45 mL/min/1.73m2".'),
    ] = None,
    eligible_only: Annotated[
        bool, typer.Option("--eligible-only", help="Hide likely ineligible trials.")
    ] = False,
    miles: Annotated[bool, typer.Option("--miles", help="Distances in miles.")] = False,
    limit: LimitOption = None,
    today: Annotated[
        str | None, typer.Option("--today", help="Evaluate time windows as of YYYY-MM-DD.")
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the patient file's JSON Schema and exit.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Trials a referred patient could join, at which open site, how far, whom to call.

    Patient details are used in memory only: never stored or logged.
    Example: trialsite match --patient patient.json
    Example: trialsite match --age 34 --sex female --location "Palencia, Spain" --condition "lupus nephritis"
    """
    from datetime import date

    from matching.match import match_trials
    from matching.patient import PatientError, parse_patient, patient_schema

    if schema:
        print_json(patient_schema())
        return
    try:
        data = _patient_data(patient_file)
        for key, value in (("age", age), ("sex", sex), ("location", location), ("radius_km", radius)):
            if value is not None:
                data[key] = value
        if condition:
            data["conditions"] = [*data.get("conditions", []), *condition]
        if measurement:
            data["measurements"] = [*data.get("measurements", []), *map(_parse_measurement, measurement)]
        patient = parse_patient(data, source=patient_file or "options")
        as_of = date.fromisoformat(today) if today else None
    except (PatientError, ValueError, OSError) as exc:
        fail(str(exc))
    engine = get_engine()
    place = _resolve_place(patient)
    with engine.connect() as conn:
        outcome = match_trials(
            conn,
            patient,
            place,
            eligible_only=eligible_only,
            miles=miles,
            today=as_of,
            limit=_limit(limit, as_json),
        )
    if as_json:
        print_json(outcome.to_dict(miles=miles))
    else:
        _render_matches(outcome, miles=miles, title="trials")


def _limit(limit: int | None, as_json: bool) -> int | None:
    """Programs get every match; people get the best few unless they ask for more."""
    if limit is not None:
        return limit
    return None if as_json else TABLE_LIMIT


def _patient_data(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    raw = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a patient must be a JSON object")
    return data


def _parse_measurement(text: str) -> dict[str, Any]:
    name, sep, rest = text.partition("=")
    parts = rest.strip().split(maxsplit=1)
    if not sep or not name.strip() or not parts:
        raise ValueError(f"--measurement must be NAME=VALUE[ UNIT], got {text!r}")
    try:
        value = float(parts[0])
    except ValueError:
        raise ValueError(f"--measurement {text!r}: {parts[0]!r} is not a number") from None
    return {"name": name.strip(), "value": value, "unit": parts[1] if len(parts) > 1 else None}


def _resolve_place(patient: Any) -> Any:
    from matching.gazetteer import GazetteerError
    from matching.match import place_from_patient

    if patient.location is None:
        return None
    try:
        with open_gazetteer() as gazetteer:
            return place_from_patient(patient, gazetteer.resolve)
    except GazetteerError as exc:
        fail(str(exc))


@app.command("search")
def search(
    condition: Annotated[str, typer.Argument(help="Condition, e.g. 'lupus nephritis' or 'SLE'.")],
    near: Annotated[str | None, typer.Option("--near", help='Place or "lat,lon".')] = None,
    radius: Annotated[float, typer.Option("--radius", help="Radius in km around --near.")] = 100.0,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Trial status (repeatable; default: the open ones).")
    ] = None,
    phase: Annotated[
        list[str] | None, typer.Option("--phase", help="PHASE1…PHASE4, EARLY_PHASE1 (repeatable).")
    ] = None,
    age: Annotated[float | None, typer.Option("--age", help="Only trials taking this age (years).")] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="Only trials taking female or male.")] = None,
    miles: Annotated[bool, typer.Option("--miles", help="Distances in miles.")] = False,
    limit: LimitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Search trials by condition and place, with their nearest open site.

    Example: trialsite search "lupus nephritis" --near "Palencia, Spain" --radius 150
    """
    from matching.candidates import OPEN_TRIAL_STATUSES
    from matching.patient import PatientError, parse_patient
    from matching.search import SearchQuery, search_trials

    try:
        person = parse_patient(
            {"age": age, "sex": sex, "location": near, "radius_km": radius}, source="options"
        )
    except PatientError as exc:
        fail(str(exc))
    place = _resolve_place(person)
    statuses = tuple(s.upper() for s in status) if status else OPEN_TRIAL_STATUSES
    query = SearchQuery(
        condition,
        place,
        radius,
        statuses,
        tuple(phase or ()),
        person.age,
        person.sex,
        _limit(limit, as_json),
        miles,
    )
    with get_engine().connect() as conn:
        outcome = search_trials(conn, query)
    if as_json:
        print_json(outcome.to_dict(miles=miles))
    else:
        _render_matches(outcome, miles=miles, title=f"trials for {condition!r}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
