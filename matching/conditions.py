"""A patient's or an advocate's condition words → full-text alternatives.

"SLE" becomes ``[["sle"], ["systemic", "lupus", "erythematosus"], …]``: the
words themselves, plus every name in the same synonym group of
``data/condition_synonyms.json`` (MeSH entry terms and common abbreviations).
MeSH ancestors in the index do the rest: "kidney disease" reaches lupus
nephritis trials through "Kidney Diseases".
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

from db.search import query_words, words
from ingest.vocabulary.query import concepts_in_query, search_names

MAX_CONDITION_CHARS = 500


class ConditionError(ValueError):
    """A condition that cannot be searched for; ``field`` names where it was given."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


def check_conditions(conditions: list[str], field: str = "conditions") -> None:
    """Refuse, naming the field, a condition over :data:`MAX_CONDITION_CHARS` or with no
    word to search on (only symbols, emoji or stopwords such as "the"): it would match
    every trial, or none, without saying why."""
    for i, condition in enumerate(conditions):
        where = f"{field}[{i}]" if field == "conditions" else field
        if len(condition) > MAX_CONDITION_CHARS:
            raise ConditionError(
                where, f"expected at most {MAX_CONDITION_CHARS} characters, got {len(condition)}"
            )
        if not query_words(condition):
            raise ConditionError(
                where,
                f"{condition[:60]!r} has no word to search on (letters or digits, other than "
                "words such as 'the'): give a condition, e.g. 'lupus nephritis'",
            )


# Short abbreviations that are also common words are searched only through their
# expansions: a trial title saying "for all patients" is not about leukemia.
_AMBIGUOUS_SHORT = frozenset(
    {"all", "as", "an", "or", "us", "ms", "mm", "pd", "ad", "hf", "mi", "af", "uc", "ra", "ln"}
)


@cache
def synonym_groups() -> dict[str, tuple[str, ...]]:
    """Folded name → every name of its group."""
    data = json.loads(resources.files("matching").joinpath("data/condition_synonyms.json").read_text())
    index: dict[str, tuple[str, ...]] = {}
    for group in data["groups"]:
        names = tuple(" ".join(words(name)) for name in group)
        for name in names:
            index[name] = tuple(dict.fromkeys(index.get(name, ()) + names))
    return index


# Spanish (and common English) names → a name in the synonym groups: search, match and
# referral letters read "nefritis lúpica" as lupus nephritis.
CONDITION_NAMES: dict[str, str] = {
    "nefritis lúpica": "lupus nephritis",
    "nefritis lupica": "lupus nephritis",
    "nefropatía lúpica": "lupus nephritis",
    "lupus eritematoso sistémico": "systemic lupus erythematosus",
    "nefropatía iga": "iga nephropathy",
    "nefropatia iga": "iga nephropathy",
    "iga nephropathy": "iga nephropathy",
    "igan": "iga nephropathy",
    "enfermedad renal crónica": "chronic kidney disease",
    "enfermedad renal cronica": "chronic kidney disease",
    "insuficiencia renal crónica": "chronic kidney disease",
    "erc": "chronic kidney disease",
    "eskd": "end stage renal disease",
    "esrd": "end stage renal disease",
    "end-stage kidney disease": "end stage renal disease",
    "enfermedad renal terminal": "end stage renal disease",
    "diabetes mellitus tipo 2": "type 2 diabetes",
    "diabetes tipo 2": "type 2 diabetes",
    "diabetes": "diabetes mellitus",
    "hipertensión arterial": "hypertension",
    "hipertensión": "hypertension",
    "hypertension": "hypertension",
    "glomeruloesclerosis focal y segmentaria": "focal segmental glomerulosclerosis",
    "fsgs": "focal segmental glomerulosclerosis",
    "poliquistosis renal autosómica dominante": "polycystic kidney disease",
    "poliquistosis renal": "polycystic kidney disease",
    "ahus": "atypical hemolytic uremic syndrome",
    "síndrome hemolítico urémico atípico": "atypical hemolytic uremic syndrome",
    "nefropatía membranosa": "membranous nephropathy",
    "nefropatía diabética": "diabetic nephropathy",
    "vasculitis anca": "anca associated vasculitis",
    "artritis reumatoide": "rheumatoid arthritis",
    "insuficiencia cardiaca": "heart failure",
    "insuficiencia cardíaca": "heart failure",
    "cáncer de mama": "breast cancer",
    "asma": "asthma",
    "obesidad": "obesity",
    "síndrome nefrótico": "nephrotic syndrome",
    "nephrotic syndrome": "nephrotic syndrome",
    "membranous nephropathy": "membranous nephropathy",
    "anca vasculitis": "anca associated vasculitis",
    "enfermedad de parkinson": "parkinson disease",
    "enfermedad de crohn": "crohn disease",
    "enfermedad de alzheimer": "alzheimer disease",
    "colitis ulcerosa": "ulcerative colitis",
    "esclerosis múltiple": "multiple sclerosis",
    "esclerosis lateral amiotrófica": "amyotrophic lateral sclerosis",
    "mieloma múltiple": "multiple myeloma",
    "vih": "human immunodeficiency virus",
    "epoc": "chronic obstructive pulmonary disease",
    "fibrilación auricular": "atrial fibrillation",
    "cardiopatía isquémica": "coronary artery disease",
    "enfermedad coronaria": "coronary artery disease",
    "infarto de miocardio": "myocardial infarction",
    "insuficiencia renal aguda": "acute kidney injury",
    "fracaso renal agudo": "acute kidney injury",
    "lesión renal aguda": "acute kidney injury",
    "trasplante renal": "kidney transplantation",
    "diabetes tipo 1": "type 1 diabetes",
    "diabetes mellitus tipo 1": "type 1 diabetes",
    "depresión mayor": "major depressive disorder",
    "trastorno depresivo mayor": "major depressive disorder",
    "apnea obstructiva del sueño": "obstructive sleep apnea",
    "cáncer de pulmón no microcítico": "non small cell lung cancer",
    "leucemia mieloide aguda": "acute myeloid leukemia",
    "leucemia linfática crónica": "chronic lymphocytic leukemia",
    "hepatocarcinoma": "hepatocellular carcinoma",
    "carcinoma hepatocelular": "hepatocellular carcinoma",
    "lumbalgia": "low back pain",
    "autismo": "autism spectrum disorder",
}


# Qualifiers that narrow a condition without naming another: "lupus nephritis class IV",
# "biopsy-proven", "active", "refractory", "CKD stage 3b". A search or a patient's condition
# with them also finds the trials of the plain condition.
_QUALIFIER_RE = re.compile(
    r"\b(?:(?:class|stage|grade|clase|estadio|grado)\s+(?:[0-9]+[a-c]?|[ivx]+[a-c]?)(?:\s*(?:and|or|y|o|/)\s*"
    r"(?:[0-9]+[a-c]?|[ivx]+[a-c]?))*|biopsy\s+proven|biopsy\s+confirmed|histologically\s+confirmed|"
    r"newly\s+diagnosed|active|refractory|severe|moderate|mild|untreated|confirmed|proliferative|"
    r"activa|refractaria|grave|severa|moderada|leve)\b"
)


@cache
def _other_language_names() -> dict[str, str]:
    return {" ".join(words(written)): " ".join(words(name)) for written, name in CONDITION_NAMES.items()}


def condition_keys(condition: str) -> list[str]:
    """The folded names a condition is looked for under: as written, without its qualifiers,
    and in the vocabulary's English ("nefritis lúpica clase IV" → "lupus nephritis")."""
    key = " ".join(words(condition))
    keys = [key] if key else []
    stripped = " ".join(_QUALIFIER_RE.sub(" ", key).split())
    if stripped and stripped != key:
        keys.append(stripped)
    for name in list(keys):
        english = _other_language_names().get(name)
        if english:
            keys.append(english)
    return list(dict.fromkeys(keys))


def expand_condition(condition: str) -> list[list[str]]:
    """Alternatives (each a list of words that must all occur) for one condition string: the
    words as written (and without their qualifiers), and the names of every concept they name
    in the clinical vocabulary ("dysphagia" → Deglutition Disorders and its entry terms;
    "nefritis lúpica" → Lupus Nephritis). Narrower concepts are reached through the MeSH
    ancestors each trial carries in the index ("kidney failure" → chronic kidney disease)."""
    names: list[str] = list(condition_keys(condition))
    for key in names[:2]:
        for concept in concepts_in_query(key):
            names.extend(search_names(concept))
    alternatives: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        tokens = words(name)
        if not tokens or (len(tokens) == 1 and tokens[0] in _AMBIGUOUS_SHORT):
            continue
        alternatives.setdefault(tuple(tokens), tokens)
    return list(alternatives.values())


def expand_conditions(conditions: list[str]) -> list[list[str]]:
    """Alternatives for any of several conditions (a trial for any of them is a candidate)."""
    seen: dict[tuple[str, ...], list[str]] = {}
    for condition in conditions:
        for alternative in expand_condition(condition):
            seen.setdefault(tuple(alternative), alternative)
    return list(seen.values())
