"""How the concepts of an item are listed: alternatives, conjunctions, examples.

"MI, stroke or TIA" is one rule whose concepts are alternatives; "diabetes and
hypertension" two rules (an inclusion needs both); a bare comma list is read as
alternatives only where any one of them excludes; examples ("immunosuppressants
(e.g., tacrolimus)", "including: A, B and C") are alternatives of what they illustrate;
a name written again in brackets ("lupus nephritis (LN)") is one name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.criteria.model import ConceptRef
from ingest.vocabulary.concepts import Concept

_SENTENCE_RE = re.compile(r"[;\n]|\.(?:\s|$)")


@dataclass(slots=True)
class Reading:
    """One concept in its place: ``start``/``end`` take in its qualifiers; ``example``: named
    as an example of the concept before it ("immunosuppressants (e.g., tacrolimus)")."""

    concept: Concept
    kind: str
    start: int
    end: int
    negated: bool
    qualifier: str | None = None
    words: str = ""
    exceptions: list[ConceptRef] = field(default_factory=list)
    example: bool = False


def previous(readings: list[Reading], low: str, at: int) -> Reading | None:
    """The last reading before ``at`` in the same sentence."""
    if not readings or readings[-1].start >= at:
        return None
    last = readings[-1]
    return None if _SENTENCE_RE.search(low, last.end, at) else last


def listed_with(readings: list[Reading], low: str) -> list[Reading]:
    """The last reading and those listed before it ("A, B or C")."""
    listed = [readings[-1]]
    for reading in reversed(readings[:-1]):
        if reading.kind != listed[-1].kind or joined_by(low[reading.end : listed[-1].start]) not in (
            "or",
            "comma",
        ):
            break
        listed.append(reading)
    return listed


# Between two concepts of one list: separators and words that name nothing.
_GAP_TOKEN_RE = re.compile(r"and/or|[a-z]+|[,/()\[\]]|e\.g\.?|i\.e\.?")
_FILLER = frozenset(
    (
        "other", "any", "known", "active", "history", "of", "a", "an", "the", "prior", "previous", "current",
        "documented", "confirmed", "suspected", "either", "neither"
    )
)  # fmt: skip
_EXAMPLES = frozenset(
    ["(", ")", "[", "]", "including", "such", "as", "eg", "ie", "e.g.", "e.g", "i.e.", "i.e"]
)


def joined_by(gap: str) -> str | None:
    """How two neighbouring concepts are joined: "or" (alternatives), "and", "comma" (a bare
    list), "bracket" (a name again, or examples, in brackets); None when words between them
    say more."""
    low = gap.lower()
    if _GAP_TOKEN_RE.sub("", low).strip(" \t-:"):
        return None  # a number, a full stop, a semicolon: "… management 14. Active malignancy"
    tokens = _GAP_TOKEN_RE.findall(low)
    joins = set()
    for token in tokens:
        if token in ("or", "nor", "and/or", "/"):
            joins.add("or")
        elif token == "and":
            joins.add("and")
        elif token == ",":
            joins.add("comma")
        elif token in _EXAMPLES:
            joins.add("bracket")
        elif token not in _FILLER:
            return None
    if "or" in joins:
        return "or"
    if "and" in joins:
        return "and"
    return "comma" if "comma" in joins else "bracket" if joins else "or"


def group_readings(readings: list[Reading], low: str, section: str) -> list[list[Reading]]:
    """Readings joined as alternatives, in text order: one rule each group."""
    groups: list[list[Reading]] = []
    joins: list[set[str]] = []
    for reading in readings:
        if groups:
            last, first = groups[-1][-1], groups[-1][0]
            join = joined_by(low[last.end : reading.start]) if last.end <= reading.start else None
            same_sort = (reading.kind, reading.negated) == (first.kind, first.negated)
            if reading.example and same_sort and _SENTENCE_RE.search(low, last.end, reading.start) is None:
                join = "or"  # "immunosuppressants (e.g., tacrolimus)", "including: A, B and C": any one
            elif not same_sort:
                join = None
            if join == "bracket" and reading.concept.id == last.concept.id:
                # "lupus nephritis (LN)": one name, written twice
                last.end = max(last.end, reading.end + low.startswith(")", reading.end))
                continue
            if join is not None:
                groups[-1].append(reading)
                joins[-1].add(join)
                continue
        groups.append([reading])
        joins.append(set())
    out: list[list[Reading]] = []
    for group, how in zip(groups, joins, strict=True):
        # "diabetes and hypertension": each one (an inclusion needs both); a bare comma list is
        # read as alternatives only where any one of them excludes.
        excluded = (section == "inclusion") == group[0].negated
        apart = "or" not in how and ("and" in how or ("comma" in how and not excluded))
        out.extend([[r] for r in group] if apart else [group])
    return out
