"""ConText: is a named concept negated, historical, a relative's, or only hypothetical?

After Harkema et al., "ConText: an algorithm for determining negation, experiencer,
and temporal status from clinical reports" (J Biomed Inform 2009;42:839-51), whose
trigger lists medspaCy ships as its default rules: a *trigger* phrase ("denies",
"history of", "mother", "rule out") modifies the concepts in its *scope* — the
words after it (or before it, for "… was ruled out", "… in her mother") up to the
end of the clause. A clause ends at a sentence stop, a semicolon, a line break, a
contrast ("but", "however", "except") or a new verb ("… and has", "… was found").
*Pseudo-triggers* ("no increase", "not only", "gram negative") are not triggers.

Measured on the labelled case notes (``bench/referral.py``); the lists are data,
English and Spanish, in :data:`_TRIGGERS`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from ingest.vocabulary.concepts import FLAG_ABSENT
from ingest.vocabulary.recognizer import Mention

Category = Literal["negated", "historical", "family", "hypothetical"]
Direction = Literal["forward", "backward", "both"]

# Trigger phrases (regular expressions over the text, case-insensitive), by what they do.
_TRIGGERS: dict[tuple[Category, Direction], tuple[str, ...]] = {
    ("negated", "forward"): (
        r"no", r"not", r"nor", r"without", r"doesn['’]t", r"don['’]t", r"didn['’]t", r"isn['’]t", r"wasn['’]t",
        r"hasn['’]t", r"haven['’]t", r"hadn['’]t", r"won['’]t", r"wouldn['’]t", r"can['’]t", r"cannot",
        r"neither", r"none", r"negative history of", r"negative for a history of", r"no personal or family history of", r"denies", r"denied", r"denying", r"deny",
        r"negative for", r"neg for", r"free of", r"free from", r"absence of", r"absent", r"lack of", r"lacks",
        r"no evidence of", r"no signs? of", r"no history of", r"no hx of", r"no h/o", r"no known", r"never",
        r"never had", r"has not had", r"had not", r"did not have", r"does not have", r"do not have",
        r"no prior", r"no previous", r"no personal history of", r"not on", r"rules? out", r"ruled out",
        r"unremarkable for", r"no longer", r"nonsmoker", r"non-smoker",
        r"sin", r"niega", r"niegan", r"no refiere", r"ausencia de", r"descarta", r"descart[oó]", r"se descart[oó]",
        r"nunca",
        r"sin antecedentes de", r"libre de", r"negativ[oa] para",
    ),
    ("negated", "backward"): (
        r"(?:was|were|is|are|been|came back|returned)?\s*negative", r"neg", r"(?:was|were|is|are|been)\s+(?:ruled out|excluded|absent|denied)",
        r"ruled out", r"excluded", r"unlikely", r"not (?:seen|present|found|detected|identified|noted)", r"absent",
        r"denied",
        r"negativ[oa]s?", r"descartad[oa]s?", r"ausente",
    ),
    ("historical", "both"): (
        r"history of", r"hx of", r"h/o", r"past medical history", r"pmh", r"past history", r"previous",
        r"previously", r"prior", r"formerly", r"former", r"ex-", r"in the past", r"remote", r"s/p", r"status post",
        r"as a (?:child|teenager|young (?:man|woman|adult))", r"in (?:her|his) (?:childhood|youth|twenties|thirties|forties|fifties|teens)",
        r"at (?:the )?age (?:of )?\d{1,3}", r"(?:aged|age) \d{1,3}", r"in (?:19|20)\d\d", r"\d{1,3} (?:years?|months?|weeks?) ago",
        r"years ago", r"resolved", r"resolution of", r"treated for", r"quit", r"stopped",
        r"antecedentes? (?:personales )?de", r"previ[oa]", r"hace \d+ (?:años|meses|semanas)", r"en (?:19|20)\d\d",
        r"a los \d{1,3} años",
    ),
    ("family", "forward"): (
        r"family history", r"family hx", r"fhx", r"fh", r"family members?",
        r"(?:his|her|the patient's|patient's)?\s*(?:mother|father|mum|mom|dad|sister|brother|sibling|son|daughter|"
        r"aunt|uncle|cousin|grandmother|grandfather|grandparent|parent|niece|nephew|twin)s?\b",
        r"antecedentes familiares", r"(?:su )?(?:madre|padre|herman[oa]|hij[oa]|abuel[oa]|t[ií][oa]|prim[oa])s?\b",
    ),
    ("family", "backward"): (
        r"in (?:his|her|the patient's|a) (?:mother|father|mum|mom|sister|brother|sibling|son|daughter|aunt|uncle|"
        r"cousin|grandmother|grandfather|twin|relative|family)s?",
        r"in (?:two|three|several|multiple) (?:family members|relatives|siblings|sisters|brothers)",
        r"runs in the family", r"en (?:su|la) (?:madre|padre|herman[oa]|familia)",
    ),
    ("hypothetical", "forward"): (
        r"possible", r"possibly", r"probable", r"probably", r"suspected", r"suspicion of", r"suspicious for",
        r"concern for", r"concerning for", r"worrisome for", r"rule out", r"r/o", r"question of", r"questionable",
        r"\?", r"differential (?:diagnosis )?(?:includes?|of)?", r"ddx", r"vs\.?", r"versus", r"to exclude",
        r"screen(?:ing)? for", r"if", r"unless",
        r"in case of", r"should (?:she|he|the patient)", r"risk of", r"risk for", r"at risk", r"risk factors? for",
        r"may have", r"might have", r"could have", r"may develop", r"prevent", r"prevention of", r"prophylaxis",
        r"candidate for", r"awaiting", r"waiting for", r"wait-?listed for", r"on the waiting list for", r"planned",
        r"scheduled for", r"will (?:start|begin|undergo|receive)", r"plan(?:s|ning)? (?:to|for)", r"referred for",
        r"consider", r"considering", r"recommend(?:ed)?", r"likelihood of",
        r"posible", r"probable", r"sospecha de", r"a descartar", r"descartar", r"en estudio", r"riesgo de",
        r"pendiente de", r"en lista de espera", r"candidat[oa] a", r"si",
    ),
    ("hypothetical", "backward"): (
        r"(?:is|was|were|are)? ?(?:suspected|considered|possible|questioned|being considered)",
        r"cannot be (?:excluded|ruled out)", r"can ?not be (?:excluded|ruled out)", r"not excluded", r"\?",
        r"to be ruled out", r"en estudio", r"a descartar",
    ),
}  # fmt: skip
# Relatives, as the family triggers name them, and what an informant does.
_RELATIVES = (
    r"(?:mother|father|mum|mom|dad|sister|brother|sibling|son|daughter|aunt|uncle|cousin|grandmother|"
    r"grandfather|grandparent|parent|niece|nephew|wife|husband|partner|family|caregiver)s?"
)
_INFORMANT_VERBS = (
    r"(?:reports?|reported|notes?|noted|notices?|noticed|observes?|observed|says|said|states|stated|"
    r"describes?|described|mentions?|mentioned|brings?|brought|is concerned|are concerned|was concerned|"
    r"were concerned|became concerned|found (?:him|her)|called|gives? a history)"
)
# Phrases that hold a trigger's words but are no trigger.
_PSEUDO = (
    r"no (?:increase|change|further|significant change|interval change|new)", r"not only", r"not necessarily",
    # what a treatment did not do, not what she lacks: "no improvement of her psoriasis", "treated for
    # hypertension without improvement", "no response to treatment for her depression"
    r"(?:no|without|with\s+no|did\s+not\s+show|showed\s+no|failed\s+to\s+show)\s+(?:any\s+|significant\s+|clinical\s+)?"
    r"(?:improvement|response|benefit|relief|resolution|success)",
    # how well it is controlled or taken: "diabetes, not well controlled", "not compliant with his medications"
    r"not\s+(?:well[\s-]+|adequately\s+|optimally\s+|fully\s+|properly\s+|completely\s+)?controlled",
    r"not\s+(?:compliant|adherent|taking\s+(?:his|her|the)\s+medications?)", r"non-?compliant", r"non-?adherent",
    r"not certain (?:if|whether)", r"gram[- ]negative", r"without (?:difficulty|complication|complications|incident)",
    r"no (?:acute )?distress", r"not (?:been )?able", r"not (?:to be )?confused", r"no longer smoking",
    r"prior to", r"previous to", r"if (?:any|needed|necessary|possible|available)", r"possible that",
    r"previously healthy", r"previously well", r"history of present illness", r"rather than",
    # how an image was taken, not what it showed: "CT abdomen without contrast … showing a mass"
    r"(?:with\s+and\s+)?(?:without|w/o)\s+(?:(?:iv|intravenous|oral|i\.v\.)\s+)?(?:contrast|gadolinium)",
    # A relative who brings the patient or tells of her illness is the informant, not whom it is
    # about: "brought to the emergency department by his parents due to irritability", "Daughter
    # has also noted increased LE edema", "The mother reports that she was playing outside".
    rf"(?:brought|accompanied|sent|carried)\s+(?:in\s+|(?:back\s+)?to\s+(?:the\s+)?[\w ]{{1,30}}?\s+)?by\s+(?:(?:his|her|their|the)\s+)?{_RELATIVES}",
    rf"(?:(?:his|her|their|the)\s+)?{_RELATIVES}\s+(?:also\s+|has\s+(?:also\s+)?|have\s+(?:also\s+)?)?{_INFORMANT_VERBS}",
    rf"(?:according\s+to|per)\s+(?:(?:his|her|their|the)\s+)?{_RELATIVES}",
)  # fmt: skip
# Words that end a trigger's scope: contrasts, and a new statement — a verb after "and", a
# comma or a subject ("…, has a cough", "and she takes"); a verb straight after the trigger
# is the trigger's own ("family history is positive for", "her mother has").
_VERBS = (
    r"has|had|have|is|was|presents?|presented|reports?|reported|complains?|complained|developed|develops|"
    r"underwent|undergoes|takes|took|started|showed|shows|revealed|reveals|found|diagnosed|admitted|notes|"
    r"noted|describes|tiene|presenta|present[oó]|refiere|toma|inici[oó]"
)
_TERMINATORS = (
    r"but", r"however", r"although", r"though", r"yet", r"except", r"apart from", r"aside from", r"other than",
    r"besides", r"beyond",
    r"which", r"whereas", r"while", r"pero", r"aunque", r"excepto", r"salvo", r"sin embargo",
    rf"(?:and|y|,)\s*(?:she|he|the patient|patient|ella|él)?\s*(?:also\s+)?(?:{_VERBS})",
    rf"(?:she|he|the patient|ella|él)\s+(?:also\s+)?(?:{_VERBS})", r"who", r"que",
)  # fmt: skip
# Forward scope, in tokens from the trigger's end to the concept's start; "risk of" reaches
# only its own noun phrase ("at high risk of recurrence, aspirin was started").
_MAX_FORWARD = 14
# "referred for" is a plan only for what follows at once ("referred for kidney transplant
# evaluation"), not a symptom further on ("referred for admission … for new slurred speech").
_SHORT_REACH = {
    "risk of": 3, "risk for": 3, "riesgo de": 3, "at risk": 4, "if": 6, "si": 6, "referred for": 3,
}  # fmt: skip
_MAX_BACKWARD = 8
# One-token triggers that reach only the next word ("non-diabetic", not "non-obstructive CAD").
_ADJACENT_ONLY = frozenset({"non"})
_SENTENCE_RE = re.compile(
    r"[;\n\r]|[.!](?=\s|$)(?<!\bdr\.)(?<!\bmr\.)(?<!\bmrs\.)(?<!\bms\.)(?<!\bvs\.)(?<!\bst\.)"
)


def _compile(phrases: tuple[str, ...]) -> re.Pattern[str]:
    body = "|".join(sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<![\w/])(?:{body})(?![\w])", re.IGNORECASE)


_TRIGGER_RES = {key: _compile(phrases) for key, phrases in _TRIGGERS.items()}
_PSEUDO_RE = _compile(_PSEUDO)
_TERMINATOR_RE = _compile(_TERMINATORS)
_NON_RE = re.compile(r"(?<![\w])non[-\s]?(?=[a-z])", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Trigger:
    category: Category
    direction: Direction
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A concept mention with what its clause says of it; ``triggers`` holds the words that did."""

    mention: Mention
    negated: bool = False
    historical: bool = False
    family: bool = False
    hypothetical: bool = False
    triggers: tuple[Trigger, ...] = ()

    @property
    def affirmed(self) -> bool:
        """The patient's own, present or past: not denied, not a relative's, not only possible."""
        return not (self.negated or self.family or self.hypothetical)


@lru_cache(maxsize=16)
def find_triggers(text: str) -> tuple[Trigger, ...]:
    """Every ConText trigger of ``text``; kept for the last texts, which each reader of a letter
    (conditions, measurements, dates) asks about again."""
    pseudo = [m.span() for m in _PSEUDO_RE.finditer(text)]
    found: list[Trigger] = []
    for (category, direction), pattern in _TRIGGER_RES.items():
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(a <= start < b or a < end <= b for a, b in pseudo):
                continue
            found.append(Trigger(category, direction, start, end, match.group().strip()))
    for match in _NON_RE.finditer(text):
        found.append(Trigger("negated", "forward", match.start(), match.end(), match.group().strip(" -")))
    return tuple(found)


def _clauses(text: str) -> list[tuple[int, int]]:
    bounds = [0, *(m.end() for m in _SENTENCE_RE.finditer(text)), len(text)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _words_between(text: str, start: int, end: int) -> int:
    return len(_WORD_RE.findall(text[start:end])) if end > start else 0


@dataclass(frozen=True, slots=True)
class Modifiers:
    """What a clause says of a span of its text (a concept, a date, "pregnant")."""

    negated: bool = False
    historical: bool = False
    family: bool = False
    hypothetical: bool = False
    triggers: tuple[Trigger, ...] = ()


def modifiers(
    text: str, spans: list[tuple[int, int]], *, keep: Sequence[tuple[int, int]] = ()
) -> list[Modifiers]:
    """The ConText modifiers of each ``(start, end)`` span of ``text``; a trigger inside any of
    ``keep`` (the concepts' own words: "non" in "non-small cell") is no trigger."""
    if not spans:
        return []
    triggers = find_triggers(text)
    # A closing bracket ends what a trigger inside the brackets says: "(no residual deficits), HTN".
    terminators = [m.span() for m in _TERMINATOR_RE.finditer(text)] + [
        (i, i + 1) for i, c in enumerate(text) if c == ")"
    ]
    clauses = _clauses(text)
    inside = list(keep) or spans
    out = []
    for start, end in spans:
        clause = next(((a, b) for a, b in clauses if a <= start < b), (0, len(text)))
        applied = tuple(
            t
            for t in triggers
            if clause[0] <= t.start < clause[1]
            and not any(a <= t.start < b for a, b in inside)
            and _applies(t, start, end, text, terminators)
        )
        out.append(
            Modifiers(
                negated=any(t.category == "negated" for t in applied),
                historical=any(t.category == "historical" for t in applied),
                family=any(t.category == "family" for t in applied),
                hypothetical=any(t.category == "hypothetical" for t in applied),
                triggers=applied,
            )
        )
    return out


def assert_context(text: str, mentions: list[Mention]) -> list[Finding]:
    """Each mention with the ConText modifiers its clause puts on it."""
    spans = [(m.start, m.end) for m in mentions]
    return [
        Finding(
            mention,
            negated=bool(mention.flags & FLAG_ABSENT) or found.negated,
            historical=found.historical,
            family=found.family,
            hypothetical=found.hypothetical,
            triggers=found.triggers,
        )
        for mention, found in zip(mentions, modifiers(text, spans), strict=True)
    ]


def _applies(trigger: Trigger, start: int, end: int, text: str, terminators: list[tuple[int, int]]) -> bool:
    if trigger.end <= start and trigger.direction in ("forward", "both"):
        gap = _words_between(text, trigger.end, start)
        if trigger.text.lower() in _ADJACENT_ONLY and gap > 0:
            return False
        if gap > _SHORT_REACH.get(trigger.text.lower(), _MAX_FORWARD):
            return False
        return not any(trigger.end <= a and b <= start for a, b in terminators)
    if trigger.start >= end and trigger.direction in ("backward", "both"):
        if _words_between(text, end, trigger.start) > _MAX_BACKWARD:
            return False
        return not any(end <= a and b <= trigger.start for a, b in terminators)
    return False
