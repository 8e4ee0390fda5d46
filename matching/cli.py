"""``trialsite match|search``: matching patients, searching trials (places: ``ingest.places.cli``)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer

from db.cli import JsonFlag, fail, get_engine, out, print_json, store_location
from ingest.places.cli import open_gazetteer
from ingest.places.distance import KM_PER_MILE
from matching.conditions import ConditionError

LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        max=100_000,
        help="At most this many trials, 1 to 100,000 (default: all with --json, 20 in tables).",
    ),
]
TABLE_LIMIT = 20
DEFAULT_RADIUS_KM = 100.0
NearOption = Annotated[
    str | None,
    typer.Option(
        "--near", "--location", help='Where the patient lives: a place, a postal code or "lat,lon".'
    ),
]
RadiusOption = Annotated[
    float | None,
    typer.Option(
        "--radius",
        min=0.1,
        max=20000,
        help="Radius around --near in km, or in miles with --miles (default 100 km).",
    ),
]
MilesFlag = Annotated[
    bool,
    typer.Option("--miles", help="Read --radius and print every distance in miles (JSON keeps km, adds mi)."),
]


def radius_km(radius: float | None, near: str | None, miles: bool) -> float | None:
    """--radius in km (None: not given); an error without --near."""
    if radius is None:
        return None
    if near is None:
        fail('--radius needs --near (a place, a postal code or "lat,lon")')
    return radius * KM_PER_MILE if miles else radius


def checked_values(option: str, given: list[str] | None, known: tuple[str, ...]) -> tuple[str, ...]:
    """Filter values upper-cased and checked, each unknown one an error with a suggestion."""
    import difflib
    import re

    def squeezed(text: str) -> str:
        return re.sub(r"[^A-Z0-9]", "", text.upper())

    by_key = {squeezed(k): k for k in known}
    out = []
    for value in given or []:
        folded = value.strip().upper().replace(" ", "_").replace("-", "_")
        if squeezed(value) in by_key:  # "phase 2", "Early phase 1", "not-yet-recruiting"
            out.append(by_key[squeezed(value)])
            continue
        guesses = [k for k in known if folded and k.endswith(folded) and folded.isdigit()]
        guesses += difflib.get_close_matches(folded, known, n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(dict.fromkeys(guesses))}?" if guesses else ""
        fail(f"{option} {value!r} is not one of {', '.join(known)}{hint}")
    return tuple(out)


CsvFlag = Annotated[
    bool, typer.Option("--csv", help="One CSV row per trial and nearest open site (for a spreadsheet).")
]


def _print_outcome(outcome: Any, *, miles: bool, as_json: bool, as_csv: bool, title: str) -> None:
    from matching.explain import outcome_lines
    from matching.tabular import outcome_csv

    if as_json and as_csv:
        fail("give --json or --csv, not both")
    if as_json:
        print_json(outcome.to_dict(miles=miles))
    elif as_csv:
        sys.stdout.write(outcome_csv(outcome.to_dict(miles=miles)))
    else:
        from matching.match import EMPTY_STORE_HINT

        if outcome.hint == EMPTY_STORE_HINT:
            outcome.hint = EMPTY_STORE_HINT.replace("the store", f"the store at {store_location()}", 1)
        for line in outcome_lines(outcome, miles=miles, title=title):
            out.print(line, markup=False)


def match(
    patient_file: Annotated[
        str | None, typer.Option("--patient", help="Patient JSON file, or - for stdin (see --schema).")
    ] = None,
    age: Annotated[float | None, typer.Option("--age", help="Age in years.")] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="female or male.")] = None,
    location: NearOption = None,
    radius: RadiusOption = None,
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
    miles: MilesFlag = False,
    limit: LimitOption = None,
    today: Annotated[
        str | None, typer.Option("--today", help="Evaluate time windows as of YYYY-MM-DD.")
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the patient file's JSON Schema and exit.")
    ] = False,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    referral: Annotated[
        str | None,
        typer.Option("--referral", help="Referral letter (text file, or - for stdin); options override it."),
    ] = None,
) -> None:
    """Trials a referred patient could join, at which open site, how far, whom to call.

    Patient details are used in memory only: never stored or logged.

    \b
    Examples:
      trialsite match --patient patient.json
      trialsite match --patient patient.json --json --miles
      trialsite match --age 34 --sex female --near "Palencia, Spain" --condition "lupus nephritis"
      trialsite match --patient patient.json --csv > matches.csv
      trialsite match --schema        # the patient file's JSON Schema
      trialsite match --referral letter.txt --radius 150
    """
    from datetime import date

    from matching.match import match_trials
    from matching.patient import PatientError, parse_patient, patient_schema

    if schema:
        print_json(patient_schema())
        return
    try:
        data = _patient_data(patient_file)
        if referral is not None:
            if patient_file is not None:
                raise ValueError("give --patient or --referral, not both")
            data = _referral_data(referral)
        if radius is not None and location is None and "location" not in data:
            raise ValueError('--radius needs --near (a place, a postal code or "lat,lon")')
        km = radius * KM_PER_MILE if (radius is not None and miles) else radius
        for key, value in (("age", age), ("sex", sex), ("location", location), ("radius_km", km)):
            if value is not None:
                data[key] = value
        if condition:
            data["conditions"] = [*data.get("conditions", []), *condition]
        if measurement:
            data["measurements"] = [*data.get("measurements", []), *map(_parse_measurement, measurement)]
        patient = parse_patient(data, source=patient_file or "options", strict_units=referral is None)
        as_of = date.fromisoformat(today) if today else None
    except (PatientError, ValueError, OSError) as exc:
        fail(str(exc))
    engine = get_engine()
    place = _resolve_place(patient)
    with engine.connect() as conn:
        try:
            outcome = match_trials(
                conn,
                patient,
                place,
                eligible_only=eligible_only,
                miles=miles,
                today=as_of,
                limit=_limit(limit, as_json or as_csv),
            )
        except ConditionError as exc:
            fail(str(exc))
    _print_outcome(outcome, miles=miles, as_json=as_json, as_csv=as_csv, title="trials")


def _limit(limit: int | None, as_json: bool) -> int | None:
    """Programs get every match; people get the best few unless they ask for more."""
    if limit is not None:
        return limit
    return None if as_json else TABLE_LIMIT


def _patient_data(path: str | None) -> dict[str, Any]:
    from matching.patient import read_patient_text

    if path is None:
        return {}
    raw = read_patient_text(path)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a patient must be a JSON object")
    return data


def _read_letter(path: str) -> str:
    from ingest.files.bounded import read_text_capped
    from matching.referral import MAX_LETTER_CHARS

    text = read_text_capped(path, 4 * MAX_LETTER_CHARS, "a referral letter")
    if len(text) > MAX_LETTER_CHARS:
        raise ValueError(f"{path}: a letter of {len(text):,} characters is longer than {MAX_LETTER_CHARS:,}")
    return text


def _referral_data(path: str) -> dict[str, Any]:
    from matching.referral import parse_referral

    return dict(parse_referral(_read_letter(path)).patient)


referral_app = typer.Typer(
    help="Read referral letters (English, Spanish) into a patient profile.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@referral_app.command("parse")
def referral_parse(
    letter: Annotated[str, typer.Argument(help="Letter text file, or - for stdin.")],
    as_json: JsonFlag = False,
) -> None:
    """Read a referral letter and show each fact beside the words it came from (nothing is stored).

    \b
    Examples:
      trialsite referral parse letter.txt
      trialsite referral parse - --json < letter.txt > patient-parse.json
    """
    from matching.patient import PatientError, parse_patient
    from matching.referral import parse_referral

    try:
        result = parse_referral(_read_letter(letter))
        parse_patient(result.patient, source="letter", strict_units=False)
    except (PatientError, ValueError, OSError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result.as_json())
        return
    for item in result.evidence:
        value = item.concept["name"] if item.concept else _read_as(item.field, result.patient)
        words = " ".join(item.text.split())
        shown = "" if value and value.casefold() == words.casefold() else value
        out.print(f"{item.field:<17} {shown + '  ' if shown else ''}«{words}»", markup=False)
    for item in result.ignored:
        out.print(f"ignored: {item.field:<24} «{' '.join(item.text.split())}»", markup=False)
    for warning in result.warnings:
        out.print(f"warning: {warning}", markup=False)
    out.print("patient: " + orjson.dumps(result.patient).decode(), markup=False)


def _read_as(field: str, patient: dict[str, Any]) -> str:
    """A one-valued fact as it was read ("no" for "Not pregnant", "34 years"); lists of
    conditions, measurements and the like are their own words."""
    value = patient.get(field)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field == "age" and isinstance(value, int | float):
        return f"{value:g} years"
    return str(value) if field == "sex" and value else ""


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
    from ingest.places.gazetteer.lookup import GazetteerError
    from matching.match import place_from_patient

    if patient.location is None:
        return None
    try:
        with open_gazetteer() as gazetteer:
            return place_from_patient(patient, gazetteer.resolve)
    except GazetteerError as exc:
        fail(str(exc))


def search(
    condition: Annotated[str, typer.Argument(help="Condition, e.g. 'lupus nephritis' or 'SLE'.")],
    near: NearOption = None,
    radius: RadiusOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="Trial status, e.g. RECRUITING (repeatable; default: the open ones)."),
    ] = None,
    phase: Annotated[
        list[str] | None, typer.Option("--phase", help="EARLY_PHASE1, PHASE1 … PHASE4 or NA (repeatable).")
    ] = None,
    age: Annotated[float | None, typer.Option("--age", help="Only trials taking this age (years).")] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="Only trials taking female or male.")] = None,
    miles: MilesFlag = False,
    limit: LimitOption = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Search trials by condition and place, with their nearest open site.

    \b
    Examples:
      trialsite search "lupus nephritis" --near "Palencia, Spain" --radius 150
      trialsite search "kidney disease" --near 02115 --csv > trials.csv
    """
    from db.search import OPEN_TRIAL_STATUSES
    from ingest.ctgov.query import OVERALL_STATUSES, PHASES
    from matching.patient import PatientError, parse_patient
    from matching.search import SearchQuery, search_trials

    km = radius_km(radius, near, miles) or DEFAULT_RADIUS_KM
    statuses = checked_values("--status", status, tuple(sorted(OVERALL_STATUSES))) or OPEN_TRIAL_STATUSES
    phases = checked_values("--phase", phase, PHASES)  # the registry's
    try:
        person = parse_patient({"age": age, "sex": sex, "location": near, "radius_km": km}, source="options")
    except PatientError as exc:
        fail(str(exc))
    engine = get_engine()  # a missing store is said before a place is looked up
    place = _resolve_place(person)
    query = SearchQuery(
        condition,
        place,
        km,
        statuses,
        phases,
        person.age,
        person.sex,
        _limit(limit, as_json or as_csv),
        miles,
    )
    with engine.connect() as conn:
        try:
            outcome = search_trials(conn, query)
        except ConditionError as exc:
            fail(str(exc))
    _print_outcome(outcome, miles=miles, as_json=as_json, as_csv=as_csv, title=f"trials for {condition!r}")
