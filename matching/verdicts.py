"""A patient against a trial's stored criteria: one verdict per item (met / not met / unknown).

The rules are the JSON stored beside each criterion item at ingest; the
evaluation itself is ``matching.eligibility`` (pure). This module only turns the
validated :class:`~matching.patient.Patient` into the facts it reads (with the
MeSH ancestry of her conditions from ``ingest.mesh``, a shared pure helper).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import orjson

from ingest.mesh import ancestors_of
from matching.conditions import condition_keys, synonym_groups
from matching.eligibility import Event, Measurement, PatientFacts, Treatment, evaluate_items
from matching.patient import Patient


def implied_conditions(conditions: list[str]) -> dict[str, str]:
    """Her conditions, their other names and the broader ones they imply, each with the
    condition as she was recorded: "type 2 diabetes" is also "type 2 diabetes mellitus"
    (the condition vocabulary), and lupus nephritis is a form of systemic lupus
    erythematosus, so "SLE required" is met by a lupus nephritis diagnosis (MeSH tree)."""
    implied: dict[str, str] = {c: c for c in conditions}
    for condition in conditions:
        names = [condition]
        for key in condition_keys(condition):  # as written, unqualified, in English
            names.extend((key, *synonym_groups().get(key, ())))
        for name in names:
            implied.setdefault(name, condition)
        for name in names:
            for ancestor in ancestors_of(name):
                implied.setdefault(ancestor, condition)
    return implied


def patient_facts(patient: Patient, *, today: date | None = None) -> PatientFacts:
    return PatientFacts(
        age_years=patient.age,
        sex=patient.sex,
        pregnant=patient.pregnant,
        breastfeeding=patient.breastfeeding,
        measurements=tuple(Measurement(m.name, m.value, m.unit, m.date) for m in patient.measurements),
        conditions=tuple(implied := implied_conditions(patient.conditions)),
        condition_origins=implied,
        treatments=tuple(
            Treatment(t.name, t.start, t.end, bool(t.current) if t.current is not None else t.end is None)
            for t in patient.treatments
        ),
        events=tuple(Event(e.name, e.date) for e in patient.events),
        uses_contraception=patient.contraception,
        today=today or date.today(),
    )


# Items about the study's conduct, not the patient's health: shown apart ("confirm at
# screening"), never counted among the clinical criteria still to check.
_ADMINISTRATIVE_RE = re.compile(
    r"(?i)\b(?:informed\s+consent|consent\s+form|sign(?:ed|s|ing)?\s+(?:the\s+|an?\s+)?(?:written\s+)?consent|"
    r"willing(?:ness)?\s+(?:and\s+able\s+)?to|able\s+(?:and\s+willing\s+)?to\s+(?:comply|understand|read|"
    r"follow|attend|complete|give|provide|communicate)|comply\s+with|compliance\s+with|agree(?:s|d)?\s+to|"
    r"(?:study|protocol)\s+(?:procedures|visits|requirements|schedule)|follow[- ]up\s+visits|"
    r"understand(?:ing)?\s+(?:the\s+)?(?:study|protocol|language)|"
    r"(?:read|speak|understand)\s+(?:and\s+(?:write|speak|understand)\s+)?(?:english|spanish|french|german|"
    r"the\s+local\s+language)|available\s+for\s+the\s+duration|reside\s+within|"
    r"(?:participat(?:ion|ing)|enrol(?:l?ed|ment))\s+in\s+(?:another|other|any\s+other)\s+(?:clinical\s+)?"
    r"(?:trial|study|studies)|investigator'?s?\s+(?:opinion|judg(?:e)?ment|discretion)|"
    r"(?:investigator|physician)s?\b[^.;]{0,40}\b(?:considers?|considered|judges?|deems?|opinion|discretion)|"
    r"further\s+(?:inclusion|exclusion)\s+criteria|social\s+security|health\s+insurance)"
)
# Items that state nothing ("-", "None", "N/A"): not criteria at all.
_EMPTY_RE = re.compile(r"(?i)^[\W_]*(?:none|n/?a|not\s+applicable|nil)?[\W_]*$")


_CATEGORY_REASONS = {"administrative": "confirm at screening", "empty": "states no criterion"}


def category_of(text: str, rules: list[dict[str, Any]]) -> str:
    """``clinical``; ``administrative`` for an item with no clinical rule about consent,
    compliance, language, visits or the investigator's judgement; ``empty`` for an item
    that states nothing ("-", "None")."""
    if rules:
        return "clinical"
    if _EMPTY_RE.match(text):
        return "empty"
    return "administrative" if _ADMINISTRATIVE_RE.search(text) else "clinical"


def _rules(value: Any) -> list[dict[str, Any]]:
    decoded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return list(decoded or [])


def trial_statuses(rows: list[dict[str, Any]], facts: PatientFacts) -> list[str]:
    """Only the status of each stored criterion row: what ranking needs, without the
    verdicts' reasons and views (for trials ranked but not shown)."""
    items = [{**row, "rules": _rules(row.get("rules"))} for row in rows]
    return [verdict.status for verdict in evaluate_items(items, facts)]


def evaluate_trial_criteria(
    rows: list[dict[str, Any]], patient: Patient, *, today: date | None = None
) -> list[dict[str, Any]]:
    """Verdicts for stored criterion rows (``position, section, text, rules``), in order."""
    if not rows:
        return []
    items = [{**row, "rules": _rules(row.get("rules"))} for row in rows]
    verdicts = evaluate_items(items, patient_facts(patient, today=today))
    out = []
    for item, verdict in zip(items, verdicts, strict=True):
        category = category_of(item["text"], item["rules"])
        out.append(
            {
                "position": item["position"],
                "section": item["section"],
                "text": item["text"],
                "category": category,
                "status": verdict.status,
                "reason": _CATEGORY_REASONS.get(category, verdict.reason),
                "rules": [{"status": r.status, "reason": r.reason} for r in verdict.rules],
            }
        )
    return out
