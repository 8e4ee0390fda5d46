"""Dates in a letter: its own date, absolute dates ("March 2024", "2025-05-10"), relative ones
("3 months ago", "hace 2 meses", "last year") counted back from the letter's date, and the
dated events a trial asks about (a kidney biopsy, a transplant, the start of dialysis).
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import suppress
from typing import Any

from ingest.vocabulary.context import modifiers
from matching.referral.model import Evidence, Parse

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan", "enero"),
            ("february", "feb", "febrero"),
            ("march", "mar", "marzo"),
            ("april", "apr", "abril"),
            ("may", "mayo"),
            ("june", "jun", "junio"),
            ("july", "jul", "julio"),
            ("august", "aug", "agosto"),
            ("september", "sep", "sept", "septiembre"),
            ("october", "oct", "octubre"),
            ("november", "nov", "noviembre"),
            ("december", "dec", "diciembre"),
        ]
    )
    for m in names
}
_DATE_RE = re.compile(
    r"(?i)\b(?P<iso>(?:19|20)\d\d-\d\d-\d\d)\b"
    r"|\b(?P<month>"
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")\.?\s+(?:de\s+|del\s+)?(?P<year>(?:19|20)\d\d)\b"
    r"|\b(?:in|en|since|desde)\s+(?P<bare>(?:19|20)\d\d)\b"
)
_EVENTS = {
    "kidney biopsy": r"biops(?:y|ies|ia)|biopsy-proven|biopsiad[oa]",
    "kidney transplant": r"(?:kidney |renal )?transplant(?:ation|ed)?|trasplante(?: renal)?",
    "diagnosis": r"diagnos(?:ed|is)|diagnosticad[oa]|diagn[oó]stico",
    "induction": r"induction|inducci[oó]n",
    "flare": r"flare|brote",
    "dialysis start": r"started (?:haemo|hemo)?dialysis|inici[oó] (?:hemo)?di[aá]lisis",
}
STARTED_RE = re.compile(
    r"(?i)\b(?:start(?:ed|ing)|began|commenced|initiated|inici[oó]|comenz[oó]|empez[oó])\b"
)
_EVENT_RE = re.compile(
    r"(?i)\b(?:" + "|".join(f"(?P<e{i}>{p})" for i, p in enumerate(_EVENTS.values())) + r")"
)


_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "un": 1, "una": 1, "uno": 1, "dos": 2,
    "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
    "once": 11, "doce": 12,
}  # fmt: skip
_COUNT = r"\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_UNIT = r"days?|weeks?|months?|years?|d[ií]as?|semanas?|mes(?:es)?|años?"
# "3 months ago", "two weeks ago", "hace 2 meses", "last year", "el mes pasado".
_RELATIVE_RE = re.compile(
    rf"(?i)\b(?:(?P<n>{_COUNT})\s+(?P<unit>{_UNIT})\s+ago|hace\s+(?P<n2>{_COUNT})\s+(?P<unit2>{_UNIT})"
    r"|last\s+(?P<unit3>week|month|year)|(?:la|el)\s+(?P<unit4>semana|mes|año)\s+pasad[oa])\b"
)
# The letter's own date, near its top: "Date: 2026-11-20", "Fecha: 20/11/2026",
# "20 November 2026", "November 20, 2026", "Valladolid, 20 de noviembre de 2026".
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_LETTER_DATE_RE = re.compile(
    r"(?i)(?:\b(?P<iso>(?:19|20)\d\d-\d\d-\d\d)\b"
    r"|\b(?P<d>\d{1,2})[/.](?P<m>\d{1,2})[/.](?P<y>(?:19|20)\d\d)\b"
    rf"|\b(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:de\s+)?(?P<month>{_MONTH_NAMES})\.?,?\s+(?:de\s+|del\s+)?(?P<y2>(?:19|20)\d\d)\b"
    rf"|\b(?P<month2>{_MONTH_NAMES})\.?\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y3>(?:19|20)\d\d)\b)"
)


# A date after these is a birth date, not the letter's.
_BIRTH_LABEL_RE = re.compile(
    r"(?i)(?:dob|d\.o\.b\.|birth|born|nacimiento|nac\.?|nacid[oa](?: el)?|fn)\s*:?\s*$"
)


def letter_date(text: str) -> dt.date | None:
    """The date the letter gives itself in its first lines, if any."""
    m = next(
        (
            m
            for m in _LETTER_DATE_RE.finditer(text[:400])
            if not _BIRTH_LABEL_RE.search(text[max(0, m.start() - 30) : m.start()])
        ),
        None,
    )
    if m is None:
        return None
    try:
        if m.group("iso"):
            return dt.date.fromisoformat(m.group("iso"))
        if m.group("d"):
            return dt.date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
        if m.group("d2"):
            return dt.date(int(m.group("y2")), _MONTHS[m.group("month").lower()], int(m.group("d2")))
        return dt.date(int(m.group("y3")), _MONTHS[m.group("month2").lower()], int(m.group("d3")))
    except ValueError:
        return None


def _ago(reference: dt.date, count: int, unit: str) -> dt.date:
    unit = unit.lower()
    if unit.startswith(("d",)):
        return reference - dt.timedelta(days=count)
    if unit.startswith(("w", "s")):
        return reference - dt.timedelta(weeks=count)
    months = count * (12 if unit.startswith(("y", "a")) else 1)
    index = reference.year * 12 + reference.month - 1 - months
    year, month = divmod(index, 12)
    day = min(reference.day, 28)
    return dt.date(year, month + 1, day)


def relative_date(m: re.Match[str], reference: dt.date) -> dt.date:
    written = m.group("n") or m.group("n2")
    count = (int(written) if written.isdigit() else _NUMBER_WORDS[written.lower()]) if written else 1
    unit = m.group("unit") or m.group("unit2") or m.group("unit3") or m.group("unit4") or "day"
    return _ago(reference, count, unit)


def _date(m: re.Match[str]) -> str:
    if m.group("iso"):
        return m.group("iso")
    if m.group("month"):
        return f"{int(m.group('year')):04d}-{_MONTHS[m.group('month').lower()]:02d}-01"
    return f"{int(m.group('bare')):04d}-01-01"


def when_written(text: str, start: int, stop: int, reference: dt.date) -> tuple[str, int] | None:
    """The first date written (absolute or relative) in ``text[start:stop]``: ISO, its end."""
    found: list[tuple[int, str, int]] = []
    absolute = _DATE_RE.search(text, start, stop)
    if absolute is not None:
        with suppress(ValueError):  # "2026-02-30": no date
            found.append(
                (absolute.start(), dt.date.fromisoformat(_date(absolute)).isoformat(), absolute.end())
            )
    relative = _RELATIVE_RE.search(text, start, stop)
    if relative is not None:
        found.append((relative.start(), relative_date(relative, reference).isoformat(), relative.end()))
    if not found:
        return None
    _, iso, end = min(found)
    return iso, end


def clause_end(text: str, start: int) -> int:
    """Where the sentence holding ``start`` ends (a full stop that is no decimal point, a
    semicolon or a line break)."""
    for m in _STOP_RE.finditer(text, start):
        decimal = (
            0 < m.start() < len(text) - 1 and text[m.start() - 1].isdigit() and text[m.start() + 1].isdigit()
        )
        if m.group(0) == "." and decimal:
            continue
        return m.start()
    return len(text)


_STOP_RE = re.compile(r"[.;\n]")


def read_events(text: str, out: Parse, reference: dt.date) -> list[dict[str, Any]]:
    """Dated events the patient had ("Kidney biopsy 3 months ago"): not denied, not a
    relative's, not planned."""
    events: list[dict[str, Any]] = []
    names = list(_EVENTS)
    matches = list(_EVENT_RE.finditer(text))
    contexts = modifiers(text, [m.span() for m in matches])
    for m, context in zip(matches, contexts, strict=True):
        if context.negated or context.family or context.hypothetical:
            continue
        name = next(names[i] for i in range(len(names)) if m.group(f"e{i}"))
        when = when_written(text, m.end(), min(clause_end(text, m.end()), m.end() + 60), reference)
        if when is None or any(e["name"] == name for e in events):
            continue
        date, end = when
        events.append({"name": name, "date": date})
        out.evidence.append(Evidence("events", text[m.start() : end], m.start(), end))
    return events
