"""Splitting eligibility-criteria text into items (ingest/criteria/split.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from ingest.criteria import parse_criteria, parse_items
from ingest.criteria.split import unescape

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seeds" / "000_7eec3db7379f51b9.txt"


def seed_criteria() -> str:
    page = SEED.read_text(encoding="utf-8")
    return page.split("View:", 1)[1].split("\nLocations", 1)[0]


def _all_criteria() -> Iterator[tuple[str, str]]:
    for path in sorted(FIXTURES.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        stack: list[object] = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ("eligibilityCriteria", "EligibilityCriteria") and isinstance(value, str):
                        yield path.name, value
                    else:
                        stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)
    for path in sorted(FIXTURES.rglob("*.xml")):
        try:
            tree = ElementTree.parse(str(path))
        except ElementTree.ParseError:
            continue
        for block in tree.iterfind(".//eligibility/criteria/textblock"):
            yield path.name, block.text or ""
    yield SEED.name, seed_criteria()


ALL_CRITERIA = list(_all_criteria())


def test_fixture_corpus_is_large() -> None:
    assert len(ALL_CRITERIA) > 600


def test_seed_trial_has_seven_inclusion_items() -> None:
    items = parse_items(seed_criteria())
    assert len(items) == 7
    assert {item.section for item in items} == {"inclusion"}
    assert items[0].text == (
        "Females or males ≥18 years old who provide written informed consent at the selection visit."
    )
    assert items[4].text == "SLEDAI-2K ≥ 10 during the selection period."


def test_markdown_headings_bullets_and_escapes() -> None:
    text = (
        "Inclusion Criteria:\n\n* Age \\>= 18 years\n* eGFR \\> 30 mL/min\n\n"
        "Exclusion Criteria:\n\n* Pregnancy\n* Platelets \\< 100 x 10^9/L\n"
    )
    items = parse_items(text)
    assert [(i.section, i.text) for i in items] == [
        ("inclusion", "Age >= 18 years"),
        ("inclusion", "eGFR > 30 mL/min"),
        ("exclusion", "Pregnancy"),
        ("exclusion", "Platelets < 100 x 10^9/L"),
    ]
    assert items[0].heading == "Inclusion Criteria:"
    assert items[2].heading == "Exclusion Criteria:"


@pytest.mark.parametrize(
    ("heading", "section"),
    [
        ("Key Inclusion Criteria", "inclusion"),
        ("INCLUSION CRITERIA:", "inclusion"),
        ("Exclusion:", "exclusion"),
        ("EXCLUSION CRITERIA", "exclusion"),
        ("Key Exclusion Criteria :", "exclusion"),
        ("**Exclusion criteria:**", "exclusion"),
        ("Patients with any one of the following conditions will be excluded:", "exclusion"),
        ("Patients must not meet any of the following criteria:", "exclusion"),
        ("Non-inclusion criteria:", "exclusion"),
    ],
)
def test_heading_variants_switch_section(heading: str, section: str) -> None:
    other = "exclusion" if section == "inclusion" else "inclusion"
    items = parse_items(f"{heading}\n\n* Active infection\n", section_hint=other)
    assert len(items) == 1
    assert items[0].section == section
    assert items[0].text == "Active infection"


def test_text_without_heading_uses_hint_or_inclusion() -> None:
    assert [i.section for i in parse_items("Age 18 or more.\n\nSLE by ACR criteria.")] == ["inclusion"] * 2
    assert [i.section for i in parse_items("Pregnancy.", section_hint="exclusion")] == ["exclusion"]


def test_heading_prefix_on_the_same_line_keeps_the_rest_as_an_item() -> None:
    items = parse_items("Exclusion Criteria: Pregnant or nursing women.\n")
    assert [(i.section, i.text, i.heading) for i in items] == [
        ("exclusion", "Pregnant or nursing women.", "Exclusion Criteria:")
    ]


def test_sub_bullets_stay_with_their_parent() -> None:
    text = (
        "Inclusion Criteria:\n\n"
        "* At Screening, must have at least one of the following:\n\n"
        "  * antinuclear antibody (ANA) positive (titer \\>= 1:80)\n"
        "  * anti-dsDNA positive\n"
        "* Age 18 to 65\n"
    )
    items = parse_items(text)
    assert len(items) == 2
    assert items[0].text.splitlines() == [
        "At Screening, must have at least one of the following:",
        "* antinuclear antibody (ANA) positive (titer >= 1:80)",
        "* anti-dsDNA positive",
    ]
    assert items[1].text == "Age 18 to 65"


def test_numbered_items_and_sub_numbering() -> None:
    text = "1. Adults\n2. The index participant must:\n\n   1. Have a COVID-19 symptom\n   2. Be positive\n3. Consent"
    items = parse_items(text)
    assert [i.text.splitlines()[0] for i in items] == ["Adults", "The index participant must:", "Consent"]
    assert items[1].text.count("\n") == 2


LEGACY = """
        Inclusion Criteria:

          -  Patients with histologically confirmed carcinoma of the lung who have received no
             more than two prior chemotherapy regimens

          -  Age 18 or older

        Exclusion Criteria:

          -  Pregnant or lactating women
      """


def test_legacy_indented_layout_rejoins_wrapped_lines() -> None:
    items = parse_items(LEGACY)
    assert [(i.section, i.text) for i in items] == [
        (
            "inclusion",
            "Patients with histologically confirmed carcinoma of the lung who have received no "
            "more than two prior chemotherapy regimens",
        ),
        ("inclusion", "Age 18 or older"),
        ("exclusion", "Pregnant or lactating women"),
    ]
    first = items[0]
    assert LEGACY[first.span[0] : first.span[1]].startswith("Patients with histologically")
    assert LEGACY[first.span[0] : first.span[1]].endswith("chemotherapy regimens")


def test_legacy_paragraph_style_without_bullets() -> None:
    path = FIXTURES / "ctgov-xml" / "lupus" / "NCT00001676.xml"
    text = ElementTree.parse(str(path)).findtext(".//eligibility/criteria/textblock") or ""
    items = parse_items(text)
    assert items[0].text == "Patients must be 18 years of age or older and able to provide informed consent."
    assert all("\n" not in i.text for i in items)
    assert len(items) > 15


def test_unicode_signs_are_kept() -> None:
    items = parse_items("• Hemoglobin ≥ 9 g/dL\n• Potassium 3.5–5.0 mmol/L ± 0.1\n• BMI ≤ 30")
    assert [i.text for i in items] == ["Hemoglobin ≥ 9 g/dL", "Potassium 3.5–5.0 mmol/L ± 0.1", "BMI ≤ 30"]


def _cores(line: str) -> tuple[str, str]:
    """The line without whitespace, with and without a leading list marker."""
    bare = re.sub(r"\s+", "", unescape(line))
    core = re.sub(r"^\s*(?:[*•·\-–+]|o\s|\(?\d{1,2}[.)]|\(?[a-zA-Z][.)]|[A-Z]{1,3}\d{1,3}:)\s*", "", line)
    return bare, re.sub(r"\s+", "", unescape(core))


@pytest.mark.parametrize(
    ("name", "text"), ALL_CRITERIA, ids=[f"{i}-{n}" for i, (n, _) in enumerate(ALL_CRITERIA)]
)
def test_nothing_is_lost(name: str, text: str) -> None:
    items = parse_criteria(text)
    blob = re.sub(r"\s+", "", "".join((i.heading or "") + i.text for i in items))
    missing = [
        line for line in text.splitlines() if line.strip() and not any(c in blob for c in _cores(line))
    ]
    assert not missing, f"{name}: lines not in any item: {missing[:3]}"
    for item in items:
        start, end = item.span
        assert 0 <= start <= end <= len(text)
        if item.text and item.text != item.heading:
            first_word = re.sub(r"\s+", " ", item.text).split(" ")[0]
            assert first_word in unescape(text[start:end]) or first_word in text[start:end]


def test_positions_are_consecutive() -> None:
    items = parse_criteria(seed_criteria())
    assert [i.position for i in items] == list(range(len(items)))
