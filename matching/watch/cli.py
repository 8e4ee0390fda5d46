"""``trialsite watch add|list|remove`` and ``trialsite alerts``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from db.cli import JsonFlag, fail, get_engine, out, print_json

watch_app = typer.Typer(
    help="Saved patients and searches, asked again after each sync (alerts on what changes).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@watch_app.command("add")
def watch_add(
    name: Annotated[str, typer.Argument(help="A name for the watch (letters, digits, '.', '_', '-').")],
    patient_file: Annotated[
        str | None,
        typer.Option("--patient", help="Patient JSON file, as for match (see match --schema); - for stdin."),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="A condition to watch, as for search.")
    ] = None,
    near: Annotated[
        str | None, typer.Option("--near", help='With --search: a place, postal code or "lat,lon".')
    ] = None,
    radius: Annotated[
        float | None, typer.Option("--radius", min=0.1, help="With --search: radius in km (default 100).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Watch a patient or a search: after each sync, an alert when a trial starts matching it
    (a new trial, a status that opened, a site opened or added within the radius) or stops
    (closed, removed). What matches when the watch is added never alerts.

    A --patient watch STORES THE PATIENT DETAILS IT IS GIVEN (the file's JSON), in the store,
    until `trialsite watch remove NAME` deletes them; nothing else about patients is ever
    stored. Give only what matching needs (no name, no record number).

    \b
    Examples:
      trialsite watch add palencia-ln --patient sample/patient.json
      trialsite watch add ln-castilla --search "lupus nephritis" --near "Valladolid, Spain" --radius 150
      trialsite sync --notify-cmd 'mail -s "new trial alert" renal@hospital.example'
    """
    from matching.cli import _patient_data, _resolve_place
    from matching.conditions import ConditionError
    from matching.patient import PatientError, parse_patient
    from matching.watch import WatchError, add_watch

    if (patient_file is None) == (search is None):
        fail("give --patient FILE or --search CONDITION (with --near PLACE), one of the two")
    if patient_file is not None and (near is not None or radius is not None):
        fail("--near and --radius go with --search; a --patient watch uses the file's location and radius_km")
    if search is not None and not search.strip():
        fail("--search: give a condition, e.g. 'lupus nephritis'")
    if radius is not None and near is None:
        fail("--radius needs --near PLACE")
    try:
        data: dict[str, Any] | None = _patient_data(patient_file) if patient_file is not None else None
        person = parse_patient(
            data if data is not None else {"location": near, "radius_km": radius or 100.0},
            source=patient_file or "options",
        )
    except (PatientError, ValueError, OSError) as exc:
        fail(str(exc))
    engine = get_engine()  # a missing store is said before a place is looked up
    place = _resolve_place(person)
    with engine.begin() as conn:
        try:
            view = add_watch(
                conn,
                name,
                patient=data,
                condition=search.strip() if search is not None else None,
                place=place,
                radius_km=(radius or 100.0) if search is not None else None,
            )
        except (WatchError, PatientError, ConditionError) as exc:
            fail(str(exc))
    if as_json:
        print_json(view)
        return
    out.print(
        f"watch {view['name']!r} added: {_describe(view)}; {_trials(view['matching_now'])} now "
        "(these will not alert). Alerts come after each `trialsite sync`.",
        markup=False,
    )
    if view["kind"] == "patient":
        out.print(
            "Note: this watch stores the patient details of the file; `trialsite watch remove "
            f"{view['name']}` deletes them.",
            markup=False,
        )


@watch_app.command("list")
def watch_list(as_json: JsonFlag = False) -> None:
    """The saved watches, and how many trials each matches now.

    \b
    Examples:
      trialsite watch list
      trialsite watch list --json
    """
    from matching.watch import list_watches

    with get_engine().connect() as conn:
        watches = list_watches(conn)
    if as_json:
        print_json(watches)
        return
    if not watches:
        out.print("no watches: add one with `trialsite watch add NAME --patient FILE`", markup=False)
        return
    for view in watches:
        out.print(
            f"{view['name']}: {_describe(view)}; {_trials(view['matching_now'])} now; "
            f"added {view['created_at'][:10]}",
            markup=False,
        )


@watch_app.command("remove")
def watch_remove(name: Annotated[str, typer.Argument(help="The watch's name.")]) -> None:
    """Delete a watch and everything it stored (the patient details, its alerts).

    \b
    Example:
      trialsite watch remove palencia-ln
    """
    from matching.watch import WatchError, remove_watch

    with get_engine().begin() as conn:
        try:
            remove_watch(conn, name)
        except WatchError as exc:
            fail(str(exc))
    out.print(f"watch {name!r} removed, with its stored details and alerts", markup=False)


def alerts(
    watch: Annotated[str | None, typer.Option("--watch", help="Only this watch's alerts.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only alerts from YYYY-MM-DD on.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Alerts the watches raised after syncs: a trial that started or stopped matching, and why.

    \b
    Examples:
      trialsite alerts
      trialsite alerts --watch palencia-ln --since 2026-12-01 --json
    """
    from matching.watch import WatchError, list_alerts

    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        fail(f"--since {since!r}: expected a date YYYY-MM-DD, e.g. 2026-12-01")
    with get_engine().connect() as conn:
        try:
            found = list_alerts(conn, watch=watch, since=day)
        except WatchError as exc:
            fail(str(exc))
    if as_json:
        print_json(found)
        return
    if not found:
        out.print(
            "no alerts" + (f" for watch {watch!r}" if watch else "") + (f" since {since}" if since else "")
        )
        return
    for alert in found:
        out.print(alert_line(alert), markup=False)


def alert_line(alert: dict[str, Any]) -> str:
    site = alert.get("nearest_site") or {}
    where = ", ".join(p for p in (site.get("facility"), site.get("city")) if p)
    if where and site.get("distance_km") is not None:
        where += f", {site['distance_km']:g} km"
    return (
        f"{alert['created_at'][:10]} [{alert['watch']}] {alert['nct_id']} {alert['reason']}"
        + (f" — {alert['title']}" if alert.get("title") else "")
        + (f" — nearest open site: {where}" if where else "")
        + (
            f" — likely ineligible: {_criteria(len(alert['criteria_not_met']))} not met"
            if alert.get("likely_ineligible")
            else ""
        )
        + (
            f" — delivery given up after {alert['delivery_attempts_failed']} failed runs: "
            f"{alert.get('last_delivery_error') or 'no error recorded'}"
            if alert.get("delivery_given_up")
            else ""
        )
    )


def _trials(count: int) -> str:
    return "1 trial matches" if count == 1 else f"{count} trials match"


def _criteria(count: int) -> str:
    return f"{count} criterion" if count == 1 else f"{count} criteria"


def _describe(view: dict[str, Any]) -> str:
    if view["kind"] == "search":
        where = f" within {view['radius_km']:g} km of {view['near']}" if view["near"] else " anywhere"
        return f"search {view['condition']!r}{where}"
    conditions = ", ".join(view["conditions"] or []) or "any condition"
    where = f" within {view['radius_km']:g} km of {view['near']}" if view["near"] else ""
    return f"patient ({conditions}){where}"
