"""Rules from item text (ingest/criteria: thresholds, windows, demographics, terms), the
variable catalogue, unit conversion, abbreviations and the JSON round trip."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from ingest.criteria import (
    CriterionItem,
    Rule,
    extract_abbreviations,
    load_catalogue,
    normalize_unit,
    parse_criteria,
    parse_rules,
)
from ingest.criteria.catalogue import DATA_DIR, load_curated_abbreviations
from tests.test_criteria_split import seed_criteria

ABBREVIATIONS = dict(load_curated_abbreviations())


def rules(text: str, section: str = "inclusion") -> list[Rule]:
    return parse_rules(text, section, ABBREVIATIONS)


def numeric(
    text: str, section: str = "inclusion"
) -> list[tuple[str | None, str | None, Any, str | None, bool]]:
    """(variable, comparator, value or (low, high), unit as written, uln) of each threshold/age rule."""
    out: list[tuple[str | None, str | None, Any, str | None, bool]] = []
    for r in rules(text, section):
        if r.kind in ("threshold", "age"):
            value: Any = (r.low, r.high) if r.comparator == "between" else r.value
            out.append((r.variable, r.comparator, value, r.unit, r.uln_multiple))
    return out


# --- catalogue -----------------------------------------------------------------------------


def test_catalogue_has_at_least_forty_sourced_variables() -> None:
    raw = json.loads((DATA_DIR / "variables.json").read_text(encoding="utf-8"))
    variables = raw["variables"]
    assert len(variables) >= 40
    for entry in variables:
        assert entry["source"].strip(), entry["name"]
        assert entry["unit"] and entry["synonyms"], entry["name"]
        low, high = entry["range"]
        assert low < high, entry["name"]
    names = {v["name"] for v in variables}
    for required in ("egfr", "crcl", "upcr", "proteinuria", "sledai_2k", "hba1c", "bmi", "hemoglobin", "platelets",
                     "anc", "alt", "ast", "bilirubin", "creatinine", "lvef", "qtc", "ecog", "karnofsky", "sbp", "dbp"):  # fmt: skip
        assert required in names


@pytest.mark.parametrize(
    ("written", "name"),
    [
        ("eGFR", "egfr"),
        ("estimated glomerular filtration rate", "egfr"),
        ("CrCl", "crcl"),
        ("creatinine clearance", "crcl"),
        ("UPCR", "upcr"),
        ("24-hour urine protein", "proteinuria"),
        ("SLEDAI-2K", "sledai_2k"),
        ("HbA1c", "hba1c"),
        ("haemoglobin", "hemoglobin"),
        ("Hb", "hemoglobin"),
        ("platelet count", "platelets"),
        ("ANC", "anc"),
        ("SGPT", "alt"),
        ("total bilirubin", "bilirubin"),
        ("LVEF", "lvef"),
        ("QTcF", "qtc"),
        ("ECOG PS", "ecog"),
        ("KPS", "karnofsky"),
        ("systolic blood pressure", "sbp"),
    ],
)
def test_catalogue_lookup(written: str, name: str) -> None:
    variable = load_catalogue().lookup(written)
    assert variable is not None and variable.name == name


@pytest.mark.parametrize(
    ("name", "value", "unit", "expected"),
    [
        ("creatinine", 88.42, "µmol/L", 1.0),
        ("creatinine", 1.2, "mg/dL", 1.2),
        ("hemoglobin", 90, "g/L", 9.0),
        ("hemoglobin", 5.5, "mmol/L", 8.8627),
        ("hba1c", 53, "mmol/mol", 7.00044),
        ("proteinuria", 500, "mg/day", 0.5),
        ("proteinuria", 1.5, "g/24 h", 1.5),
        ("platelets", 150000, "/mm³", 150.0),
        ("platelets", 150000, "cells/µL", 150.0),
        ("platelets", 150, "x 10⁹/L", 150.0),
        ("anc", 1.5, "x109/l", 1.5),
        ("upcr", 50, "mg/mmol", 0.442),
        ("bilirubin", 17.104, "umol/L", 1.0),
        ("weight", 220, "lbs", 99.79),
    ],
)
def test_unit_conversions(name: str, value: float, unit: str, expected: float) -> None:
    converted = load_catalogue()[name].convert(value, unit)
    assert converted == pytest.approx(expected, rel=1e-3)


def test_unknown_unit_does_not_convert() -> None:
    assert load_catalogue()["creatinine"].convert(1.0, "furlongs") is None
    assert load_catalogue()["creatinine"].convert(1.0, None) is None


@pytest.mark.parametrize(
    ("written", "key"),
    [("x 10⁹/L", "10^9/l"), ("µmol/L", "umol/l"), ("mL/min/1.73 m²", "ml/min/1.73m2"), ("g/24 hours", "g/24h"),
     ("mg/day", "mg/24h"), ("cells/mm3", "/mm3"), ("msec", "ms"), ("mm Hg", "mmhg"), ("% of predicted", "%"),
     ("x 10(9)/L", "10^9/l"), ("K/µL", "10^3/ul"), ("mm/hr", "mm/h")],
)  # fmt: skip
def test_normalize_unit(written: str, key: str) -> None:
    assert normalize_unit(written) == key


# --- thresholds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SLEDAI-2K ≥ 10 during the selection period.", [("sledai_2k", ">=", 10.0, None, False)]),
        (
            "eGFR \\<30 mL/min/1.73 m2 based on CKD-EPIcr formula",
            [("egfr", "<", 30.0, "mL/min/1.73 m2", False)],
        ),
        ("Serum albumin ≤ 3.0 g/dL at the screening", [("albumin", "<=", 3.0, "g/dL", False)]),
        ("HbA1c of 8.0% or higher", [("hba1c", ">=", 8.0, "%", False)]),
        ("Total bilirubin ≤1.5xULN", [("bilirubin", "<=", 1.5, "xULN", True)]),
        ("Creatinine not exceeding 1.5 mg/dL", [("creatinine", "<=", 1.5, "mg/dL", False)]),
        ("Body mass index between 18 and 30 kg/m2", [("bmi", "between", (18.0, 30.0), "kg/m2", False)]),
        ("BMI 18–30 kg/m2", [("bmi", "between", (18.0, 30.0), "kg/m2", False)]),
        ("ECOG performance status of 0 to 1", [("ecog", "between", (0.0, 1.0), None, False)]),
        ("WHO performance 0-1", [("ecog", "between", (0.0, 1.0), None, False)]),
        ("NYHA class III or IV", [("nyha", "between", (3.0, 4.0), None, False)]),
        ("Karnofsky performance status at least 70%", [("karnofsky", ">=", 70.0, "%", False)]),
        ("QTcF > 470 msec", [("qtc", ">", 470.0, "msec", False)]),
        ("LVEF below 50%", [("lvef", "<", 50.0, "%", False)]),
        ("Proteinuria greater than 3.5 g/day.", [("proteinuria", ">", 3.5, "g/day", False)]),
        ("2 or more grams per day of proteinuria", [("proteinuria", ">=", 2.0, "grams per day", False)]),
        ("Urine protein to creatinine ratio (UPCR) ≥ 1.0 g/g", [("upcr", ">=", 1.0, "g/g", False)]),
        ("Hemoglobin greater than or equal to 9 g/dL", [("hemoglobin", ">=", 9.0, "g/dL", False)]),
        ("platelets no more than 100,000/mm3", [("platelets", "<=", 100000.0, "/mm3", False)]),
        ("Absolute neutrophil count above 1.5 x 10^9/L", [("anc", ">", 1.5, "x 10^9/L", False)]),
        ("Hemoglobin below 10.0 g/dL", [("hemoglobin", "<", 10.0, "g/dL", False)]),
        ("Systolic blood pressure > 160 mmHg", [("sbp", ">", 160.0, "mmHg", False)]),
        # units: bracketed and "K" powers, mmol/mol, mm/hr, a bare gram
        ("ANC ≥ 1.5 x 10(9)/L", [("anc", ">=", 1.5, "x 10(9)/L", False)]),
        ("platelets ≥ 100 K/uL", [("platelets", ">=", 100.0, "K/uL", False)]),
        ("HbA1c ≥ 53 mmol/mol", [("hba1c", ">=", 53.0, "mmol/mol", False)]),
        ("ESR > 28 mm/hr", [("esr", ">", 28.0, "mm/hr", False)]),
        ("24-hour urine protein ≥ 1.0 g", [("proteinuria", ">=", 1.0, "g", False)]),
        ("HBV DNA > 2 x 10⁴ IU/mL", [("hbv_dna", ">", 20000.0, "IU/mL", False)]),
        # phrasings: a bracketed symbol after the words, the comparator before the name, name after value
        ("Hemoglobin greater than or equal to (≥) 9 g/dL", [("hemoglobin", ">=", 9.0, "g/dL", False)]),
        ("ankle brachial index (ABI) defined as less than <0.9", [("abi", "<", 0.9, None, False)]),
        ("a minimum hemoglobin of 9 g/dL", [("hemoglobin", ">=", 9.0, "g/dL", False)]),
        ("a maximum serum creatinine of 1.5 mg/dL", [("creatinine", "<=", 1.5, "mg/dL", False)]),
        ("5.0% < HbA1c ≤ 10%", [("hba1c", ">", 5.0, "%", False), ("hba1c", "<=", 10.0, "%", False)]),
        ("AST or ALT > 3 times the upper limit", [("ast", ">", 3.0, "timestheupperlimit", True),
                                                  ("alt", ">", 3.0, "timestheupperlimit", True)]),
        # variables added to the catalogue; a hyphenated name is one variable, not its last part
        ("DAS28-CRP > 3.2", [("das28", ">", 3.2, None, False)]),
        ("Lipase ≥ 3 × ULN", [("lipase", ">=", 3.0, "× ULN", True)]),
        ("NT-proBNP > 125 pg/mL", [("nt_probnp", ">", 125.0, "pg/mL", False)]),
        ("post-bronchodilator FEV1/FVC < 0.70", [("fev1_fvc", "<", 0.7, None, False)]),
        ("Clinical Global Impression - Severity of Illness ≥ 4", [("cgi_s", ">=", 4.0, None, False)]),
        # a plural of a name of several words; "per" units; a bracketed name defines the phrase before it
        ("lymphocyte counts less than 1.2 K/μL", [("lymphocytes", "<", 1.2, "K/μL", False)]),
        ("ANC < 1000 per mm3", [("anc", "<", 1000.0, "per mm3", False)]),
        ("serum creatinine greater than 2.0 mg per deciliter", [("creatinine", ">", 2.0, "mg per deciliter", False)]),
        ("QT interval corrected for heart rate (QTc) > 450 ms", [("qtc", ">", 450.0, "ms", False)]),
        # a bare number after people is not the lab's
        ("LH and FSH levels in the post-menopausal range for women under 50", []),
    ],
)  # fmt: skip
def test_single_threshold(text: str, expected: list[tuple[Any, ...]]) -> None:
    got = numeric(text)
    assert [(v, c, val, (u.replace(" ", "") if u else u), uln) for v, c, val, u, uln in got] == [
        (v, c, val, (u.replace(" ", "") if u else u), uln) for v, c, val, u, uln in expected
    ]


def test_several_thresholds_in_one_item() -> None:
    got = numeric(
        "Hemoglobin ≥ 9 g/dL, platelets at least 100,000/mm3 and ANC no more than 1.5 x 10^9/L; "
        "ASAT/ALAT < 2.5 x UNL; creatinine clearance > 50 ml/min"
    )
    assert [(v, c, val) for v, c, val, _, _ in got] == [
        ("hemoglobin", ">=", 9.0),
        ("platelets", ">=", 100000.0),
        ("anc", "<=", 1.5),
        ("ast", "<", 2.5),
        ("alt", "<", 2.5),
        ("crcl", ">", 50.0),
    ]
    assert [uln for *_, uln in got] == [False, False, False, True, True, False]


def test_second_bound_inherits_the_variable() -> None:
    got = numeric("eGFR above 30 mL/min/1.73 m2 and below 90")
    assert [(v, c, val) for v, c, val, _, _ in got] == [("egfr", ">", 30.0), ("egfr", "<", 90.0)]


def test_bound_opening_a_later_clause_inherits_the_variable_and_its_negation() -> None:
    got = rules(
        "AST and ALT less than 2.5 times the upper normal limit in the absence of liver metastases, "
        "or less than 5 times the upper normal limit in the presence of liver metastases"
    )
    assert [(r.variable, r.value, r.negated) for r in got if r.kind == "threshold"] == [
        ("ast", 2.5, False),
        ("alt", 2.5, False),
        ("ast", 5.0, False),
        ("alt", 5.0, False),
    ]
    alt = numeric(
        "ALT <2.5×ULN in patients without liver metastases; <5×ULN in patients with liver metastases"
    )
    assert [(v, c, val) for v, c, val, _, _ in alt] == [("alt", "<", 2.5), ("alt", "<", 5.0)]


def test_measurement_followed_by_people_is_not_a_count() -> None:
    got = numeric("an anterior-posterior diameter of the spinal canal of <10mm in participants with leg pain")
    assert [(v, c, val, u) for v, c, val, u, _ in got] == [(None, "<", 10.0, "mm")]
    assert numeric("Minimum 60% of participants should have parents of Caucasian descent") == []


def test_blood_pressure_pair_is_two_thresholds() -> None:
    got = numeric("Blood pressure >145/95 on three occasions")
    assert [(v, c, val) for v, c, val, _, _ in got] == [("sbp", ">", 145.0), ("dbp", ">", 95.0)]


def test_canonical_values_are_converted() -> None:
    (rule,) = [r for r in rules("Serum creatinine > 133 µmol/L") if r.kind == "threshold"]
    assert rule.canonical_unit == "mg/dL"
    assert rule.canonical_value == pytest.approx(1.504, rel=1e-3)
    (hb,) = [r for r in rules("Hemoglobin ≥ 90 g/L") if r.kind == "threshold"]
    assert hb.canonical_value == pytest.approx(9.0)


def test_implausible_unit_is_flagged_not_converted() -> None:
    (rule,) = [r for r in rules("Creatinine < 130 mmol/l") if r.kind == "threshold"]
    assert rule.canonical_value is None
    assert rule.note is not None and "plausible" in rule.note


def test_threshold_on_unknown_variable_keeps_its_name() -> None:
    got = [r for r in rules("ASI-3 scores above 24") if r.kind == "threshold"]
    assert len(got) == 1
    assert got[0].variable is None and got[0].variable_text is not None and "ASI-3" in got[0].variable_text
    assert (got[0].comparator, got[0].value) == (">", 24.0)


def test_threshold_spans_point_into_the_item_text() -> None:
    text = "Patients with hypoalbuminemia (serum albumin ≤ 3.0 g/dL) at the screening"
    (rule,) = [r for r in rules(text) if r.kind == "threshold"]
    assert text[rule.span[0] : rule.span[1]] == rule.text
    assert rule.text == "serum albumin ≤ 3.0 g/dL"


def test_counts_are_thresholds_but_list_openers_are_not() -> None:
    (lesions,) = [r for r in rules("At least one measurable lesion") if r.kind == "threshold"]
    assert (lesions.variable, lesions.comparator, lesions.value) == (None, ">=", 1.0)
    assert lesions.variable_text is not None and "lesion" in lesions.variable_text
    (lines,) = [r for r in rules("No more than 2 prior lines of systemic therapy") if r.kind == "threshold"]
    assert (lines.comparator, lines.value) == ("<=", 2.0)
    assert numeric("Must have at least one of the following:") == []
    assert numeric("Stage IIA limited to max. 1000 patients") == []


def test_durations_are_thresholds_and_windows_win_over_them() -> None:
    (pain,) = [r for r in rules("Duration of the pain: ≥ 3 months") if r.kind == "threshold"]
    assert (pain.variable, pain.comparator, pain.value, pain.unit) == (None, ">=", 3.0, "months")
    kinds = [r.kind for r in rules("Radiotherapy completed at least 4 weeks before randomization")]
    assert "time_window" in kinds and "threshold" not in kinds


# --- age, sex, pregnancy, contraception ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "comparator", "value"),
    [
        ("Females or males ≥18 years old who provide written informed consent", ">=", 18.0),
        ("Aged 18 years or older", ">=", 18.0),
        ("Age, 18 or more.", ">=", 18.0),
        ("Patients must be > 18 years of age.", ">", 18.0),
        ("Between 18 and 65 years of age", "between", (18.0, 65.0)),
        ("Adults aged 18 to 75 years", "between", (18.0, 75.0)),
        ("Age greater than or equal to 9 years with no upper age limit", ">=", 9.0),
        ("Patients under 18 years of age", "<", 18.0),
        ("Be between the ages of 18 and 65", "between", (18.0, 65.0)),
        ("Participants between the ages of 18-65,", "between", (18.0, 65.0)),
        ("Age less than (<) 40 years during study period.", "<", 40.0),
    ],
)
def test_age(text: str, comparator: str, value: Any) -> None:
    ages = [r for r in rules(text) if r.kind == "age"]
    assert len(ages) == 1
    got = (ages[0].low, ages[0].high) if ages[0].comparator == "between" else ages[0].value
    assert (ages[0].comparator, got) == (comparator, value)


def test_bound_written_before_the_variable_is_read_from_its_side() -> None:
    ages = [(r.comparator, r.value) for r in rules("18 ≤ age ≤ 75") if r.kind == "age"]
    assert ages == [(">=", 18.0), ("<=", 75.0)]


def test_spelled_out_numbers_with_their_figure() -> None:
    (duration,) = [r for r in rules("Type 2 diabetes on a stable regimen for at least three (3) months")
                   if r.kind == "threshold"]  # fmt: skip
    assert (duration.comparator, duration.value, duration.unit) == (">=", 3.0, "months")
    (window,) = [r for r in rules("Tuberculosis in the past three (3) years.") if r.kind == "time_window"]
    assert window.window is not None and (window.window.amount, window.window.unit) == (3.0, "years")


def test_age_range_in_two_units_and_durations_that_are_not_ages() -> None:
    ages = [(r.low, r.high, r.unit) for r in rules("Children aged 6 months to 17 years") if r.kind == "age"]
    assert ages == [(0.5, 17.0, "years")]
    assert [r.kind for r in rules("at least 6 months of conservative care") if r.kind == "age"] == []
    assert [(r.comparator, r.value) for r in rules("6 months or older") if r.kind == "age"] == [(">=", 6.0)]


def test_durations_are_not_ages() -> None:
    assert [r for r in rules("History of migraine for at least 1 year") if r.kind == "age"] == []
    assert [r for r in rules("Life expectancy of at least 6 months") if r.kind == "age"] == []


# --- miss families found by mining the fixture criteria (each sentence is from the trial named) ---


def canonical(text: str, section: str = "inclusion") -> list[tuple[str | None, str, Any, str | None, bool]]:
    """(variable, comparator, canonical value or (low, high), canonical unit, negated) of each threshold."""
    return [
        (
            r.variable,
            str(r.comparator),
            (r.canonical_low, r.canonical_high) if r.comparator == "between" else r.canonical_value,
            r.canonical_unit,
            r.negated,
        )
        for r in rules(text, section)
        if r.kind == "threshold"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # NCT02856893
            "Total bilirubin ≤1.5xULN if no liver metastases or ≤3xULN in the presence of documented Gilbert's "
            "Syndrome (unconjugated hyperbilirubinaemia) or liver metastases;",
            [("bilirubin", "<=", 1.5, "xULN", False), ("bilirubin", "<=", 3.0, "xULN", False)],
        ),
        (  # NCT05277701: the negation of the first bound, not "no demonstrable liver metastases", carries on
            "AST and/or ALT < 2.5 ULN if no demonstrable liver metastases or < 5 UNL in the presence of liver "
            "metastases; CCr ≥ 50mL/min",
            [("ast", "<", 2.5, "xULN", False), ("alt", "<", 2.5, "xULN", False), ("ast", "<", 5.0, "xULN", False),
             ("alt", "<", 5.0, "xULN", False), ("crcl", ">=", 50.0, "mL/min", False)],
        ),
    ],
)  # fmt: skip
def test_conditional_second_uln_bound_restates_the_variable(
    text: str, expected: list[tuple[Any, ...]]
) -> None:
    assert canonical(text) == expected


def test_second_uln_bound_after_another_lab_is_that_labs() -> None:
    # NCT05381194: the ULN bounds of a list each belong to the lab written before them.
    text = "- AST or ALT > 3 X ULN, Total bilirubin >2.0 X ULN, Albumin < 3.2 mg/dL"
    assert [(v, c, x) for v, c, x, _, _ in canonical(text)][:3] == [
        ("ast", ">", 3.0), ("alt", ">", 3.0), ("bilirubin", ">", 2.0)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # NCT05813925
            "Body mass index (BMI) greater than or equal to 27.0 kilograms per square meter (kg/m^2) with greater "
            "than or equal to 2 obesity-related complications",
            ("bmi", ">=", 27.0, "kg/m2", False),
        ),
        (  # NCT05878938
            "Renal impairment defined as estimated glomerular filtration rate (eGFR) lesser than or equal to (≤) 30 "
            "milliliter per minute per 1.73 square meter (mL/min/1.73 m^2) for serum creatinine measured at screening.",
            ("egfr", "<=", 30.0, "mL/min/1.73m2", False),
        ),
        (  # NCT05813925
            "Renal impairment with estimated glomerular filtration rate (eGFR) lesser than 30 milli liter per "
            "min/1.73 meter square (mL/min/1.73 m^2) as measured by central laboratory at screening",
            ("egfr", "<", 30.0, "mL/min/1.73m2", False),
        ),
        (  # NCT01852578: "x 10⁹" with its superscript lost, and "cells" before the slash
            "adequate bone marrow (absolute neutrophil count ≥1.5 x 109 cells/L, platelets ≥100 x 109cells/L",
            ("anc", ">=", 1.5, "10^9/L", False),
        ),
        (  # NCT05897541
            "No measured fever at Screening (defined as body temperature ≥ 38.0°Celsius [C] per tympanic",
            ("temperature", ">=", 38.0, "°C", False),
        ),
        ("Uncontrolled diabetes mellitus - HgA1c >8%.", ("hba1c", ">", 8.0, "%", False)),  # NCT06053242
        (  # NCT05381194: a condition listed before the lab does not share its bound
            "Abnormal value of a blood test at baseline:\n- Hypokalemia, Hemoglobin < 8.0 g/dL",
            ("hemoglobin", "<", 8.0, "g/dL", False),
        ),
        (  # NCT05380934
            "female subjects weigh not less than 45 kg, BMI in the range of 18 ~ 28 kg / m2",
            ("bmi", "between", (18.0, 28.0), "kg/m2", False),
        ),
    ],
)
def test_written_out_units_and_comparators(text: str, expected: tuple[Any, ...]) -> None:
    assert expected in canonical(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # NCT05907980
            "Eastern Cooperative Oncology Group (ECOG) PS of 0 or 1",
            ("ecog", "between", (0.0, 1.0)),
        ),
        ("ECOG score is 0~2;", ("ecog", "between", (0.0, 2.0))),  # NCT05380986
        ("PaO2/FiO2 > 150.", ("pao2_fio2", ">", 150.0)),  # results_2.json (AACT fixture)
        ("Short performance physical battery (SPPB) ≥ 7", ("sppb", ">=", 7.0)),  # NCT05835856
        (  # NCT03934658: the name in brackets, then "score"
            "Pittsburgh Sleep Quality Index (PSQI) score equal to or greater than 10.",
            ("psqi", ">=", 10.0),
        ),
        (  # NCT03934658
            "Alcohol Use Disorders Inventory Test (AUDIT) (score of 8 or higher)",
            ("audit", ">=", 8.0),
        ),
        (  # NCT05365607
            "determined during screening with the WatchPat [AHI≥15];",
            ("ahi", ">=", 15.0),
        ),
        (  # NCT04757038
            "Roland-Morris Disability Questionnaire score of at least 9 on the 24-point questionnaire at screening;",
            ("rmdq", ">=", 9.0),
        ),
        (
            "Scoring ≥ 6 on the QIDS (indicating at least mild levels of depressive symptoms)",
            ("qids", ">=", 6.0),
        ),
        ("Patients with a MAP > 80 mmHg.", ("map", ">", 80.0)),  # NCT03245528
        ("Baseline QTc >480 if QRS width normal; QTc >510 if QRS >120", ("qrs", ">", 120.0)),  # NCT04349592
        ("subject must have a HAMD24 score of ≥ 18 and change in score", ("hamd", ">=", 18.0)),  # NCT02586688
        ("1. CEA≥10ng/ml；\n2. Gradual progression: Disease", ("cea", ">=", 10.0)),  # NCT04007835
        ("Hemogram index: RBC≥3.0×1012/L, WBC≥3.5×109/L, ANC≥1.5×109/L", ("rbc", ">=", 3.0)),  # NCT03801200
    ],
)
def test_scales_and_indices(text: str, expected: tuple[Any, ...]) -> None:
    assert expected in [(v, c, x) for v, c, x, _, _ in canonical(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NDI Score of ≥ 30/100;", ("ndi", ">=", 30.0, "%")),  # NCT04550923: a score out of its maximum
        ("Minimum VAS of 20/100", ("pain_vas", ">=", 2.0, "cm")),  # NCT01945554: 20 of 100 mm is 2 cm
        (  # NCT05326594: out of 100 cannot be the 0-10 NRS "pain intensity" names; the VAS it is
            "low back pain intensity less than 80/100mm on visual analogue scale",
            ("pain_vas", "<", 8.0, "cm"),
        ),
    ],
)
def test_score_out_of_its_maximum(text: str, expected: tuple[Any, ...]) -> None:
    assert [(v, c, x, u) for v, c, x, u, _ in canonical(text)] == [expected]


def test_score_out_of_ten_on_an_unknown_scale_keeps_its_name() -> None:
    # NCT04853849
    rule, unread = rules(
        "Has >4/10 pain with palpation of levator ani, coccygeus, pyriformis, obturator internus"
    )
    assert unread.note == "levator coccygeus pyriformis obturator internus"  # the muscles: to check
    assert (rule.variable, rule.comparator, rule.value, rule.unit) == (None, ">", 4.0, "/10")
    assert rule.variable_text == "pain with palpation"
    assert load_catalogue()["pain_nrs"].convert(4, "/10") == 4.0
    assert load_catalogue()["pain_nrs"].convert(4, "/100") is None  # a 0-10 scale is not out of 100
    assert not load_catalogue()["creatinine"].accepts("/10")  # only scores are written out of a maximum


def test_scale_anchors_and_bullets_are_not_bounds() -> None:
    # NCT02552212: "0 to 10" is the NRS's range, not a bound, and the bullet's "Spinal pain" is not BASDAI
    # but the NRS named after the value.
    text = (
        "Active disease at Screening as defined by\n* Bath Ankylosing Spondylitis Disease Activity Index "
        "(BASDAI) score >= 4\n* Spinal pain >= 4 on a 0 to 10 Numerical Rating Scale (NRS)"
    )
    assert [(v, c, x) for v, c, x, _, _ in canonical(text)] == [
        ("basdai", ">=", 4.0),
        ("pain_nrs", ">=", 4.0),
    ]
    # NCT05971329: the scale's range between the value and its name
    assert canonical("* Neck and/or arm pain (at least 3 on the 0 - 10 numeric rating scale for pain.") == [
        ("pain_nrs", ">=", 3.0, "points", False)
    ]
    # NCT03433391: a range in brackets is still a range
    assert numeric("with positive straight leg raise (0-60 degrees);") == [
        (None, "between", (0.0, 60.0), "degrees", False)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # NCT05958095
            "Participants who have a score of greater than or equal to 13 but not exceeding 19 on the EPDS",
            [("score", ">=", 13.0, None), ("score", "<=", 19.0, None)],
        ),
        (  # NCT04982835
            "Severe cervical myelopathy (i.e., Nurick's Classification greater than 2)",
            [("Nurick's Classification", ">", 2.0, None)],
        ),
        (  # NCT03608150
            "Heterotropia ≤ 5 prism diopters in current refractive correction at distance measured by SPCT.",
            [("Heterotropia", "<=", 5.0, "prism diopters")],
        ),
        (  # NCT06029816
            "The number of previous chemotherapy regimens does not exceed 2 (a. replacement of platinum drugs",
            [("number of previous chemotherapy regimens", "<=", 2.0, None)],
        ),
        (  # NCT05819398: "at baseline visit" is when, not what is counted
            "Total dT count of at least 1 at Baseline visit.",
            [("Total dT count", ">=", 1.0, None)],
        ),
        (  # NCT05896215
            "Subjects with 5 or more warts on the upper or lower limbs",
            [("warts", ">=", 5.0, None)],
        ),
        (  # NCT06486948
            "Is currently treated with more than 2 antipsychotic medications (including more than 2 dosage forms).",
            [("antipsychotic medications", ">", 2.0, None)],
        ),
        (  # NCT04388332: a date is no value
            "these patients will be followed for a maximum of one year (up to 08/14/2024 for a patient enrolled",
            [("will be followed", "<=", 1.0, "year")],
        ),
        (  # NCT05821933: "5 half-lives" is no bound in the weeks of the first
            "received prior to the start of study dosing less than 4 weeks or less than 5 half-lives (whichever",
            [("start of study dosing", "<", 4.0, "weeks")],
        ),
    ],
)
def test_thresholds_on_unknown_variables_keep_their_names(text: str, expected: list[tuple[Any, ...]]) -> None:
    found = [(r.variable_text, r.comparator, r.value, r.unit) for r in rules(text) if r.kind == "threshold"]
    assert found == expected
    assert all(r.variable is None for r in rules(text) if r.kind == "threshold")


def test_a_blood_ph_range_is_the_catalogues_variable() -> None:
    # results_2.json: pH was an unknown variable kept by its name; it is the catalogue's blood pH now
    found = [
        (r.variable, r.comparator, r.value) for r in rules("pH ≥7.35 and ≤7.45.") if r.kind == "threshold"
    ]
    assert found == [("blood_ph", ">=", 7.35), ("blood_ph", "<=", 7.45)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # NCT03955198: "transaminases" are ALT and AST; the misspelt phosphatase's bound is its own
            "Total bilirubin ≤ 3 X ULN), Transaminases ≤ 2.5 x ULN, Alkalin phosphatases ≤ 5 x ULN, Creatinine "
            "clearance > 40 mL/min (Cockcroft)",
            [("bilirubin", "<=", 3.0, "xULN"), ("alt", "<=", 2.5, "xULN"), ("ast", "<=", 2.5, "xULN"),
             (None, "<=", 5.0, "xULN"), ("crcl", ">", 40.0, "mL/min")],
        ),
        (  # NCT03113786: not a bound on the life expectancy named after the comma, which has its own (in words)
            "any degree of ascites, serum transaminases more than 3 times the upper limit of normal, life "
            "expectancy of less than one year",
            [("alt", ">", 3.0, "xULN"), ("ast", ">", 3.0, "xULN"), ("life_expectancy", "<", 12.0, "months")],
        ),
        (  # NCT00005778: a multiple of "normal" is one of the upper limit of normal
            "- Bilirubin > 2.0, transaminases > 2x normal.",
            [("bilirubin", ">", None, None), ("alt", ">", 2.0, "xULN"), ("ast", ">", 2.0, "xULN")],
        ),
        (  # NCT03386149
            "Liver function abnormality (AST or ALT over 2times normal range)",
            [("ast", ">", 2.0, "xULN"), ("alt", ">", 2.0, "xULN")],
        ),
        (  # NCT06868446: "above 24" is the ASI-3's, named before it, not the PCL's after the comma
            "a PTSD diagnosis, ASI-3 scores above 24, PCL scores above 30, and understanding and speaking English.",
            [(None, ">", None, None), ("pcl5", ">", 30.0, "points")],
        ),
    ],
)  # fmt: skip
def test_lab_lists_with_uln_multiples(text: str, expected: list[tuple[Any, ...]]) -> None:
    assert [(v, c, x, u) for v, c, x, u, _ in canonical(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Spondylolisthesis Grade II or higher", [(None, ">=", 2.0)]),  # NCT01534065
        (
            "MRI (T2WI) of Pfirrmann disc degeneration: Grade I-IV;",
            [(None, "between", (1.0, 4.0))],
        ),  # NCT06589271
        (  # NCT03799601
            "Suffering from severe cardiovascular disease: myocardial ischemia or myocardial infarction above grade "
            "II, poorly controlled arrhythmias",
            [(None, ">", 2.0)],
        ),
        (  # NCT06223893
            "including congestive heart failure New York Heart Association Grade III/IV, COPD GOLD >2",
            [("nyha", "between", (3.0, 4.0)), (None, ">", 2.0)],
        ),
        (  # NCT03634059: the scale named after the grade, and no QTc bound carried over the sentence end
            "uncontrolled arrhythmias (including QT interval male ≥ 450 ms, female ≥ 470 ms). Grade III-IV cardiac "
            "insufficiency according to New York Heart Association(NYHA)",
            [("qtc", ">=", 450.0), ("qtc", ">=", 470.0), ("nyha", "between", (3.0, 4.0))],
        ),
        (  # NCT05647226: a single grade after the scale's name is the scale's value
            "Has severe or unstable heart failure e.g., New York Heart Association (NYHA) grade IV",
            [("nyha", "=", 4.0)],
        ),
    ],
)
def test_grades_in_roman_numerals(text: str, expected: list[tuple[Any, ...]]) -> None:
    assert [(v, c, x) for v, c, x, _, _ in numeric(text)] == expected


def test_number_words_before_a_time_unit_are_bounds_too() -> None:
    # NCT05587465
    assert canonical("Life expectancy less than two years.") == [
        ("life_expectancy", "<", 24.0, "months", False)
    ]
    # NCT02028676
    text = "- children under three years of age receiving anti-tuberculosis therapy should not be enrolled"
    assert numeric(text) == [("age", "<", 3.0, "years", False)]


@pytest.mark.parametrize(
    ("written", "key"),
    [("kilograms per square meter", "kg/m2"), ("kilogram/square meter", "kg/m2"), ("x 109 cells/L", "10^9/l"),
     ("milliliter per minute per 1.73 square meter", "ml/min/1.73m2"), ("milliliters/minute", "ml/min"),
     ("out of 10", "/10"), ("of 10", "/10"), ("events/hour", "/h"), ("°Celsius", "°c"), ("millimeters", "mm")],
)  # fmt: skip
def test_normalize_written_out_units(written: str, key: str) -> None:
    assert normalize_unit(written) == key


@pytest.mark.parametrize(
    ("text", "sex"),
    [
        ("Female", "female"),
        ("Women of 20 to 30 years of age inclusive", "female"),
        ("Male participants only", "male"),
    ],
)
def test_sex_restriction(text: str, sex: str) -> None:
    assert [r.sex for r in rules(text) if r.kind == "sex"] == [sex]


@pytest.mark.parametrize(
    "text",
    ["Males or females ≥ 18 years", "Women of childbearing potential must use effective contraception",
     "Female subjects of childbearing age must have a negative pregnancy test."],
)  # fmt: skip
def test_no_sex_restriction(text: str) -> None:
    assert [r for r in rules(text) if r.kind == "sex"] == []


@pytest.mark.parametrize(
    ("text", "section", "kinds"),
    [
        ("Pregnant or breastfeeding women", "exclusion", [("pregnancy", False), ("breastfeeding", False)]),
        ("Negative serum pregnancy test at screening", "inclusion", [("pregnancy", True)]),
        ("Patients must not be pregnant or lactating.", "inclusion", [("pregnancy", True), ("breastfeeding", True)]),
        ("Women of childbearing potential should use effective methods of contraception to prevent pregnancy.",
         "inclusion", [("contraception", False)]),
        ("Females not practicing birth control", "exclusion", [("contraception", True)]),
        ("Planning to become pregnant during the study", "exclusion", []),
    ],
)  # fmt: skip
def test_pregnancy_breastfeeding_contraception(
    text: str, section: str, kinds: list[tuple[str, bool]]
) -> None:
    got = [
        (r.kind, r.negated)
        for r in rules(text, section)
        if r.kind in ("pregnancy", "breastfeeding", "contraception")
    ]
    assert got == kinds


# --- time windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "unit", "direction", "event"),
    [
        (
            "Biopsy performed no more than 6 months before the selection visit",
            6,
            "months",
            "within_past",
            "Biopsy",
        ),
        ("Use of kava within the past 8 weeks", 8, "weeks", "within_past", "kava"),
        ("Hospitalization in the previous 12 weeks", 12, "weeks", "within_past", "Hospitalization"),
        ("Stopped smoking less than 6 months ago", 6, "months", "within_past", "Stopped smoking"),
        (
            "Radiotherapy completed at least 4 weeks before randomization",
            4,
            "weeks",
            "at_least_ago",
            "Radiotherapy",
        ),
        ("Other malignancy within the last 5 years", 5, "years", "within_past", "Other malignancy"),
        ("Myocardial infarction in the last year", 1, "years", "within_past", "Myocardial infarction"),
    ],
)
def test_time_windows(text: str, amount: float, unit: str, direction: str, event: str) -> None:
    windows = [r for r in rules(text) if r.kind == "time_window"]
    assert len(windows) == 1
    w = windows[0]
    assert w.window is not None
    assert (w.window.amount, w.window.unit, w.window.direction, w.event) == (amount, unit, direction, event)


def test_future_plans_and_durations_are_not_windows() -> None:
    assert [
        r
        for r in rules("Plans to have joint replacement surgery in next 6 months")
        if r.kind == "time_window"
    ] == []
    assert [r for r in rules("Within 14 days after randomization") if r.kind == "time_window"] == []


def test_negated_window() -> None:
    text = "Receive no steroids or immunosuppressants within 12 weeks prior to informed consent"
    (w,) = [r for r in rules(text) if r.kind == "time_window"]
    assert w.negated and w.event == "steroids or immunosuppressants"


# --- conditions, treatments, abbreviations ---------------------------------------------------


def test_conditions_are_read_as_concepts_with_curated_abbreviations() -> None:
    (rule,) = [r for r in rules("Active lupus nephritis (LN) or chronic kidney disease (CKD)", "exclusion")]
    assert rule.kind == "condition" and not rule.negated
    # one rule with both concepts (alternatives), each with the writer's words
    assert [c.id for c in rule.concepts] == ["D008181", "D051436"]
    assert rule.terms == ("lupus nephritis", "chronic kidney disease")
    (sle,) = [r for r in rules("Diagnosis of SLE") if r.kind == "condition"]
    assert [(c.id, c.name) for c in sle.concepts] == [("D008180", "Lupus Erythematosus, Systemic")]


def test_trial_defined_abbreviation_is_read_as_what_it_stands_for() -> None:
    text = "Diagnosis of membranous nephropathy (MNP) by biopsy\n\nActive MNP"
    abbreviations = extract_abbreviations(text)
    assert abbreviations["MNP"] == "membranous nephropathy"
    (rule,) = [r for r in parse_rules("Active MNP", "inclusion", abbreviations) if r.kind == "condition"]
    assert [c.name for c in rule.concepts] == ["Glomerulonephritis, Membranous"]
    assert rule.terms == ("MNP",)


def test_extracting_abbreviations_leaves_logging_alone() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    extract_abbreviations("Lupus nephritis (LN) is a complication of systemic lupus erythematosus (SLE).")
    assert (list(root.handlers), root.level) == before


@pytest.mark.parametrize(
    ("text", "section", "kind", "negated", "term"),
    [
        (
            "No history of malignancy other than basal cell carcinoma",
            "inclusion",
            "condition",
            True,
            "malignancy",
        ),
        ("Known osteoporosis or severe osteopenia", "exclusion", "condition", False, "osteoporosis"),
        ("Prior treatment with rituximab", "exclusion", "treatment", False, "rituximab"),
        (
            "Patients with active or chronic infection are not eligible.",
            "inclusion",
            "condition",
            True,
            "infection",
        ),
        ("Patients receiving azathioprine", "exclusion", "treatment", False, "azathioprine"),
        # a cue inside a word ("patients with" in "Outpatients") does not hide the next cue
        ("Outpatients with diabetes", "inclusion", "condition", False, "diabetes"),
        # "free of", "lack of", "absence of", "no", "without" negate, with no "n" needed before them
        ("Participants must be free of hepatitis B infection", "inclusion", "condition", True, "hepatitis B"),
        ("Subjects with asthma, free of active infection", "inclusion", "condition", True, "infection"),
        ("Absence of cirrhosis", "inclusion", "condition", True, "cirrhosis"),
        ("No neurological deficit", "exclusion", "condition", True, "neurological deficit"),
        ("Without cognitive impairment", "inclusion", "condition", True, "cognitive impairment"),
        # failures are conditions, not negations
        ("Lack of response to metformin", "inclusion", "treatment", False, "metformin"),
        ("No response or partial response, or severe recurrence of nephritis", "inclusion", "condition", False,
         "nephritis"),
        ("Low back pain with or without a history of radiating leg pain", "inclusion", "condition", False, "low back"),
    ],
)  # fmt: skip
def test_conditions_and_treatments(text: str, section: str, kind: str, negated: bool, term: str) -> None:
    found = [
        r for r in rules(text, section) if r.kind == kind and any(term.lower() in t.lower() for t in r.terms)
    ]
    assert found, rules(text, section)
    assert found[0].negated is negated


def test_a_phrase_naming_no_concept_gives_no_rule_and_an_optional_one_none_either() -> None:
    # "EGFR-TKI" is no concept of the vocabulary: the item stays text for a human
    assert [r for r in rules("Prior treatment with an EGFR-TKI", "exclusion") if r.kind == "treatment"] == []
    # "with or without" leg pain: neither required nor excluded
    found = rules("Low back pain with or without a history of radiating leg pain")
    assert [c.name for r in found for c in r.concepts] == ["Low Back Pain"]


def test_permissive_statement_gives_no_condition() -> None:
    assert [
        r for r in rules("Patients with brain metastases are allowed if stable") if r.kind == "condition"
    ] == []


def test_section_must_be_known() -> None:
    with pytest.raises(ValueError, match="section"):
        parse_rules("Age ≥ 18", "maybe", ABBREVIATIONS)


# --- the seed trial and the JSON shape --------------------------------------------------------


def test_seed_trial_rules() -> None:
    items = parse_criteria(seed_criteria())
    assert len(items) == 7
    sledai = [r for r in items[4].rules if r.kind == "threshold"]
    assert [(r.variable, r.comparator, r.value) for r in sledai] == [("sledai_2k", ">=", 10.0)]
    assert [(r.kind, r.comparator, r.value) for r in items[0].rules] == [("age", ">=", 18.0)]
    windows = [r for r in items[2].rules if r.kind == "time_window"]
    assert len(windows) == 1 and windows[0].window is not None
    assert (windows[0].window.amount, windows[0].window.unit, windows[0].window.direction) == (
        6,
        "months",
        "within_past",
    )
    assert windows[0].event is not None and "biopsy" in windows[0].event.lower()
    assert any(r.kind == "contraception" for r in items[5].rules)
    # "No response or partial response …, or moderate/severe recurrence of lupus nephritis" requires the
    # recurrence: "no response" is a failure, not a negation that would turn the item into an exclusion.
    assert items[3].section == "inclusion"
    assert items[3].rules and not any(r.negated for r in items[3].rules)


def test_rule_and_item_round_trip_through_json() -> None:
    for item in parse_criteria(seed_criteria()):
        data = json.loads(json.dumps(item.to_dict()))
        assert CriterionItem.from_dict(data) == item
        assert data["needs_review"] is (not item.rules)
        for rule in item.rules:
            assert Rule.from_dict(rule.to_dict()) == rule
            assert item.text[rule.span[0] : rule.span[1]] == rule.text


def test_rule_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown rule field"):
        Rule.from_dict({"kind": "age", "text": "x", "span": [0, 1], "colour": "red"})
    with pytest.raises(ValueError, match="unknown rule kind"):
        Rule.from_dict({"kind": "horoscope", "text": "x", "span": [0, 1]})


def test_item_without_rule_needs_review() -> None:
    (item,) = parse_criteria("Inclusion Criteria:\n\n* Able to give written informed consent\n")
    assert item.rules == () and item.needs_review
    assert item.to_dict()["needs_review"] is True
