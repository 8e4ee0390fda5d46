"""Registry values as legacy XML and trial pages spell them → the API v2 enum values.

``"Active, not recruiting"`` → ``ACTIVE_NOT_RECRUITING``, ``"Phase 1/Phase 2"`` →
``[PHASE1, PHASE2]``, ``"Anticipated"`` → ``ESTIMATED``: every source must say a
fact in the same words so that matching treats a page or an XML record like an
API record. The knowledge is in ``data/registry_values.json`` (with its sources); this
module only looks it up. Pure.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from ingest.record import RecordError

# Standard age groups of the registry's glossary: Child (birth–17), Adult (18–64),
# Older Adult (65+), in days as ``ingest.values.parse_age`` counts them. The rule
# reproduces ``stdAges`` of every API v2 fixture (480 studies).
_YEAR = 365.25
_ADULT_FROM = 18 * _YEAR
_OLDER_FROM = 65 * _YEAR

_NON_WORD = re.compile(r"[^a-z0-9]+")
_PHASE_SPLIT = re.compile(r"\s*(?:/|,|\band\b|&)\s*", re.IGNORECASE)


@cache
def _vocabulary() -> dict[str, Any]:
    text = resources.files("ingest").joinpath("data/registry_values.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def fold_value(text: str) -> str:
    """Case- and space-folded form of a value, as the alias tables are keyed."""
    return " ".join(text.casefold().split())


def to_enum(
    kind: str, text: str | None, *, nct_id: str | None = None, field: str | None = None
) -> str | None:
    """A value of ``kind`` (``status``, ``phase``, ``sex``…) → its registry enum, None if blank.

    Raises :class:`RecordError` for a value the registry does not know.
    """
    if text is None or not text.strip():
        return None
    vocabulary = _vocabulary()
    key = fold_value(text)
    aliases: dict[str, str | None] = vocabulary["aliases"].get(kind, {})
    if key in aliases:
        return aliases[key]
    known: list[str] = vocabulary["enums"][kind]
    spelled = _NON_WORD.sub("_", key).strip("_").upper()
    if spelled in known:
        return spelled
    raise RecordError(f"unknown {kind.replace('_', ' ')} {text.strip()!r}", nct_id=nct_id, field=field)


def is_enum(kind: str, text: str) -> bool:
    """Whether ``text`` spells a value of ``kind`` (e.g. a line of a page that is a site status)."""
    try:
        return to_enum(kind, text) is not None
    except RecordError:
        return False


def parse_phases(text: str | None, *, nct_id: str | None = None, field: str | None = None) -> list[str]:
    """``"Phase 1/Phase 2"`` or ``"Phase 1/2"`` → ``[PHASE1, PHASE2]``; ``"N/A"`` → ``[NA]``.

    ``NA`` is kept as API v2 keeps it (218 of the API fixtures say ``["NA"]``), so
    a legacy record and an API record of the same trial agree.
    """
    if text is None or not text.strip():
        return []
    whole = fold_value(text)
    if whole in _vocabulary()["aliases"]["phase"]:
        value = to_enum("phase", text, nct_id=nct_id, field=field)
        return [value] if value else []
    phases: list[str] = []
    for part in _PHASE_SPLIT.split(text.strip()):
        if not part:
            continue
        if part.isdigit():  # "Phase 1/2": the second half is a bare number
            part = f"Phase {part}"
        value = to_enum("phase", part, nct_id=nct_id, field=field)
        if value and value not in phases:
            phases.append(value)
    return phases


def parse_healthy_volunteers(
    text: str | None, *, nct_id: str | None = None, field: str | None = None
) -> bool | None:
    """``"Accepts Healthy Volunteers"``/``"Yes"``/``"t"`` → True, ``"No"``/``"f"`` → False."""
    if text is None or not text.strip():
        return None
    table: dict[str, bool] = _vocabulary()["healthy_volunteers"]
    key = fold_value(text)
    if key not in table:
        raise RecordError(f"unreadable healthy volunteers value {text!r}", nct_id=nct_id, field=field)
    return table[key]


def standard_ages(minimum_days: float | None, maximum_days: float | None) -> list[str]:
    """The registry's ``stdAges`` for an age range: CHILD, ADULT, OLDER_ADULT it overlaps."""
    low = minimum_days if minimum_days is not None else 0.0
    high = maximum_days if maximum_days is not None else float("inf")
    ages: list[str] = []
    if low < _ADULT_FROM:
        ages.append("CHILD")
    if low < _OLDER_FROM and high >= _ADULT_FROM:
        ages.append("ADULT")
    if high >= _OLDER_FROM:
        ages.append("OLDER_ADULT")
    return ages
