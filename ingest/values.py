"""Pure helpers that turn the registry's value spellings into normalized values.

Shared by every source parser (API v2 JSON, legacy XML, trial pages) so that a
trial reads the same whichever source it came from.
"""

from __future__ import annotations

import calendar
import re

from ingest.record import RecordError

# Days per unit; a year is the Julian year so "18 Years" is 18 * 365.25 days and
# a patient's whole-year age compares exactly against a whole-year bound.
_DAYS_PER_UNIT = {
    "year": 365.25,
    "month": 365.25 / 12,
    "week": 7.0,
    "day": 1.0,
    "hour": 1 / 24,
    "minute": 1 / 1440,
}

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)?\s*$")


def parse_age(
    text: str | None, *, nct_id: str | None = None, field: str = "minimumAge"
) -> tuple[str | None, float | None]:
    """``"18 Years"`` → ``("18 Years", 6574.5)``; ``"N/A"`` or absent → ``(None, None)``.

    A bare number (legacy pages print "Minimum Age: 18") is read as years and
    normalized to the registry's spelling.
    """
    if text is None:
        return None, None
    value = text.strip()
    if not value or value.upper() in {"N/A", "NA", "NONE", "NO LIMIT"}:
        return None, None
    match = _AGE_RE.match(value)
    if not match:
        raise RecordError(f"unreadable age {text!r}", nct_id=nct_id, field=field)
    number = float(match.group(1))
    unit_word = (match.group(2) or "years").lower().rstrip("s")
    if unit_word not in _DAYS_PER_UNIT:
        raise RecordError(f"unknown age unit in {text!r}", nct_id=nct_id, field=field)
    shown = match.group(1)
    unit_label = unit_word.capitalize() + ("s" if number != 1 else "")
    return f"{shown} {unit_label}", number * _DAYS_PER_UNIT[unit_word]


_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def parse_partial_date(text: str | None, *, nct_id: str | None = None, field: str = "date") -> str | None:
    """Validate a registry partial date (``yyyy``, ``yyyy-mm``, ``yyyy-mm-dd``) and return it.

    Impossible dates (month 13, 30 February) raise :class:`RecordError`.
    """
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    match = _DATE_RE.match(value)
    if not match:
        raise RecordError(f"not a date: {text!r}", nct_id=nct_id, field=field)
    year, month, day = match.groups()
    if month is not None and not 1 <= int(month) <= 12:
        raise RecordError(f"impossible date {text!r}", nct_id=nct_id, field=field)
    if day is not None and not 1 <= int(day) <= calendar.monthrange(int(year), int(month))[1]:
        raise RecordError(f"impossible date {text!r}", nct_id=nct_id, field=field)
    return value


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_HUMAN_DATE_RE = re.compile(r"^([A-Za-z]+)\.?\s+(?:(\d{1,2}),?\s+)?(\d{4})$")


def parse_human_date(text: str | None, *, nct_id: str | None = None, field: str = "date") -> str | None:
    """``"March 15, 2019"`` → ``"2019-03-15"``; ``"March 2019"`` → ``"2019-03"``; ISO passes through."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if _DATE_RE.match(value):
        return parse_partial_date(value, nct_id=nct_id, field=field)
    match = _HUMAN_DATE_RE.match(value)
    if not match or match.group(1).lower() not in _MONTHS:
        raise RecordError(f"not a date: {text!r}", nct_id=nct_id, field=field)
    month = _MONTHS[match.group(1).lower()]
    day = match.group(2)
    iso = f"{match.group(3)}-{month:02d}" + (f"-{int(day):02d}" if day else "")
    return parse_partial_date(iso, nct_id=nct_id, field=field)


def date_sort_key(partial: str | None) -> str:
    """Sortable form of a partial date: missing parts sort first; None sorts before all."""
    return partial or ""


_NCT_RE = re.compile(r"^NCT\d{8}$")


def is_nct_id(value: str | None) -> bool:
    return bool(value and _NCT_RE.match(value))
