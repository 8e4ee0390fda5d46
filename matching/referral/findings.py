"""Conditions, denials, family history, treatments and pregnancy, read through the vocabulary.

Every concept the letter names (``ingest.vocabulary``: MeSH terms, clinical shorthand,
Spanish names) is placed by its ConText modifiers:

- her own, present or past → ``conditions`` (diseases, findings, mental disorders, smoking) or
  ``treatments`` (drugs, drug classes, procedures);
- denied ("denies diabetes", "no history of stroke", "afebrile") → ``absent_conditions``;
- a relative's ("mother has ADPKD") → ``family_history``, never hers;
- only possible or planned ("rule out amyloidosis", "awaiting transplant") → ignored, and said so.

A drug followed by a value is a measurement ("cortisol 5 µg/dL", "ferritin 30"), not a
treatment; diagnostic tests are never treatments. Pregnancy is hers now only when the clause
says so in the present: "an ectopic pregnancy at age 26" or "G2P2" is her history.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from functools import cache
from typing import Any

from ingest.criteria.catalogue import load_catalogue
from ingest.vocabulary.concepts import CONDITION_KINDS, TREATMENT_KINDS, Concept, load_vocabulary
from ingest.vocabulary.context import Finding, Modifiers, assert_context, modifiers
from ingest.vocabulary.recognizer import find_concepts
from matching.referral.dates import STARTED_RE, clause_end, when_written
from matching.referral.model import Evidence, Parse

# A value right after a drug's name is a measurement when its unit is a concentration or a
# share ("cortisol 5 µg/dL", "glucose 140 mg/dL", "vitamin D level 12"), or when the name is a
# catalogue variable ("potassium 5.8"); otherwise it is a dose ("metformin 1 g bd", "ramipril 5").
_VALUE_AFTER_RE = re.compile(
    r"\s*(?:\(\w+\)\s*)?(?P<level>levels?\s*)?(?:of|was|is|at|:|=|de|en)?\s*[<>≤≥]?\s*\d[\d.,]*\s*"
    r"(?P<unit>[^\s,;]*)"
)
_PROVEN_RE = re.compile(r"(?i)[\s-]*(?:proven|confirmed|documented|demonstrated)\b")
_PREGNANT_RE = re.compile(
    r"(?i)\b(?:pregnan(?:t|cy)|embarazada|embarazo|gestante|gestaci[oó]n|(?:\d{1,2}|[a-z]+)\s+weeks?'?\s+"
    r"(?:gestation|pregnant)|(?:at|de)\s+\d{1,2}(?:\+\d)?\s+(?:weeks?|semanas)\s+(?:of\s+)?(?:gestation|gestaci[oó]n))\b"
)
# "born at 34 weeks' gestation", "gestational age at birth": an infant's, not a pregnancy.
_BIRTH_RE = re.compile(r"(?i)\b(?:born|birth|delivered|nacid[oa]|nacimiento|preterm|prematur\w*)\b")
_PREGNANCY_TEST_RE = re.compile(
    r"(?i)\b(?:pregnancy test|(?:beta|β|b)[- ]?h?cg|test de embarazo)\b[^.;\n]{0,25}?\b(?P<result>negative|positive|negativ[oa]|positiv[oa])\b"
)
_BREASTFEEDING_RE = re.compile(r"(?i)\b(?:breast-?feeding|breastfeeds|lactating|lactancia|lactando)\b")
_CONTRACEPTION_RE = re.compile(
    r"(?i)\b(?:(?P<none>no (?:uses? )?(?:effective )?contracepti(?:on|ve)s?|sin anticoncepci[oó]n|no usa anticonceptivos?)"
    r"|(?:effective |oral |hormonal )?contracepti(?:on|ves?)|(?:the )?pill|iud|intrauterine device|"
    r"anticonceptiv[oa]s?(?: orales)?|anticoncepci[oó]n|diu)\b"
)


# Concepts another reader owns: contraception is a yes/no of its own.
_READ_APART = frozenset({"Contraception", "Contraceptive Agents", "Condoms", "Contraceptives, Oral"})


def _concept_dict(finding: Finding) -> dict[str, str]:
    concept = finding.mention.concept
    return {"id": concept.id, "name": concept.display}


_FIRST_WORD_RE = re.compile(r"[^\W_]+[\W_]+")


def _past_non(text: str, finding: Finding) -> Finding:
    """In "non bloody diarrhea" or "non-productive cough", "non" denies the first word, not what it
    describes. A term of several words denied by "non" alone is read again without its first
    word: the diarrhea is hers ("bloody diarrhea", dysentery, is not)."""
    mention = finding.mention
    negations = [t for t in finding.triggers if t.category == "negated"]
    if (
        not finding.negated
        or mention.first_token == mention.last_token
        or not negations
        or any(t.text.lower() != "non" for t in negations)
    ):
        return finding
    first = _FIRST_WORD_RE.match(mention.text)
    if first is None:
        return finding
    start = mention.start + first.end()
    rest = [m for m in find_concepts(text[start : mention.end]) if m.end == mention.end - start]
    if not rest:
        return finding  # nothing else named: as it was
    inner = rest[-1]
    moved = replace(inner, start=inner.start + start, end=inner.end + start,
                    first_token=mention.last_token - (inner.last_token - inner.first_token),
                    last_token=mention.last_token)  # fmt: skip
    return replace(finding, mention=moved, negated=False,
                   triggers=tuple(t for t in finding.triggers if t.category != "negated"))  # fmt: skip


# A letter's allergy line: "Allergies: penicillin (rash)", "NKDA", "Alergias: ninguna conocida".
_ALLERGY_LIST_RE = re.compile(
    r"(?im)\b(?:(?:drug\s+|known\s+)?allerg(?:y|ies)|alergias?(?:\s+medicamentosas)?)[ \t]*:[ \t]*"
    r"(?P<list>[^\n]*?)(?=\.\s|\.$|;|\n|$)"
)
_NO_ALLERGY_RE = re.compile(
    r"(?i)^\W*(?:none(?:\s+known)?|nil|no(?:ne)?\s+known(?:\s+drug)?(?:\s+allergies)?|nkda|nka|no|n/a|"
    r"ninguna(?:\s+conocida)?|no\s+conocidas|niega|sin\s+alergias(?:\s+conocidas)?)\W*$"
)


def _read_allergy_lists(text: str, out: Parse, lists: dict[str, dict[str, str]]) -> list[tuple[int, int]]:
    """The spans of the letter's allergy lines, each read as drug allergy there or not: what a line
    names (penicillin, a rash) is read no further."""
    spans: list[tuple[int, int]] = []
    for m in _ALLERGY_LIST_RE.finditer(text):
        written = m.group("list")
        if not written.strip():
            continue
        concept = _drug_allergy()
        field = "absent_conditions" if _NO_ALLERGY_RE.match(written) else "conditions"
        if concept is not None:
            lists[field].setdefault(concept.id, concept.display)
            out.evidence.append(
                Evidence(field, m.group(), m.start(), m.end(), {"id": concept.id, "name": concept.display})
            )
        spans.append(m.span())
    return spans


@cache
def _drug_allergy() -> Concept | None:
    return load_vocabulary().lookup("Drug Hypersensitivity")


def _why_ignored(finding: Finding) -> str | None:
    if finding.hypothetical:
        return "hypothetical"
    if finding.family and finding.negated:
        return "family, negated"
    return None


def read_findings(text: str, out: Parse, reference: dt.date) -> list[Finding]:
    """Conditions, absent conditions, family history and treatments into ``out.patient``;
    the findings are returned for the pregnancy reader."""
    findings = [_past_non(text, f) for f in assert_context(text, find_concepts(text))]
    lists: dict[str, dict[str, str]] = {"conditions": {}, "absent_conditions": {}, "family_history": {}}
    treatments: dict[str, dict[str, Any]] = {}
    allergy_lists = _read_allergy_lists(text, out, lists)
    for finding in findings:
        mention = finding.mention
        concept = mention.concept
        if any(a <= mention.start < b for a, b in allergy_lists):
            # "Allergies: penicillin (rash)": what she must not take, and what it did — neither
            # a treatment nor a condition now
            out.ignored.append(Evidence("allergy list", mention.text, mention.start, mention.end,
                                        _concept_dict(finding)))  # fmt: skip
            continue
        if concept.kind not in CONDITION_KINDS and concept.kind not in TREATMENT_KINDS:
            continue  # a test: its value is a measurement
        if concept.kind == "pregnancy":
            continue  # read apart (now or in the past)
        if concept.name in _READ_APART:
            continue
        field = _field(finding)
        why = _why_ignored(finding)
        if field is None or why is not None:
            kind = "treatments" if concept.kind in TREATMENT_KINDS else "conditions"
            why = why or ("negated" if finding.negated else "family")
            out.ignored.append(Evidence(f"{kind} ({why})", mention.text, mention.start, mention.end,
                                        _concept_dict(finding)))  # fmt: skip
            continue
        if field == "treatments":
            if _is_measured(text, mention.text, mention.end):
                continue  # "cortisol 5 µg/dL": a measurement
            if concept.kind in ("drug", "drug class") and _is_lab(text, finding):
                continue  # "elevated ACTH", "anti-HCV antibodies were negative": a result
            if _PROVEN_RE.match(text, mention.end):
                continue  # "biopsy-proven lupus nephritis": how the diagnosis was made
            if concept.id not in treatments:
                treatments[concept.id] = _treatment(text, finding, reference)
        else:
            lists[field].setdefault(concept.id, concept.display)
        out.evidence.append(Evidence(field, mention.text, mention.start, mention.end, _concept_dict(finding)))
    # A condition she has is not also denied ("no fever now" beside "had a fever last week").
    for concept_id in list(lists["absent_conditions"]):
        if concept_id in lists["conditions"]:
            del lists["absent_conditions"][concept_id]
    for name, found in lists.items():
        if found:
            out.patient[name] = list(dict.fromkeys(found.values()))
    if treatments:
        out.patient["treatments"] = list(treatments.values())
    return findings


# A unit over a volume or an amount is a concentration ("mg/dL", "U/L", "g/g", "/mm3"); over a
# time, a weight or a body surface it is a dose ("mg/12 h", "mg/kg", "mg/m2", "02/2024" a date).
_DOSE_PER_RE = re.compile(
    r"/\s*(?:\d|h\b|hr|hour|d\b|day|d[ií]a|kg|m2|m²|w(?:ee)?k|sem|mes|month|dose)", re.I
)


# Words that make a substance a laboratory finding, not a treatment: "elevated cortisol",
# "serum ACTH", "anti-HCV antibodies were negative", "FVIII activity", "GnRH levels".
_LAB_BEFORE_RE = re.compile(
    r"(?i)\b(?:low|high|elevated|raised|increased|decreased|reduced|normal|abnormal|serum|plasma|urine|urinary|"
    r"blood|circulating|positive|negative|undetectable|detectable)\s+(?:[\w-]+\s+){0,2}$"
)
_LAB_AFTER_RE = re.compile(
    r"(?i)^[\s-]*(?:[\w-]+\s+){0,2}?(?:levels?|test|testing|assay|titers?|titres?|activity|concentrations?|"
    r"antibod(?:y|ies)|positive|negative|stimulation|suppression)\b"
)


def _is_lab(text: str, finding: Finding) -> bool:
    mention = finding.mention
    if "Antibod" in mention.concept.name:
        return True  # autoantibodies are results
    before = text[max(0, mention.start - 40) : mention.start]
    after = text[mention.end : mention.end + 40]
    return bool(_LAB_BEFORE_RE.search(before) or _LAB_AFTER_RE.match(after))


def _is_measured(text: str, words: str, end: int) -> bool:
    value = _VALUE_AFTER_RE.match(text, end)
    if value is None:
        return False
    unit = value.group("unit")
    if value.group("level") or unit.startswith("%"):
        return True
    if "/" in unit:
        return not _DOSE_PER_RE.search(unit)
    return load_catalogue().lookup(words) is not None


def _field(finding: Finding) -> str | None:
    concept = finding.mention.concept
    if concept.kind in TREATMENT_KINDS:
        if finding.negated or finding.family:
            return None
        return "treatments"
    if finding.family:
        return "family_history"
    if finding.negated:
        return "absent_conditions"
    return "conditions"


def _treatment(text: str, finding: Finding, reference: dt.date) -> dict[str, Any]:
    """``{"name": …}``, with ``start`` when the letter says when she started it ("started
    tacrolimus two weeks ago", "inició micofenolato hace 3 semanas")."""
    mention = finding.mention
    treatment: dict[str, Any] = {"name": mention.concept.display}
    if STARTED_RE.search(text, max(0, mention.start - 30), mention.start):
        stop = min(clause_end(text, mention.end), mention.end + 50)
        when = when_written(text, mention.end, stop, reference)
        if when is not None:
            treatment["start"] = when[0]
    return treatment


def read_pregnancy(text: str, out: Parse) -> None:
    """Pregnant now (true), said not pregnant now (false), or nothing said. A past pregnancy,
    an infant's gestation or a relative's pregnancy says nothing of now."""
    if out.patient.get("sex") == "male":
        return
    test = _PREGNANCY_TEST_RE.search(text)
    matches = [
        m for m in _PREGNANT_RE.finditer(text) if not (test and test.start() <= m.start() < test.end())
    ]
    for m, context in zip(matches, modifiers(text, [m.span() for m in matches]), strict=True):
        if context.family or context.hypothetical or (context.historical and not context.negated):
            continue
        if _BIRTH_RE.search(text[max(0, m.start() - 40) : m.end() + 10]):
            continue
        _say(out, "pregnant", not context.negated, text, m.start(), m.end(), context)
        return
    if test is not None:
        negative = test.group("result").lower().startswith("neg")
        _say(out, "pregnant", not negative, text, test.start(), test.end(), None)


def read_yes_no(text: str, out: Parse, field: str) -> None:
    """Breastfeeding or contraception: the first mention that is hers."""
    pattern = _BREASTFEEDING_RE if field == "breastfeeding" else _CONTRACEPTION_RE
    matches = list(pattern.finditer(text))
    for m, context in zip(matches, modifiers(text, [m.span() for m in matches]), strict=True):
        if context.family or context.hypothetical:
            continue
        said_no = context.negated or bool(m.groupdict().get("none"))
        _say(out, field, not said_no, text, m.start(), m.end(), context)
        return


def _say(
    out: Parse, field: str, value: bool, text: str, start: int, end: int, context: Modifiers | None
) -> None:
    out.patient[field] = value
    if context is not None and context.negated and context.triggers:
        # The words shown hold the negation: "Not pregnant", not "pregnant".
        cue = next(t for t in context.triggers if t.category == "negated")
        start, end = min(start, cue.start), max(end, cue.end)
    out.evidence.append(Evidence(field, text[start:end], start, end))
