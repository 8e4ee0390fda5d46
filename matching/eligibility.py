"""Evaluate parsed eligibility rules against a patient's facts: met / not met / unknown.

Pure: rules in, verdicts out; nothing is stored or logged (patient data is
sensitive, see DESIGN.md). Rules are taken as the JSON dicts the store keeps
beside each item (``Rule.to_dict()``), or any object with a ``to_dict()``
method, so this module needs nothing from the parser itself.

The parser and the evaluator must resolve names, convert units and compare words
the same way, so what both need is owned by the lower layer, ``ingest/criteria``:
the variable catalogue and unit conversion (``catalogue``), which rules an item
requires or offers as alternatives (``needs``), and the words compared (``words``).

Reading a rule: it states what the item's text says ("SLEDAI-2K ≥ 10",
"pregnant"); the trial *requires* that statement when ``(section ==
"inclusion") != negated`` and *excludes* it otherwise. A fact the patient
record lacks gives ``unknown``, never a guess — including a condition that is
simply not listed (an absent entry is not evidence of absence).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, NamedTuple, Protocol

from ingest.criteria.catalogue import (
    Catalogue,
    Variable,
    load_catalogue,
    normalize_unit,
)
from ingest.criteria.describe import (
    ROMAN_CLASSES,
    measure_name,
    roman_numeral,
    threshold_statement,
    window_amount,
)
from ingest.criteria.needs import alternatives, requires, unread_options
from ingest.criteria.words import curated_abbreviations, entry_words, measurement_key, term_words
from matching.concepts import ConceptFacts, concept_facts, concept_truth

Status = Literal["met", "not_met", "unknown"]
Truth = bool | None


class Measurement(NamedTuple):
    """One measured value: ``("eGFR", 45, "mL/min/1.73m2", date(2025, 1, 10))``.

    A value given as a multiple of the upper limit of normal uses the unit ``"xULN"``.
    """

    name: str
    value: float
    unit: str | None = None
    date: date | None = None


class Treatment(NamedTuple):
    name: str
    start: date | None = None
    end: date | None = None
    current: bool = False


class Event(NamedTuple):
    """A dated event that is neither a measurement nor a treatment: "kidney biopsy", "myocardial infarction"."""

    name: str
    date: date | None = None


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What the patient record says. ``None``/empty means *not recorded*, never "no"."""

    age_years: float | None = None
    sex: Literal["female", "male"] | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    measurements: Sequence[Measurement] = ()
    conditions: Sequence[str] = ()
    # A condition implied by another (an other name, a broader MeSH term) → the recorded one.
    condition_origins: Mapping[str, str] = field(default_factory=dict)
    treatments: Sequence[Treatment] = ()
    events: Sequence[Event] = ()
    uses_contraception: bool | None = None
    today: date = field(default_factory=date.today)
    # Conditions the record explicitly rules out ("denies diabetes"): never "not recorded".
    absent_conditions: Sequence[str] = ()
    # Her conditions, treatments and denials as vocabulary concepts (from the fields above).
    concepts: ConceptFacts = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        recorded = tuple(dict.fromkeys(self.condition_origins.get(c, c) for c in self.conditions))
        treatments = tuple(t.name for t in self.treatments)
        known = concept_facts(recorded, treatments, tuple(self.absent_conditions))
        object.__setattr__(self, "concepts", known)  # frozen: set once, here


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str


@dataclass(frozen=True, slots=True)
class ItemVerdict:
    position: int
    section: str
    status: Status
    reason: str
    rules: tuple[Verdict, ...]


class SupportsToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


RuleLike = Mapping[str, Any] | SupportsToDict
_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "=": "="}


def _as_dict(rule: RuleLike) -> Mapping[str, Any]:
    return rule if isinstance(rule, Mapping) else rule.to_dict()


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


def _statement(rule: Mapping[str, Any]) -> str:
    """The rule's statement in words: "≥ 10", "between 18 and 65 years", "pregnancy"."""
    kind = rule["kind"]
    if kind == "threshold" and rule.get("variable") in ROMAN_CLASSES:
        return f"{measure_name(dict(rule))} {threshold_statement(dict(rule))}"  # "NYHA class III–IV"
    if kind in ("threshold", "age"):
        return threshold_statement(dict(rule))
    if kind == "time_window":
        window = rule.get("window") or {}
        what = rule.get("event") or "the event"
        if window.get("direction") == "at_least_ago":
            return f"{what} at least {window_amount(window)} ago"
        return f"{what} within the past {window_amount(window)}"
    if kind == "sex":
        return str(rule.get("sex"))
    if kind in ("condition", "treatment"):
        terms = rule.get("terms") or [rule.get("text", "")]
        return " / ".join(terms[:3])
    return {"pregnancy": "pregnancy", "breastfeeding": "breastfeeding", "contraception": "contraception use"}[
        kind
    ]


def _compare(value: float, comparator: str, rule_values: tuple[float, ...]) -> bool:
    eps = 1e-9 * max(1.0, abs(value))
    if comparator == "between":
        low, high = rule_values
        return low - eps <= value <= high + eps
    target = rule_values[0]
    return {
        ">=": value >= target - eps,
        ">": value > target + eps,
        "<=": value <= target + eps,
        "<": value < target - eps,
        "=": abs(value - target) <= eps,
    }[comparator]


def _rule_values(rule: Mapping[str, Any], canonical: bool) -> tuple[float, ...] | None:
    prefix = "canonical_" if canonical else ""
    if rule.get("comparator") == "between":
        low, high = rule.get(prefix + "low"), rule.get(prefix + "high")
        return None if low is None or high is None else (float(low), float(high))
    value = rule.get(prefix + "value")
    return None if value is None else (float(value),)


def _latest(measurements: Iterable[Measurement]) -> Measurement | None:
    chosen: Measurement | None = None
    for m in measurements:
        if chosen is None or (m.date is not None and (chosen.date is None or m.date >= chosen.date)):
            chosen = m
    return chosen


def _is_uln(unit: str | None) -> bool:
    return unit is not None and "uln" in normalize_unit(unit)


def _threshold_truth(rule: Mapping[str, Any], facts: PatientFacts, catalogue: Catalogue) -> tuple[Truth, str]:
    name = rule.get("variable")
    variable: Variable | None = catalogue.variables.get(name) if name else None
    written = rule.get("variable_text") or name or "value"
    if variable is not None:
        label = variable.display
        related = {variable.name, *variable.related}
        found = [
            m for m in facts.measurements if (v := catalogue.lookup(m.name)) is not None and v.name in related
        ]
        exact = [m for m in found if catalogue.lookup(m.name) is variable]
        measurement = _latest(exact or found)
        if measurement is not None and measurement not in exact:
            variable = catalogue.lookup(measurement.name)
    else:
        label = written
        key = measurement_key(written)
        measurement = _latest(m for m in facts.measurements if measurement_key(m.name) == key)
    if measurement is None:
        return None, f"{label} not in the patient record"
    shown = f"{label} {_fmt(measurement.value)}{' ' + measurement.unit if measurement.unit else ''}"
    if name in ROMAN_CLASSES:
        shown = f"{label} {roman_numeral(measurement.value)}"
    comparator = rule.get("comparator", "=")
    if rule.get("uln_multiple"):
        values = _rule_values(rule, canonical=False)
        if not _is_uln(measurement.unit) or values is None:
            return (
                None,
                f"{shown}; the trial's limit is a multiple of the upper limit of normal (give the value as xULN)",
            )
        return _compare(measurement.value, comparator, values), shown
    canonical_values = _rule_values(rule, canonical=True)
    if variable is not None and canonical_values is not None and rule.get("canonical_unit") == variable.unit:
        patient_value = variable.convert(measurement.value, measurement.unit)
        if patient_value is None:
            return None, f"{shown}; unit not convertible to {variable.unit}"
        if normalize_unit(measurement.unit or variable.unit) != normalize_unit(variable.unit):
            shown += f" ({_fmt(round(patient_value, 3))} {variable.unit})"
        return _compare(patient_value, comparator, canonical_values), shown
    values = _rule_values(rule, canonical=False)
    same_unit = normalize_unit(rule.get("unit") or "") == normalize_unit(measurement.unit or "")
    if values is None or not same_unit:
        note = rule.get("note") or "the trial's unit cannot be compared with the patient's"
        return None, f"{shown}; {note}"
    return _compare(measurement.value, comparator, values), shown


def _names_match(term: str, name: str, abbreviations: Mapping[str, str]) -> bool:
    """Does a patient's entry ``name`` fall under the trial's ``term``?

    Every significant word of the term (or of its expansion) must appear in the
    entry: a trial term "lupus nephritis" matches "biopsy-proven lupus nephritis
    class IV", but "severe osteopenia" does not match a plain "osteopenia".
    """
    entry = entry_words(name, abbreviations)
    return any(all(w in entry for w in words) for words in term_words(term, abbreviations))


def _matching(terms: Sequence[str], names: Iterable[str], abbreviations: Mapping[str, str]) -> list[str]:
    return [n for n in names if any(_names_match(t, n, abbreviations) for t in terms)]


def _days_ago(facts: PatientFacts, when: date) -> int:
    return (facts.today - when).days


def _window_truth(
    rule: Mapping[str, Any], facts: PatientFacts, abbreviations: Mapping[str, str]
) -> tuple[Truth, str]:
    terms = list(rule.get("terms") or ([rule["event"]] if rule.get("event") else []))
    window = rule.get("window") or {}
    if not terms:
        return None, "the trial's window names no event"
    exposures: list[tuple[str, int | None]] = []
    for t in facts.treatments:
        if _matching(terms, [t.name], abbreviations):
            last = facts.today if t.current else (t.end or t.start)
            exposures.append((t.name, None if last is None else _days_ago(facts, last)))
    for e in facts.events:
        if _matching(terms, [e.name], abbreviations):
            exposures.append((e.name, None if e.date is None else _days_ago(facts, e.date)))
    dated = [(n, d) for n, d in exposures if d is not None]
    if not dated:
        what = exposures[0][0] + " (undated)" if exposures else f"no dated record of {terms[0]}"
        return None, what
    name, most_recent = min(dated, key=lambda x: x[1])
    shown = f"{name} {most_recent} days ago"
    if window.get("direction") == "at_least_ago":
        return most_recent >= float(window.get("days", 0)), shown
    return most_recent <= float(window.get("days", 0)), shown


def _truth(
    rule: Mapping[str, Any],
    facts: PatientFacts,
    catalogue: Catalogue,
    abbreviations: Mapping[str, str],
    required: bool,
) -> tuple[Truth, str]:
    kind = rule["kind"]
    if kind == "age":
        if facts.age_years is None:
            return None, "age not in the patient record"
        values = _rule_values(rule, canonical=True) or _rule_values(rule, canonical=False)
        if values is None:
            return None, f"age {_fmt(facts.age_years)}; the trial's age limit could not be read"
        return _compare(facts.age_years, rule.get("comparator", "="), values), f"age {_fmt(facts.age_years)}"
    if kind == "threshold":
        return _threshold_truth(rule, facts, catalogue)
    if kind == "sex":
        if facts.sex is None:
            return None, "sex not in the patient record"
        return facts.sex == rule.get("sex"), f"sex {facts.sex}"
    if kind in ("pregnancy", "breastfeeding", "contraception"):
        value = {"pregnancy": facts.pregnant, "breastfeeding": facts.breastfeeding,
                 "contraception": facts.uses_contraception}[kind]  # fmt: skip
        label = {
            "pregnancy": "pregnant",
            "breastfeeding": "breastfeeding",
            "contraception": "uses contraception",
        }[kind]
        if value is None and facts.sex == "male" and kind != "contraception":
            return False, f"{label}: no (male)"
        if value is None:
            return None, f"{label}: not recorded"
        return value, f"{label}: {'yes' if value else 'no'}"
    if kind == "time_window":
        return _window_truth(rule, facts, abbreviations)
    if kind in ("condition", "treatment"):
        if rule.get("concepts"):
            return concept_truth(rule, kind, facts.concepts, required)
        terms = list(rule.get("terms") or [rule.get("text", "")])
        names = facts.conditions if kind == "condition" else [t.name for t in facts.treatments]
        found = _matching(terms, names, abbreviations)
        if found:
            recorded = facts.condition_origins.get(found[0], found[0]) if kind == "condition" else found[0]
            return True, f"{recorded} on record"
        return None, f"no record of {terms[0]}"
    return None, f"rule kind {kind!r} is not evaluated"


def evaluate_rule(
    rule: RuleLike,
    section: str,
    facts: PatientFacts,
    *,
    catalogue: Catalogue | None = None,
    abbreviations: Mapping[str, str] | None = None,
    other_options: bool = False,
    women_only: bool = False,
) -> Verdict:
    """One rule against the patient: met / not_met / unknown, with a one-line reason.

    For an exclusion item the verdict is about eligibility: an exclusion whose
    statement holds for the patient is ``not_met``. ``other_options``: the item offers,
    joined by "or", options no rule reads (:func:`~ingest.criteria.needs.unread_options`),
    so this rule failing is not the item failing. ``women_only``: the item speaks of women
    only ("Women of childbearing potential must use contraception"), so it does not
    concern a man.
    """
    data = _as_dict(rule)
    catalogue = catalogue or load_catalogue()
    abbreviations = abbreviations if abbreviations is not None else curated_abbreviations()
    required = requires(section, data)
    truth, shown = _truth(data, facts, catalogue, abbreviations, required)
    for_women = women_only and facts.sex == "male" and data.get("kind") == "contraception"
    if for_women and truth is None:
        truth, shown = required, "male"  # "Women of childbearing potential must use …" does not ask it of him
    verb = "requires" if required else "excludes"
    if truth is None:
        status: Status = "unknown"
    elif truth == required:
        status = "met"
    else:
        status = "not_met"
    statement = _statement(data)
    if data.get("applies_if"):
        statement += f" {data['applies_if']}"
    if for_women:
        statement += " (of women)"
    if other_options:
        statement += ", or another option the item lists"
    if (data.get("applies_if") or other_options) and status == "not_met":
        status = "unknown"  # she may qualify another way: the clinician checks which applies
    return Verdict(status, f"{shown} — trial {verb} {statement}: {status.replace('_', ' ')}")


_WOMEN_RE = re.compile(r"\b(?:wom[ae]n|females?|childbearing|child-bearing|wocbp|girls?)\b", re.IGNORECASE)
_MEN_RE = re.compile(r"\b(?:m[ae]n|males?|partners?|fathers?|sperm|boys?)\b", re.IGNORECASE)


def about_women_only(text: str) -> bool:
    """Does a criterion item speak of women and not of men ("Women of childbearing potential
    should use effective contraception")?"""
    return _WOMEN_RE.search(text) is not None and _MEN_RE.search(text) is None


def _combine(item: Mapping[str, Any], verdicts: list[Verdict], rules: list[Mapping[str, Any]]) -> Status:
    statuses = [v.status for v in verdicts]
    if alternatives(item, rules):
        if "met" in statuses:
            return "met"
        return "not_met" if all(s == "not_met" for s in statuses) else "unknown"
    if "not_met" in statuses:
        return "not_met"
    return "met" if all(s == "met" for s in statuses) else "unknown"


def evaluate_items(
    items: Iterable[Mapping[str, Any] | SupportsToDict],
    facts: PatientFacts,
    *,
    catalogue: Catalogue | None = None,
    abbreviations: Mapping[str, str] | None = None,
) -> list[ItemVerdict]:
    """Every item's verdict. An item without rules is ``unknown`` (it needs a human).

    Rules in one item combine with AND (any rule not met fails the item), except
    inclusion alternatives joined by "or" ("creatinine < 1.5 mg/dL or CrCl > 50"),
    where one met rule is enough.
    """
    out: list[ItemVerdict] = []
    for raw in items:
        item = _as_dict(raw)
        section = item.get("section", "inclusion")
        rules = [_as_dict(r) for r in item.get("rules", ())]
        if not rules:
            out.append(ItemVerdict(item.get("position", len(out)), section, "unknown",
                                   "no checkable rule in this item: needs review", ()))  # fmt: skip
            continue
        # Only a man's contraception rules depend on it: the text is read for those alone.
        women = (
            facts.sex == "male"
            and any(r.get("kind") == "contraception" for r in rules)
            and about_women_only(str(item.get("text", "")))
        )
        verdicts = [
            evaluate_rule(
                r,
                section,
                facts,
                catalogue=catalogue,
                abbreviations=abbreviations,
                other_options=o,
                women_only=women,
            )
            for r, o in zip(rules, unread_options(item, rules), strict=True)
        ]
        status = _combine(item, verdicts, rules)
        deciding = next((v for v in verdicts if v.status == status), verdicts[0])
        reason = (
            deciding.reason
            if len(verdicts) == 1
            else f"{deciding.reason} (one of {len(verdicts)} checks in this item)"
        )
        out.append(ItemVerdict(item.get("position", len(out)), section, status, reason, tuple(verdicts)))
    return out
