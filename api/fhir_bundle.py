"""The patient Bundle ``/getClinicalTrial`` reads: its JSON Schema and the check of it.

Only the elements the service reads are described (``api.fhir`` lists them), with the
types FHIR R4 gives them: a Bundle's ``entry`` is a list of objects, a Patient's
``gender`` one of four codes and its ``address`` a list of Address objects, a Condition's
``code`` a CodeableConcept, dates FHIR dates. Anything else in the Bundle is left alone.

One description serves twice: :data:`BUNDLE_SCHEMA` is published in the OpenAPI document
(Schemathesis generates Bundles from it, with wrong types in every field), and
:func:`check_bundle` refuses a Bundle that breaks it with one message naming the element
(``patientData.entry[0].resource.address: expected an array, got 1``), answered as a 400
OperationOutcome. 113 of 2,079 fuzzed Bundles used to answer 500.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

# FHIR R4 primitive types (hl7.org/fhir/R4/datatypes.html), as their regular expressions.
_DATE = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
_DATETIME = (
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?)?)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)?)?)?"
)
STRING: dict[str, Any] = {"type": "string"}
DATE: dict[str, Any] = {"type": "string", "pattern": f"^{_DATE}$"}
DATETIME: dict[str, Any] = {"type": "string", "pattern": f"^{_DATETIME}$"}
CODING = {"type": "object", "properties": {"system": STRING, "code": STRING, "display": STRING}}
CODEABLE_CONCEPT = {
    "type": "object",
    "properties": {"text": STRING, "coding": {"type": "array", "items": CODING}},
}
PERIOD = {"type": "object", "properties": {"start": DATETIME, "end": DATETIME}}
QUANTITY = {
    "type": "object",
    "properties": {"value": {"type": "number"}, "unit": STRING, "code": STRING, "system": STRING},
}
ADDRESS = {
    "type": "object",
    "properties": {
        "use": {"enum": ["home", "work", "temp", "old", "billing"]},
        "city": STRING,
        "state": STRING,
        "country": STRING,
        "postalCode": STRING,
    },
}


def _resource(kind: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"const": kind}, **properties},
    }


READ_RESOURCES = {
    "Patient": _resource(
        "Patient",
        birthDate=DATE,
        gender={"enum": ["male", "female", "other", "unknown"]},
        address={"type": "array", "items": ADDRESS},
    ),
    "Condition": _resource("Condition", code=CODEABLE_CONCEPT, verificationStatus=CODEABLE_CONCEPT),
    "Observation": _resource(
        "Observation",
        code=CODEABLE_CONCEPT,
        valueQuantity=QUANTITY,
        valueInteger={"type": "integer"},
        valueCodeableConcept=CODEABLE_CONCEPT,
        effectiveDateTime=DATETIME,
    ),
    "MedicationStatement": _resource(
        "MedicationStatement",
        status=STRING,
        medicationCodeableConcept=CODEABLE_CONCEPT,
        effectiveDateTime=DATETIME,
        effectivePeriod=PERIOD,
    ),
    "Procedure": _resource(
        "Procedure", code=CODEABLE_CONCEPT, performedDateTime=DATETIME, performedPeriod=PERIOD
    ),
}
OTHER_RESOURCE = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string", "not": {"enum": sorted(READ_RESOURCES)}}},
}
BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A FHIR R4 Bundle; the elements the service reads are described.",
    "required": ["resourceType", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "entry": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"resource": {"oneOf": [*READ_RESOURCES.values(), OTHER_RESOURCE]}},
            },
        },
    },
}


class BundleShapeError(ValueError):
    """An element of the Bundle is not what FHIR R4 says; the message names it."""


def check_bundle(bundle: Any, where: str = "patientData") -> None:
    """Raise :class:`BundleShapeError` unless ``bundle`` fits :data:`BUNDLE_SCHEMA`."""
    _check(bundle, BUNDLE_SCHEMA, where)


_JSON_TYPES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
}


def _is(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    raise ValueError(f"unknown JSON type {kind!r}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check(value: Any, schema: dict[str, Any], where: str) -> None:
    if "oneOf" in schema:
        _check_resource(value, schema["oneOf"], where)
        return
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        raise BundleShapeError(f"{where}: expected {_JSON_TYPES[kind]}, got {_shown(value)}")
    if "const" in schema and value != schema["const"]:
        raise BundleShapeError(f"{where}: expected {schema['const']!r}, got {_shown(value)}")
    if "enum" in schema and (not isinstance(value, str) or value not in schema["enum"]):
        raise BundleShapeError(f"{where}: expected one of {', '.join(schema['enum'])}, got {_shown(value)}")
    if "not" in schema and isinstance(value, str) and value in schema["not"].get("enum", ()):
        raise BundleShapeError(f"{where}: {value!r} is not expected here")
    if "pattern" in schema and isinstance(value, str):
        # JSON Schema patterns search; "^…$" anchors them (fullmatch: "$" lets "\n" through).
        if not re.fullmatch(schema["pattern"].removeprefix("^").removesuffix("$"), value):
            raise BundleShapeError(
                f"{where}: expected a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD…), got {_shown(value)}"
            )
        if len(value) >= 10:
            try:
                date.fromisoformat(value[:10])
            except ValueError:
                raise BundleShapeError(f"{where}: {value[:10]!r} is not a date of the calendar") from None
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                raise BundleShapeError(f"{where}.{name}: required")
        for name, inner in schema.get("properties", {}).items():
            if name in value:
                _check(value[name], inner, f"{where}.{name}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise BundleShapeError(f"{where}: expected at least {schema['minItems']} item(s), got none")
        if "items" in schema:
            for index, item in enumerate(value):
                _check(item, schema["items"], f"{where}[{index}]")


def _check_resource(value: Any, choices: list[dict[str, Any]], where: str) -> None:
    """A resource is checked against the one schema its ``resourceType`` names (the others
    exclude each other by it)."""
    if not isinstance(value, dict):
        raise BundleShapeError(f"{where}: expected a resource (an object), got {_shown(value)}")
    kind = value.get("resourceType")
    if not isinstance(kind, str):
        raise BundleShapeError(
            f"{where}.resourceType: expected a string naming the resource, got {_shown(kind)}"
        )
    _check(value, READ_RESOURCES.get(kind, OTHER_RESOURCE), where)
