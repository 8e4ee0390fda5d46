"""The referred patient, as a clinician describes her: validated, never stored.

The JSON form (``trialsite match --patient patient.json``; its JSON Schema is
``trialsite match --schema``) in its minimal shape::

    {"age": 34, "sex": "female", "location": "Palencia, Spain", "radius_km": 100,
     "conditions": ["lupus nephritis"], "measurements": [{"name": "SLEDAI-2K", "value": 12}]}

``location`` may also be ``"41.99,-4.53"`` or ``{"lat": 41.99, "lon": -4.53}``.
A bad file is refused with a message naming the field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)


class Coordinates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: Annotated[float, Field(ge=-90, le=90, description="Latitude in decimal degrees.")]
    lon: Annotated[float, Field(ge=-180, le=180, description="Longitude in decimal degrees.")]


class Measurement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, description="Variable, e.g. 'eGFR', 'SLEDAI-2K', 'HbA1c'.")]
    value: Annotated[float, Field(description="The measured value.")]
    unit: Annotated[str | None, Field(description="Unit as written, e.g. 'mL/min/1.73m2', 'mg/dL'.")] = None
    date: Annotated[dt.date | None, Field(description="When it was measured (YYYY-MM-DD).")] = None


class Treatment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, description="Drug or therapy, e.g. 'mycophenolate'.")]
    start: Annotated[dt.date | None, Field(description="Start date (YYYY-MM-DD).")] = None
    end: Annotated[dt.date | None, Field(description="End date; absent while current.")] = None
    current: Annotated[bool | None, Field(description="Still taking it.")] = None
    response: Annotated[
        str | None, Field(description="Free text, e.g. 'no response', 'partial response'.")
    ] = None


class Event(BaseModel):
    """A dated clinical event: a biopsy, a diagnosis, a flare, a surgery."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, Field(min_length=1, description="e.g. 'kidney biopsy', 'lupus nephritis diagnosis'.")
    ]
    date: Annotated[dt.date | None, Field(description="When it happened (YYYY-MM-DD).")] = None


# A patient is small: larger input is refused at once, naming the field (issue 14: a
# 10 MB condition hung the full-text query; 250,000 conditions took 3.8 GB).
MAX_PATIENT_BYTES = 1024 * 1024
MAX_CONDITIONS = 50
MAX_CONDITION_CHARS = 500


def read_patient_text(path: str) -> str:
    """A patient file's text (``-``: stdin), refused past :data:`MAX_PATIENT_BYTES`."""
    from ingest.files.bounded import InputTooLarge, read_text_capped

    try:
        return read_text_capped(path, MAX_PATIENT_BYTES, "a patient file", errors="replace")
    except InputTooLarge as exc:
        raise PatientError(str(exc)) from None


class Patient(BaseModel):
    """What matching needs to know about a patient; every field is optional but location
    (or coordinates) is needed to measure distances."""

    model_config = ConfigDict(extra="forbid", title="trialsite patient")

    age: Annotated[float | None, Field(ge=0, le=130, description="Age in years.")] = None
    birth_date: Annotated[dt.date | None, Field(description="Birth date; used when age is absent.")] = None
    sex: Annotated[Literal["female", "male"] | None, Field(description="'female' or 'male'.")] = None
    location: Annotated[
        str | Coordinates | None,
        Field(description="A place ('Palencia, Spain', '47003 Spain', '02115') or 'lat,lon' or {lat, lon}."),
    ] = None
    radius_km: Annotated[float, Field(gt=0, le=20000, description="Search radius in km.")] = 100.0
    conditions: Annotated[
        list[Annotated[str, Field(max_length=MAX_CONDITION_CHARS)]],
        Field(
            max_length=MAX_CONDITIONS,
            description="Diagnoses she has or had, by name or vocabulary concept id, e.g. "
            "['lupus nephritis', 'D003924'] (at most 50).",
        ),
    ] = []
    absent_conditions: Annotated[
        list[Annotated[str, Field(max_length=MAX_CONDITION_CHARS)]],
        Field(
            max_length=MAX_CONDITIONS,
            description="Conditions the record explicitly rules out ('denies diabetes'), by name or "
            "concept id; an exclusion for exactly such a condition is then met (at most 50).",
        ),
    ] = []
    family_history: Annotated[
        list[Annotated[str, Field(max_length=MAX_CONDITION_CHARS)]],
        Field(
            max_length=MAX_CONDITIONS,
            description="Conditions of her relatives ('mother: ADPKD'), by name or concept id; never "
            "read as her own (at most 50).",
        ),
    ] = []
    measurements: list[Measurement] = []
    treatments: list[Treatment] = []
    events: list[Event] = []
    pregnant: Annotated[bool | None, Field(description="Currently pregnant.")] = None
    breastfeeding: Annotated[bool | None, Field(description="Currently breastfeeding.")] = None
    contraception: Annotated[
        bool | None, Field(description="Uses effective contraception (true), or does not (false).")
    ] = None
    healthy_volunteer: Annotated[
        bool | None, Field(description="True for a healthy volunteer (trials closed to them are removed).")
    ] = None

    # What reading the record assumed ("eGFR 45: no unit given, read as mL/min/1.73 m²"):
    # shown with the answer, never part of the schema.
    _notes: list[str] = PrivateAttr(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return self._notes

    @field_validator("age", "radius_km", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        # JSON true is not an age of 1 year: pydantic would take it as a number.
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value

    @field_validator("sex", mode="before")
    @classmethod
    def _fold_sex(cls, value: Any) -> Any:
        if isinstance(value, str):
            folded = value.strip().lower()
            return {"f": "female", "woman": "female", "m": "male", "man": "male"}.get(folded, folded)
        return value

    @model_validator(mode="after")
    def _age_from_birth_date(self) -> Patient:
        if self.age is None and self.birth_date is not None:
            today = dt.date.today()
            years = today.year - self.birth_date.year
            if (today.month, today.day) < (self.birth_date.month, self.birth_date.day):
                years -= 1
            self.age = float(years)
        return self


class PatientError(ValueError):
    """A patient description that cannot be used; the message names the field (``field``)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# What a field expects, in words, for errors about its type ("age: expected a number of
# years, got 'abc'"); pydantic's own message is kept for range and shape errors.
_EXPECTED = {
    "age": "a number of years",
    "radius_km": "a radius in km",
    "birth_date": "a date (YYYY-MM-DD)",
    "sex": "'female' or 'male'",
    "location": "a place, 'lat,lon' or {lat, lon}",
    "conditions": "a list of condition names",
    "absent_conditions": "a list of condition names",
    "family_history": "a list of condition names",
    "pregnant": "true or false",
    "breastfeeding": "true or false",
    "contraception": "true or false",
    "healthy_volunteer": "true or false",
}


def _message(error: Any, where: str) -> str:
    kind = str(error.get("type", ""))
    leaf = where.rsplit(".", 1)[-1].split("[", 1)[0]
    expected = _EXPECTED.get(where) or {
        "value": "a number",
        "date": "a date (YYYY-MM-DD)",
        "start": "a date (YYYY-MM-DD)",
        "end": "a date (YYYY-MM-DD)",
    }.get(leaf)
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "not a patient field (see trialsite match --schema)"
    if expected and kind.endswith(("_type", "_parsing", "literal_error", "union_tag_invalid")):
        return f"expected {expected}, got {error.get('input')!r}"
    return str(error["msg"])


def _where(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in {"str", "Coordinates", "literal['female','male']"} and not str(part).startswith(
            ("function-", "literal[")
        ):
            path += f".{part}" if path else str(part)
    return path or "patient"


# The patient object nests 3 levels at most (measurements[0].value); anything far deeper is
# not a patient, and 255 levels is past what orjson writes (300 "[" answered 500).
MAX_DEPTH = 10


def _shape_problem(data: Any, where: str = "", depth: int = 0) -> tuple[str, str] | None:
    """The first field nested past :data:`MAX_DEPTH` or holding a NUL character (which
    PostgreSQL cannot take in text), as (field, what is wrong)."""
    if depth > MAX_DEPTH:  # named by its top field: the path itself is as deep
        return re.split(r"[.\[]", where, maxsplit=1)[
            0
        ] or "patient", f"nested more than {MAX_DEPTH} levels deep"
    if isinstance(data, str):
        return (where or "patient", "a NUL character is not allowed") if "\x00" in data else None
    children: Any = ()
    if isinstance(data, dict):
        children = ((f"{where}.{k}" if where else str(k), k, v) for k, v in data.items())
    elif isinstance(data, list):
        children = ((f"{where}[{i}]", None, v) for i, v in enumerate(data))
    for path, key, value in children:
        if isinstance(key, str) and "\x00" in key:
            return where or "patient", "a NUL character is not allowed in a field name"
        found = _shape_problem(value, path, depth + 1)
        if found is not None:
            return found
    return None


def parse_patient(data: Any, *, source: str = "patient", strict_units: bool = True) -> Patient:
    """Validate a decoded patient JSON object; raises :class:`PatientError` naming the field
    (``strict_units=False``: a unit a measurement's variable does not know is a note)."""
    if not isinstance(data, dict):
        raise PatientError(f"{source}: a patient must be a JSON object, got {type(data).__name__}")
    problem = _shape_problem(data)
    if problem is not None:
        where, what = problem
        raise PatientError(f"{source}: field {where}: {what}", where)
    try:
        # Strictly as JSON: "34" is not a number, 0 is not false (the schema says so).
        patient = Patient.model_validate_json(orjson.dumps(data), strict=True)
    except orjson.JSONEncodeError as exc:  # a value JSON can carry and orjson cannot write
        raise PatientError(f"{source}: not a patient JSON object ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(first["loc"])
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise PatientError(f"{source}: field {where}: {_message(first, where)}{more}", where) from None
    from matching.units import resolve_units

    patient._notes = resolve_units(patient, source=source, strict=strict_units)
    return patient


def patient_schema() -> dict[str, Any]:
    """The JSON Schema of the patient file."""
    schema = Patient.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
