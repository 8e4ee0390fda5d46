"""A patient's or an advocate's condition words → full-text alternatives.

"SLE" becomes ``[["sle"], ["systemic", "lupus", "erythematosus"], …]``: the
words themselves, plus every name in the same synonym group of
``data/condition_synonyms.json`` (MeSH entry terms and common abbreviations).
MeSH ancestors in the index do the rest: "kidney disease" reaches lupus
nephritis trials through "Kidney Diseases".
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from db.search import query_words, words

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


def expand_condition(condition: str) -> list[list[str]]:
    """Alternatives (each a list of words that must all occur) for one condition string."""
    key = " ".join(words(condition))
    if not key:
        return []
    names = synonym_groups().get(key, (key,))
    alternatives: list[list[str]] = []
    for name in dict.fromkeys((key, *names)):
        tokens = name.split()
        if len(tokens) == 1 and tokens[0] in _AMBIGUOUS_SHORT:
            continue
        alternatives.append(tokens)
    return alternatives


def expand_conditions(conditions: list[str]) -> list[list[str]]:
    """Alternatives for any of several conditions (a trial for any of them is a candidate)."""
    seen: dict[tuple[str, ...], list[str]] = {}
    for condition in conditions:
        for alternative in expand_condition(condition):
            seen.setdefault(tuple(alternative), alternative)
    return list(seen.values())
