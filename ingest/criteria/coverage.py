"""What an item says that no rule reads: the words that keep a verdict from being whole.

"At least a 1-year history of migraine" gives a rule for migraine; "1-year" is not read.
"ESRD on stable HD regimen of thrice weekly sessions" gives a rule for ESRD; the regimen
is not read. A patient with migraine, or with ESRD, meets what was read, not the item: a
clinician would still check the rest. So the words left over once every rule's words,
the grammar ("patients with", "must have", "history of") and the study's own words
("informed consent", "at screening") are set aside are kept as an ``unread`` rule: the
evaluation shows them ("to check: «1-year»") and never calls the item met on the rest.

Measured on the 9,114 fixture items and the labelled patient–criterion pairs
(``bench/verdicts.py``): the words below are those that remained around read rules
without changing what an item asks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ingest.criteria.model import Rule


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Grammar, cue words and words about the study, not the patient: never a requirement alone.
_NEUTRAL = _words(
    """
    with have has had having must should shall will would could may might can cannot been being be
    are is was were that this these those which who whom whose what when where while than then there
    their they them it its his her from into onto upon over under after before during until since
    within without between among against about above below also only both either neither other
    others another such same each every any some all more most less least including include includes
    included includes e.g i.e eg ie etc following follows defined according based per via patient
    patients subject subjects participant participants individual individuals people person persons
    volunteer volunteers adult adults women woman men man female females male males child children
    history diagnosis diagnosed known documented confirmed evidence presence absence present absent
    current currently prior previous previously past recent recently new newly existing preexisting
    pre underlying concomitant concurrent ongoing active clinically clinical significant relevant
    medically medical condition conditions disease diseases disorder disorders illness illnesses
    problem problems treatment treatments treated therapy therapies therapeutic drug drugs
    medication medications medicine medicines agent agents use used using receive received receiving
    take taking taken undergo underwent undergoing study studies trial trials protocol protocols
    investigator investigators investigator's sponsor site sites screening enrollment enrolment
    enrolled randomization randomisation randomized baseline visit visits day days week weeks month
    months year years time times period periods duration first last next informed consent consents
    sign signed signing form forms written provide provided willing willingness able ability agree
    agrees comply compliance participate participation eligible eligibility criteria criterion
    inclusion exclusion excluded exclude excludes allowed permitted required requirement
    requirements opinion judgment judgement judged determined considered deemed per according
    investigator age aged years old greater equal older younger higher lower above below least
    minimum maximum must also yes none note notes see listed list following below above systemic
    regardless gender sex aetiology etiology cause causes origin type types kind form stage stages
    grade selection obtain obtaining obtained moment entry entering start starting guideline
    guidelines national local report reported self-report self established inclusive
    """
)
# Words of an item about pregnancy and contraception that repeat what its rules read ("must agree
# not to become pregnant", "of childbearing potential", "highly effective method"): set aside
# when the item's rules are all about pregnancy, breastfeeding or contraception.
_REPRODUCTIVE = _words(
    """
    pregnant pregnancy pregnancies lactating lactation nursing breastfeeding breast-feeding
    childbearing child-bearing potential potentially possibly intends intend intending plan planning
    become becoming contraception contraceptive contraceptives effective highly method methods
    barrier measures sterile surgically sterilised sterilized post-menopausal postmenopausal
    menopausal menopause abstinence abstain duration premenopausal prevent preventing avoid avoiding
    """
)
_REPRODUCTIVE_KINDS = frozenset({"pregnancy", "breastfeeding", "contraception"})
# What brackets hold is an abbreviation, an example or a clarification ("(BMI)", "(with or
# without aura)", "(or per national guidelines)"); what follows "except" narrows the item for
# someone else ("≥ 18 years, except at the paediatric site ≥ 8"): neither is a requirement of hers.
# How a value is measured ("as assessed by the 4-variable MDRD equation") is no requirement either.
_ASIDE_RE = re.compile(
    r"\([^()]*\)|\[[^\[\]]*\]|\b(?:except|excepting|excluding|other than|unless)\b[^;.]*"
    # an option either way: "History of cancer with or without metastatic disease"
    r"|\bwith\s+or\s+without\b[^;,.]*"
    r"|\b(?:as\s+)?(?:assessed|measured|calculated|estimated|determined|defined|confirmed|documented|established)"
    r"\s+(?:by|using|with|per|according\s+to)\b[^;.]*"
    # how a diagnosis is classified: "by meeting at least 4 of the 11 ACR criteria", "using the 2003 ISN/RPS
    # classification", "according to the 2013 ACR/EULAR classification criteria"
    r"|\b(?:by\s+)?(?:meeting|fulfill?ing|satisfying|using|according\s+to|per|based\s+on)\b[^;.]{0,200}"
    r"\b(?:criteria|classification|definition|guidelines?)\b(?:\s+(?:of|for)\s+[^;,.]{0,80})?",
    re.I,
)
# A heading opening the item: one to three words and a colon.
_HEADING_RE = re.compile(r"^\W*(?:[^\W\d_][\w-]*\s*){1,3}:")
_WORD_CHAR_RE = re.compile(r"[\w'’\-]")
# Cheap tests that an aside or a condition may be there at all (most items hold neither).
_ASIDE_GATE_RE = re.compile(
    r"\b(?:except|excepting|excluding|other than|unless|without|assessed|measured|calculated|estimated|"
    r"determined|defined|confirmed|documented|established|meeting|fulfill?ing|satisfying|using|according|per|based)\b",
    re.I,
)
_CONDITION_GATE_RE = re.compile(r"\b(?:if|when|whenever|in\s+case)\b", re.I)
_CONDITION_RE = re.compile(r"\b(?:if|when|whenever|in\s+case)\b[^;,.]*", re.I)
# The same patterns for a lower-cased ASCII text.
_LOWER = tuple(re.compile(p.pattern) for p in (_ASIDE_GATE_RE, _ASIDE_RE, _CONDITION_GATE_RE, _CONDITION_RE))
# "1-year" and "16th" are one word
_WORD_RE = re.compile(r"[^\W\d_][\w'’\-]*|\d[\d.,]*(?:st|nd|rd|th)?(?:-[^\W\d_]+)?")
# Words this short carry no requirement alone ("of", "a", "IV" is read by class rules).
_MIN_LETTERS = 4
# Shown to the clinician: the first of the unread words, as written.
_SHOWN_WORDS = 8


def unread_rule(text: str, rules: Sequence[Rule], section: str = "inclusion") -> Rule | None:
    """The rule holding what ``text`` asks beyond its ``rules`` (None when they read it all).

    In an inclusion item, what an "if" clause names is when a requirement applies, not more
    to meet ("… no more than one year if they enter with a moderate/severe recurrence"): a
    patient meeting the requirement meets it whether or not the condition holds. In an
    exclusion the clause narrows what excludes her, so it stays to check.
    """
    if not rules:
        return None
    covered = [r.span for r in rules]
    # An ASCII text is searched lower-cased without ``re.IGNORECASE`` (three times faster, same
    # offsets); any other with it (``re`` folds some letters, like "ſ", that ``lower`` keeps).
    if text.isascii():
        low, aside_gate_re, aside_re, condition_gate_re, condition_re = text.lower(), *_LOWER
    else:
        low, aside_gate_re, aside_re = text, _ASIDE_GATE_RE, _ASIDE_RE
        condition_gate_re, condition_re = _CONDITION_GATE_RE, _CONDITION_RE
    if "(" in text or "[" in text or aside_gate_re.search(low):
        covered += [m.span() for m in aside_re.finditer(low)]
    if section == "inclusion" and condition_gate_re.search(low):
        covered += [m.span() for m in condition_re.finditer(low)]
    covered += _measure_names(text, rules)
    if "(" in text:
        covered += _expanded_names(text, [r.span for r in rules])
    if ":" in text:
        heading = _HEADING_RE.match(text)
        if heading is not None:
            covered.append(heading.span())  # "Hematopoietic: platelets < 100,000/mm3"
    gaps = _gaps(covered, len(text))
    reproductive = all(r.kind in _REPRODUCTIVE_KINDS for r in rules)
    found: list[re.Match[str]] = []
    kinds, size = _WORD_KINDS, len(text)
    for lo, hi in gaps:
        for m in _WORD_RE.finditer(text, lo, hi):
            kind = kinds.get(m.group())
            if kind is None:
                kind = _word_kind(m.group())
            if kind == _ASKS_NOTHING or (reproductive and kind == _REPRODUCTIVE_WORD):
                continue
            start, end = m.span()
            if (start == lo and lo and _WORD_CHAR_RE.match(text, lo - 1)) or (
                end == hi and hi < size and _WORD_CHAR_RE.match(text, hi)
            ):
                continue  # part of a word a rule reads: "non-pregnant" holds a read "pregnant"
            if kind == _NUMBER and _inside_brackets_or_list_marker(text, start):
                continue  # a list marker or a reference, no value
            found.append(m)
    if not found:
        return None
    start, end = found[0].start(), found[-1].end()
    shown = " ".join(m.group() for m in found[:_SHOWN_WORDS]) + (" …" if len(found) > _SHOWN_WORDS else "")
    return Rule(kind="unread", text=text[start:end], span=(start, end), note=shown)


def _gaps(covered: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The stretches of the text no covered span touches, in order."""
    gaps = []
    at = 0
    for a, b in sorted(covered):
        if a > at:
            gaps.append((at, a))
        at = max(at, b)
    if at < size:
        gaps.append((at, size))
    return gaps


_ASKS_NOTHING, _REPRODUCTIVE_WORD, _NUMBER, _OTHER = range(4)
# A word as written → its kind (the same words recur in every item).
_WORD_KINDS: dict[str, int] = {}


def _word_kind(written: str) -> int:
    """What the word is to :func:`unread_rule`: one that asks nothing alone (grammar, the study's
    words, too short), one about reproduction, a number, or another; remembered."""
    word = written.lower().strip("'’-")
    if word in _NEUTRAL or (len(word) < _MIN_LETTERS and not word[:1].isdigit()):
        kind = _ASKS_NOTHING
    elif word in _REPRODUCTIVE:
        kind = _REPRODUCTIVE_WORD
    else:
        kind = _NUMBER if word[:1].isdigit() else _OTHER
    if len(_WORD_KINDS) >= 100_000:
        _WORD_KINDS.clear()
    _WORD_KINDS[written] = kind
    return kind


def _inside_brackets_or_list_marker(text: str, at: int) -> bool:
    """ "1." or "a)" opening an item, or a reference "[12]": a number that is no value."""
    before = text[:at].rstrip()
    return not before or before.endswith(("[", "("))


_BRACKETED_RE = re.compile(r"\(\s*([A-Za-z][\w-]{1,9})\s*\)")
_NAME_BEFORE_RE = re.compile(r"(?:[^\W\d_][\w'’-]*\s+){1,6}\Z")


def _expanded_names(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """ "Body mass index (BMI) ≥ 30": a rule reads "BMI"; the words it abbreviates are read with it."""
    out = []
    for b in _BRACKETED_RE.finditer(text):
        short = b.group(1)
        if not any(a <= b.start(1) < e for a, e in spans):
            continue
        m = _NAME_BEFORE_RE.search(text, max(0, b.start() - 80), b.start())
        if m is None:
            continue
        words = m.group().split()
        initials = [w[0].lower() for w in words]
        letters = [c.lower() for c in short if c.isalpha()]
        # the last words whose initials spell the abbreviation's letters in order
        take = 0
        for n in range(1, len(words) + 1):
            if _spells(initials[-n:], letters):
                take = n
        if take:
            start = m.start() + m.group().rindex(words[-take])
            out.append((start, m.end()))
    return out


def _spells(initials: list[str], letters: list[str]) -> bool:
    """Do the words' initials appear in order among the abbreviation's letters, first with first?"""
    if not initials or not letters or initials[0] != letters[0]:
        return False
    at = 0
    for c in initials:
        while at < len(letters) and letters[at] != c:
            at += 1
        if at == len(letters):
            return False
        at += 1
    return True


_HEART_FAILURE_RE = re.compile(
    r"\s*(?:\(?\s*(?:congestive\s+|chronic\s+)?(?:heart|cardiac)\s+failure|\(?\s*c?hf(?:ref|pef)?)\b", re.I
)


def _measure_names(text: str, rules: Sequence[Rule]) -> list[tuple[int, int]]:
    """A threshold's name written apart from its value (">4/10 pain with palpation"), and the
    condition a rule holds under ("if they enter from the induction period"): read with it."""
    out = []
    for rule in rules:
        if rule.variable == "nyha":  # "NYHA class III or IV heart failure": the class is of heart failure
            named = _HEART_FAILURE_RE.match(text, rule.span[1])
            if named is not None:
                out.append(named.span())
        name = rule.variable_text if rule.kind == "threshold" else rule.applies_if
        if not name:
            continue
        lo, hi = max(0, rule.span[0] - 80), min(len(text), rule.span[1] + 80)
        at = text.find(name, lo, hi)
        if at >= 0:
            out.append((at, at + len(name)))
    return out
