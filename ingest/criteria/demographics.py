"""Sex, pregnancy, breastfeeding and contraception statements in an item.

Sex is only a rule when the item restricts it ("Female", "Women of 20 to 30
years", "Male participants only"); "Males or females ≥ 18" and "Women of
childbearing potential must …" are not. Pregnancy words used as a purpose
("to prevent pregnancy") or a plan ("planning to become pregnant") are not a
statement about the patient's current state and give no pregnancy rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

from ingest.criteria.lexicon import ItemText, contains_any
from ingest.criteria.model import Rule

# Lower-case patterns, run on the folded text (see lexicon).
_FEMALE = r"(?:female|females|women|woman|girls?|ladies)"
_MALE = r"(?:male|males|men|man|boys?)"
_SEX_START_RE = re.compile(
    r"^\W*(?:(?:healthy|adult|postmenopausal|post-menopausal|premenopausal|pre-menopausal|pregnant|"
    r"non-pregnant|ambulatory|elderly|young|older|caucasian|african[\s-]american|asian|only|an?|the)\s+)*"
    rf"(?P<sex>{_FEMALE}|{_MALE})\b(?!-)"
)
_SEX_ONLY_RE = re.compile(rf"\b(?:(?P<a>{_FEMALE}|{_MALE})\s+only|only\s+(?P<b>{_FEMALE}|{_MALE}))\b")
_BOTH_SEXES_RE = re.compile(
    rf"\b{_FEMALE}\b.{{0,20}}\b(?:or|and|/|&)\s+{_MALE}\b|\b{_MALE}\b.{{0,20}}\b(?:or|and|/|&)\s+{_FEMALE}\b|"
    r"\bboth\s+(?:sexes|genders)\b|\b(?:men|males?)\s*/\s*(?:women|females?)\b|\bof\s+either\s+sex\b"
)
_SEX_CONDITIONAL_RE = re.compile(
    r"childbearing|child-bearing|child\s+bearing|reproductive|contracept|birth\s+control|pregnan|lactat|"
    r"breast[\s-]?feed|partner|sperm|condom|sterili[sz]|\bif\b|\bwho\s+(?:are|is|have|has|must|will|agree)\b|"
    r"\bmust\s+(?:agree|use|be\s+willing|have\s+a\s+negative)|\bshould\b|\bwilling\b|\bfertil|menopaus|"
    r"\bpotential\b|\bcapable\b|\bfather|\bconceive|\bwho\s+(?:plan|intend|wish|want)|:\s*$"
)
_PREGNANCY_RE = re.compile(r"\bpregnan(?:t|cy|cies)\b")
_PREGNANCY_SKIP_BEFORE_RE = re.compile(
    r"\b(?:prevent(?:ing|ion\s+of)?|avoid(?:ing|ance\s+of)?|become|becoming|plan(?:s|ning)?|planned|intend(?:s|ing)?|"
    r"wish(?:es|ing)?|desire|desiring|trying|attempt(?:ing)?|father(?:ing)?|achieve|future|risk\s+of|"
    r"cause|causing|result\s+in|during|throughout|in\s+case\s+of|potential|after|post|prior)\W+(?:\w+\W+){0,2}$"
)
_PREGNANCY_TEST_RE = re.compile(
    r"\b(?P<neg>negative|positive)\s+(?:(?:serum|urine|urinary|blood|β-?hcg|beta-?hcg|highly\s+sensitive|"
    r"sensitive)\s+)*(?:pregnancy\s+test|(?:β-?|beta[\s-]?)?hcg)|\bpregnancy\s+test\w*\s+(?:must\s+be\s+|is\s+|was\s+|"
    r"that\s+is\s+)?(?P<neg2>negative|positive)"
)
_BREASTFEEDING_RE = re.compile(
    r"\b(?:breast[\s-]?feed(?:ing|s)?|breast[\s-]?fed|lactat(?:ing|ion|e)|nursing(?!\s+(?:home|facilit|care|staff|"
    r"student|team))|nursing\s+mothers?)\b"
)
_CONTRACEPTION_RE = re.compile(
    r"\b(?:contracepti(?:on|ve|ves)|birth[\s-]+control|barrier\s+method\w*|condoms?|double[\s-]barrier)\b"
)
_CONTRACEPTION_NEGATION_RE = re.compile(
    r"\b(?:unwilling|not\s+willing|refus\w*|inadequate|ineffective|unable|not\s+(?:using|practi[cs]ing|use|on))\b"
)
# "female", "women" and "woman" contain these.
_SEX_WORDS = ("male", "men", "man", "girl", "boy", "lad")


def _rule(kind: str, doc: ItemText, start: int, end: int, negated: bool, **extra: str) -> Rule:
    return Rule(kind=kind, text=doc.text[start:end], span=(start, end), negated=negated, **extra)  # type: ignore[arg-type]


# "Male or female", "Males and females", "Either sex": the item restricts nothing.
_EITHER_SEX_RE = re.compile(
    rf"^\W*(?:(?:an?|both|healthy|adult)\s+)*(?:{_FEMALE}\s*(?:or|and|/|&|and/or)\s*{_MALE}|"
    rf"{_MALE}\s*(?:or|and|/|&|and/or)\s*{_FEMALE}|(?:of\s+)?(?:either|both|any|all)\s+(?:sex|sexes|genders?))"
    r"(?:\s+(?:patients?|participants?|subjects?|volunteers?|adults?))?\W*$"
)


def find_sex(doc: ItemText) -> list[Rule]:
    first_line = doc.low.split("\n", 1)[0]
    either = _EITHER_SEX_RE.match(first_line)
    if either is not None:
        return [_rule("sex", doc, either.start(), len(first_line.rstrip(" .;")), False, sex="any")]
    m = _SEX_START_RE.match(first_line) or (_SEX_ONLY_RE.search(first_line) if "only" in first_line else None)
    if m is None or _BOTH_SEXES_RE.search(first_line) or _SEX_CONDITIONAL_RE.search(first_line):
        return []
    group = "sex" if "sex" in m.groupdict() else ("a" if m.group("a") else "b")
    word = m.group(group)
    sex = "female" if re.fullmatch(_FEMALE, word) else "male"
    start, end = m.start(group), m.end(group)
    return [_rule("sex", doc, start, end, doc.negated(start, end), sex=sex)]


def find_pregnancy(doc: ItemText) -> list[Rule]:
    low = doc.low
    rules: list[Rule] = []
    if "test" in low:
        for m in _PREGNANCY_TEST_RE.finditer(low):
            result = m.group("neg") or m.group("neg2")
            rules.append(_rule("pregnancy", doc, m.start(), m.end(), result == "negative"))
    for m in _PREGNANCY_RE.finditer(low):
        if any(r.span[0] <= m.start() < r.span[1] for r in rules):
            continue
        left, _ = doc.clause(m.start(), m.end())
        if _PREGNANCY_SKIP_BEFORE_RE.search(low, left, m.start()):
            continue
        if low.startswith("test", m.end() + 1) or low.startswith("test", m.end()):
            continue
        negated = doc.negated(m.start(), m.end())
        if any(r.negated == negated for r in rules):
            continue
        rules.append(_rule("pregnancy", doc, m.start(), m.end(), negated))
    return rules


def find_breastfeeding(doc: ItemText) -> list[Rule]:
    m = _BREASTFEEDING_RE.search(doc.low)
    if m is None:
        return []
    left, _ = doc.clause(m.start(), m.end())
    if re.search(r"\b(?:plan(?:s|ning)?|intend\w*|after|post)\W+(?:\w+\W+){0,2}$", doc.low[left : m.start()]):
        return []
    return [_rule("breastfeeding", doc, m.start(), m.end(), doc.negated(m.start(), m.end()))]


def find_contraception(doc: ItemText) -> list[Rule]:
    m = _CONTRACEPTION_RE.search(doc.low)
    if m is None:
        return []
    left, _ = doc.clause(m.start(), m.end())
    negated = doc.negated(m.start(), m.end())
    if _CONTRACEPTION_NEGATION_RE.search(doc.low, left, m.start()):
        negated = True
    return [_rule("contraception", doc, m.start(), m.end(), negated)]


def find_demographics(text: str | ItemText, section: str) -> list[Rule]:
    """Sex, pregnancy, breastfeeding and contraception rules in one item."""
    doc = text if isinstance(text, ItemText) else ItemText(text, section)
    low = doc.low
    rules: list[Rule] = []
    if contains_any(low, _SEX_WORDS):
        rules.extend(find_sex(doc))
    if "pregnan" in low:
        rules.extend(find_pregnancy(doc))
    if "feed" in low or "lactat" in low or "nursing" in low or "breast-fed" in low or "breastfed" in low:
        rules.extend(find_breastfeeding(doc))
    if "contracep" in low or "birth" in low or "barrier" in low or "condom" in low:
        rules.extend(find_contraception(doc))
    return rules


_WOMEN_RE = re.compile(r"\b(?:wom[ae]n|females?|childbearing|child-bearing|wocbp|girls?)\b", re.IGNORECASE)
_MEN_RE = re.compile(r"\b(?:m[ae]n|males?|partners?|fathers?|sperm|boys?)\b", re.IGNORECASE)
_MEN_FIRST_RE = re.compile(
    r"^\W*(?:for\s+)?(?:(?:sexually\s+active|fertile|adult|all)\s+)?(?:males?|men)\b(?!\s*(?:or|and|/|&)\s*(?:fe)?m)",
    re.IGNORECASE,
)
_REPRODUCTIVE_RE = re.compile(
    r"childbearing|child-bearing|contracept|birth\s+control|pregnan|lactat|breast[\s-]?feed|steril|menopaus|"
    r"\bfertil|condom|sperm|abstinen|\bhcg\b|\bfather",
    re.IGNORECASE,
)
_REPRODUCTIVE_KINDS = frozenset(("pregnancy", "breastfeeding", "contraception"))


def about_women_only(text: str) -> bool:
    """Does a criterion item speak of women and not of men ("Women of childbearing potential
    should use effective contraception")?"""
    return _WOMEN_RE.search(text) is not None and _MEN_RE.search(text) is None


def item_scope(
    section: str, text: str, rules: Sequence[Mapping[str, Any]]
) -> Literal["female", "male"] | None:
    """The sex an item is asked of alone, where the other sex is thereby not concerned by it.

    "Women of childbearing potential must use effective contraception", "Female participants
    must be 1 year post-menopausal, surgically sterile, or …", "Male participants must agree
    to use condoms": asked of one sex, about reproduction. An exclusion that speaks of women
    only ("Women with a history of breast cancer") excludes no man. An item that restricts
    the trial to one sex ("Women with ovarian cancer") is a sex rule instead, and is no scope.
    """
    if any(r.get("kind") == "sex" for r in rules):
        return None
    reproductive_words, women_only, men_alone = _scope_words(text)
    reproductive = reproductive_words or any(r.get("kind") in _REPRODUCTIVE_KINDS for r in rules)
    if not (section == "exclusion" or reproductive):
        return None
    if women_only:
        return "female"
    if men_alone and reproductive:
        return "male"
    return None


@lru_cache(maxsize=20_000)
def _scope_words(text: str) -> tuple[bool, bool, bool]:
    """What :func:`item_scope` reads in an item's words, once per text (matching asks it of the
    same items for every patient): reproductive words; women named and men not; men named
    first, women not or only as partners ("Male participants must agree to use condoms", "Men
    with female partners of childbearing potential must …")."""
    men_alone = _MEN_FIRST_RE.match(text) is not None and (
        _WOMEN_RE.search(text) is None or "partner" in text.lower()
    )
    return _REPRODUCTIVE_RE.search(text) is not None, about_women_only(text), men_alone
