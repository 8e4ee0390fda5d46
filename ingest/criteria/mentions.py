"""The concepts an item names that may be rules: conditions and treatments, found by the vocabulary.

:func:`find_concepts` finds every concept; here they are narrowed to what a criterion
can require of a patient, and completed with what the vocabulary cannot see alone:

- a short form the trial defines itself ("membranous nephropathy (MNP)") is read as
  what it stands for, when the vocabulary does not know it;
- listed modifiers sharing one noun are each read with it: "bacterial, fungal, or viral
  infections" names bacterial infections and mycoses too;
- a condition or treatment is a *condition* when its kind is a disease, finding, mental
  disorder or behaviour, a *treatment* when a procedure, device, drug or drug class;
  pregnancy is read by ``demographics``, a test's name by ``thresholds``;
- never a rule: contraception (its own rule), a contraindication, an antibody (a test
  result, "HCV antibody positive", unless a monoclonal drug), a drug named as a lab
  value ("serum glucose"), a concept in a body's name ("American Joint Committee on
  Cancer").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache, lru_cache

from ingest.vocabulary.concepts import CONDITION_KINDS, TREATMENT_KINDS, Concept, load_vocabulary
from ingest.vocabulary.recognizer import Mention, find_concepts

_CONDITION_KINDS = CONDITION_KINDS - {"pregnancy"}
# Contraception, Contraceptive Agents, Contraceptive Devices, Sterilization (Reproductive),
# Contraindications: with every narrower concept.
_NOT_A_RULE = ("D003267", "D003270", "D003273", "D013245", "D000075202")
_ANTIBODIES, _MONOCLONAL = "D000906", "D000911"
# No condition by itself, though narrower concepts are ("stable body weight"; "weight loss" is one).
_NOT_A_CONDITION = frozenset(["D001835"])
_LAB_BEFORE_RE = re.compile(
    r"(?:serum|plasma|blood|urine|urinary|fasting|total|direct|elevated|increased|raised|high|low|decreased|"
    r"abnormal|normal)[\s-]+$"
)
_LAB_AFTER_RE = re.compile(
    r"[\s-]+(?:levels?|concentrations?|values?|counts?|tests?|results?|patterns?|tolerance|receptors?|genes?|"
    r"mutations?|proteins?|expression|pathways?|signaling|status)(?![a-z])"
)
_BODY_BEFORE_RE = re.compile(
    r"(?:committee|society|college|institute|association|network|group|foundation|organi[sz]ation|consortium|"
    r"alliance|federation|council|academy|union|centers?|centres?|journal)\s+(?:of|on|for)\s+(?:[a-z-]+\s+){0,3}$"
)
_BODY_AFTER_RE = re.compile(
    r"\s+(?:[a-z-]+\s+){0,2}(?:institute|society|association|foundation|network|group|consortium|council|"
    r"centers?|centres?|research|clinics|grading|staging|manual|system|edition)(?![a-z])"
)
_TO_SPACE = str.maketrans({c: " " for c in "()[]{},;:.!?\"'*/"})
# "bacterial, fungal, or viral infections": a modifier listed before the one written with the noun.
_LISTED_RE = re.compile(
    r"([a-z][a-z-]+)(?:\s*,\s*(?:or\s+|and\s+|and/or\s+)?|\s+(?:or|and|and/or)\s+|\s*/\s*)$"
)


@lru_cache(maxsize=8192)
def _lookup(words: str) -> Concept | None:
    """The concept whose term is exactly ``words`` (the same short forms recur in every trial)."""
    return load_vocabulary().lookup(words)


@cache
def _never_rules() -> frozenset[str]:
    vocabulary = load_vocabulary()
    return frozenset(d for root in _NOT_A_RULE for d in vocabulary.descendants(root))


def rule_kind(concept: Concept) -> str | None:
    """``"condition"``, ``"treatment"``, or None for a concept that is never a rule."""
    known = _KINDS.get(concept.id, "")
    if known != "":
        return known
    kind = _KINDS[concept.id] = _rule_kind(concept)
    return kind


_KINDS: dict[str, str | None] = {}  # concept id -> its rule kind, as first decided


def _rule_kind(concept: Concept) -> str | None:
    if concept.kind in _CONDITION_KINDS:
        return None if concept.id in _NOT_A_CONDITION else "condition"
    if concept.kind not in TREATMENT_KINDS or concept.id in _never_rules():
        return None
    vocabulary = load_vocabulary()
    if vocabulary.is_a(concept.id, _ANTIBODIES) and not vocabulary.is_a(concept.id, _MONOCLONAL):
        return None
    return "treatment"


def not_the_patients(text: str, low: str, mention: Mention) -> bool:
    """Does the mention name something other than the patient's condition or treatment: a body
    ("National Cancer Institute", "American Joint Committee on Cancer"), a lab value ("serum
    glucose", "bilirubin level")?"""
    before = low[max(0, mention.start - 60) : mention.start]
    if (" of " in before or " on " in before or " for " in before) and _BODY_BEFORE_RE.search(before):
        return True
    if text[mention.start].isupper() and _BODY_AFTER_RE.match(low, mention.end):
        return True
    return mention.concept.kind == "drug" and (
        _LAB_BEFORE_RE.search(before[-12:]) is not None or _LAB_AFTER_RE.match(low, mention.end) is not None
    )


def find_mentions(text: str, low: str, abbreviations: dict[str, str]) -> list[Mention]:
    """The concepts the item names, with trial-defined short forms and listed modifiers."""
    found = find_concepts(text)
    extra = _defined(text, found, abbreviations) if abbreviations and not text.islower() else []
    extra += [
        e for m in found if " " in m.text and low[m.start - 1 : m.start] == " " for e in _listed(text, low, m)
    ]
    extra += [e for m in found if " " in m.text and (e := _listed_after(text, low, m)) is not None]
    if "type" in low:
        extra += [e for m in found if (e := _listed_type(text, low, m)) is not None]
    return sorted([*found, *extra], key=lambda m: m.start) if extra else found


def _defined(text: str, found: list[Mention], abbreviations: dict[str, str]) -> list[Mention]:
    """Short forms the trial (or the curated list) defines and the vocabulary did not read."""
    # The trial's short forms this item holds (known per trial), else its words that are short forms.
    written = getattr(abbreviations, "written", None)
    if written is not None:
        named: Iterable[str] = [word for word in written if word in text]
    else:
        named = set(filter(abbreviations.__contains__, set(text.translate(_TO_SPACE).split())))
    if not named:
        return []
    extra = []
    for word in named:
        concept = _lookup(abbreviations[word])
        if concept is None:
            continue
        at = text.find(word)
        while at >= 0:
            end = at + len(word)
            whole = (at == 0 or not _word_char(text[at - 1])) and (
                end == len(text) or not _word_char(text[end])
            )
            if whole and not any(f.start <= at < f.end for f in found):
                extra.append(Mention(concept, at, end, word, abbreviations[word], -1, -1))
            at = text.find(word, end)
    return extra


def _word_char(c: str) -> bool:
    return c.isalnum() or c in "-_"


def _listed(text: str, low: str, mention: Mention) -> list[Mention]:
    """ "bacterial, fungal, or viral infections" → bacterial infections, fungal infections."""
    before = low[max(0, mention.start - 12) : mention.start]
    if "," not in before and " or " not in before and " and " not in before and "/" not in before:
        return []
    words = mention.text.lower().split()
    heads = (" ".join(words[1:]), words[-1]) if len(words) > 2 else (words[-1],)
    out: list[Mention] = []
    pos = mention.start
    for _ in range(4):
        m = _LISTED_RE.search(low, max(0, pos - 40), pos)
        if m is None:
            break
        # "chronic or acute renal failure": chronic renal failure; "fungal or viral infections"
        concept = next((c for head in heads if (c := _lookup(f"{m[1]} {head}")) is not None), None)
        if concept is None or rule_kind(concept) != rule_kind(mention.concept):
            break
        out.append(Mention(concept, m.start(1), m.end(1), text[m.start(1) : m.end(1)], concept.name, -1, -1))
        pos = m.start()
    return out


_LISTED_AFTER_RE = re.compile(r"\s*(?:or|and|and/or|/|,)\s*([a-z0-9]{1,3})(?![a-z0-9])")


_TYPE_BEFORE_RE = re.compile(r"(type\s+(?:[0-9]|i{1,3}|iv))\s*(?:or|and|/|,)\s*$")


def _listed_type(text: str, low: str, mention: Mention) -> Mention | None:
    """ "type 1 or type 2 diabetes mellitus" → type 1 diabetes mellitus too."""
    if not low.startswith("type", mention.start):
        return None
    m = _TYPE_BEFORE_RE.search(low, max(0, mention.start - 16), mention.start)
    rest = mention.text.split(None, 2)
    if m is None or len(rest) < 3:
        return None
    concept = _lookup(f"{m[1]} {rest[2]}")
    if concept is None or rule_kind(concept) != rule_kind(mention.concept):
        return None
    return Mention(concept, m.start(1), m.end(1), text[m.start(1) : m.end(1)], f"{m[1]} {rest[2]}", -1, -1)


def _listed_after(text: str, low: str, mention: Mention) -> Mention | None:
    """ "hepatitis B or C" → hepatitis C; "type 1 or 2 diabetes" is one term already."""
    stem, _, last = mention.text.rpartition(" ")
    if len(last) > 3 or not low.startswith((" or", " and", "/", ",", " /"), mention.end):
        return None
    m = _LISTED_AFTER_RE.match(low, mention.end)
    if m is None:
        return None
    concept = _lookup(f"{stem} {text[m.start(1) : m.end(1)]}")
    if concept is None or rule_kind(concept) != rule_kind(mention.concept):
        return None
    return Mention(concept, m.start(1), m.end(1), text[m.start(1) : m.end(1)], f"{stem} {m[1]}", -1, -1)
