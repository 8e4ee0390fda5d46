"""What an item's grammar says of a concept it names: in scope, an exception, a qualifier.

The vocabulary finds the concepts (:mod:`ingest.vocabulary.recognizer`); these rules
read the words around each one, as a clinician would, so that only what the trial
requires or excludes becomes a rule:

- *zones* — the words after a phrase that changes what the concepts in them are:
  an exception ("malignancy **other than** basal cell carcinoma"), a cause ("anemia
  **due to** iron deficiency"), a purpose ("**treatment for** lupus nephritis"), a
  future or a risk ("**planned** surgery", "**at risk of** stroke"), a relative's
  ("**family history of** ADPKD"), an option ("**with or without** leg pain"), a
  means ("confirmed **by** biopsy"), a point in time ("**at the time of** surgery"),
  an allergen ("**allergy to** penicillin"), what a condition requires ("asthma
  **requiring** oral steroids"), examples ("**e.g.** tacrolimus"), a vaccine's disease
  ("**vaccinated against** influenza"). A zone runs to the end of its clause;
- *qualifiers* — the words that narrow a concept beyond its name ("**severe**
  osteopenia", "**moderate/severe recurrence of** lupus nephritis", "lupus nephritis
  **class III or IV**"), which a patient's record must also state for the rule to be
  met; words that narrow nothing ("active", "known", "history of") are not qualifiers;
- *what follows* the concept: a negation ("HIV **negative**", "opioid-**naive**"), a noun
  that makes it something else ("tumor **tissue**", "stroke **risk**", "bleeding
  **disorder**").

Patterns of how criteria are written (grammar), run on the folded item text
(:class:`~ingest.criteria.lexicon.ItemText`), each behind a cheap gate.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ingest.criteria.lexicon import ItemText, trie_pattern


def _each(heads: str, tails: str) -> tuple[str, ...]:
    return tuple(f"{head} {tail}" for head in heads.split() for tail in tails.split())


# Phrases that open a zone, by what the concepts after them are (lower case, single spaces).
_ZONE_PHRASES: dict[str, tuple[str, ...]] = {
    "exception": (
        "other than", "except", "except for", "excepting", "excluding", "with the exception of", "apart from",
        "aside from", "but not", "unless", "save for", "does not include", "do not include", "not including",
    ),
    "cause": (
        "due to", "secondary to", "caused by", "related to", "associated with", "attributable to", "induced by",
        "resulting from", "as a result of", "because of", "as a consequence of", "in the setting of",
    ),
    "purpose": (
        *_each("treatment treatments therapy therapies medication medications drug drugs agent agents treated "
               "indicated prescribed surgery management managed prophylaxis", "for of"),
        "to treat", "for the treatment of",
    ),
    "hypothetical": (
        "risk of", "risk for", "at risk", "at high risk", "prevent", "prevention of", "screening for",
        "candidate for", "candidates for", "eligible for", "scheduled for", "planned", "planning", "awaiting",
        "waiting list", "expected to", "likely to", "anticipated", "intend to", "intends to", "plan to",
        "plans to", "may require", "may need", "may develop", "amenable to", "suitable for", "fit for",
        "unfit for", "ineligible for", *_each("probability possibility likelihood chance", "of"),
        *_each("may can could might would", "cause"), "causing", "leading to", "resulting in",
    ),
    "family": (
        "family history", "first degree relative", "first degree relatives", "first-degree relative",
        "first-degree relatives", "relative", "relatives", "family member", "family members", "mother", "father",
        "sibling", "siblings", "parent", "parents",
    ),
    "allergen": (
        *_each("allergy allergies hypersensitivity hypersensitivities intolerance intolerant contraindication "
               "contraindications contra-indication contra-indications sensitivity idiosyncrasy reaction reactions",
               "to against with toward towards"),
        *_each("contraindication contraindications contra-indication contra-indications", "for of"),
        "allergic to",
    ),
    "optional": (
        "with or without", "with/without", "whether or not", "regardless of", "irrespective of", "in the absence of",
        *_each("while", "on taking receiving using"),
    ),
    "example": (
        "e.g.", "e.g", "eg", "for example", "for instance", "such as", "including", "including but not limited to",
        "i.e.", "i.e", "namely",
    ),
    "means": ("by", "via", "using", "through"),
    "treated by": ("treated by", "managed by", "affected by"),  # not the means of a diagnosis
    "reference": (
        "at the time of", "at time of", "time of", "date of", "day of", "on the day of", "in preparation for",
    ),
    "requiring": (
        "requiring", *_each("that which", "requires require required needs need needed"), "needing",
        "necessitating", "in need of",
    ),
    "vaccine": (
        *_each("vaccinated vaccination vaccinations vaccine vaccines", "against for"), "immunized against",
        "immunised against",
    ),
}  # fmt: skip
_ZONE_OF = {phrase: what for what, phrases in _ZONE_PHRASES.items() for phrase in phrases}
# One character trie behind a look-behind for the word boundary (as the criteria cues were).
_ZONE_RE = re.compile(r"(?<![a-z0-9-])(?:" + trie_pattern(_ZONE_OF) + r")(?![a-z0-9])")
_NOT_AN_EXCEPTION_RE = re.compile(r"\s+(?:limited|restricted|only)\b")


class Zone(NamedTuple):
    """Words from ``start`` (just after the phrase) to ``end`` (the clause's end) that a
    phrase of kind ``what`` changes; ``phrase_start`` is where the phrase itself begins."""

    what: str
    phrase_start: int
    start: int
    end: int


def find_zones(doc: ItemText, before: int) -> list[Zone]:
    """The zones of an item that open before ``before`` (the last concept), in text order."""
    low = doc.low
    zones = []
    for m in _ZONE_RE.finditer(low, 0, before):
        what = _ZONE_OF.get(" ".join(m.group().split()), "")
        if what == "treated by" or (what == "exception" and _NOT_AN_EXCEPTION_RE.match(low, m.end())):
            continue  # "but not limited to" lists examples; "treated by dialysis" is a treatment
        _, end = doc.clause(m.end(), m.end())
        opened = low.rfind("(", 0, m.start())
        if opened >= 0 and low.find(")", opened, m.start()) < 0:
            closing = low.find(")", m.end(), end)
            end = closing if closing >= 0 else end
        if what == "exception":
            # "unless" and "except" end a clause in the lexicon: the exception runs to the next one.
            _, end = doc.clause(m.end() + 1, m.end() + 1)
        elif what == "means":
            # "confirmed by biopsy", "using the 2003 classification": how, up to the next list or clause
            stop = _MEANS_END_RE.search(low, m.end(), end)
            end = stop.start() if stop else end
        zones.append(Zone(what, m.start(), m.end(), end))
    return zones


_MEANS_END_RE = re.compile(r"[,;.():]|\band\b|\bwith\b")


# Zones whose concepts are never the trial's requirement, however deep inside they sit.
_DROPPING = frozenset(["cause", "hypothetical", "family", "optional", "reference"])


def zone_at(zones: list[Zone], start: int) -> Zone | None:
    """The zone the words at ``start`` sit in: one that drops them ("expected to require …,
    including maintenance chemotherapy"), else the innermost."""
    found = None
    for zone in zones:
        if zone.start <= start < zone.end:
            if zone.what in _DROPPING:
                return zone
            found = zone
    return found


# Nouns that narrow the concept named after them with "of": "recurrence of lupus nephritis".
_OF_NOUNS = frozenset(
    (
        "recurrence", "relapse", "relapses", "flare", "flares", "exacerbation", "exacerbations", "progression",
        "worsening", "complication", "complications", "sequelae", "remission", "episode", "episodes", "attack",
        "attacks", "bout", "bouts", "onset", "stage", "grade"
    )
)  # fmt: skip
# Qualifiers that may be joined by "or"/"and": "moderate or severe", "inhaled or oral".
_JOINABLE = frozenset(
    (
        "mild", "moderate", "severe", "acute", "chronic", "recurrent", "relapsed", "refractory", "inhaled", "oral",
        "topical", "intravenous", "systemic", "unstable", "uncontrolled", "symptomatic", "progressive", "persistent"
    )
)  # fmt: skip
# Words that narrow nothing, however near the concept ("known active lupus nephritis").
_NEUTRAL = frozenset(
    (
        "active", "known", "documented", "confirmed", "proven", "established", "current", "concomitant",
        "concurrent", "prior", "previous", "existing", "pre", "preexisting", "underlying", "suspected", "diagnosed",
        "clinical", "systemic", "histologically", "cytologically", "pathologically", "radiologically",
        "radiographically", "microscopically", "biopsy"
    )
)  # fmt: skip
# Words that end the noun phrase before a concept: "patients with", "history of", "has", and
# the verbs that introduce what a test or a record shows ("Chest radiography shows …").
_BOUNDARY = frozenset(
    (
        "a", "an", "the", "of", "with", "without", "no", "not", "nor", "or", "and", "in", "on", "for", "to", "by",
        "from", "at", "as", "than", "who", "which", "that", "whose", "is", "are", "was", "were", "be", "been",
        "being", "has", "have", "had", "having", "must", "should", "will", "may", "can", "could", "would", "do",
        "does", "did", "patient", "patients", "subject", "subjects", "participant", "participants", "people",
        "person", "persons", "individual", "individuals", "women", "woman", "men", "man", "children", "adults",
        "adult", "history", "diagnosis", "evidence", "presence", "absence", "lack", "free", "signs", "sign",
        "symptoms", "symptom", "including", "include", "includes", "such", "e", "g", "i", "eg", "ie", "like",
        "either", "neither", "both", "all", "their", "his", "her", "its", "this", "these", "those", "our", "my",
        "your", "following", "any", "other", "shows", "show", "showing", "shown", "demonstrates", "demonstrating",
        "demonstrated", "indicates", "indicating", "indicated", "suggests", "suggesting", "suggestive", "reveals",
        "revealing", "revealed", "consistent", "compatible", "meets", "meeting", "met", "developed", "develop",
        "developing", "experienced", "experiencing", "experience", "suffer", "suffers", "suffering", "suffered",
        "requires", "require", "required", "requiring", "needing", "receive", "receives", "received", "receiving",
        "take", "takes", "taking", "taken", "undergo", "undergoing", "underwent", "undergone", "present",
        "presenting", "presents", "exhibit", "exhibits", "exhibiting", "defined", "due", "because", "caused",
        "since", "last", "before", "after", "during", "within", "until", "but", "however", "whereas", "although",
        "unless", "except", "yet"
    )
)  # fmt: skip
_NUMERAL_RE = re.compile(r"(?:\d{1,2}|[ivx]{1,4})[abc]?")
_WORD_RE = re.compile(r"[a-z0-9]+")
# "class III or IV", "stage 3b", "grade 3-4", "(NYHA class III/IV)" right after a concept.
_AFTER_RE = re.compile(
    r"[ \t]*,?[ \t]*\(?(?:(?:who\s+(?:is|are)|that\s+is)\s+)?(?:(?:nyha\s+)?(?:class|stage|grade)|nyha)\s*"
    r"(?:[0-9]{1,2}|[ivx]{1,4})[abc]?(?:\s*(?:-|–|/|,|or|and|to|and/or)\s*(?:[0-9]{1,2}|[ivx]{1,4})[abc]?(?![a-z]))*"
    r"(?![a-z0-9])\)?"
)
_MAX_QUALIFIER_WORDS = 4


def qualifier_before(doc: ItemText, start: int, floor: int) -> int:
    """Where the words that narrow the concept at ``low[start]`` begin (``start`` when none):
    "severe", "moderate/severe recurrence of", "radiating leg", "grade 3", "poorly controlled".

    The noun phrase is read back from the concept to a boundary (punctuation, a
    preposition, a verb, "patients", "history of"); neutral words ("known", "active")
    narrow nothing and are left out of it.
    """
    # Most concepts follow a boundary ("patients with SLE", "history of MI", "…, stroke"): that
    # is seen from the word before, without reading the phrase.
    low = doc.low
    before = low[max(floor, start - 24) : start].rstrip(" \t")
    if not before or before[-1] in ",;:.()[]\n*•":
        return start
    last = before.rsplit(None, 2)
    if last[-1] in _BOUNDARY and not (last[-1] in ("of", "to") and len(last) > 1 and last[-2] in _OF_NOUNS):
        return start
    lo = max(floor, start - 80)  # punctuation and boundary words end it before any clause break
    words = list(_WORD_RE.finditer(low, lo, start))
    begin = start  # the leftmost narrowing word so far
    edge = start  # where the words read so far begin
    counted = 0
    for i in range(len(words) - 1, -1, -1):
        m = words[i]
        gap = low[m.end() : edge]
        word = m.group()
        after = words[i + 1].group() if i + 1 < len(words) and words[i + 1].start() < start else None
        listed = word in _JOINABLE or word in _NEUTRAL
        if gap.strip(" \t-/") and not (
            gap.strip() == "," and listed and (after in _JOINABLE or after == "or")
        ):
            break
        joined = (after in _JOINABLE and i and words[i - 1].group() in _JOINABLE) or (
            # "grade 3 or 4", "class III or class IV"
            after
            and (_NUMERAL_RE.fullmatch(after) or after in _NUMBERED)
            and i
            and _NUMERAL_RE.fullmatch(words[i - 1].group())
        )
        if word in ("or", "and", "to") and joined:
            edge = m.start()
            continue
        if word in ("of", "to"):
            if i and words[i - 1].group() in _OF_NOUNS:
                edge = m.start()
                continue
            break
        if word in _NEUTRAL:
            edge = m.start()
            if begin < start and (gap.strip() == "," or after == "or"):
                begin = m.start()  # "active, chronic, or recurrent": one of them, "active" too
            continue
        if word in _BOUNDARY or counted >= _MAX_QUALIFIER_WORDS or (len(word) == 1 and not word.isdigit()):
            break  # a boundary, or a letter alone ("patient's": "s")
        if _NUMERAL_RE.fullmatch(word) and not _numbered(words, i):
            break
        edge = begin = m.start()
        counted += 1
    return begin


def _numbered(words: list[re.Match[str]], i: int) -> bool:
    """Is the numeral ``words[i]`` a grade, stage or class ("grade 3 or 4", "stage IIIb")?"""
    return any(m.group() in _NUMBERED for m in words[max(0, i - 3) : i])


_NUMBERED = frozenset(["grade", "stage", "class", "nyha", "type"])


def qualifier_after(low: str, end: int) -> int:
    """Where a class, stage or grade written after a concept ends ("lupus nephritis class III
    or IV", "CKD stage 4 or 5" when the vocabulary's term holds "CKD stage 4"), ``end`` when
    none follows."""
    if end >= len(low) or low[end] not in " \t,(-–/":
        return end
    after = low[end : end + 14]
    if "class" not in after and "stage" not in after and "grade" not in after and "nyha" not in after:
        return _more_numerals(low, end)
    m = _AFTER_RE.match(low, end)
    return m.end() if m else _more_numerals(low, end)


def _more_numerals(low: str, end: int) -> int:
    """ "CKD stage 4 or 5": where the numerals listed after a concept ending in one end."""
    last = low[max(0, end - 4) : end].rsplit(None, 1)
    if not last or not _NUMERAL_RE.fullmatch(last[-1]):
        return end
    m = _MORE_NUMERALS_RE.match(low, end)
    return m.end() if m else end


def staged(text: str) -> str | None:
    """The stage, class or grade a concept's words hold ("CKD stage 4" → "stage 4"): the
    vocabulary names the disease, the record must state the stage."""
    low = text.lower()
    if "stage" not in low and "class" not in low and "grade" not in low:
        return None
    m = _STAGED_RE.search(low)
    return text[m.start() :] if m else None


_STAGED_RE = re.compile(r"(?<![a-z])(?:stage|class|grade)\s*(?:[0-9]{1,2}|[ivx]{1,4})[abc]?(?![a-z])")
_MORE_NUMERALS_RE = re.compile(
    r"(?:\s*(?:-|–|/|,|or|and|to|and/or)\s*(?:[0-9]{1,2}|[ivx]{1,4})[abc]?(?![a-z0-9]))+"
)


# "HIV negative", "HBsAg-negative", "hepatitis B (negative)": the concept is absent.
_NEGATIVE_AFTER_RE = re.compile(
    r"[\s)(-]*(?:(?:is|are|was|were|be|must\s+be|should\s+be|test(?:s|ed)?|serology|status|infection)\s+)*"
    r"(?:negative|neg|seronegative|free|absent|not\s+(?:present|detected))(?![a-z])"
)


def negative_after(low: str, end: int) -> bool:
    """Is the concept ending at ``end`` said to be negative or absent right after it?"""
    window = low[end : end + 40]
    if "neg" not in window and "free" not in window and "absent" not in window and "not" not in window:
        return False
    return _NEGATIVE_AFTER_RE.match(low, end) is not None


# A noun after a condition that makes the phrase something else: a narrower thing that a
# record must state too ("bleeding disorder", "asthma exacerbation"), or no condition of the
# patient at all ("tumor tissue", "depression scale", "diabetes medication", "stroke risk").
_HEAD_AFTER_RE = re.compile(
    r"[\s-]+(?:(?:[a-z-]+\s+){1,2}(?P<named>scales?|scores?|questionnaires?|inventory|index|criteria|classification|"
    r"instruments?)(?![a-z])|(?P<narrow>disorders?|diseases?|syndromes?|conditions?|disturbances?|dysfunctions?|"
    r"abnormalit(?:y|ies)|complications?|symptoms?|events?|episodes?|exacerbations?|flares?|attacks?|"
    r"crisis|crises|relapses?|recurrences?)|(?P<other>tissues?|samples?|specimens?|blocks?|tests?|testing|"
    r"scores?|scales?|questionnaires?|inventory|clinics?|units?|programs?|programmes?|screening|vaccines?|"
    r"vaccinations?|medications?|medicines?|drugs?|therap(?:y|ies)|treatments?|management|prophylaxis|"
    r"risk|guidelines?|criteria|classification|index|registry|specialists?|services?|regimens?|trials?|"
    r"studies|study|research|cessation|kinases?|receptors?|genes?|mutations?|fusions?|rearrangements?|"
    r"expression|proteins?|antigens?|markers?|status|pathways?|signaling|surgery|surgeries|operations?|"
    r"resections?|repair|care|duration|onset|intensity|severity))(?![a-z])"
)
# "Biopsy tissue", "biopsy specimens": a specimen, not the procedure the trial asks about.
_SPECIMEN_AFTER_RE = re.compile(
    r"[\s-]+(?:tissues?|samples?|specimens?|blocks?|slides?|sections?|material)(?![a-z])"
)


def specimen_after(low: str, end: int) -> bool:
    return _SPECIMEN_AFTER_RE.match(low, end) is not None


# "treatment-naive", "steroid-free": the treatment was never (or is not) received.
_NAIVE_AFTER_RE = re.compile(r"[\s-]+(?:na[iï]ve|free)(?![a-z])")


def head_after(low: str, end: int) -> tuple[str, int] | None:
    """``("narrow", end)`` or ``("other", end)`` when a noun right after a condition
    changes what the words name, with where that noun ends."""
    m = _HEAD_AFTER_RE.match(low, end)
    if m is None:
        return None
    # "Columbia-Suicide Severity Rating Scale": the concept names an instrument
    return ("other" if m.lastgroup == "named" else m.lastgroup or "other", m.end())


def naive_after(low: str, end: int) -> bool:
    """Is the treatment ending at ``end`` said never received ("EGFR-TKI naive")?"""
    return _NAIVE_AFTER_RE.match(low, end) is not None
