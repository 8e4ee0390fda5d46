"""``trialsite ingest …`` (files, the registry API, trial pages) and ``trialsite criteria …``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from db.cli import JsonFlag, fail, get_engine, out, print_error, print_json, progress_bar

ingest_app = typer.Typer(help="Load trial records into the store.", no_args_is_help=True)
criteria_app = typer.Typer(help="Eligibility criteria: items and checkable rules.", no_args_is_help=True)

GeocodeFlag = Annotated[
    bool,
    typer.Option(
        "--geocode/--no-geocode", help="Geocode sites without coordinates with the offline gazetteer."
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.001,
        help="Seconds one request may take in all (a slower answer counts as a timeout).",
    ),
]
PARALLEL_FROM = 2000  # records; below this a worker pool's start-up costs more than it saves


@contextmanager
def site_geocoding() -> Iterator[Callable[[Any], None]]:
    """The ingest hook that places sites without coordinates (the gazetteer stays open meanwhile)."""
    from ingest.places.cli import open_gazetteer
    from ingest.places.sites import site_geocoder

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
            + (
                f"; {data['conflicting']} conflicting "
                f"{'version' if data['conflicting'] == 1 else 'versions'} with the same dates as another "
                "(kept the one with the higher content hash, whatever the load order)"
                if data["conflicting"]
                else ""
            ),
            markup=False,
        )
        for q in data["quarantine"][:20]:
            out.print(f"  quarantined {q['origin']}: {q['reason']}", markup=False)
        if len(data["quarantine"]) > 20:
            out.print(f"  … and {len(data['quarantine']) - 20} more (trialsite quarantine)")
    return int(summary.exit_code)


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

    \b
    Example:
      trialsite ingest file ctg-studies.json.zip --json
    """
    from ingest.files.reader import SourceFileError, count_records_hint, iter_paths
    from ingest.pipeline import ingest_items

    engine = get_engine(bulk_writes=True)
    total = count_records_hint(paths) if all(p.exists() for p in paths) else None
    if workers is None:
        # Parsing criteria, the workers are the slow stage: one per core (on 2 cores, 1.6x the
        # studies/s of one). Deferring them, the writing process is: one per spare core.
        cores = os.cpu_count() or 1
        workers = (cores if criteria else max(1, cores - 1)) if total and total >= PARALLEL_FROM else 0
    try:
        with ExitStack() as stack, progress_bar(total, "ingesting") as progress:
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
        str | None,
        typer.Option("--near", help='Centre of a geographic search: a place, a postal code or "lat,lon".'),
    ] = None,
    radius: Annotated[
        float | None, typer.Option("--radius", min=0.1, help="Radius in km around --near (default 100).")
    ] = None,
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
    timeout: TimeoutOption = 60.0,
    geocode: GeocodeFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Fetch studies from the ClinicalTrials.gov API v2 and store them.

    Each request must finish within --timeout seconds and is retried up to 5 times
    (Retry-After honoured up to 120 s); a listing whose page tokens loop stops with
    an error. Studies fetched before a failure are stored, then the error is shown.

    \b
    Example:
      trialsite ingest ctgov --condition "lupus nephritis" --status RECRUITING --limit 200
    """
    from ingest.ctgov.client import RegistryClient, RegistryError, RegistryQuery, StudyNotFound
    from ingest.files.reader import JSON, RawItem
    from ingest.pipeline import IngestSummary, ingest_items

    try:
        if radius is not None and near is None:
            raise ValueError('--radius needs --near (a place, a postal code or "lat,lon")')
        centre = _centre(near) if near else None
        id_list = [i.strip() for chunk in (ids or []) for i in chunk.split(",") if i.strip()]
        query = RegistryQuery(
            condition=condition,
            term=term,
            location=location,
            overall_status=tuple(status or ()),
            near=centre,
            radius_km=radius or 100.0,
            updated_since=updated_since,
            limit=limit,
            page_size=page_size,
        )
        single = [RegistryQuery(ids=[i]).ids[0] for i in id_list]
    except ValueError as exc:
        fail(str(exc))
    engine = get_engine(bulk_writes=True)
    missing: list[str] = []
    summary = IngestSummary()
    with RegistryClient(base_url, rate_limit_per_minute=rate_limit or None, deadline=timeout) as client:

        def items() -> Iterator[RawItem]:
            if single:
                for nct_id in single:
                    try:
                        study = client.fetch_study(nct_id)
                    except StudyNotFound as exc:
                        print_error(str(exc))
                        missing.append(nct_id)
                        continue
                    yield RawItem(f"{client.base_url}/studies/{nct_id}", JSON, study)
                return
            for study in client.fetch_studies(
                query, on_page=lambda p: progress.update(task, total=p.total_count)
            ):
                yield RawItem(f"{client.base_url}/studies", JSON, study)

        try:
            with ExitStack() as stack, progress_bar(limit, "fetching") as progress:
                task = progress.add_task("fetch", total=limit)
                summary = ingest_items(
                    engine,
                    items(),
                    command="ingest ctgov",
                    source=client.base_url,
                    progress=lambda n: progress.advance(task, n),
                    geocode=stack.enter_context(site_geocoding()) if geocode else None,
                    summary=summary,
                )
        except RegistryError as exc:
            if summary.seen:
                _report(summary, as_json)  # what was fetched before the failure is stored
            fail(str(exc))
    code = _report(summary, as_json)
    raise typer.Exit(1 if missing else code)


@ingest_app.command("page")
def ingest_page(
    sources: Annotated[list[str], typer.Argument(help="Trial page files (HTML or text) or URLs.")],
    timeout: TimeoutOption = 60.0,
    geocode: GeocodeFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Load trial pages sourced from ClinicalTrials.gov (HTML or their plain-text rendering).

    A page without an NCT id is stored under a stable id derived from its content,
    or attached to the registry record of the same trial when the store has it.
    \b
    Example:
      trialsite ingest page saved-trial.html https://example.org/trials/123 --json
    """
    from ingest.pages.load import PageSourceError, ingest_pages

    engine = get_engine(bulk_writes=True)
    try:
        with ExitStack() as stack:
            summary = ingest_pages(
                engine,
                sources,
                geocode=stack.enter_context(site_geocoding()) if geocode else None,
                timeout=timeout,
            )
    except PageSourceError as exc:
        fail(str(exc))
    raise typer.Exit(_report(summary, as_json))


def _centre(text: str) -> tuple[float, float]:
    """--near as coordinates: "lat,lon" as given, a place or postal code through the gazetteer."""
    try:
        lat_text, lon_text = text.split(",")
        return float(lat_text), float(lon_text)
    except ValueError:
        pass
    from ingest.places.cli import open_gazetteer
    from ingest.places.resolution import GazetteerError

    try:
        with open_gazetteer() as gazetteer:
            found = gazetteer.resolve(text)
    except GazetteerError as exc:
        raise ValueError(f"--near: {exc}") from None
    return found.lat, found.lon


def print_items(items: list[dict[str, Any]]) -> None:
    """Criteria items with the rules parsed from each, one line per rule, for people."""
    from ingest.criteria.describe import item_lines

    for line in item_lines(items):
        out.print(line, markup=False)


MAX_CRITERIA_BYTES = 1024 * 1024  # a registry record's criteria are tens of kilobytes


@criteria_app.command("parse")
def criteria_parse(
    source: Annotated[str, typer.Argument(help="A file of eligibility criteria text, or - for stdin.")],
    as_json: JsonFlag = False,
) -> None:
    """Split criteria text into inclusion/exclusion items and show the rules found in each.

    \b
    Examples:
      trialsite criteria parse criteria.txt
      echo "Inclusion Criteria: * eGFR >= 30 mL/min/1.73 m2" | trialsite criteria parse -
    """
    from ingest.files.bounded import read_text_capped
    from ingest.pipeline import criteria_rows

    try:
        text = read_text_capped(source, MAX_CRITERIA_BYTES, "criteria text")
    except ValueError as exc:  # too large, or not UTF-8
        fail(str(exc))
    except OSError as exc:
        fail(f"{source}: {exc.strerror or exc}")
    items = criteria_rows(text)
    if as_json:
        from ingest.criteria.needs import with_needs_view

        print_json(with_needs_view([dict(item) for item in items]))
    elif not items:
        out.print("no criteria items found")
    else:
        print_items(items)


@criteria_app.command("reparse")
def criteria_reparse(
    pending: Annotated[
        bool, typer.Option("--pending", help="Only trials never parsed (after ingest file --defer-criteria).")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Parsing processes (default on 2,000+ trials: one per core)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-run the criteria parser over every stored trial (after the parser improves).

    \b
    Examples:
      trialsite criteria reparse
      trialsite criteria reparse --pending --workers 2
    """
    from db.queries import get_stats
    from ingest.reparse import reparse_criteria

    engine = get_engine(bulk_writes=True)
    total = get_stats(engine)["trials"]
    with progress_bar(total, "reparsing") as progress:
        task = progress.add_task("reparse", total=total)
        counts = reparse_criteria(
            engine,
            pending_only=pending,
            workers=(os.cpu_count() or 1) if workers is None and total >= PARALLEL_FROM else workers or 0,
            progress=lambda n: progress.advance(task, n),
        )
    if as_json:
        print_json(counts)
    else:
        share = counts["items_with_rules"] / counts["items"] if counts["items"] else 0.0
        out.print(
            f"reparsed {counts['trials']} trials: {counts['items']} items, "
            f"{counts['items_with_rules']} with rules ({share:.0%}), {counts['needs_review']} for human review"
        )
