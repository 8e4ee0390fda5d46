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
    assert patient["conditions"] == ["Lupus Nephritis"]
    assert patient["absent_conditions"] == ["Diabetes Mellitus"]  # "No diabetes."
    assert patient["family_history"] == ["Rheumatoid Arthritis"]  # "Her mother has rheumatoid arthritis."
    assert {"name": "SLEDAI-2K", "value": 12} in patient["measurements"]
    assert {"name": "eGFR", "value": 68, "unit": "mL/min/1.73 m2"} in patient["measurements"]
    assert [t["name"] for t in patient["treatments"]] == ["Mycophenolate", "Hydroxychloroquine"]
    assert patient["pregnant"] is False
    for item in result.evidence:
        assert text[item.start : item.end] == item.text
    concepts = {e.text: e.concept["id"] for e in result.evidence if e.concept}
    assert concepts["lupus nephritis"] == "D008181" and concepts["diabetes"] == "D003920"
    parse_patient(patient)


def test_spanish_letter_maps_onto_the_same_vocabulary() -> None:
    patient = parse_referral(
        "Mujer de 62 años residente en Valladolid con nefritis lúpica y enfermedad renal crónica. "
        "FGe 38 ml/min/1,73 m2, creatinina 1,1 mg/dL. No ha recibido tolvaptán ni rituximab. "
        "Su madre tiene nefropatía IgA."
    ).patient
    assert (patient["age"], patient["sex"], patient["location"]) == (62, "female", "Valladolid")
    assert patient["conditions"] == ["Lupus Nephritis", "Chronic Kidney Disease"]
    assert patient["family_history"] == ["IgA Nephropathy"]
    assert {"name": "eGFR", "value": 38, "unit": "ml/min/1.73 m2"} in patient["measurements"]
    assert {"name": "Serum creatinine", "value": 1.1, "unit": "mg/dL"} in patient["measurements"]
    assert "treatments" not in patient


def test_the_issues_examples_from_notes_nobody_here_wrote() -> None:
    # The clinical-language issue quotes these from held-out case notes.
    note = parse_referral(
        "A 38-year-old woman with an ectopic pregnancy at age 26 presents with progressive dysphagia and "
        "alopecia. She denies smoking, diabetes, hypercholesterolemia. Tender abdomen with guarding and "
        "rebound in all four quadrants. Her mother has breast cancer."
    ).patient
    assert note["age"] == 38 and "pregnant" not in note  # a pregnancy at 26 is her history
    assert {"Dysphagia", "Alopecia"} <= set(note["conditions"])
    assert "Acute Lymphoblastic Leukemia" not in note["conditions"]  # "all four quadrants"
    assert note["absent_conditions"] == ["Smoking", "Diabetes Mellitus", "Hypercholesterolemia"]
    assert note["family_history"] == ["Breast Cancer"]
    found = parse_referral(
        "A 6-month-old boy with common variable immunodeficiency (CVID), a ruptured liver abscess, "
        "thrombocytopenia and proteinuria."
    ).patient
    assert found["age"] == 0.5
    assert found["conditions"] == [
        "Common Variable Immunodeficiency",
        "Liver Abscess",
        "Thrombocytopenia",
        "Proteinuria",
    ]
    assert parse_referral("A 29-year-old woman at 11 weeks gestation.").patient["pregnant"] is True


def test_measurements_written_in_prose() -> None:
    measured = parse_referral(
        "His blood urea nitrogen is 33 mg/dL, and his serum creatinine is 1.3 mg/dL. He has a hemoglobin "
        "(Hb) of 9.0 g/dL, his pulse is 141/min, BP 115/80 mm Hg, WBC 8,000/mm3. She is febrile (38.4°C)."
    ).patient["measurements"]
    values = {(m["name"], m["value"]) for m in measured}
    assert {("BUN", 33), ("Serum creatinine", 1.3), ("Hemoglobin", 9.0), ("Heart rate", 141),
            ("Systolic blood pressure", 115), ("Diastolic blood pressure", 80), ("White blood cells", 8000),
            ("Body temperature", 38.4)} <= values  # fmt: skip
    # A Spanish thousands separator, a decimal comma; a dose is no measurement.
    spanish = parse_referral(
        "Varón de 60 años. Plaquetas 45.000/mm3, creatinina 1,6 mg/dl. Metformina 850 mg."
    )
    assert {(m["name"], m["value"]) for m in spanish.patient["measurements"]} == {
        ("Platelets", 45000),
        ("Serum creatinine", 1.6),
    }
    assert [t["name"] for t in spanish.patient["treatments"]] == ["Metformin"]


def test_a_letter_on_labs_is_not_a_treatment_list() -> None:
    patient = parse_referral(
        "58-year-old woman. Serum cortisol 5 µg/dL, elevated ACTH, anti-HCV antibodies negative. "
        "On levothyroxine 100 mcg and hydrocortisone 20 mg daily."
    ).patient
    assert [t["name"] for t in patient["treatments"]] == ["Thyroxine", "Hydrocortisone"]


def test_labelled_sets_meet_their_floors() -> None:
    """Floors a little under today's figures on the three labelled sets (see bench/referral.py):
    a change that loses recall or precision on text the rules were not written from fails here."""
    from bench.referral import evaluate, load_casenotes, load_unseen_letters

    def share(counts: list[int]) -> float:
        return counts[0] / counts[1]

    notes = evaluate(load_casenotes())
    assert share(notes.recall["conditions"]) >= 0.75 and share(notes.precision["conditions"]) >= 0.90
    assert share(notes.recall["absent_conditions"]) >= 0.80
    assert share(notes.recall["measurements"]) >= 0.70
    assert share(notes.exact["age"]) >= 0.97 and share(notes.exact["sex"]) >= 0.97
    letters = evaluate(load_unseen_letters())
    assert share(letters.recall["conditions"]) >= 0.78 and share(letters.precision["conditions"]) >= 0.88
    assert share(letters.recall["treatments"]) >= 0.80
    assert share(letters.exact["age"]) >= 0.97


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
    assert "age               34 years  «34-year-old»" in lines
    # a fact said "no" is shown as read, beside words that hold the negation
    assert "pregnant          no  «Not pregnant»" in lines
    assert "absent_conditions Diabetes Mellitus  «diabetes»" in lines
    assert "family_history    «rheumatoid arthritis»" in lines
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
            [{"name": "Tacrolimus", "start": "2026-11-06"}],
            False,
        ),
        (
            "Valladolid, 20 de noviembre de 2026\nMujer de 45 años, residente en Palencia. Biopsia renal "
            "hace 2 meses con nefritis lúpica clase IV. Inició micofenolato hace 3 semanas. Usa "
            "anticonceptivos orales.",
            [{"name": "kidney biopsy", "date": "2026-09-20"}],
            [{"name": "Mycophenolate", "start": "2026-10-30"}],
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
    assert [t for t in patient.get("treatments", []) if t["name"] != "Biopsy"] == treatments
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


@pytest.mark.parametrize(
    ("letter", "age", "location"),
    [
        ("Re: John Smith, DOB: 12/03/1961. Hypertension.", 65, None),  # the birth date is not the letter's
        (
            "Date: 2026-11-20\nFecha de nacimiento: 03-05-1990. Mujer con LES, con domicilio en Soria.",
            36,
            "Soria",
        ),
        ("A man 45 years of age with CKD, lives alone in Great Yarmouth.", 45, "Great Yarmouth"),
        ("52y, male, Leeds, West Yorkshire LS6 2QR. IgA nephropathy.", 52, "Leeds, West Yorkshire LS6 2QR"),
        ("An ectopic pregnancy at age 26. Now a 38-year-old woman from Zaragoza.", 38, "Zaragoza"),
    ],
)
def test_ages_and_places_as_letters_write_them(letter: str, age: int, location: str | None) -> None:
    patient = parse_referral(letter, today=date(2026, 12, 7)).patient
    assert patient["age"] == age
    assert patient.get("location") == location


@pytest.mark.parametrize(
    ("note", "condition"),
    [
        # A relative who brings the patient or tells of the illness is the informant.
        ("A 7-month-old boy is brought to emergency by his parents due to irritability.", "Irritable Mood"),
        ("A 3-year-old girl is brought to the clinic by her parents for assessment of her short stature.",
         "Growth Disorders"),
        ("Daughter has also noted increased LE edema and weight gain.", "Weight Gain"),
        ("The mother reports that she has had a generalized rash for two days.", "Exanthema"),
        # "non" denies the first word, not what it describes.
        ("She presented with watery, non bloody diarrhea and weakness.", "Diarrhea"),
        # "referred for" is a plan only for what follows at once.
        ("Referred for admission through the ED by hepatology clinic for new slurred speech.", "Dysarthria"),
    ],
)  # fmt: skip
def test_informants_non_and_referrals_leave_the_condition_hers(note: str, condition: str) -> None:
    patient = parse_referral(note).patient
    assert condition in patient.get("conditions", []), patient
    assert condition not in patient.get("family_history", []) + patient.get("absent_conditions", [])


def test_a_relatives_own_illness_and_a_planned_referral_stay_apart() -> None:
    patient = parse_referral(
        "Her mother has rheumatoid arthritis. She was referred for kidney transplant."
    ).patient
    assert patient["family_history"] == ["Rheumatoid Arthritis"]
    assert "Rheumatoid Arthritis" not in patient.get("conditions", [])
    assert "Kidney Transplant" not in [t["name"] for t in patient.get("treatments", [])]
    # the same words without the plan are hers (so the line above can fail)
    had = parse_referral("She had a kidney transplant in 2019.").patient
    assert "Kidney Transplant" in [t["name"] for t in had["treatments"]]
    patient = parse_referral("He has non-bloody stools and no diarrhea.").patient
    assert "Diarrhea" in patient.get("absent_conditions", [])


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("The patient's LDL-C and HDL-C levels were 545 and 53 mg/dL, respectively.",
         [("LDL cholesterol", 545, "mg/dL"), ("HDL cholesterol", 53, "mg/dL")]),
        ("Her sodium and potassium were 135 and 4.1, respectively.", [("Sodium", 135, None), ("Potassium", 4.1, None)]),
        ("Direct bilirubin of 2.04 mg/dL", [("Direct bilirubin", 2.04, "mg/dL")]),
        ("IGF-1 of 968 ng/mL and random GH of 19.7 ng/mL", [("IGF-1", 968, "ng/mL"), ("Growth hormone", 19.7, "ng/mL")]),
        ("Her anti-TPO levels were extremely high (120 IU/ml).", [("Anti-TPO antibodies", 120, "IU/ml")]),
        ("a rising white count, approximately 50% lymphocytes", [("Lymphocytes", 50, "%")]),
        ("severe pain in his lower back that radiated to both thighs scored 9 out of 10.", [("Pain NRS", 9, None)]),
        ("Vit D: 14ng/ml", [("25-hydroxyvitamin D", 14, "ng/ml")]),
        ("urea of 8.5 mmol/L; his blood urea nitrogen is 33 mg/dL", [("Urea", 8.5, "mmol/L"), ("BUN", 33, "mg/dL")]),
        # A trend written "from … to": the later value first, the unit written once is both values'.
        ("Her eGFR has fallen from 61 to 44 ml/min/1.73m2 over two years",
         [("eGFR", 44, "ml/min/1.73m2"), ("eGFR", 61, "ml/min/1.73m2")]),
        ("creatinine 1.4 -> 2.7 mg/dL by day 3", [("Serum creatinine", 2.7, "mg/dL"), ("Serum creatinine", 1.4, "mg/dL")]),
        ("His fasting glucose and triglyceride levels (85 and 158 mg/dL, resp.) were normal.",
         [("Glucose", 85, "mg/dL"), ("Triglycerides", 158, "mg/dL")]),
        # Velocities are no blood pressures, and a parent's height is not the patient's.
        ("the peak-systolic (PSV) and end-diastolic velocity (EDV) were 208.5 cm/s and 54.5 cm/s, respectively", []),
        ("His mother and father are 170 cm and 181 cm tall, respectively. He is 150 cm tall.",
         [("Body height", 150, "cm")]),
        ("She smokes 30 packs/year", [("Smoking pack-years", 30, None)]),
        ("His FVIII activity is 40%.", [("Factor VIII activity", 40, "%")]),
        ("CB = 0.30 IU/mL and FVIII:C = 0.37 IU/mL", [("Factor VIII activity", 0.37, "IU/mL"), ("CB", 0.3, "IU/mL")]),
        # The words that link a name to its value, and a letter's shorthand with one between.
        ("His National Institutes of Health Stroke Scale (NIHSS) score was calculated as 7.", [("NIHSS", 7, None)]),
        ("MPO titer 112 IU/mL; DAS28-CRP today 5.4; SpO2 nadir 88%",
         [("MPO-ANCA", 112, "IU/mL"), ("DAS28", 5.4, None), ("Oxygen saturation", 88, "%")]),
        ("Se inició patirómero, con K actual 5,2 mmol/l", [("Potassium", 5.2, "mmol/l")]),
        ("P: 4.5 mg/dl", []),  # a phosphorus most likely: no pulse of 4.5 mg/dl
        # A lesion's largest dimension; not the size of what is denied.
        ("CT abdomen without contrast showed a large 9.5 x 7.5 x 6.0-cm heterogeneous left upper abdominal mass.",
         [("Lesion size (largest diameter)", 9.5, "cm")]),
        ("Core biopsy revealed a 1.8 cm infiltrating ductal breast carcinoma. The largest gallstone is 0.7cm.",
         [("Lesion size (largest diameter)", 1.8, "cm"), ("Lesion size (largest diameter)", 0.7, "cm")]),
        ("No mass larger than 2 cm was seen; a 5 cm incision", []),
        # Results under a urinalysis heading are the urine's; the blood's after the block are not.
        ("U/A:\nColor: yellow\nPH: 5.3\nSpecific gravity: 1.010\nGlc: 100\nWBC: 2 WBCs/hpf\n\nWBC: 12000 /mm3",
         [("Urine pH", 5.3, None), ("Urine specific gravity", 1.01, None), ("Urine glucose", 100, None),
          ("Urine white blood cells", 2, "WBCs/hpf"), ("White blood cells", 12000, "/mm3")]),
        ("Hemoglobine electrophoresis: 91% HbS 6%HbF 3%HbA2",
         [("Hemoglobin S", 91, "%"), ("Hemoglobin F", 6, "%"), ("Hemoglobin A2", 3, "%")]),
        ("biopsy showed pauci-immune crescentic GN with 40% crescents", [("Glomerular crescents", 40, "%")]),
        # Spirometry in litres is the volume; the share of predicted after it is FEV1 as criteria use it.
        ("FEV1 1.6 L, 46% pred; Child-Pugh B7",
         [("Child-Pugh score", 7, None), ("FEV1 (litres)", 1.6, "L"), ("FEV1 (% predicted)", 46, "%")]),
        ("She smokes about 10 cigarettes a day and lost 8 kg in 3 months; a 9 kg weight gain before",
         [("Cigarettes per day", 10, None), ("Weight loss", 8, "kg"), ("Weight gain", 9, "kg")]),
        ("She is at 11 weeks gestation.", [("Gestational age", 11, "weeks")]),
        # How published case reports write values.
        ("a temperature of 101.2°F, pulse 110 bpm, and blood pressure was 150 over 90. He weighed 80 kg.",
         [("Systolic blood pressure", 150, "mmHg"), ("Diastolic blood pressure", 90, "mmHg"),
          ("Body temperature", 101.2, "°F"), ("Heart rate", 110, "bpm"), ("Body weight", 80, "kg")]),
        ("Her white blood cell count was 2.1 × 10^9/L with an anion gap of 20; the hemoglobin level dropped to 7 g/dL.",
         [("White blood cells", 2.1, "× 10^9/L"), ("Anion gap", 20, None), ("Hemoglobin", 7, "g/dL")]),
        ("She had tachycardia at 125 bpm and hypotension at 80/50 mmHg, tachycardia of 2 weeks' duration.",
         [("Systolic blood pressure", 80, "mmHg"), ("Diastolic blood pressure", 50, "mmHg"), ("Heart rate", 125, "bpm")]),
        ("Vitals: T 101.3, HR 112. Labs: Cl 98, Glu 250, MCV 90. ABG: 7.30/50/60 on 2L. Urine protein 2+.",
         [("Body temperature", 101.3, "°F"), ("Heart rate", 112, None), ("Chloride", 98, None), ("Glucose", 250, None),
          ("MCV", 90, None)]),
        ("He is 5 feet 10 inches tall. Her troponin was elevated to 2.5 ng/mL. She had a fever of 39.5 °C for 3 days.",
         [("Body temperature", 39.5, "°C"), ("Body height", 177.8, "cm"), ("Cardiac troponin", 2.5, "ng/mL")]),
        ("Systolic blood pressure was 190 mmHg. WBC count 22 x 10(9)/L, neutrophils 90%.",
         [("Systolic blood pressure", 190, "mmHg"), ("White blood cells", 22, "x 10(9)/L"), ("Neutrophils (%)", 90, "%")]),
        # The fetus's heart rate and the uterus's height are not hers; a sign only where a value can be negative.
        ("Fundal height was 32 cm. Fetal heart rate was 150 bpm. Her heart rate was 96.",
         [("Heart rate", 96, None), ("Fundal height", 32, "cm")]),
        ("Bone densitometry showed a T-score of -3.1 at the lumbar spine; eGFR 30-45", [("BMD T-score", -3.1, None),
                                                                                     ("eGFR", 30, None)]),
        ("The pH was 7.12. Urinary sodium was 10 mEq/L and fractional excretion of sodium 0.5%.",
         [("Blood pH", 7.12, None), ("Urine sodium", 10, "mEq/L"), ("Fractional excretion of sodium", 0.5, "%")]),
        ("Vancomycin trough was 25 µg/mL. Proteinuria of 6.5 g/24 h.",
         [("24-hour urine protein", 6.5, "g/24 h"), ("Vancomycin", 25, "µg/mL")]),
        # As board-style vignettes write them.
        ("Serum Na+ 134 mEq/L, Cl− 100 mEq/L, HCO3− 16 mEq/L; Mg2+ 1.2 mEq/L. Respirations are 22/min.",
         [("Sodium", 134, "mEq/L"), ("Chloride", 100, "mEq/L"), ("Bicarbonate", 16, "mEq/L"), ("Magnesium", 1.2, "mEq/L"),
          ("Respiratory rate", 22, "/min")]),
        ("She is 160 cm (5 ft 3 in) tall. Total bilirubin 3.2 mg/dL, Direct 2.5 mg/dL. PCO2 30 mm Hg.",
         [("Body height", 160, "cm"), ("Total bilirubin", 3.2, "mg/dL"), ("PCO2", 30, "mm Hg"),
          ("Direct bilirubin", 2.5, "mg/dL")]),
        ("Her leukocyte count is 3,200/mm3 with 20% segmented neutrophils.",
         [("Neutrophils (%)", 20, "%"), ("White blood cells", 3200, "/mm3")]),
        # As admission notes abbreviate them; a decade ("HR in the 120s") is not a value to judge a criterion by.
        ("She was satting 88% on RA. HR in the 120s. Trop 0.5, bicarb 12, plt 45k, Tbili 4.5, Mg 1.1, Tmax 103.1",
         [("Oxygen saturation", 88, "%"), ("Cardiac troponin", 0.5, None), ("Bicarbonate", 12, None),
          ("Platelets", 45, "k"), ("Total bilirubin", 4.5, None), ("Magnesium", 1.1, None),
          ("Body temperature", 103.1, "°F")]),
        ("He was febrile to 39.5 C. BP 100s/60s.", [("Body temperature", 39.5, "C")]),
        # Spanish laboratory shorthand; "FA" is alkaline phosphatase only in a Spanish letter
        ("Analítica de la paciente: PCR 45 mg/l, SatO2 94 %, GOT 85 UI/l, FA 320 UI/l, 25-OH vitamina D 12 ng/ml, "
         "anti-DNA 250 UI/ml.",
         [("C-reactive protein", 45, "mg/l"), ("Oxygen saturation", 94, "%"), ("AST", 85, "UI/l"),
          ("Alkaline phosphatase", 320, "UI/l"), ("25-hydroxyvitamin D", 12, "ng/ml"),
          ("Anti-dsDNA antibodies", 250, "UI/ml")]),
        ("FA 5 mg daily", []),
        ("Leucocitos 15.300/µl con 85 % de neutrófilos. Sedimento: 30 hematíes/campo.",
         [("Urine red blood cells", 30, "/hpf"), ("Neutrophils (%)", 85, "%"), ("White blood cells", 15300, "/µl")]),
        ("30 red blood cells per high-power field", [("Urine red blood cells", 30, "/hpf")]),
        # A share before a name is that name's, unless a name before it owns it ("Hct 31%").
        ("Hct 31% WBC 12.0 x10^9/L Plt 150", [("Hematocrit", 31, "%"), ("White blood cells", 12, "x10^9/L"),
                                            ("Platelets", 150, None)]),
        ("leukocytosis of 18,000 cells/mm3 with 85% neutrophils",
         [("White blood cells", 18000, "cells/mm3"), ("Neutrophils (%)", 85, "%")]),
        ("Serum osmolality 310 mOsm/kg. Urine osmolality 100 mOsm/kg. Her beta-hCG was 1,500 mIU/mL.",
         [("Serum osmolality", 310, "mOsm/kg"), ("Urine osmolality", 100, "mOsm/kg"), ("Beta-hCG", 1500, "mIU/mL")]),
        ("He was born at 38 weeks gestation.", [("Gestational age at birth", 38, "weeks")]),
        ("Kt/V 1.5, total kidney volume is 1,450 mL, ADAMTS13 normal (72 %), effluent WBC 2,400/mm3",
         [("Kt/V", 1.5, None), ("Total kidney volume", 1450, "mL"), ("ADAMTS13 activity", 72, "%"),
          ("Peritoneal effluent white cell count", 2400, "/mm3")]),
        # "24-h" is when the urine was collected, not a value.
        ("Nephrotic-range proteinuria (24-h urine protein 7.8 g)", [("24-hour urine protein", 7.8, "g")]),
        ("her urine albumin:creatinine ratio is 96 mg/mmol", [("UACR", 96, "mg/mmol")]),
        # A drug's level (over a volume) is a measurement; its dose is not.
        ("tacrolimus trough 6.2 ng/mL; prednisone: 20 mg daily", [("tacrolimus", 6.2, "ng/mL")]),
        ("oliguric overnight (UO 250 mL/24h), PTHi 1120 pg/ml",
         [("Urine output", 250, "mL/24h"), ("Parathyroid hormone", 1120, "pg/ml")]),
        ("Creatinine 3.9 mg/dL on admission, now 2.8 mg/dL",
         [("Serum creatinine", 2.8, "mg/dL"), ("Serum creatinine", 3.9, "mg/dL")]),
    ],
)  # fmt: skip
def test_measurements_case_reports_write(note: str, expected: list[tuple[str, float, str | None]]) -> None:
    got = [
        (m["name"], m["value"], m.get("unit")) for m in parse_referral(note).patient.get("measurements", [])
    ]
    assert got == expected


def test_a_direct_bilirubin_is_not_read_as_the_total() -> None:
    measurements = parse_referral("Direct bilirubin 2.1 mg/dL").patient["measurements"]
    assert [m["name"] for m in measurements] == ["Direct bilirubin"]
    assert not parse_referral("pain since 3/10/2024").patient.get("measurements")


@pytest.mark.parametrize(
    ("letter", "field", "not_treatments"),
    [
        ("Allergies: penicillin (rash).\nMeds: metformin.", "conditions", ["Penicillins"]),
        ("Allergies: NKA\nMeds: metformin.", "absent_conditions", []),
        ("Allergies: none known.", "absent_conditions", []),
        ("PMH: HTN. NKDA. Meds: lisinopril.", "absent_conditions", []),
        ("Alergias: ninguna conocida. Toma enalapril.", "absent_conditions", []),
    ],
)
def test_an_allergy_line_is_drug_allergy_not_treatment(
    letter: str, field: str, not_treatments: list[str]
) -> None:
    patient = parse_referral(letter).patient
    assert patient[field] == ["Drug Hypersensitivity"]
    other = "absent_conditions" if field == "conditions" else "conditions"
    assert "Drug Hypersensitivity" not in patient.get(other, [])
    treatments = [t["name"] for t in patient.get("treatments", [])]
    assert not set(not_treatments) & set(treatments)
    # what the line lists is what she must not take or what it did: no rash now
    assert "Exanthema" not in patient.get("conditions", [])


def test_the_words_shown_for_a_trend_hold_both_values() -> None:
    for letter, words in (
        (
            "Her eGFR has fallen from 61 to 44 ml/min/1.73m2 over two years.",
            "eGFR has fallen from 61 to 44 ml/min/1.73m2",
        ),
        ("Cr 3,2 mg/dl (basal 1,1), urea 186 mg/dl.", "Cr 3,2 mg/dl (basal 1,1)"),
    ):
        shown = [e.text for e in parse_referral(letter).evidence if e.field == "measurements"]
        assert shown[0] == words


@pytest.mark.parametrize(
    ("note", "conditions"),
    [
        ("Examination revealed hepatosplenomegaly and a positive Murphy's sign.", ["Hepatosplenomegaly", "Murphy sign"]),
        ("He had saddle anesthesia and decreased rectal tone.", ["Saddle anesthesia", "Decreased anal sphincter tone"]),
        ("CT demonstrated a dilated common bile duct and intrahepatic biliary dilatation.", ["Biliary dilatation"]),
        ("The patient had elevated liver enzymes and thrombocytopenia.", ["Elevated liver enzymes", "Thrombocytopenia"]),
        ("The infant had poor feeding, lethargy and a bulging fontanelle.", ["Poor feeding", "Lethargy", "Bulging fontanelle"]),
        ("She presented with vomiting, abdominal cramps and bloody diarrhea.", ["Vomiting", "Abdominal Pain", "Diarrhea"]),
        # "cirrhosis" is the liver's, not fibrosis in general
        ("He was diagnosed with cirrhosis two years ago.", ["Liver Cirrhosis"]),
        # a mass on imaging is not yet a cancer: a trial excluding kidney cancer must not fail her for it
        ("CT showed a 2.4 cm left renal mass.", ["Mass lesion"]),
        ("He had an inguinal hernia and hydrocele.", ["Inguinal Hernia", "Testicular Hydrocele"]),
        # "AKI on CKD" is both; "hyperK" as notes write it
        ("Urosepsis, AKI on CKD, hyperK.", ["Sepsis", "Acute Kidney Injury", "Chronic Kidney Disease", "Hyperkalemia"]),
    ],
)  # fmt: skip
def test_findings_case_reports_name(note: str, conditions: list[str]) -> None:
    assert parse_referral(note).patient.get("conditions") == conditions


@pytest.mark.parametrize(
    ("letter", "age", "sex"),
    [
        ("a sixty-two-year-old woman with CKD", 62, "female"),
        ("62/M with ESKD", 62, "male"),
        ("F/45 lupus", 45, "female"),
        ("Pt is 45, female.", 45, "female"),
        ("male, 45 years", 45, "male"),
        ("(45 y, F)", 45, "female"),
        ("Age: 67. Sex: F.", 67, "female"),
        ("Patient: John Doe, 63, male.", 63, "male"),
        ("a man of 52 with diabetes; his wife weighs 70 kg", 52, "male"),
        ("a 2.5-year-old girl", 2.5, "female"),  # was read as 5
        ("2 1/2-year-old girl", 2.5, "female"),
        ("aged 18 months", 1.5, None),
        ("recién nacido de 10 días", 0.0274, None),
        ("Paciente varón de 70a, HTA", 70, "male"),
        ("45 a, mujer", 45, "female"),
        ("As discussed, the patient, 45, has lupus; she", 45, "female"),
    ],
)
def test_ages_and_sexes_as_forms_and_reports_write(letter: str, age: float, sex: str | None) -> None:
    patient = parse_referral(letter).patient
    assert (patient.get("age"), patient.get("sex")) == (age, sex)


@pytest.mark.parametrize(
    ("note", "present", "denied"),
    [
        ("He was treated for hypertension without improvement and later developed heart failure.",
         ["Hypertension", "Heart Failure"], None),
        ("No improvement of her psoriasis was seen after methotrexate.", ["Psoriasis"], None),
        ("He has diabetes, not well controlled, and retinopathy.", ["Diabetes Mellitus", "Retinal Diseases"], None),
        ("She has no other medical problems besides hypothyroidism.", ["Hypothyroidism"], None),
        ("He was not compliant with his medications for schizophrenia.", ["Schizophrenia"], None),
        ("She had no response to treatment for her depression.", ["Depression"], None),
        # real denials stay denials
        ("He presented without fever but with severe abdominal pain.", ["Abdominal Pain"], ["Fever"]),
    ],
)  # fmt: skip
def test_what_a_treatment_did_not_do_is_no_denial(
    note: str, present: list[str], denied: list[str] | None
) -> None:
    patient = parse_referral(note).patient
    assert (patient.get("conditions"), patient.get("absent_conditions")) == (present, denied)
