"""The variable catalogue and unit conversion, loaded from ``data/variables.json``.

A *variable* is something criteria set thresholds on (a lab value, a score, a
vital sign): its canonical name, the names trials write it under, its canonical
unit and how other units convert to it. The knowledge is in the data files
(each variable cites its source); this module only loads and indexes it.

This module is the one shared pure helper that ``matching.eligibility`` imports
from ``ingest`` (DESIGN.md allows a shared pure helper with one clear owner):
the parser and the evaluator must convert units and resolve names the same way,
and keeping one copy here avoids two catalogues drifting apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).with_name("data")

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_POWER_RE = re.compile(r"^(?:x|\*)?10(?:\^|\*\*|\*|e|exp)?\(?(\d{1,2})\)?(/.+)$")
_PER_DAY_RE = re.compile(r"/(?:24-?h(?:ours?|rs?|r|oras)?|24-?hours?|day|d|d[ií]a|24-?horas)$")
_PER_RE = re.compile(r"(?:^|\s+)per\s+", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")
_CELLS_RE = re.compile(r"(?:cells?|c[eé]lulas?)(?=/)")
_SPELLED_RE = re.compile(r"milli(?:lit(?:er|re)s?)|minute|squaremet(?:er|re)s?|met(?:er|re)s?squared?")
_GRAMS_RE = re.compile(r"^(milli)?grams?(?=/|$)")
_PREDICTED_RE = re.compile(r"^%(?:of)?(?:the)?predicted(?:value)?$")
_BSA_RE = re.compile(r"/1[.,]73m2?(?:bsa|bodysurfacearea)?$")
_KG_M2_RE = re.compile(r"^kilograms?/m2$")
_OUT_OF_RE = re.compile(r"^(?:outof|of)(?=10)")
_OUT_OF_KEY_RE = re.compile(r"^/10+$")
_WORD_ALIASES = {
    "iu/l": "u/l",
    "msec": "ms",
    "milliseconds": "ms",
    "ml/minute": "ml/min",
    "ml/minute/1.73m2": "ml/min/1.73m2",
    "millisecond": "ms",
    "sec": "s",
    "seconds": "s",
    "second": "s",
    "bpm": "/min",
    "beats/min": "/min",
    "beats/minute": "/min",
    "beatsperminute": "/min",
    "lbs": "lb",
    "pounds": "lb",
    "kgs": "kg",
    "kilograms": "kg",
    "percent": "%",
    "pct": "%",
    "yrs": "years",
    "yr": "years",
    "year": "years",
    "y": "years",
    "years-old": "years",
    "month": "months",
    "mo": "months",
    "mos": "months",
    "mths": "months",
    "week": "weeks",
    "wk": "weeks",
    "wks": "weeks",
    "day": "days",
    "d": "days",
    "hour": "hours",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "point": "points",
    "pts": "points",
    "copies/ml": "copies/ml",
    "mmhg": "mmhg",
    "g/gcreatinine": "g/gcr",
    "k/ul": "10^3/ul",
    "k/mm3": "10^3/mm3",
    "mm/hr": "mm/h",
    "mm/hour": "mm/h",
    "/microliter": "/ul",
    "/microlitre": "/ul",
    "/microliters": "/ul",
    "/cubicmm": "/mm3",
    "mg/deciliter": "mg/dl",
    "mg/decilitre": "mg/dl",
    "g/deciliter": "g/dl",
    "g/decilitre": "g/dl",
    "g/liter": "g/l",
    "g/litre": "g/l",
    "packyears": "pack-years",
    "packyear": "pack-years",
    "pack-year": "pack-years",
    "mg/gcreatinine": "mg/gcr",
    "millimeters": "mm",
    "millimeter": "mm",
    "millimetres": "mm",
    "millimetre": "mm",
    "centimeters": "cm",
    "centimeter": "cm",
    "centimetres": "cm",
    "centimetre": "cm",
    "°celsius": "°c",
    "°fahrenheit": "°f",
    "ºcelsius": "°c",
    "events/h": "/h",
    "events/hour": "/h",
    "events/hr": "/h",
    "event/h": "/h",
    "/hour": "/h",
    "/hr": "/h",
}


def _spelled_unit(m: re.Match[str]) -> str:
    word = m[0]
    return "min" if word == "minute" else "ml" if word.startswith("milli") else "m2"


# Units as a clinician writes them, by their normalized form (``normalize_unit``).
_CLINICAL_UNITS = {
    "kg/m2": "kg/m²", "ml/min/1.73m2": "mL/min/1.73 m²", "ml/min": "mL/min", "ml/s/1.73m2": "mL/s/1.73 m²", "10^9/l": "×10⁹/L",
    "10^12/l": "×10¹²/L", "10^3/ul": "×10³/µL", "/mm3": "/mm³", "/ul": "/µL", "mg/dl": "mg/dL",
    "g/dl": "g/dL", "g/l": "g/L", "mg/l": "mg/L", "mmol/l": "mmol/L", "umol/l": "µmol/L",
    "nmol/l": "nmol/L", "pmol/l": "pmol/L", "meq/l": "mEq/L", "ng/ml": "ng/mL", "pg/ml": "pg/mL",
    "ug/l": "µg/L", "u/l": "U/L", "iu/l": "IU/L", "mmhg": "mmHg", "g/24h": "g/day", "mg/24h": "mg/day",
    "mg/g": "mg/g", "g/g": "g/g", "mg/mmol": "mg/mmol", "mmol/mol": "mmol/mol", "%": "%", "xuln": "× ULN",
    "kg": "kg", "cm": "cm", "bpm": "bpm",
}  # fmt: skip


def clinical_unit(unit: str | None) -> str:
    """A unit as a clinician writes it: "kilogram/square meter" → "kg/m²", "x10^9/L" →
    "×10⁹/L", "mg/dl" → "mg/dL"; a unit not in the list as written."""
    if not unit:
        return ""
    return _CLINICAL_UNITS.get(normalize_unit(unit), unit)


@lru_cache(maxsize=4096)
def normalize_unit(unit: str) -> str:
    """A comparable key for a unit as written: ``"x 10⁹/L"`` → ``"10^9/l"``, ``"µmol/L"`` → ``"umol/l"``.

    Case is folded (so ``G/L`` and ``g/L`` share a key; each variable's table
    says what that key means for it), superscripts and the micro sign are
    flattened, and per-day spellings become ``/24h``.
    """
    u = unit.strip().replace("\\", "").translate(_SUPERSCRIPTS)
    u = u.replace("µ", "u").replace("μ", "u").replace("×", "x").replace("·", "")
    u = _PER_RE.sub("/", u)
    u = _SPACE_RE.sub("", u).lower()
    if "milli" in u or "met" in u or "minute" in u:
        # "milliliter per minute per 1.73 square meter" → ml/min/1.73m2
        u = _SPELLED_RE.sub(_spelled_unit, u)
    u = u.replace("m^2", "m2").replace("m(2)", "m2").replace("mm^3", "mm3").replace("/cumm", "/mm3")
    u = u.replace("/cmm", "/mm3").replace("/cu.mm", "/mm3")
    u = _CELLS_RE.sub("", u)
    power = _POWER_RE.match(u)
    if power:
        u = f"10^{power.group(1)}{power.group(2)}"
    u = _GRAMS_RE.sub(lambda m: "mg" if m.group(1) else "g", u)
    u = _PER_DAY_RE.sub("/24h", u)
    u = _BSA_RE.sub("/1.73m2", u)
    u = _PREDICTED_RE.sub("%", u)
    u = _KG_M2_RE.sub("kg/m2", u)
    u = _OUT_OF_RE.sub("/", u)
    return _WORD_ALIASES.get(u, u)


@dataclass(frozen=True, slots=True)
class Conversion:
    """``canonical = value * factor + offset``."""

    factor: float
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return value * self.factor + self.offset


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    display: str
    kind: str
    unit: str
    conversions: dict[str, Conversion]
    valid_range: tuple[float, float]
    uln: bool
    related: tuple[str, ...]
    not_followed_by: tuple[str, ...]
    not_preceded_by: tuple[str, ...]
    source: str
    # A name for several variables at once ("transaminases" are ALT and AST): a bound on it is one on each.
    members: tuple[str, ...] = ()

    def convert(self, value: float, unit: str | None) -> float | None:
        """``value`` in ``unit`` expressed in the canonical unit, or ``None`` if the unit is unknown.

        A missing unit is read as the canonical unit only for unit-less scales
        (scores, ratios), never for a lab value.
        """
        if unit is None or not unit.strip():
            if self.kind == "score" or self.unit in ("ratio", "points", "class"):
                return value
            return None
        key = normalize_unit(unit)
        conversion = self.conversions.get(key)
        if conversion is None and self._out_of(key):
            return value
        return conversion.apply(value) if conversion is not None else None

    def accepts(self, unit: str | None) -> bool:
        if unit is None:
            return True
        key = normalize_unit(unit)
        return key in self.conversions or self._out_of(key)

    def _out_of(self, key: str) -> bool:
        """A score written out of its maximum ("30/100", "4 out of 10") is in its own points."""
        return (
            self.kind == "score"
            and _OUT_OF_KEY_RE.match(key) is not None
            and float(key[1:]) <= self.valid_range[1]
        )

    def plausible(self, canonical_value: float) -> bool:
        low, high = self.valid_range
        return low <= canonical_value <= high


@dataclass(frozen=True, slots=True)
class Mention:
    """A variable named in a text: ``start``/``end`` offsets and the catalogue name."""

    start: int
    end: int
    name: str


_SEPARATORS_RE = re.compile(r"[\s\-]+")


def _separator_free(text: str) -> str:
    return _SEPARATORS_RE.sub("", text)


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex alternation of ``words`` built as a character trie (fast to scan with ``re``).

    Spaces and hyphens inside a word match any run of spaces/hyphens, or none.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in re.sub(r"[\s\-]+", " ", word):
            node = node.setdefault(ch, {})
        node[""] = True

    def render(node: dict[str, Any]) -> str:
        branches = []
        optional = "" in node
        # The optional separator last: it can match nothing, and tried first it would end the
        # match early ("DAS28" rather than "DAS28-CRP", whose "28" branch continues).
        for ch in sorted((k for k in node if k), key=lambda k: (k == " ", k)):
            atom = r"[\s\-]*" if ch == " " else re.escape(ch)
            branches.append(atom + render(node[ch]))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if optional:
            body = "(?:" + body + ")?"
        return body

    return render(trie)


class Catalogue:
    """Variables by name, and a scanner for variable names in text."""

    def __init__(
        self, variables: list[Variable], synonyms: dict[str, list[str]], abbreviations: dict[str, list[str]]
    ):
        self.variables = {v.name: v for v in variables}
        self._folded: dict[str, str] = {}
        for name, words in synonyms.items():
            for word in words:
                self._folded.setdefault(_separator_free(word).lower(), name)
        self._exact: dict[str, str] = {}
        for name, words in abbreviations.items():
            for word in words:
                self._exact.setdefault(_separator_free(word), name)
        folded = _trie_pattern(w.lower() for ws in synonyms.values() for w in ws)
        exact = _trie_pattern(w for ws in abbreviations.values() for w in ws)
        # The folded pattern runs on lower-cased text without re.IGNORECASE. Both open with
        # a look-behind for the left word boundary: almost any letter can start a name, so
        # ``re`` gains nothing from skipping on the first character, and the look-behind
        # fails at once inside words (measured: the scan takes half the time). :meth:`find`
        # still checks the boundary for non-ASCII letters.
        self._folded_re = re.compile(rf"(?<![a-z0-9])(?:{folded})s?(?![a-z0-9])")
        self._exact_re = re.compile(rf"(?<![A-Za-z0-9])(?:{exact})(?![A-Za-z0-9])")

    def __getitem__(self, name: str) -> Variable:
        return self.variables[name]

    def __len__(self) -> int:
        return len(self.variables)

    def lookup(self, written: str) -> Variable | None:
        """The variable a name refers to (``"Hb"``, ``"haemoglobin"`` → hemoglobin), or ``None``."""
        key = _separator_free(written.strip())
        name = self._exact.get(key) or self._folded.get(key.lower())
        return self.variables[name] if name else None

    def find(
        self, text: str, low: str | None = None, windows: list[tuple[int, int]] | None = None
    ) -> list[Mention]:
        """Every variable named in ``text``, leftmost-longest, without overlaps.

        ``low`` is ``text`` lower-cased with the same offsets, if the caller has it;
        ``windows`` limits the search to those ``(start, end)`` ranges.
        """
        if low is None:
            low = text.lower() if len(text.lower()) == len(text) else text
        found: list[Mention] = []
        ranges = windows if windows is not None else [(0, len(text))]
        for regex, table, haystack in (
            (self._exact_re, self._exact, text),
            (self._folded_re, self._folded, low),
        ):
            for m in (m for lo, hi in ranges for m in regex.finditer(haystack, lo, hi)):
                if m.start() and haystack[m.start() - 1].isalnum():
                    continue
                written = m.group(0)
                key = written if written.isalnum() else _separator_free(written)
                name = table.get(key)
                if name is None and key != written and key.endswith("s") and regex is self._folded_re:
                    # The plural of a name of several words: "lymphocyte counts", "hemoglobin levels"
                    # (not of one word: "3 pulses" of steroids are no heart rate).
                    name = table.get(key[:-1])
                if name is None:
                    continue
                if self._vetoed(self.variables[name], low, m.start(), m.end()):
                    continue
                found.append(Mention(m.start(), m.end(), name))
        found.sort(key=lambda x: (x.start, -(x.end - x.start)))
        kept: list[Mention] = []
        for mention in found:
            if kept and mention.start < kept[-1].end:
                continue
            kept.append(mention)
        return kept

    @staticmethod
    def _vetoed(variable: Variable, low: str, start: int, end: int) -> bool:
        if variable.not_followed_by and low[end : end + 20].lstrip().startswith(variable.not_followed_by):
            return True
        return bool(variable.not_preceded_by) and low[max(0, start - 25) : start].rstrip().endswith(
            variable.not_preceded_by
        )


def _conversion(spec: Any) -> Conversion:
    if isinstance(spec, int | float):
        return Conversion(float(spec))
    return Conversion(float(spec["factor"]), float(spec.get("offset", 0.0)))


@cache
def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and index ``data/variables.json`` (cached: the file is read once per process)."""
    raw = json.loads((path or DATA_DIR / "variables.json").read_text(encoding="utf-8"))
    variables: list[Variable] = []
    synonyms: dict[str, list[str]] = {}
    abbreviations: dict[str, list[str]] = {}
    for entry in raw["variables"]:
        low, high = entry["range"]
        variables.append(
            Variable(
                name=entry["name"],
                display=entry["display"],
                kind=entry["kind"],
                unit=entry["unit"],
                conversions={normalize_unit(u): _conversion(s) for u, s in entry["units"].items()},
                valid_range=(float(low), float(high)),
                uln=bool(entry.get("uln", False)),
                related=tuple(entry.get("related", ())),
                not_followed_by=tuple(w.lower() for w in entry.get("not_followed_by", ())),
                not_preceded_by=tuple(w.lower() for w in entry.get("not_preceded_by", ())),
                source=entry["source"],
                members=tuple(entry.get("members", ())),
            )
        )
        # The display name ("eGFR") is matched with its case, like an abbreviation:
        # folded, "egfr" would also be the EGFR gene.
        synonyms[entry["name"]] = list(entry["synonyms"])
        abbreviations[entry["name"]] = [entry["display"], *entry.get("abbreviations", ())]
    return Catalogue(variables, synonyms, abbreviations)


@cache
def load_curated_abbreviations(path: Path | None = None) -> dict[str, str]:
    """The curated clinical abbreviations of ``data/abbreviations.json`` (short form → expansion)."""
    raw = json.loads((path or DATA_DIR / "abbreviations.json").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in raw["abbreviations"].items()}


def to_days(amount: float, unit: str) -> float | None:
    """A duration in days (a month is 365.25/12 days), or ``None`` for an unknown unit."""
    factor = _DAYS.get(normalize_unit(unit))
    return amount * factor if factor is not None else None


_DAYS = {"years": 365.25, "months": 365.25 / 12, "weeks": 7.0, "days": 1.0, "hours": 1 / 24}
