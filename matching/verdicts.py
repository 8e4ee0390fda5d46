"""A patient against a trial's stored criteria: one verdict per item (met / not met / unknown).

The rules are the JSON stored beside each criterion item at ingest; the
evaluation itself is ``matching.eligibility`` (pure). This module only turns the
validated :class:`~matching.patient.Patient` into the facts it reads (with the
MeSH ancestry of her conditions from ``ingest.mesh``, a shared pure helper).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson

from ingest.criteria.categories import CATEGORY_REASONS, category_of
from ingest.mesh import ancestors_of
from ingest.vocabulary.concepts import load_vocabulary
from matching.conditions import condition_keys, synonym_groups
from matching.eligibility import Event, Measurement, PatientFacts, Treatment, evaluate_items
from matching.patient import Patient


def implied_conditions(conditions: list[str]) -> dict[str, str]:
    """Her conditions, their other names and the broader ones they imply, each with the
    condition as she was recorded: "type 2 diabetes" is also "type 2 diabetes mellitus"
    (the condition vocabulary), and lupus nephritis is a form of systemic lupus
    erythematosus, so "SLE required" is met by a lupus nephritis diagnosis (MeSH tree)."""
    implied: dict[str, str] = {c: c for c in conditions}
    vocabulary = load_vocabulary()
    for condition in conditions:
        names = [condition]
        if (concept := vocabulary.by_id.get(condition.strip())) is not None:
            names.append(concept.name)  # "D008181": rules stored before concepts compare names
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
        absent_conditions=tuple(patient.absent_conditions),
    )


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
                "reason": CATEGORY_REASONS.get(category, verdict.reason),
                "rules": [{"status": r.status, "reason": r.reason} for r in verdict.rules],
            }
        )
    return out
