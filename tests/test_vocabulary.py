"""The clinical vocabulary: its data, the recognizer's guards and ConText, on real sentences.

The sentences are from the TREC 2021/2022 case notes (tests/fixtures/casenotes/) and
registry criteria (tests/fixtures/ctgov/), or are the examples the vocabulary issue
quotes from held-out notes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.criteria import iter_fixture_criteria
from ingest.vocabulary.build import natural_order
from ingest.vocabulary.concepts import CONDITION_KINDS, DATA_FILE, load_vocabulary
from ingest.vocabulary.context import assert_context
from ingest.vocabulary.normalize import fold, fold_token, token_columns, tokens
from ingest.vocabulary.recognizer import find_concepts, load_recognizer

CURATED = Path(__file__).parent.parent / "ingest" / "vocabulary" / "curated"


def names(text: str) -> list[str]:
    return [m.concept.name for m in find_concepts(text)]


def test_the_shipped_data_is_compact_and_says_its_source() -> None:
    vocabulary = load_vocabulary()
    assert DATA_FILE.stat().st_size < 30_000_000
    assert "MeSH 2024" in vocabulary.source["name"] and "public domain" in vocabulary.source["licence"]
    kinds = {c.kind for c in vocabulary.concepts}
    assert {"disease", "finding", "mental disorder", "procedure", "drug", "drug class"} <= kinds
    assert len(vocabulary.concepts) > 10_000 and len(vocabulary.terms) > 100_000


def test_every_shipped_key_is_what_folding_gives_today() -> None:
    """The keys were folded at build time: a change to folding needs a rebuild, and this says so."""
    terms = load_vocabulary().terms
    stale = [(w, k) for w, k in zip(terms.written, terms.key, strict=True) if fold(w) != k]
    assert stale == [], (
        f"{len(stale)} keys differ from fold(): rebuild with python -m ingest.vocabulary.build"
    )


@pytest.mark.parametrize(
    ("written", "folded"),
    [("Haemoglobins", "hemoglobin"), ("oedema", "edema"), ("Kidneys", "kidney"), ("UTIs", "uti"),
     ("lúpica", "lupica"), ("tumours", "tumor"), ("sepsis", "sepsis"), ("four", "four"), ("oesophageal", "esophageal")],
)  # fmt: skip
def test_tokens_fold_spelling_case_accents_and_plurals(written: str, folded: str) -> None:
    assert fold_token(written) == folded


def test_tokens_keep_their_places_and_drop_a_possessive_s() -> None:
    """The columns the recognizer reads are :func:`tokens` as columns (offsets into the text)."""
    for text in [
        "Crohn's disease and Type2 diabetes",
        "patients' consent",
        "Sjögren’s syndrome, stage3b CKD",
    ]:
        toks = tokens(text)
        columns = token_columns(text)
        assert columns.folded == [t.folded for t in toks]
        assert (columns.starts, columns.ends) == ([t.start for t in toks], [t.end for t in toks])
    assert token_columns("Crohn's disease").folded == ["crohn", "disease"]


def test_the_term_walk_finds_what_an_automaton_over_the_text_finds() -> None:
    """Every term occurrence, overlapping ones too, found token by token; a letter that folds to
    two words ("ͺ") takes the automaton itself."""
    recognizer = load_recognizer()
    fixtures = Path(__file__).parent / "fixtures"
    criteria = [text for _, text in iter_fixture_criteria(fixtures, pages=False)][:150]
    for text in [*criteria, "chronic kidney disease stage 3 and type 2 diabetes mellitus"]:
        folded = token_columns(text).folded
        assert sorted(recognizer._matches(text, folded)) == sorted(recognizer._automaton_matches(folded))
    assert names("lupus nephritisͺ with end stage renal disease") == names(
        "lupus nephritis with end stage renal disease"
    )


def test_curated_files_name_concepts_the_vocabulary_has() -> None:
    vocabulary = load_vocabulary()
    known = {c.name for c in vocabulary.concepts} | set(vocabulary.by_id)
    for name, column in [("extra_terms.tsv", "descriptor"), ("absence_terms.tsv", "descriptor")]:
        with (CURATED / name).open(encoding="utf-8") as fh:
            missing = [row[column] for row in csv.DictReader(fh, delimiter="\t") if row[column] not in known]
        assert missing == [], name


def test_mesh_entry_terms_and_shorthand_name_the_same_concept() -> None:
    assert names("progressive dysphagia") == ["Deglutition Disorders"]
    assert names("Kidney failure") == ["Renal Insufficiency"]
    assert names("T2DM") == names("type 2 diabetes") == names("Diabetes Mellitus, Type 2")
    assert names("CKD 3b") == names("chronic kidney disease") == ["Renal Insufficiency, Chronic"]
    assert names("on CellCept") == ["Mycophenolic Acid"]  # a brand name
    assert names("started dapagliflozin") == ["Dapagliflozin"]  # no MeSH descriptor: a trialsite concept


def test_spanish_names_reach_the_same_concepts() -> None:
    assert names("nefritis lúpica") == ["Lupus Nephritis"]
    assert names("Paciente con enfermedad renal crónica e HTA") == [
        "Renal Insufficiency, Chronic",
        "Hypertension",
    ]


def test_an_abbreviation_counts_only_as_capitalised() -> None:
    # TREC 2021: "Tender abdomen with guarding and rebound in all four quadrants" is no leukemia.
    # What it names is the examination finding (a trialsite concept: MeSH has no term for it).
    assert set(names("Tender abdomen with guarding and rebound in all four quadrants")) == {
        "Abdominal tenderness"
    }
    assert "Precursor Cell Lymphoblastic Leukemia-Lymphoma" in names(
        "ALL in remission after leukemia therapy"
    )


def test_an_ambiguous_abbreviation_needs_a_supporting_word() -> None:
    assert names("MS") == []
    assert names("MS with demyelinating lesions") == ["Multiple Sclerosis"]
    assert "Peritoneal Dialysis" not in names("PD 2 weeks after")


def test_a_spanish_abbreviation_counts_only_in_spanish() -> None:
    assert names("LES pressure was normal on manometry") == []
    assert names("Mujer de 30 años con LES y nefritis") == ["Lupus Erythematosus, Systemic", "Nephritis"]


def test_an_abbreviation_beside_a_number_is_a_unit_or_a_lab() -> None:
    # TREC 2022: "alkaline phosphatase is 300 IU/L" (IU is also Spanish for urinary incontinence).
    assert "Urinary Incontinence" not in names("Mujer de 60 años: fosfatasa alcalina 300 IU/L")
    assert "Urinary Incontinence" in names("Mujer de 60 años con IU de esfuerzo")


def test_common_words_that_are_mesh_terms_are_not_concepts() -> None:
    for sentence in ("at screening", "date of birth", "muscle strain", "Metric units", "fall asleep",
                     "went down the stairs", "criteria were met", "fit for surgery", "secondary to",
                     "a grave error", "she has a gripe"):  # fmt: skip
        assert [m for m in find_concepts(sentence) if m.concept.kind in CONDITION_KINDS] == [], sentence


def test_the_hierarchy_widens_a_concept() -> None:
    vocabulary = load_vocabulary()
    lupus_nephritis = vocabulary.lookup("lupus nephritis")
    kidney_diseases = vocabulary.lookup("kidney diseases")
    breast_cancer = vocabulary.lookup("breast cancer")
    cancer = vocabulary.lookup("cancer")
    tacrolimus = vocabulary.lookup("tacrolimus")
    immunosuppressants = vocabulary.lookup("Immunosuppressive Agents")
    assert (
        lupus_nephritis and kidney_diseases and breast_cancer and cancer and tacrolimus and immunosuppressants
    )
    assert vocabulary.is_a(lupus_nephritis.id, kidney_diseases.id)
    assert vocabulary.is_a(breast_cancer.id, cancer.id)
    assert vocabulary.is_a(tacrolimus.id, immunosuppressants.id)  # through its pharmacological action
    assert not vocabulary.is_a(kidney_diseases.id, lupus_nephritis.id)
    assert lupus_nephritis.id in vocabulary.descendants(kidney_diseases.id)


def test_lookup_takes_a_name_a_term_or_an_id() -> None:
    vocabulary = load_vocabulary()
    concept = vocabulary.lookup("D008181")
    assert concept is not None and concept.name == "Lupus Nephritis"
    assert vocabulary.lookup("Nephritis, Lupus") is concept
    assert vocabulary.lookup("nefritis lúpica") is concept
    assert vocabulary.lookup("ms") is None  # an abbreviation only as written


def test_natural_order_reads_inverted_mesh_names() -> None:
    assert natural_order("Diabetes Mellitus, Type 2") == "Type 2 Diabetes Mellitus"
    assert natural_order("Leukemia, Lymphocytic, Acute") == "Acute Lymphocytic Leukemia"


def _context(text: str) -> dict[str, tuple[bool, bool, bool, bool]]:
    return {
        f.mention.text: (f.negated, f.historical, f.family, f.hypothetical)
        for f in assert_context(text, find_concepts(text))
    }


def test_context_reads_a_list_of_denials() -> None:
    # The vocabulary issue's example: "She denies smoking, diabetes, hypercholesterolemia".
    found = _context("She denies smoking, diabetes, hypercholesterolemia. She has hypertension.")
    assert found["smoking"][0] and found["diabetes"][0] and found["hypercholesterolemia"][0]
    assert not found["hypertension"][0]


def test_context_reads_social_history_and_absence_words() -> None:
    found = _context("He does not smoke, drink alcohol or use illicit drugs. He is afebrile.")
    assert all(negated for negated, *_ in found.values())
    assert set(found) == {"smoke", "drink alcohol", "illicit drugs", "afebrile"}


def test_context_tells_a_relative_s_condition() -> None:
    # TREC 2021: "His family history is positive for type 2 diabetes (his father and sister)."
    found = _context("His family history is positive for type 2 diabetes (his father and sister).")
    assert found["type 2 diabetes"][2]
    found = _context("Her mother also has a history of menorrhagia. She has anemia.")
    assert found["menorrhagia"][2] and not found["anemia"][2]


def test_context_tells_the_past_and_the_possible() -> None:
    found = _context("She had an ectopic pregnancy at age 26. Rule out pulmonary embolism.")
    assert found["ectopic pregnancy"][1]
    assert found["pulmonary embolism"][3]


def test_a_negation_word_inside_a_concept_name_negates_nothing() -> None:
    found = _context("Stage IV non-small cell lung cancer.")
    assert found == {"non-small cell lung cancer": (False, False, False, False)}


def test_a_side_or_a_possessive_inside_a_term_is_stepped_over() -> None:
    # "effusion in the knee" is a term; the side written inside it does not hide it
    assert [m.concept.name for m in find_concepts("An effusion in the right knee.")] == ["Hydrarthrosis"]
    assert [m.concept.name for m in find_concepts("ringing in her left ear")] == ["Tinnitus"]
    # only inside a term, and only once: a side word at the end is not taken into the match
    found = find_concepts("cancer of the left breast")
    assert [(m.concept.name, m.text) for m in found] == [("Breast Neoplasms", "cancer of the left breast")]


def test_a_short_word_after_a_percentage_is_the_shares_not_a_drug() -> None:
    # "46% pred" is predicted; "pred" elsewhere is still prednisolone, and a longer word after a
    # share keeps its concept ("30% stenosis")
    assert names("FEV1 1.6 L, 46% pred.") == []
    assert names("Tac/MMF/pred since 2021, on pred 10 mg") == [
        "Tacrolimus",
        "Mycophenolic Acid",
        "Prednisolone",
        "Prednisolone",
    ]
    assert names("30% stenosis of the ICA") == ["Constriction, Pathologic"]
