"""Condition and treatment rules read as vocabulary concepts, and matched by concept and
hierarchy (issues 21 and 22), on real registry items from the fixtures."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bench.criteria import iter_fixture_criteria
from ingest.criteria import CriterionItem, Rule, parse_criteria
from ingest.criteria.needs import item_needs
from ingest.vocabulary.concepts import CONDITION_KINDS, TREATMENT_KINDS, load_vocabulary
from matching.eligibility import evaluate_items
from matching.needs import cannot_be_met, patient_facts_on_record, undecidable
from matching.patient import parse_patient
from matching.verdicts import patient_facts
from tests.test_criteria_split import seed_criteria

FIXTURES = Path(__file__).parent / "fixtures"


@cache
def trials() -> dict[str, str]:
    texts: dict[str, str] = {}
    for trial, text in iter_fixture_criteria(FIXTURES):
        texts.setdefault(trial, text)
    return texts


@cache
def parsed(trial: str) -> list[CriterionItem]:
    return parse_criteria(trials()[trial])


def item(trial: str, starts: str) -> CriterionItem:
    """The fixture trial's item whose text starts with ``starts``, parsed with its trial."""
    found = [it for it in parsed(trial) if it.text.startswith(starts)]
    assert found, f"{trial}: no item starting {starts!r}"
    return found[0]


def named(it: CriterionItem) -> list[Rule]:
    return [r for r in it.rules if r.kind in ("condition", "treatment")]


def verdict(it: CriterionItem, **patient: Any) -> tuple[str, str]:
    (v,) = evaluate_items([it], patient_facts(parse_patient(patient)))
    return v.status, v.reason


# --- rules are concepts, never chopped phrases ------------------------------------------------


def test_every_condition_and_treatment_rule_of_the_fixtures_names_concepts_of_its_kind() -> None:
    vocabulary = load_vocabulary()
    rules = [r for text in trials().values() for it in parse_criteria(text) for r in named(it)]
    assert len(rules) > 4000
    for rule in rules:
        assert rule.concepts, rule
        kinds = CONDITION_KINDS if rule.kind == "condition" else TREATMENT_KINDS
        for ref in rule.concepts:
            concept = vocabulary.get(ref.id)
            assert concept is not None and concept.name == ref.name and concept.kind in kinds, (rule, ref)


def test_phrases_that_name_no_concept_stay_for_review() -> None:
    # Read as the condition "relevant respirator" before; no concept is named here.
    relevant = item("NCT05870670", "Presence or history of any clinically relevant respiratory")
    assert named(relevant) == [] and relevant.needs_review
    (swallow,) = [it for it in parsed("NCT02513394") if "retain oral medication" in it.text]
    assert named(swallow) == []


def test_concepts_with_their_words_and_alternatives_in_one_rule() -> None:
    (rule,) = named(item("NCT05971329", "Chronic or acute renal failure or prior history of renal disease"))
    assert rule.kind == "condition" and not rule.negated
    assert [(c.id, c.name) for c in rule.concepts] == [
        ("D007676", "Kidney Failure, Chronic"),  # "chronic … renal failure", the adjective listed before
        ("D058186", "Acute Kidney Injury"),
        ("D007674", "Kidney Diseases"),
    ]
    assert rule.to_dict()["concepts"][2] == {"id": "D007674", "name": "Kidney Diseases"}


def test_negation_inside_an_item() -> None:
    (vestibular,) = named(item("NCT05120609", "No history of vestibular disease"))
    assert vestibular.negated and [c.name for c in vestibular.concepts] == ["Vestibular Diseases"]
    (either,) = named(item("NCT02385136", "no history of hypertension or diabetes"))
    assert either.negated and [c.name for c in either.concepts] == ["Hypertension", "Diabetes Mellitus"]
    ddd, slip = named(item("NCT05287867", "Maximum of 3 levels degenerative disc disease without"))[:2]
    assert not ddd.negated and ddd.concepts[0].name == "Intervertebral Disc Degeneration"
    assert slip.negated and slip.concepts[0].name == "Spondylolisthesis"
    (device,) = named(item("NCT05421624", "Able to walk independently without physical assistance"))
    assert device.kind == "treatment" and device.negated


def test_what_narrows_a_concept_and_what_the_item_leaves_out() -> None:
    seed = parse_criteria(seed_criteria())
    (recurrence,) = named(seed[3])
    assert [(c.name, c.qualifier) for c in recurrence.concepts] == [
        ("Lupus Nephritis", "moderate/severe recurrence of")
    ]
    (classes,) = named(item("NCT00001676", "Renal biopsy within 1 year with class III or class IV"))
    assert classes.concepts[0].qualifier == "class III or class IV active"
    (malignancy,) = named(item("NCT00001676", "No history of malignancy other than squamous cell"))
    assert malignancy.negated and [c.name for c in malignancy.concepts] == ["Neoplasms"]
    assert [(c.name, c.qualifier) for c in malignancy.exceptions] == [("Carcinoma", "basal")]


# --- matching by concept and hierarchy --------------------------------------------------------


def test_a_narrower_condition_meets_a_broader_rule() -> None:
    renal = item("NCT05971329", "Chronic or acute renal failure or prior history of renal disease")
    assert verdict(renal, conditions=["lupus nephritis"]) == (
        "not_met",
        "lupus nephritis on record — trial excludes Chronic / acute renal failure / renal disease: not met",
    )
    assert verdict(renal, conditions=["D008181"])[0] == "not_met"  # recorded by concept id
    assert verdict(renal, conditions=["asthma"])[0] == "unknown"
    cancer = item("NCT03076658", "History of cancer with or without metastatic disease")
    assert verdict(cancer, conditions=["breast cancer"])[0] == "not_met"


def test_a_drug_meets_its_class_through_its_pharmacological_action() -> None:
    therapy = item(
        "NCT06589271", "Patients with severe autoimmune disease or who are receiving immunosuppressive"
    )
    status, reason = verdict(therapy, treatments=[{"name": "tacrolimus"}])
    assert status == "not_met" and reason.startswith(
        "tacrolimus on record — trial excludes immunosuppressive"
    )
    agents = item("NCT06325566", "Participants taking systemic immunosuppressants")
    assert verdict(agents, treatments=[{"name": "tacrolimus"}])[0] == "not_met"
    assert verdict(agents, treatments=[{"name": "metformin"}])[0] == "unknown"


def test_a_qualified_concept_needs_the_record_to_say_so() -> None:
    seed = parse_criteria(seed_criteria())
    assert verdict(seed[3], conditions=["lupus nephritis"])[0] == "unknown"
    assert verdict(seed[3], conditions=["severe recurrent lupus nephritis"])[0] == "met"
    classes = item("NCT00001676", "Renal biopsy within 1 year with class III or class IV")
    (rule,) = named(classes)
    from matching.eligibility import evaluate_rule

    facts = patient_facts(parse_patient({"conditions": ["lupus nephritis class IV"]}))
    assert evaluate_rule(rule, "inclusion", facts).status == "met"
    facts = patient_facts(parse_patient({"conditions": ["lupus nephritis class II"]}))
    assert evaluate_rule(rule, "inclusion", facts).status == "unknown"


def test_an_exception_of_the_item_is_not_a_match() -> None:
    malignancy = item("NCT00001676", "No history of malignancy other than squamous cell")
    status, reason = verdict(malignancy, conditions=["basal cell carcinoma"])
    assert status == "unknown" and reason.startswith(
        "basal cell carcinoma on record, which the item leaves out"
    )
    assert verdict(malignancy, conditions=["melanoma"])[0] == "not_met"


# --- conditions she denies --------------------------------------------------------------------


def test_a_denied_condition_meets_its_exclusion_and_says_so() -> None:
    type1 = item("NCT05594173", "Type 1 Diabetes")
    assert verdict(type1, absent_conditions=["diabetes"]) == (
        "met",
        "diabetes: denied in the referral — trial excludes Type 1 Diabetes: met",
    )
    uncontrolled = item("NCT06025175", "Patients with uncontrolled diabetes mellitus")
    assert verdict(uncontrolled, absent_conditions=["diabetes"])[0] == "met"


def test_a_denial_decides_only_the_condition_it_names() -> None:
    # "metabolic disease such as diabetes mellitus": denying diabetes does not deny metabolic disease
    broader = item("NCT05375201", "3) metabolic disease such as diabetes mellitus")
    assert verdict(broader, absent_conditions=["diabetes"]) == (
        "unknown",
        "no record of metabolic disease — trial excludes metabolic disease / diabetes mellitus: unknown",
    )
    # an inclusion is not failed by a denial: a denial only answers an exclusion
    sle = item("NCT00000419", "Unequivocal diagnosis of SLE")
    assert verdict(sle, absent_conditions=["SLE"])[0] == "unknown"
    # a condition on record wins over its own denial elsewhere
    assert verdict(item("NCT05594173", "Type 1 Diabetes"), conditions=["type 1 diabetes"])[0] == "not_met"


# --- stored needs, and rules stored before concepts -------------------------------------------


def test_needs_name_concepts_and_denials() -> None:
    type1 = item("NCT05594173", "Type 1 Diabetes").to_dict()
    needs = item_needs(type1)
    assert needs == "&!a:D003922,c:D003922"
    nothing = patient_facts_on_record(patient_facts(parse_patient({"age": 40})))
    assert cannot_be_met(needs, nothing) and undecidable(needs, nothing)
    denied = patient_facts_on_record(patient_facts(parse_patient({"absent_conditions": ["diabetes"]})))
    assert not cannot_be_met(needs, denied) and not undecidable(needs, denied)
    renal = item("NCT05971329", "Chronic or acute renal failure").to_dict()
    lupus = patient_facts_on_record(patient_facts(parse_patient({"conditions": ["lupus nephritis"]})))
    assert not undecidable(item_needs(renal), lupus)


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        (["systemic lupus erythematosus"], "met"),
        (["SLE"], "met"),
        (["D008180"], "met"),
        (["asthma"], "unknown"),
    ],
)
def test_rules_stored_before_concepts_are_still_matched_by_words(conditions: list[str], status: str) -> None:
    # The seed's SLE item as the store kept it before concepts were read (terms only).
    stored: dict[str, Any] = {
        "position": 1,
        "section": "inclusion",
        "text": parse_criteria(seed_criteria())[1].text,
        "rules": [
            {
                "kind": "condition",
                "text": "Diagnosis of systemic lupus erythematosus (SLE)",
                "span": [0, 47],
                "terms": ["systemic lupus erythematosus", "SLE"],
            }
        ],
    }
    assert Rule.from_dict(stored["rules"][0]).concepts == ()
    (v,) = evaluate_items([stored], patient_facts(parse_patient({"conditions": conditions})))
    assert v.status == status
    assert item_needs(stored) == "&c:erythematosus+lupus+systemic,c:sle"
