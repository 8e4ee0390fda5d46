"""Evaluating parsed rules against a patient's facts (matching/eligibility.py)."""

from __future__ import annotations

import ast
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.criteria import CriterionItem, parse_criteria, parse_rules
from ingest.criteria.catalogue import load_curated_abbreviations
from matching.eligibility import (
    Event,
    Measurement,
    PatientFacts,
    Treatment,
    evaluate_items,
    evaluate_rule,
)
from tests.test_criteria_split import seed_criteria

TODAY = date(2025, 6, 1)
ABBREVIATIONS = dict(load_curated_abbreviations())


def rule(text: str, section: str = "inclusion", kind: str | None = None) -> dict[str, Any]:
    found = [r for r in parse_rules(text, section, ABBREVIATIONS) if kind is None or r.kind == kind]
    assert len(found) == 1, found
    return found[0].to_dict()


def facts(**kwargs: Any) -> PatientFacts:
    return PatientFacts(today=TODAY, **kwargs)


# --- the seed trial: SLEDAI-2K ≥ 10 --------------------------------------------------------


@pytest.fixture(scope="module")
def seed_items() -> list[CriterionItem]:
    return parse_criteria(seed_criteria())


@pytest.mark.parametrize(
    ("measurements", "status"),
    [([Measurement("SLEDAI-2K", 12)], "met"), ([Measurement("SLEDAI-2K", 8)], "not_met"), ([], "unknown")],
)
def test_seed_sledai(seed_items: list[CriterionItem], measurements: list[Measurement], status: str) -> None:
    (sledai,) = [r for r in seed_items[4].rules if r.kind == "threshold"]
    verdict = evaluate_rule(sledai, "inclusion", facts(measurements=measurements))
    assert verdict.status == status


def test_seed_sledai_reason(seed_items: list[CriterionItem]) -> None:
    (sledai,) = [r for r in seed_items[4].rules if r.kind == "threshold"]
    verdict = evaluate_rule(sledai, "inclusion", facts(measurements=[Measurement("SLEDAI 2K", 12)]))
    assert verdict.reason == "SLEDAI-2K 12 — trial requires ≥ 10: met"


def test_seed_patient_end_to_end(seed_items: list[CriterionItem]) -> None:
    patient = facts(
        age_years=34,
        sex="female",
        measurements=[Measurement("SLEDAI-2K", 12, None, TODAY - timedelta(days=3))],
        conditions=["Systemic lupus erythematosus", "biopsy-proven lupus nephritis class IV"],
        events=[Event("kidney biopsy", TODAY - timedelta(days=60))],
        uses_contraception=True,
    )
    verdicts = evaluate_items(seed_items, patient)
    assert [v.position for v in verdicts] == list(range(7))
    by_position = {v.position: v for v in verdicts}
    assert by_position[0].status == "met"  # age ≥ 18
    assert by_position[1].status == "met"  # SLE on record
    assert by_position[4].status == "met"  # SLEDAI-2K
    assert by_position[5].status == "met"  # contraception
    assert by_position[6].status == "unknown"  # vaccination: not machine-checkable / not recorded
    window = [v for v in by_position[2].rules if "biopsy" in v.reason]
    assert window and window[0].status == "met"


# --- thresholds, units, exclusion inversion ---------------------------------------------------


def test_egfr_reason_and_inversion() -> None:
    inclusion = rule("eGFR ≥ 30 mL/min/1.73 m2", kind="threshold")
    patient = facts(measurements=[Measurement("eGFR", 45, "mL/min/1.73 m²")])
    verdict = evaluate_rule(inclusion, "inclusion", patient)
    assert verdict.status == "met"
    assert verdict.reason.startswith("eGFR 45 mL/min/1.73 m² — trial requires ≥ 30")
    exclusion = rule("eGFR < 30 mL/min/1.73 m2", "exclusion", kind="threshold")
    assert evaluate_rule(exclusion, "exclusion", patient).status == "met"
    low = facts(measurements=[Measurement("estimated GFR", 20, "mL/min/1.73m2")])
    excluded = evaluate_rule(exclusion, "exclusion", low)
    assert excluded.status == "not_met"
    assert "trial excludes < 30" in excluded.reason


@pytest.mark.parametrize(
    ("text", "measurement", "status"),
    [
        ("Serum creatinine ≤ 1.5 mg/dL", Measurement("creatinine", 100, "µmol/L"), "met"),
        ("Serum creatinine ≤ 1.5 mg/dL", Measurement("creatinine", 150, "umol/L"), "not_met"),
        ("Hemoglobin ≥ 9 g/dL", Measurement("Hb", 95, "g/L"), "met"),
        ("Hemoglobin ≥ 9 g/dL", Measurement("haemoglobin", 85, "g/L"), "not_met"),
        ("Platelet count ≥ 100 x 10^9/L", Measurement("platelets", 150000, "/µL"), "met"),
        ("Platelet count ≥ 100,000/mm3", Measurement("PLT", 90, "10^9/L"), "not_met"),
        ("HbA1c ≤ 7%", Measurement("HbA1c", 52, "mmol/mol"), "met"),
        ("HbA1c ≤ 7%", Measurement("HbA1c", 64, "mmol/mol"), "not_met"),
        ("24-hour urine protein ≥ 500 mg/day", Measurement("proteinuria", 1.2, "g/24h"), "met"),
        ("BMI between 18 and 30 kg/m2", Measurement("BMI", 31, "kg/m2"), "not_met"),
        ("Hemoglobin ≥ 9 g/dL", Measurement("Hb", 9, "furlongs"), "unknown"),
        ("Hemoglobin ≥ 9 g/dL", Measurement("Platelets", 200, "10^9/L"), "unknown"),
    ],
)
def test_threshold_units(text: str, measurement: Measurement, status: str) -> None:
    verdict = evaluate_rule(rule(text, kind="threshold"), "inclusion", facts(measurements=[measurement]))
    assert verdict.status == status, verdict.reason


def test_latest_measurement_wins() -> None:
    r = rule("Hemoglobin ≥ 9 g/dL", kind="threshold")
    patient = facts(
        measurements=[
            Measurement("Hb", 10, "g/dL", date(2025, 1, 1)),
            Measurement("Hb", 8, "g/dL", date(2025, 5, 1)),
        ]
    )
    assert evaluate_rule(r, "inclusion", patient).status == "not_met"


def test_uln_multiple_needs_a_value_relative_to_uln() -> None:
    r = rule("ALT ≤ 2.5 × ULN", kind="threshold")
    assert (
        evaluate_rule(r, "inclusion", facts(measurements=[Measurement("ALT", 40, "U/L")])).status == "unknown"
    )
    assert (
        evaluate_rule(r, "inclusion", facts(measurements=[Measurement("ALT", 1.2, "xULN")])).status == "met"
    )
    assert (
        evaluate_rule(r, "inclusion", facts(measurements=[Measurement("SGPT", 3, "x ULN")])).status
        == "not_met"
    )


def test_unknown_variable_compares_only_same_name_and_unit() -> None:
    r = rule("ASI-3 scores above 24", kind="threshold")
    assert (
        evaluate_rule(r, "inclusion", facts(measurements=[Measurement("ASI-3 scores", 30)])).status == "met"
    )
    assert evaluate_rule(r, "inclusion", facts(measurements=[Measurement("PCL-5", 30)])).status == "unknown"


# --- age, sex, pregnancy ----------------------------------------------------------------------


@pytest.mark.parametrize(("age", "status"), [(34, "met"), (17.5, "not_met"), (None, "unknown")])
def test_age(age: float | None, status: str) -> None:
    r = rule("Aged 18 years or older", kind="age")
    assert evaluate_rule(r, "inclusion", facts(age_years=age)).status == status


def test_age_range_in_exclusion() -> None:
    r = rule("Age more than 70 years", "exclusion", kind="age")
    assert evaluate_rule(r, "exclusion", facts(age_years=75)).status == "not_met"
    assert evaluate_rule(r, "exclusion", facts(age_years=50)).status == "met"


def test_sex_and_pregnancy() -> None:
    female = rule("Female", kind="sex")
    assert evaluate_rule(female, "inclusion", facts(sex="female")).status == "met"
    assert evaluate_rule(female, "inclusion", facts(sex="male")).status == "not_met"
    assert evaluate_rule(female, "inclusion", facts()).status == "unknown"
    pregnant = rule("Pregnancy", "exclusion", kind="pregnancy")
    assert evaluate_rule(pregnant, "exclusion", facts(pregnant=True)).status == "not_met"
    assert evaluate_rule(pregnant, "exclusion", facts(pregnant=False)).status == "met"
    assert evaluate_rule(pregnant, "exclusion", facts()).status == "unknown"
    negative_test = rule("Negative pregnancy test at screening", kind="pregnancy")
    assert evaluate_rule(negative_test, "inclusion", facts(pregnant=False)).status == "met"
    assert evaluate_rule(negative_test, "inclusion", facts(pregnant=True)).status == "not_met"


def test_negated_inclusion_is_an_exclusion() -> None:
    r = rule("Patients must not be breastfeeding", kind="breastfeeding")
    verdict = evaluate_rule(r, "inclusion", facts(breastfeeding=True))
    assert verdict.status == "not_met"
    assert "trial excludes breastfeeding" in verdict.reason


# --- time windows, conditions, treatments -----------------------------------------------------


@pytest.mark.parametrize(("days_ago", "status"), [(60, "met"), (250, "not_met"), (None, "unknown")])
def test_biopsy_window(days_ago: int | None, status: str) -> None:
    r = rule("Renal biopsy performed no more than 6 months before the selection visit", kind="time_window")
    events = [] if days_ago is None else [Event("renal biopsy", TODAY - timedelta(days=days_ago))]
    assert evaluate_rule(r, "inclusion", facts(events=events)).status == status


def test_undated_event_is_unknown() -> None:
    r = rule("Renal biopsy within the past 6 months", kind="time_window")
    assert evaluate_rule(r, "inclusion", facts(events=[Event("renal biopsy", None)])).status == "unknown"


def test_treatment_window_in_exclusion() -> None:
    r = rule("Use of systemic corticosteroids within the past 4 weeks", "exclusion", kind="time_window")
    current = facts(treatments=[Treatment("systemic corticosteroids", date(2024, 1, 1), None, True)])
    stopped = facts(
        treatments=[Treatment("oral systemic corticosteroids", date(2024, 1, 1), date(2025, 1, 1))]
    )
    assert evaluate_rule(r, "exclusion", current).status == "not_met"
    assert evaluate_rule(r, "exclusion", stopped).status == "met"
    assert evaluate_rule(r, "exclusion", facts()).status == "unknown"


def test_at_least_ago_window() -> None:
    r = rule("Radiotherapy completed at least 4 weeks before randomization", kind="time_window")
    long_ago = facts(treatments=[Treatment("palliative radiotherapy", date(2025, 1, 1), date(2025, 2, 1))])
    recent = facts(treatments=[Treatment("radiotherapy", date(2025, 5, 1), date(2025, 5, 20))])
    assert evaluate_rule(r, "inclusion", long_ago).status == "met"
    assert evaluate_rule(r, "inclusion", recent).status == "not_met"


def test_condition_present_absent_and_abbreviated() -> None:
    r = rule("Active lupus nephritis (LN) or chronic kidney disease (CKD)", "exclusion", kind="condition")
    assert evaluate_rule(r, "exclusion", facts(conditions=["CKD stage 3"])).status == "not_met"
    assert evaluate_rule(r, "exclusion", facts(conditions=["lupus nephritis class IV"])).status == "not_met"
    unknown = evaluate_rule(r, "exclusion", facts(conditions=["asthma"]))
    assert unknown.status == "unknown"
    assert unknown.reason.startswith("no record of lupus nephritis")


def test_condition_term_must_be_fully_present() -> None:
    r = rule("Known osteoporosis or severe osteopenia", "exclusion", kind="condition")
    assert evaluate_rule(r, "exclusion", facts(conditions=["osteopenia"])).status == "unknown"
    assert evaluate_rule(r, "exclusion", facts(conditions=["severe osteopenia"])).status == "not_met"


def test_treatment_on_record() -> None:
    r = rule("Patients receiving azathioprine", "exclusion", kind="treatment")
    assert (
        evaluate_rule(r, "exclusion", facts(treatments=[Treatment("Azathioprine 50 mg")])).status == "not_met"
    )
    assert evaluate_rule(r, "exclusion", facts(treatments=[Treatment("mycophenolate")])).status == "unknown"


# --- items ------------------------------------------------------------------------------------


def test_items_from_stored_json_give_the_same_verdicts(seed_items: list[CriterionItem]) -> None:
    stored = [json.loads(json.dumps(item.to_dict())) for item in seed_items]
    patient = facts(age_years=40, measurements=[Measurement("SLEDAI-2K", 8)])
    assert evaluate_items(stored, patient) == evaluate_items(seed_items, patient)


def test_item_without_rules_is_unknown() -> None:
    (verdict,) = evaluate_items(
        [{"position": 0, "section": "inclusion", "text": "Able to consent", "rules": []}], facts()
    )
    # no placeholder: the item's own words, for the clinician to check
    assert (verdict.status, verdict.reason) == ("unknown", "to check: «Able to consent»")


def test_alternatives_joined_by_or_need_one() -> None:
    (item,) = parse_criteria("* Creatinine < 1.5 mg/dL or creatinine clearance > 50 mL/min")
    one = facts(measurements=[Measurement("creatinine", 2.0, "mg/dL"), Measurement("CrCl", 60, "mL/min")])
    neither = facts(measurements=[Measurement("creatinine", 2.0, "mg/dL"), Measurement("CrCl", 40, "mL/min")])
    assert evaluate_items([item], one)[0].status == "met"
    assert evaluate_items([item], neither)[0].status == "not_met"


def test_exclusion_item_any_statement_excludes() -> None:
    (item,) = parse_criteria("Exclusion Criteria:\n\n* Pregnant or breastfeeding women\n")
    assert evaluate_items([item], facts(pregnant=False, breastfeeding=True))[0].status == "not_met"
    assert evaluate_items([item], facts(pregnant=False, breastfeeding=False))[0].status == "met"
    assert evaluate_items([item], facts(pregnant=False))[0].status == "unknown"


def test_evaluation_imports_only_pure_criteria_modules_from_ingest() -> None:
    """The evaluator shares the catalogue, the rule reading and the compared words with the parser."""
    source = (Path(__file__).parents[1] / "matching" / "eligibility.py").read_text(encoding="utf-8")
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ingest")
    }
    imported |= {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("ingest")
    }
    assert imported == {
        "ingest.criteria.catalogue",
        "ingest.criteria.demographics",  # which sex an item is asked of, as the parser reads it
        "ingest.criteria.describe",  # the words a rule is said in, shared with `criteria parse`
        "ingest.criteria.needs",
        "ingest.criteria.words",
    }


def test_a_condition_is_met_by_its_other_names_and_said_as_recorded() -> None:
    """A patient recorded with "type 2 diabetes" meets "Diabetes mellitus": the number stays
    with its name, and the reason names her condition as it was recorded."""
    from matching.patient import parse_patient
    from matching.verdicts import patient_facts

    r = rule("Diabetes mellitus", "inclusion", kind="condition")
    for recorded in ("type 2 diabetes", "T2DM", "Type 2 Diabetes Mellitus"):
        verdict = evaluate_rule(r, "inclusion", patient_facts(parse_patient({"conditions": [recorded]})))
        assert verdict.status == "met", (recorded, verdict.reason)
        assert verdict.reason.startswith(f"{recorded} on record"), verdict.reason
    other = evaluate_rule(
        r, "inclusion", patient_facts(parse_patient({"conditions": ["diabetes insipidus"]}))
    )
    assert other.status == "unknown" and "2 diabetes" not in other.reason


SEED_BIOPSY_ITEM = (
    "Diagnosis of lupus nephritis (LN) using the 2003 classification of the International Society of "
    "Nephrology and the Society of Renal Pathology, by biopsy performed no more than 6 months before the selection "
    "visit if they enter from the induction period, and no more than one year if they enter with a "
    "moderate/severe recurrence."
)


def test_a_conditional_window_is_not_failed_and_no_clause_becomes_a_measurement() -> None:
    """The seed's biopsy item: "if they enter …" is the condition a window holds under, never
    the name of a value ("? if they enter not in the patient record — trial requires ≤ 1 year")."""
    rules = [r.to_dict() for r in parse_rules(SEED_BIOPSY_ITEM, "inclusion", ABBREVIATIONS)]
    assert not [r for r in rules if r["kind"] == "threshold"], rules
    window = next(r for r in rules if r["kind"] == "time_window")
    assert window["applies_if"] == "if they enter from the induction period"
    eight_months = facts(events=[Event("kidney biopsy", TODAY - timedelta(days=248))])
    verdict = evaluate_rule(window, "inclusion", eight_months)
    assert verdict.status == "unknown"  # she may have entered with a recurrence (one year)
    assert verdict.reason.endswith(
        "within the past 6 months if they enter from the induction period: unknown"
    )
    recent = evaluate_rule(
        window, "inclusion", facts(events=[Event("kidney biopsy", TODAY - timedelta(days=30))])
    )
    assert recent.status == "met"


def test_rules_read_as_a_clinician_writes_them() -> None:
    from ingest.criteria.describe import describe_rule

    bmi = rule("Body mass index >= 30 kilogram/square meter", kind="threshold")
    assert describe_rule(bmi).startswith("threshold: BMI ≥ 30 kg/m²")
    assert (
        "BMI not in the patient record — trial requires ≥ 30 kg/m²"
        in evaluate_rule(bmi, "inclusion", facts()).reason
    )
    platelets = rule("Platelets > 100 x10^9/L", kind="threshold")
    assert describe_rule(platelets).startswith("threshold: Platelets > 100 ×10⁹/L")
    egfr = rule("eGFR >= 30 mL/min/1.73 m2", kind="threshold")
    assert describe_rule(egfr).startswith("threshold: eGFR ≥ 30 mL/min/1.73 m²")
    dose = rule("Stable dose for at least 12 weeks", kind="threshold")
    assert describe_rule(dose).startswith("threshold: Stable dose ≥ 12 weeks")
    assert "None" not in describe_rule(dose)
    # A value with no name to hold a patient's value against is no rule at all.
    assert [
        r
        for r in parse_rules("* ≥ 30 kilogram/square meter", "inclusion", ABBREVIATIONS)
        if r.kind == "threshold"
    ] == []
    biopsy = rule("Enrolled within 1 year of biopsy", kind="time_window")
    assert biopsy["event"] == "biopsy"
    assert describe_rule(biopsy).startswith("time_window: biopsy within the past 1 year ")
    vaccine = rule("Have been vaccinated against pneumococcus and influenza", kind="treatment")
    assert vaccine["terms"][0] == "vaccination against pneumococcus and influenza"


def test_administrative_items_are_apart_from_the_clinical_ones_to_check() -> None:
    from ingest.criteria import parse_criteria
    from matching.patient import parse_patient
    from matching.verdicts import evaluate_trial_criteria

    text = (
        "Inclusion Criteria:\n* Written informed consent\n* Willing and able to comply with study procedures\n"
        "* Able to read and write Spanish\n* eGFR >= 30 mL/min/1.73 m2\n* -\n"
        "Exclusion Criteria:\n* Participation in another clinical trial within 30 days\n"
        "* Any condition that, in the investigator's opinion, makes participation unsafe\n* Pregnancy\n"
    )
    rows = [
        {"position": i, "section": it.section, "text": it.text, "rules": [r.to_dict() for r in it.rules]}
        for i, it in enumerate(parse_criteria(text))
    ]
    verdicts = evaluate_trial_criteria(rows, parse_patient({"age": 40}))
    by_text = {v["text"]: v for v in verdicts}
    for admin in (
        "Written informed consent",
        "Willing and able to comply with study procedures",
        "Able to read and write Spanish",
        "Any condition that, in the investigator's opinion, makes participation unsafe",
    ):
        assert by_text[admin]["category"] == "administrative", admin
        assert by_text[admin]["reason"] == "confirm at screening"
    assert by_text["eGFR >= 30 mL/min/1.73 m2"]["category"] == "clinical"
    assert by_text["Pregnancy"]["category"] == "clinical"
    assert by_text["-"]["category"] == "empty"


def test_an_option_the_parser_did_not_read_keeps_the_item_open(seed_items: list[CriterionItem]) -> None:
    """ "No response or partial response …, or moderate/severe recurrence": the recurrence is
    one way in, not a requirement; a failed threshold beside an unread option does not fail it."""
    (recurrence,) = evaluate_items([seed_items[3]], facts(conditions=["lupus nephritis"]))
    assert recurrence.status == "unknown"
    # her lupus nephritis is on record; its recurrence is what the item asks, and not stated
    assert recurrence.reason == (
        "lupus nephritis on record; not stated: moderate/severe recurrence — trial requires "
        "moderate/severe recurrence of lupus nephritis, or another option the item lists: unknown"
    )
    (item,) = parse_criteria("* eGFR ≥ 30 mL/min/1.73 m2 or on maintenance dialysis")
    low = facts(measurements=[Measurement("eGFR", 20, "mL/min/1.73m2")])
    (verdict,) = evaluate_items([item], low)
    # both options are read (dialysis is a concept): the one not failed is still to check
    assert verdict.status == "unknown" and "no record of maintenance dialysis" in verdict.reason
    dialysed = facts(
        measurements=[Measurement("eGFR", 20, "mL/min/1.73m2")],
        treatments=[Treatment("maintenance hemodialysis")],
    )
    assert evaluate_items([item], dialysed)[0].status == "met"
    (read_both,) = parse_criteria("* Creatinine < 1.5 mg/dL, or creatinine clearance > 50 mL/min")
    neither = facts(measurements=[Measurement("creatinine", 2.0, "mg/dL"), Measurement("CrCl", 40, "mL/min")])
    assert evaluate_items([read_both], neither)[0].status == "not_met"  # both options read: it fails
    (exclusion,) = parse_criteria(
        "Exclusion Criteria:\n\n* eGFR < 30 mL/min/1.73 m2, or any other kidney disease\n"
    )
    assert evaluate_items([exclusion], low)[0].status == "not_met"  # an exclusion of either excludes


def test_what_an_if_clause_names_is_not_required(seed_items: list[CriterionItem]) -> None:
    """ "… no more than one year if they enter with a moderate/severe recurrence": the
    recurrence says when the one-year window applies; the trial does not require one."""
    biopsy = seed_items[2]
    assert [r.kind for r in biopsy.rules if r.kind != "unread"] == ["condition", "time_window"]
    recent = facts(
        conditions=["lupus nephritis"], events=[Event("kidney biopsy", TODAY - timedelta(days=60))]
    )
    (verdict,) = evaluate_items([biopsy], recent)
    assert verdict.status == "met" and "recurrence" not in verdict.reason
    (gilbert,) = parse_criteria(
        "* Total bilirubin ≤ 1.5 × ULN, unless related to documented Gilbert's syndrome"
    )
    assert [r.kind for r in gilbert.rules] == ["threshold"]


def test_items_about_women_do_not_ask_a_man() -> None:
    """A man is never 'to check' for pregnancy, breastfeeding or a women-only contraception item."""
    items = parse_criteria(
        "Inclusion Criteria:\n"
        "* Women of childbearing potential should use effective methods of contraception to prevent pregnancy.\n"
        "* Men and women must use effective contraception during the study\n"
        "Exclusion Criteria:\n* Pregnant or breastfeeding women\n"
    )
    women_only, both, pregnancy = evaluate_items(items, facts(sex="male", age_years=40))
    assert (women_only.status, women_only.reason) == (
        "met",
        "asked of women only; the patient is male: not applicable",
    )
    assert both.status == "unknown"  # the trial asks it of men too
    assert pregnancy.status == "met" and pregnancy.reason.startswith("pregnant: no (male)")
    woman = evaluate_items(items, facts(sex="female", age_years=40))
    assert [v.status for v in woman] == ["unknown", "unknown", "unknown"]
