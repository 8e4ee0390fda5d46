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
from ingest.criteria.demographics import item_scope
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
_SHORT_WORDS = 16


def shortened(text: str, words: int = _SHORT_WORDS) -> str:
    """An item's words for one line: its first sentence or first ``words`` words, "…" when cut."""
    flat = " ".join(text.replace("*", " ").split())
    sentence = re.split(r"\.\s+(?=[A-Z])", flat, maxsplit=1)[0].rstrip(".;:,")
    cut = sentence.split(" ")
    short = " ".join(cut[:words]).rstrip(".;:,")
    return short + (" …" if len(cut) > words or len(sentence) < len(flat.rstrip(".;:, ")) else "")


_FRAGMENT_END_RE = re.compile(
    r"\b(?:while|and|or|but|if|when|of|the|a|an|to|with|for|by|in|on|that|who)\W*$", re.I
)
_EVENT_WORDS = 8


def _loose(rule: Mapping[str, Any]) -> bool:
    """Is a rule's reading too loose to show as the item's line: a threshold on no named
    measure, or an event that is a clause rather than a name?"""
    kind = rule.get("kind")
    if kind == "threshold":
        return not rule.get("variable")
    if kind == "time_window":
        event = str(rule.get("event") or "")
        return len(event.split()) > _EVENT_WORDS or _FRAGMENT_END_RE.search(event) is not None
    return kind in ("condition", "treatment") and not rule.get("concepts")


_OR_RE = re.compile(r"\bor\b", re.I)


def _apart(text: str, rule: tuple[int, ...], unread: tuple[int, ...]) -> bool:
    """Do the words no rule reads lie outside the option, between "or"s, that holds the rule?"""
    start = max((m.end() for m in _OR_RE.finditer(text, 0, rule[0])), default=0)
    after = _OR_RE.search(text, rule[1])
    end = after.start() if after else len(text)
    return unread[1] <= start or unread[0] >= end


_PEOPLE = {"female": "women", "male": "men"}
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
        return "either sex" if rule.get("sex") == "any" else str(rule.get("sex"))
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
    if rule.get("anchor"):
        # "Initial haemoglobin < 90 g/L": the record's latest value is no verdict on the initial one
        return None, f"{shown} (latest on record); the trial asks for the {rule['anchor']} value"
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


# Pregnancy and breastfeeding not recorded for a woman this old are read as "no", as a
# research nurse reads them; younger, they are asked.
PAST_CHILDBEARING_AGE = 60


def _past_childbearing(facts: PatientFacts) -> bool:
    return facts.sex == "female" and facts.age_years is not None and facts.age_years >= PAST_CHILDBEARING_AGE


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
        return rule.get("sex") in ("any", facts.sex), f"sex {facts.sex}"
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
        if value is None and kind != "contraception" and _past_childbearing(facts):
            return False, f"{label}: no (aged {_fmt(facts.age_years or 0)})"
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
) -> Verdict:
    """One rule against the patient: met / not_met / unknown, with a one-line reason.

    For an exclusion item the verdict is about eligibility: an exclusion whose
    statement holds for the patient is ``not_met``. ``other_options``: the item offers,
    joined by "or", options no rule reads (:func:`~ingest.criteria.needs.unread_options`),
    so this rule failing is not the item failing.
    """
    data = _as_dict(rule)
    catalogue = catalogue or load_catalogue()
    abbreviations = abbreviations if abbreviations is not None else curated_abbreviations()
    required = requires(section, data)
    truth, shown = _truth(data, facts, catalogue, abbreviations, required)
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
    if other_options:
        statement += ", or another option the item lists"
    if (data.get("applies_if") or other_options) and status == "not_met":
        status = "unknown"  # she may qualify another way: the clinician checks which applies
    return Verdict(status, f"{shown} — trial {verb} {statement}: {status.replace('_', ' ')}")


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
        # What no rule reads ("At least a 1-year history of migraine": "1-year") keeps the
        # item from being met on the rest: the clinician checks it.
        unread_rule = next((r for r in rules if r.get("kind") == "unread"), None)
        unread = str(unread_rule.get("note") or unread_rule.get("text", "")) if unread_rule else None
        unread_at = tuple(unread_rule.get("span") or (0, 0)) if unread_rule else None
        if unread is not None:
            rules = [r for r in rules if r.get("kind") != "unread"]
            if facts.sex == "male" and all(r.get("kind") in ("pregnancy", "breastfeeding") for r in rules):
                unread = None  # what else a pregnancy item asks is asked of women
        # (pregnancy and breastfeeding rules say so for a man themselves: "pregnant: no (male)")
        own = all(r.get("kind") in ("pregnancy", "breastfeeding") for r in rules)
        scope = item_scope(section, str(item.get("text", "")), rules) if rules and not own else None
        if scope is not None and facts.sex is not None and facts.sex != scope:
            # "Women of childbearing potential must use …" is not asked of him: met, said so
            out.append(ItemVerdict(item.get("position", len(out)), section, "met",
                                   f"asked of {_PEOPLE[scope]} only; the patient is {facts.sex}: not applicable",
                                   ()))  # fmt: skip
            continue
        if not rules:
            # no rule read: the item's own words, for the clinician to check
            out.append(ItemVerdict(item.get("position", len(out)), section, "unknown",
                                   f"to check: «{shortened(str(item.get('text', '')))}»", ()))  # fmt: skip
            continue
        options = unread_options(item, rules)
        verdicts = [
            evaluate_rule(
                r,
                section,
                facts,
                catalogue=catalogue,
                abbreviations=abbreviations,
                other_options=o,
            )
            for r, o in zip(rules, options, strict=True)
        ]
        status = _combine(item, verdicts, rules)
        at = next((i for i, v in enumerate(verdicts) if v.status == status), 0)
        deciding = verdicts[at]
        reason = (
            deciding.reason
            if len(verdicts) == 1
            else f"{deciding.reason} (one of {len(verdicts)} checks in this item)"
        )
        if status == "unknown" and _loose(rules[at]):
            # a reading no clinician would write as a rule ("grade ≥ 2", a long run-on event):
            # the item's own words say better what is to check
            reason = f"to check: «{shortened(str(item.get('text', '')))}»"
        # met by an option joined by "or" ("No response …, or moderate/severe recurrence of LN"):
        # the words not read are another option, not more to meet
        text = str(item.get("text", ""))
        by_option = unread_at is not None and any(
            o and v.status == "met" and _apart(text, tuple(r.get("span") or (0, 0)), unread_at)
            for r, o, v in zip(rules, options, verdicts, strict=True)
        )
        if unread is not None and status == "met" and not by_option:
            status = "unknown"
            reason = f"{deciding.reason.removesuffix(': met')}: met as read; to check: «{unread}»"
        elif unread is not None and status == "not_met" and section == "exclusion":
            # An exclusion read in part: the words not read may be what the item excludes
            # ("an intervention planned for coronary disease"), not the condition itself.
            status = "unknown"
            reason = f"{deciding.reason.removesuffix(': not met')}: excluded as read; to check: «{unread}»"
        out.append(ItemVerdict(item.get("position", len(out)), section, status, reason, tuple(verdicts)))
    return out
