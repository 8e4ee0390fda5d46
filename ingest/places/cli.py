"""``trialsite gazetteer|geocode``: the offline gazetteer and resolving places.

Place data: GeoNames (https://www.geonames.org), CC-BY 4.0.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from db.cli import JsonFlag, err, fail, get_engine, out, print_error, print_json

gazetteer_app = typer.Typer(help="The offline gazetteer (GeoNames data, CC-BY 4.0).", no_args_is_help=True)


def open_gazetteer() -> Any:
    """The local gazetteer, built on first use with a progress bar (about 30 s, once)."""
    from ingest.places.gazetteer.build import default_gazetteer_path
    from ingest.places.gazetteer.lookup import Gazetteer, GazetteerError

    path = Path(os.environ.get("TRIALSITE_GAZETTEER") or default_gazetteer_path())
    try:
        if path.exists():
            return Gazetteer.open(path)
        err.print(f"building the offline gazetteer at {path} (once)…", markup=False, soft_wrap=True)
        with Progress(
            TextColumn("gazetteer"), BarColumn(), TaskProgressColumn(), console=err, transient=True
        ) as bar:
            task = bar.add_task("build", total=None)
            return Gazetteer.open(
                path, progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
    except GazetteerError as exc:
        fail(str(exc))


@gazetteer_app.command("build")
def gazetteer_build(
    path: Annotated[
        Path | None,
        typer.Option("--path", metavar="FILE", help="Where to write it (default: the cache folder above)."),
    ] = None,
) -> None:
    """Build the offline gazetteer from GeoNames cities and postal codes (CC-BY 4.0).

    Done once, and on first use by any command that looks up a place: about 30 s and
    about 320 MB of memory, one process. Written to $TRIALSITE_GAZETTEER when set, else
    $XDG_CACHE_HOME/trialsite/ (~/.cache/trialsite/).

    \b
    Examples:
      trialsite gazetteer build
      trialsite gazetteer build --path /srv/trialsite/gazetteer.sqlite
    """
    from ingest.places.gazetteer.build import build_gazetteer, default_gazetteer_path

    target = path or Path(os.environ.get("TRIALSITE_GAZETTEER") or default_gazetteer_path())
    with Progress(
        TextColumn("gazetteer"), BarColumn(), TaskProgressColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("build", total=None)
        stats = build_gazetteer(
            target, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    out.print(
        f"Gazetteer written to {target}: {stats.places:,} places with {stats.names:,} names, "
        f"{stats.postal_codes:,} postal codes and {stats.admin_regions:,} regions "
        f"({stats.size_bytes / 1e6:,.0f} MB, built in {stats.seconds:.0f} s).",
        markup=False,
    )
    out.print("Contains GeoNames data (https://www.geonames.org), licensed CC-BY 4.0.")


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
    A place not found is said and the others go on: exit 2 when some were not found, 1 when
    none was. Places on stdin are read as they come, at most 500 characters each.
    Place data: GeoNames (https://www.geonames.org), CC-BY 4.0.

    \b
    Examples:
      trialsite geocode "Palencia, Spain" "Boston, MA" --json
      printf 'Seville\\n02115\\n' | trialsite geocode --json
      trialsite geocode --sites      # place stored sites the registry gave no coordinates
    """
    from ingest.places.gazetteer.lookup import GazetteerError

    if sites:
        from ingest.places.sites import geocode_stored_sites

        with open_gazetteer() as gazetteer:
            report = geocode_stored_sites(get_engine(), gazetteer, online=online)
        print_json(report) if as_json else out.print(
            f"sites without coordinates: {report['missing']}; geocoded {report['geocoded']} "
            f"({report['by_precision']}); still missing {report['still_missing']}",
            markup=False,
        )
        return
    queries = ((p, len(p) > MAX_PLACE_CHARS) for p in places) if places else _stdin_places()
    first = next(queries, None)
    if first is None:
        fail("give places as arguments or one per line on stdin")
    failures = answered = 0
    with open_gazetteer() as gazetteer:
        for query, too_long in itertools.chain([first], queries):
            answered += 1
            if too_long:
                query = query[:60] + "…"
            try:
                if too_long:
                    raise GazetteerError(f"{query!r}: a place is at most {MAX_PLACE_CHARS} characters")
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
    # 0: every place found; 2: some not found (each said); 1: none found
    raise typer.Exit(0 if not failures else 1 if failures == answered else 2)


MAX_PLACE_CHARS = 500


def _stdin_places() -> Iterator[tuple[str, bool]]:
    """Places one per line on stdin, as they come (a nightly pipe may be long), each with
    whether it was too long: a line over MAX_PLACE_CHARS bytes is cut there and the rest of
    it skipped without holding it."""
    stream = sys.stdin.buffer
    while line := stream.readline(MAX_PLACE_CHARS + 1):
        too_long = len(line) > MAX_PLACE_CHARS and not line.endswith(b"\n")
        if too_long:
            skipped = 0
            while (more := stream.readline(64 * 1024)) and not more.endswith(b"\n"):
                skipped += len(more)
                if skipped > 16 * 1024 * 1024:  # not a list of places (a binary file, /dev/zero)
                    fail("stdin: a line over 16 MB: give places one per line")
        text = line.decode("utf-8", errors="replace").strip()
        if text:
            yield text, too_long


def _online(query: str) -> Any:
    from ingest.places.cache import geocode_online_cached

    return geocode_online_cached(get_engine(), query)
