"""Conditions and treatments an item requires or excludes, with abbreviations expanded.

A phrase is taken after a cue ("diagnosis of", "history of", "known",
"patients with", "treated with", "receiving", "use of", "prior … therapy") up
to the end of its noun phrase, split into its listed alternatives ("A, B or
C"), and each alternative is expanded with the abbreviations the trial defines
in its own text (Schwartz-Hearst, :func:`extract_abbreviations`) and the
curated list in ``data/abbreviations.json``. A phrase is a *treatment* when its
cue is a treatment cue or it contains a treatment word or an INN drug stem
(``data/terms.json``); otherwise a *condition*.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache

from ingest.criteria.abbrev import expand_terms
from ingest.criteria.catalogue import DATA_DIR
from ingest.criteria.lexicon import ItemText, last_word_in, trie_pattern
from ingest.criteria.model import Rule

# Cue phrases, lower case. They are compiled into one character trie behind a
# look-behind for the left word boundary, which fails at once inside a word (a
# third faster than matching there and rejecting afterwards, measured).
_PEOPLE = ("patients", "patient", "subjects", "subject", "participants", "participant", "individuals",
           "individual", "those", "people", "persons", "person", "women", "men", "adults", "adult", "children")  # fmt: skip
_CONDITION_CUES = [
    "diagnosis of", "diagnoses of", "diagnosed with", "diagnosed as having", "diagnosed as", "history of", "h/o",
    "evidence of", "presence of", "suffering from", "affected by", "tested positive for", "test positive for",
    "positive for", "positive test for", "seropositive for", "known", "documented", "confirmed", "proven",
    "established", "active", "uncontrolled", "untreated", "severe", "significant", "clinically significant",
    "coexisting", "co-existing", "pre-existing", "preexisting", "underlying", "symptomatic", "with", "presenting",
    "presenting with", "having", "diagnosed", "suspected", "free of", "lack of", "absence of",
    *(f"{who} {how}" for who in _PEOPLE for how in ("with", "having", "who have", "who has", "who had",
                                                    "who have a", "who has a", "who had a", "who have an")),
]  # fmt: skip
_TREATMENT_CUES = [
    "treated with", "treatment with", "therapy with", "managed with", "pretreated with", "pre-treated with",
    "receiving", "received", "receive", "currently receiving", "currently taking", "taking", "took", "take",
    "use of", "using", "used", "exposure to", "exposed to", "administration of", "undergone", "undergoing",
    "undergo", "underwent", "vaccinated against",
]  # fmt: skip
# Verbs that take any object ("received adequate information"): the phrase must look like a treatment.
_WEAK_TREATMENT_CUES = frozenset(
    {"receiving", "received", "receive", "currently receiving", "currently taking", "taking", "took", "take",
     "use of", "using", "used", "undergone", "undergoing", "undergo", "underwent", "exposure to", "exposed to"}
)  # fmt: skip
# Words that introduce any noun phrase: the phrase must look like a condition (data/terms.json).
_WEAK_CONDITION_CUES = frozenset(
    {"with", "presenting", "presenting with", "having", "diagnosed", "suspected"}
)
# Cues that negate what follows ("free of active infection"); like the weak cues, the phrase
# must look like a condition ("lack of response to …" is not one).
_NEGATING_CUES = frozenset({"free of", "lack of", "absence of"})
# "current"/"concomitant"/"concurrent" name a treatment when a therapy word follows, else a condition;
# "prior"/"previous"/"ongoing" only count before a therapy word.
_CONTEXT_CUES = {"current": "condition", "concomitant": "condition", "concurrent": "condition",
                 "prior": None, "previous": None, "ongoing": None}  # fmt: skip
_CUE_KIND = {
    **{c: "condition" for c in _CONDITION_CUES},
    **{c: "treatment" for c in _TREATMENT_CUES},
    **{c: "context" for c in _CONTEXT_CUES},
}
_CUE_RE = re.compile(r"(?<![a-z0-9-])" + trie_pattern(_CUE_KIND) + r"(?![a-z0-9])\s*")
_THERAPY_AHEAD_RE = re.compile(
    r"(?:[\w-]+\s+){0,2}(?:therapy|therapies|treatment|treatments|chemotherapy|radiotherapy|surgery|surgeries)\b"
)
_PERMISSIVE_GATE_RE = re.compile(r"allow|permit|eligib|includ|accept|enrol|exclu")
_STOP_RE = re.compile(
    r"[;:.()\[\]\x00]|\s(?=(?:who|which|that|whose|where|when|as|defined|according|by|per|at|within|during|in\s+the|"
    r"free\s+of|lack\s+of|absence\s+of|"
    r"for|on|prior|before|after|since|requiring|required|with|without|if|unless|except|excluding|other\s+than|including|"
    r"included|such\s+as|e\.g|i\.e|based|using|confirmed|documented|diagnosed|is|are|was|were|will|must|should|may|can|"
    r"could|has|have|had|to|from|than|due|because|treated|receiving|not|considered|determined|verified|"
    r"deemed|judged|likely|known|in|at)\b)"
)
_SPLIT_RE = re.compile(r"\s*(?:,\s*(?:and/or|or|and)?|\band/or\b|\bor\b|\bnor\b|\s/\s)\s*", re.IGNORECASE)
_DETERMINER_RE = re.compile(
    r"^(?:(?:a|an|the|any|all|other|another|some|their|his|her|its|prior|previous|current|currently|known|"
    r"documented|confirmed|active|history\s+of|evidence\s+of|type(?!\s+(?:\d|[ivx]+\b))|diagnosis\s+of|diagnosed|"
    r"clinical|clinically|"
    r"significant|of|with|and|having|has|have|been|be|had|being|use\s+of|treatment\s+with|therapy\s+with|used|"
    r"received|receiving|taken|taking|undergone|using|at\s+least\s+(?:one|1)|one\s+or\s+more|more\s+than\s+one|"
    r"a\s+diagnosis\s+of|suspected|presumed|possible|probable|experiencing|suffering\s+from)\s+)+",
    re.IGNORECASE,
)
_TRAILING = ("and", "or", "of", "the", "a", "an", "with", "any", "in", "at", "to", "be", "is", "are", "as", "for", "by")  # fmt: skip
_TRAILING_RE = re.compile(rf"(?:\s+(?:{'|'.join(_TRAILING)}))+$", re.IGNORECASE)
_TRAILING_WORDS = frozenset(_TRAILING)
_NOT_A_TERM_RE = re.compile(
    r"^(?:following|criteria|criterion|conditions?|diseases?|disorders?|illness|illnesses|exception|exceptions|"
    r"study|trial|protocol|investigator|patients?|subjects?|participants?|informed\s+consent|consent|ability|"
    r"age|years?|months?|weeks?|days?|time|evidence|history|diagnosis|treatment|therapy|medications?|drugs?|"
    r"agents?|any|other|none|one|both|either|all|these|those|this|that|it|them|they|which|who|study\s+drug|"
    r"investigational\s+product|screening|baseline|visit|procedures?|requirements?|information|access|"
    r"participation|enrollment|enrolment|randomization|contraindications?|reason|reasons|cause|causes|"
    r"women|men|males?|females?|pregnancy|pregnant|breast[\s-]?feeding|lactation|lactating|nursing|contraception)$",
    re.IGNORECASE,
)
_BARE_VERB_RE = re.compile(
    r"\b(?:is|are|be|been|must|should|will|would|can|could|may|able|unable|willing|unwilling|understand|give|"
    r"sign|signed|provide|consent|participate|participating|comply|agree|read|speak|write|complete|attend|live|"
    r"reside|has|have|had|did|does|do|planned|plans?|need|needs|expected|allowed|eligible|included|excluded)\b"
)
_ABBR_TOKEN_RE = re.compile(r"\b[A-Za-z0-9][A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*\b")
# Lower-case: run on the folded text or a lower-cased phrase.
_DEMOGRAPHIC_RE = re.compile(r"pregnan|lactat|breast[\s-]?feed|nursing|contracept|birth\s+control")


_TOKEN_RE = re.compile(r"[a-z][a-z-]*")


@cache
def _vocabulary() -> tuple[re.Pattern[str], re.Pattern[str], frozenset[str]]:
    """Compiled once from ``data/terms.json``: a treatment pattern and a condition pattern.

    Both run on lower-cased text: whole words (an optional plural "s"), multi-word
    entries, and word endings (INN drug stems on words of 7+ letters, disease-name
    endings on words of 6+ letters).
    """
    raw = json.loads((DATA_DIR / "terms.json").read_text(encoding="utf-8"))

    def pattern(words: list[str], endings: list[str], min_len: int) -> re.Pattern[str]:
        # Character tries, not plain alternations: ``re`` tries a plain alternation's
        # branches one by one at every word start (and, for the endings, at every
        # backtracking step inside the word), which made these the costliest patterns.
        alternatives = trie_pattern((w.lower() for w in words), space=" ")
        ends = trie_pattern(endings)
        return re.compile(
            rf"(?<![a-z-])(?:(?:{alternatives})s?(?![a-z])|[a-z-]{{{min_len - 3},}}(?:{ends})(?![a-z]))"
        )

    treatment = pattern(raw["treatment_words"], raw["drug_stems"], 7)
    condition = pattern(raw["condition_words"], raw["condition_suffixes"], 6)
    return treatment, condition, frozenset(w.lower() for w in raw["condition_words"])


def _is_condition_word(token: str) -> bool:
    return _vocabulary()[1].fullmatch(token) is not None


def is_condition_phrase(phrase: str) -> bool:
    """Does the phrase name a condition (a disease head word or a disease-name ending)?"""
    return _vocabulary()[1].search(phrase.lower()) is not None


_CONDITION_FIRST = frozenset({"allergy", "allergies", "hypersensitivity", "intolerance", "contraindication",
                              "contraindications", "allergic"})  # fmt: skip


def phrase_kind(phrase: str, cue_kind: str | None) -> str:
    """Condition or treatment: "allergy to penicillin" and "diabetes on insulin" are conditions."""
    tokens = _TOKEN_RE.findall(phrase.lower())
    if _CONDITION_FIRST.intersection(tokens[:3]):  # "(severe) allergy to prednisolone" whatever the cue
        return "condition"
    if tokens and _is_condition_word(tokens[-1]) and cue_kind != "treatment":
        return "condition"
    if cue_kind == "treatment" or is_treatment_phrase(phrase):
        return "treatment"
    return "condition"


def is_treatment_phrase(phrase: str) -> bool:
    """Does the phrase name a treatment (a treatment word, a multi-word one, or an INN drug stem)?"""
    return _vocabulary()[0].search(phrase.lower()) is not None


_PAREN_ABBR_RE = re.compile(r"\s*\(([^()\s]{1,12})\)")
_DRUG_CODE_RE = re.compile(r"\b[A-Z]{2,5}-?\d{2,6}\b")
_SEVERITY_RE = re.compile(r"(?:mild|moderate|severe)(?:\s*(?:-|to)\s*(?:moderate|severe))?\s+")


def _split(phrase: str) -> list[str]:
    """The listed alternatives of a phrase ("A, B or C (CC)" → A, B, C, CC), cleaned."""
    terms: list[str] = []
    # Every separator has a comma, a slash or "or" in it; most phrases have none, and the
    # split pattern (case-insensitive, tried at every position) is costly. Non-ASCII text
    # goes to the pattern, which folds case differently from ``lower``.
    separable = "," in phrase or "/" in phrase or "or" in phrase.lower() or not phrase.isascii()
    for part in _SPLIT_RE.split(phrase) if separable else (phrase,):
        defined = _PAREN_ABBR_RE.findall(part) if "(" in part else ()
        if defined:
            part = _PAREN_ABBR_RE.sub("", part)
        for piece in (part, *defined):
            piece = _DETERMINER_RE.sub("", piece.strip(" -*•'\""))
            if last_word_in(piece, _TRAILING_WORDS):
                piece = _TRAILING_RE.sub("", piece)
            piece = piece.strip(" -*•'\"")
            numbered = _NUMBERED_END_RE.search(terms[-1]) if terms and _NUMERAL_RE.fullmatch(piece) else None
            if numbered:  # "CKD stage 3 or 4": the 4 is "CKD stage 4"
                terms.append(terms[-1][: numbered.start("n")] + piece)
            elif len(piece) >= 2 and not _NOT_A_TERM_RE.match(piece) and not piece.isdigit():
                terms.append(piece)
    for i in range(len(terms) - 1):
        # "Grade 3 or 4 neuropathy": the name after the last number belongs to each
        lead = _NUMBERED_END_RE.search(terms[i])
        follow = _NUMERAL_HEAD_RE.match(terms[i + 1])
        if lead and follow:
            terms[i] = f"{terms[i]} {follow['rest']}"
            if not follow["word"]:  # "type 1 or type 2 diabetes" names its own
                terms[i + 1] = f"{terms[i][: lead.start('n')]}{follow['n']} {follow['rest']}"
    return terms


_NUMERAL_RE = re.compile(r"(?:\d{1,2}|[IVX]{1,4}|[ivx]{1,4})[abcABC]?")
_NUMBERED_END_RE = re.compile(r"\b(?:type|class|stage|grade|NYHA(?:\s+class)?)\s+(?P<n>\S+)$", re.IGNORECASE)
_NUMERAL_HEAD_RE = re.compile(
    r"(?P<word>(?:type|class|stage|grade)\s+)?(?P<n>(?:\d{1,2}|[IVX]{1,4})[abc]?)\s+(?P<rest>[^\d\s].*)",
    re.IGNORECASE,
)


_ALLERGY_HEAD_RE = re.compile(
    r"\b(?:allerg(?:y|ies|ic(?:\s+reactions?)?)|hypersensitivity|intolerance|contraindications?)(?:\s+or\s+\w+)?\s*$"
)
_ALLERGEN_RE = re.compile(r"\s(?:to|against)\s")


def _phrase_end(low: str, start: int, limit: int) -> int:
    """Where the noun phrase starting at ``start`` ends; a short "(ABBR)" does not end it."""
    severity = _SEVERITY_RE.match(low, start)
    pos = severity.end() if severity else start
    while True:
        stop = _STOP_RE.search(low, pos, limit)
        end = stop.start() if stop else limit
        if stop is not None and _ALLERGEN_RE.match(low, end) and _ALLERGY_HEAD_RE.search(low, start, end):
            # "allergy to mycophenolate": a short allergen is part of the name
            after = _STOP_RE.search(low, end + 4, limit)
            longer = after.start() if after else limit
            if len(low[start:longer].split()) <= 6 and "," not in low[end:longer]:
                pos = end + 1
                continue
        if stop is None or low[end] != "(":
            break
        close = low.find(")", end, min(limit, end + 14))
        if close < 0 or " " in low[end:close].strip():
            break
        pos = close + 1
    if end - start > 60:
        words = low[start:end].split()
        if len(words) > 10:
            end = low.find(words[9], start) + len(words[9])
    return end


def _cues(low: str) -> Iterator[re.Match[str]]:
    """Cue matches that start a word, left to right without overlaps.

    A match must not start inside a word: "patients with" inside "outpatients with"
    would hide the cue "with". The pattern's look-behind sees to that for ASCII; a
    match after a non-ASCII letter is dropped here and the scan resumes one
    character later.
    """
    pos: int | None = 0
    while pos is not None:
        resume, pos = pos, None
        for m in _CUE_RE.finditer(low, resume):
            at = m.start()
            if at > 0 and (low[at - 1].isalnum() or low[at - 1] == "-"):
                pos = at + 1  # rare: restart the scan just after the false start
                break
            yield m


def find_terms(
    text: str | ItemText, section: str, abbreviations: dict[str, str], avoid: list[tuple[int, int]]
) -> list[Rule]:
    """Condition and treatment rules in one item; phrases inside ``avoid`` spans are skipped."""
    doc = text if isinstance(text, ItemText) else ItemText(text, section)
    low = doc.low
    rules: list[Rule] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    claimed = 0
    permissive = _PERMISSIVE_GATE_RE.search(low) is not None
    for m in _cues(low):
        if m.start() < claimed:
            continue
        cue = " ".join(m.group().split())
        cue_kind = _CUE_KIND.get(cue)
        if cue_kind == "context":
            if _THERAPY_AHEAD_RE.match(low, m.end()):
                cue_kind = "treatment"
            else:
                cue_kind = _CONTEXT_CUES.get(cue)
                if cue_kind is None:
                    continue
        start = m.end()
        _, right = doc.clause(start, start)
        end = _phrase_end(low, start, right)
        if end <= start or any(s <= start < e or s < end <= e for s, e in avoid):
            continue
        phrase = doc.text[start:end]
        if (
            cue_kind == "treatment"
            and cue in _WEAK_TREATMENT_CUES
            and not (is_treatment_phrase(phrase) or _DRUG_CODE_RE.search(phrase))
        ):
            continue
        if (cue in _WEAK_CONDITION_CUES or cue in _NEGATING_CUES) and not is_condition_phrase(phrase):
            continue
        if _DEMOGRAPHIC_RE.search(low, start, end) or (permissive and doc.permissive(m.start(), end)):
            continue
        terms = _split(phrase)
        if not terms:
            continue
        kind = phrase_kind(phrase, cue_kind)
        if cue == "vaccinated against":
            # What the trial asks for is the vaccination, not the disease it prevents.
            terms = [f"vaccination against {t}" for t in terms]
        expanded = expand_terms(terms, abbreviations)
        key = (kind, expanded)
        if key in seen:
            continue
        seen.add(key)
        claimed = end
        rules.append(
            Rule(
                kind=kind,  # type: ignore[arg-type]
                text=doc.text[m.start() : end],
                span=(m.start(), end),
                # A negating cue ("free of") is read as part of the clause before the phrase.
                negated=doc.negated(start if cue in _NEGATING_CUES else m.start(), end),
                terms=expanded,
            )
        )
    if not rules or rules[0].span[0] > 40:
        rules[:0] = _bare_phrase(doc, abbreviations, avoid)
    # "… no more than one year if they enter with a moderate/severe recurrence": what an
    # if-clause names is when another part applies, not something the trial requires.
    return [rule for rule in rules if not _in_if_clause(low, rule.span[0])]


_IF_CLAUSE_RE = re.compile(r"\b(?:if|when|unless|in\s+case\s+of)\b[^,;.:()\n]{0,50}$")
# "Patients are excluded if they have …", "eligible when …": there the clause is the criterion.
_CRITERION_VERB_RE = re.compile(r"(?:excluded|included|eligible|ineligible|exclude|include)\s*$")


def _in_if_clause(low: str, start: int) -> bool:
    """Does the phrase at ``start`` sit in an if-clause in the middle of a sentence?"""
    m = _IF_CLAUSE_RE.search(low, max(0, start - 60), start)
    if m is None:
        return False
    before = low[: m.start()].rstrip()
    return bool(before) and before[-1] not in ".;:\n*•" and not _CRITERION_VERB_RE.search(before)


# Starts with a character class so that ``re`` only tries it at spaces and brackets.
_BARE_CUT_RE = re.compile(
    r"[\s(;](?:(?<=[(;])|(?:e\.g|i\.e|such\s+as|including|with|who|that|which|on|due|caused|for|in|at|from|by|"
    r"of\s+the|requiring|according)\b)"
)
_BARE_NEGATION_RE = re.compile(
    r"^(?:no|not|without|free\s+of|lack\s+of|absence\s+of)\s+(?P<soft>(?:(?:or\s+partial\s+)?respon|improvement|"
    r"remission|adequate|efficacy|benefit))?",
    re.IGNORECASE,
)
_LABEL_RE = re.compile(r"^[^:]{1,40}:\s+(?=\S)")
_PEOPLE_RE = re.compile(r"\b(?:patients?|subjects?|participants?|individuals?)\b", re.IGNORECASE)


def _bare_phrase(doc: ItemText, abbreviations: dict[str, str], avoid: list[tuple[int, int]]) -> list[Rule]:
    """The item's leading noun phrase when it names a condition or treatment ("Active infections",
    "Hormonal medication.", "obesity with BMI above 30", "Surgical screening: persistent radicular pain")."""
    newline = doc.low.find("\n")
    first_low = doc.low if newline < 0 else doc.low[:newline]
    first = doc.text[: len(first_low)]
    label = _LABEL_RE.match(first_low) if ":" in first_low else None
    offset = label.end() if label else 0
    cut = _BARE_CUT_RE.search(first_low, offset, offset + 120)
    end = cut.start() if cut else len(first)
    end = len(first[:end].rstrip(" .;,:"))
    if end <= offset or any(s < end and offset < e for s, e in avoid):
        return []
    head = _PAREN_ABBR_RE.sub("", first[offset:end])
    # "CKD stage 3 or 4": an abbreviation is read as what it stands for
    spelled = " ".join(abbreviations.get(word, word) for word in head.split())
    if not any(is_condition_phrase(words) or is_treatment_phrase(words) for words in (head, spelled)):
        return []
    body = " ".join(_PEOPLE_RE.sub(" ", head).split()).rstrip(".;,")
    words = body.split()
    lowered = body.lower()
    named = [w for w in words if not _NUMERAL_RE.fullmatch(w.strip(",;"))]  # "stage 3, 4 or 5": 4 words
    if not 1 <= len(named) <= 7 or _BARE_VERB_RE.search(lowered) or _DEMOGRAPHIC_RE.search(lowered):
        return []
    lead = _BARE_NEGATION_RE.match(body)
    # A failure ("no response to …", "lack of efficacy of …") is not a negation.
    soft = lead is not None and lead["soft"] is not None
    terms = _split(body[lead.start("soft") if soft else lead.end() :] if lead else body)
    lead = None if soft else lead
    if not terms or doc.permissive(offset, end):
        return []
    # A leading "No"/"Free of" negates the phrase; the clause before it is read from the phrase.
    negated = doc.negated(offset, end)
    return [
        Rule(
            kind=phrase_kind(body, None),  # type: ignore[arg-type]
            text=doc.text[offset:end],
            span=(offset, end),
            negated=not negated if lead else negated,
            terms=expand_terms(terms, abbreviations),
        )
    ]
