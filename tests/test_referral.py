"""Referral letters → a patient profile: facts, their words, context (negation, family), Spanish."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cli import app
from matching.patient import parse_patient
from matching.referral import parse_referral
from tests.test_match import store  # noqa: F401 (the store fixture)

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "tests" / "fixtures" / "referrals"
SEED_LETTER = ROOT / "sample" / "referral.txt"


def _rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (LETTERS / name).read_text(encoding="utf-8").splitlines() if line]


def test_seed_letter_gives_the_seed_patient_and_the_words_of_each_fact() -> None:
    text = SEED_LETTER.read_text(encoding="utf-8")
    result = parse_referral(text)
    patient = result.patient
    assert (patient["age"], patient["sex"], patient["location"]) == (34, "female", "Palencia, Spain")
    assert patient["conditions"] == ["lupus nephritis"]
    assert {"name": "SLEDAI-2K", "value": 12} in patient["measurements"]
    assert {"name": "eGFR", "value": 68, "unit": "mL/min/1.73 m2"} in patient["measurements"]
    assert [t["name"] for t in patient["treatments"]] == ["mycophenolate", "hydroxychloroquine"]
    assert patient["pregnant"] is False
    for item in result.evidence:
        assert text[item.start : item.end] == item.text
    ignored = {(i.field, i.text) for i in result.ignored}
    assert ("conditions (negated)", "diabetes") in ignored
    assert ("conditions (family)", "rheumatoid arthritis") in ignored
    parse_patient(patient)


def test_spanish_letter_maps_onto_the_same_vocabulary() -> None:
    patient = parse_referral(
        "Mujer de 62 años residente en Valladolid con nefritis lúpica y enfermedad renal crónica. "
        "FGe 38 ml/min/1,73 m2, creatinina 1,1 mg/dL. No ha recibido tolvaptán ni rituximab. "
        "Su madre tiene nefropatía IgA."
    ).patient
    assert (patient["age"], patient["sex"], patient["location"]) == (62, "female", "Valladolid")
    assert patient["conditions"] == ["lupus nephritis", "chronic kidney disease"]
    assert {"name": "eGFR", "value": 38, "unit": "ml/min/1.73 m2"} in patient["measurements"]
    assert {"name": "Serum creatinine", "value": 1.1, "unit": "mg/dL"} in patient["measurements"]
    assert "treatments" not in patient


def test_short_forms_of_age_and_sex_in_vignettes() -> None:
    assert parse_referral("48 M with a h/o HTN").patient["sex"] == "male"
    assert parse_referral("Pt is a 22yo F otherwise healthy").patient == {"age": 22, "sex": "female"}
    assert round(parse_referral("A 7-month-old boy").patient["age"], 2) == 0.58


def test_labelled_letters_meet_the_issue_floors() -> None:
    rows = _rows("letters.jsonl")
    assert len(rows) >= 60
    hits = {"conditions": [0, 0, 0], "measurements": [0, 0, 0], "treatments": [0, 0, 0]}
    for row in rows:
        got, want = parse_referral(row["text"]).patient, row["expected"]
        assert (got.get("age"), got.get("sex")) == (want["age"], want["sex"]), row["text"]
        parse_patient(got)
        found = {
            "conditions": set(got.get("conditions", [])),
            "measurements": {(m["name"], m["value"]) for m in got.get("measurements", [])},
            "treatments": {t["name"] for t in got.get("treatments", [])},
        }
        expected = {
            "conditions": set(want["conditions"]),
            "measurements": {(n, v) for n, v in want["measurements"]},
            "treatments": set(want["treatments"]),
        }
        for field, counts in hits.items():
            counts[0] += len(found[field] & expected[field])
            counts[1] += len(found[field])
            counts[2] += len(expected[field])
    assert hits["conditions"][0] >= 0.85 * hits["conditions"][2]
    assert hits["conditions"][0] >= 0.70 * hits["conditions"][1]
    assert hits["measurements"][0] >= 0.85 * hits["measurements"][2]
    assert hits["treatments"][0] >= 0.80 * hits["treatments"][2]


def test_vignettes_age_and_sex() -> None:
    rows = _rows("vignettes.jsonl")
    right = sum(
        1
        for row in rows
        if (p := parse_referral(row["text"]).patient).get("age") == row["age"] and p.get("sex") == row["sex"]
    )
    assert right >= 0.95 * len(rows)


def test_referral_parse_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["referral", "parse", str(SEED_LETTER), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["patient"]["age"] == 34
    assert {"field", "text", "start", "end"} <= set(data["evidence"][0])
    human = CliRunner().invoke(app, ["referral", "parse", str(SEED_LETTER)], catch_exceptions=False)
    lines = human.output.splitlines()
    assert "age            34 years  «34-year-old»" in lines
    # a fact said "no" is shown as read, beside words that hold the negation
    assert "pregnant       no  «Not pregnant»" in lines
    assert "ignored: conditions (family)      «rheumatoid arthritis»" in lines
    missing = CliRunner().invoke(app, ["referral", "parse", str(tmp_path / "none.txt")])
    assert missing.exit_code == 1
    assert missing.output.startswith("Error: ")


def test_match_referral_puts_the_seed_trial_first_at_rio_hortega(store: tuple[str, Engine]) -> None:  # noqa: F811
    url, _ = store
    result = CliRunner().invoke(
        app, ["--db", url, "match", "--referral", str(SEED_LETTER), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)["matches"][0]
    assert "MSV-allo" in first["title"]
    assert first["nearest_site"]["facility"] == "University Hospital Río Hortega"
    assert round(first["nearest_site"]["distance_km"], 1) == 42.7
    wider = CliRunner().invoke(
        app,
        ["--db", url, "match", "--referral", str(SEED_LETTER), "--location", "Madrid, Spain", "--json"],
        catch_exceptions=False,
    )
    assert all("MSV-allo" not in m["title"] for m in json.loads(wider.output)["matches"])


@pytest.mark.parametrize(
    ("letter", "events", "treatments", "contraception"),
    [
        (
            "Date: 2026-11-20\n52-year-old man from Boston, MA. Kidney biopsy 3 months ago showed FSGS. "
            "Started tacrolimus two weeks ago. No contraception.",
            [{"name": "kidney biopsy", "date": "2026-08-20"}],
            [{"name": "tacrolimus", "start": "2026-11-06"}],
            False,
        ),
        (
            "Valladolid, 20 de noviembre de 2026\nMujer de 45 años, residente en Palencia. Biopsia renal "
            "hace 2 meses con nefritis lúpica clase IV. Inició micofenolato hace 3 semanas. Usa "
            "anticonceptivos orales.",
            [{"name": "kidney biopsy", "date": "2026-09-20"}],
            [{"name": "mycophenolate", "start": "2026-10-30"}],
            True,
        ),
        (
            "20 November 2026\n38-year-old woman from Leeds. IgA nephropathy; kidney biopsy last year. "
            "She uses effective contraception.",
            [{"name": "kidney biopsy", "date": "2025-11-20"}],
            [],
            True,
        ),
    ],
)
def test_relative_dates_count_back_from_the_letter_and_contraception_is_read(
    letter: str, events: list[dict[str, str]], treatments: list[dict[str, str]], contraception: bool
) -> None:
    patient = parse_referral(letter, today=date(2030, 1, 1)).patient  # the letter's date wins
    assert patient.get("events", []) == events
    assert patient.get("treatments", []) == treatments
    assert patient["contraception"] is contraception
    assert parse_patient(patient).contraception is contraception


def test_relative_dates_without_a_letter_date_count_from_today() -> None:
    patient = parse_referral("40-year-old man. Kidney biopsy 2 weeks ago.", today=date(2026, 12, 5)).patient
    assert patient["events"] == [{"name": "kidney biopsy", "date": "2026-11-21"}]


def test_a_recorded_contraception_meets_the_seed_trials_item() -> None:
    from matching.eligibility import evaluate_rule
    from matching.verdicts import patient_facts

    rule = {"kind": "contraception", "text": "contraception", "span": [0, 13]}
    facts = patient_facts(parse_patient({"contraception": True}))
    assert evaluate_rule(rule, "inclusion", facts).status == "met"
