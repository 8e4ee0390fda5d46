"""Concepts named in a text: the vocabulary's terms, longest match first, with guards.

Every folded term is a key of one dict, with each shorter run of its first tokens
("chronic kidney" of "chronic kidney disease"); the text is folded the same way
(:mod:`ingest.vocabulary.normalize`) and walked token by token from each token that
begins a key, so every occurrence of every term is found and a match starts and ends
on token boundaries. Of overlapping matches the longest wins ("chronic kidney
disease" over "kidney disease"). Measured on 123 case notes (2026-12-07): one pass
of pyahocorasick finds every occurrence in 3.7 ms where ahocorasick-rs's
leftmost-longest takes 1.9 ms but reports only one match per position (the guards
below need the shorter alternatives), and flashtext 11 ms. The automaton's 980,000
nodes (40 MB) fall out of the CPU cache between the items of a criteria parse, where
its pass cost five times its warm time; the dict walk (2026-12-08, ``bench.vocabulary``)
loads in 0.27 s instead of 0.35 s with 71 MB instead of 103 MB, reads the notes at 859/s
instead of 799/s, and the criteria parse finds concepts in 0.37 s instead of 0.50 s. The
automaton is still built, on first need, for a text one of whose letters folds to two
words ("ͺ" → " ι"), where only a search over the text " a b c " gives the same matches.

Guards, so that no condition comes from a common word:
- an abbreviation counts only as the writer capitalised it: "ALL" is acute
  lymphoblastic leukemia, "all" is a word; "IgAN" or "IGAN", not "igan";
- an ambiguous abbreviation ("MS", "PD", "RA", "HD") counts only with a supporting
  word of its concept nearby ("MS" beside "demyelinating"), or when the text names another
  concept of its branch of the hierarchy ("prior MI" in a note about coronary disease);
- a folded term shorter than three letters counts only as an abbreviation;
- an abbreviation right beside a number is a unit or a lab ("25 IU/L", "PTT 32 s"), not a concept;
- a Spanish abbreviation, or a Spanish word alone, counts only in a Spanish text ("LES" is lupus
  in Spanish, the lower oesophageal sphincter in English; "gripe", "tos");
- a term does not run over a sentence stop, a bracket or a comma it does not hold.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import cache
from itertools import accumulate, compress, pairwise, repeat
from operator import add

import ahocorasick

from ingest.vocabulary.concepts import (
    FLAG_ABBREVIATION,
    FLAG_AMBIGUOUS,
    FLAG_SPANISH,
    Concept,
    Vocabulary,
    load_vocabulary,
)
from ingest.vocabulary.normalize import TokenColumns, fold, token_columns

# How far (in tokens, either side) a supporting word of an ambiguous abbreviation may be.
SUPPORT_WINDOW = 12
# Words every concept name has: they support nothing.
_GENERIC = frozenset(
    [
        "disease",
        "disorder",
        "syndrome",
        "condition",
        "of",
        "the",
        "and",
        "or",
        "in",
        "with",
        "without",
        "type",
        "acute",
        "chronic",
        "primary",
        "secondary",
        "other",
        "unspecified",
        "cell",
        "cells",
        "patient",
        "human",
        "infection",
        "deficiency",
        "abnormality",
    ]
)
# When one term names several concepts, the kinds a clinical text most likely means.
_KIND_ORDER = {
    "disease": 0,
    "mental disorder": 1,
    "finding": 2,
    "pregnancy": 3,
    "behavior": 4,
    "drug": 5,
    "drug class": 6,
    "procedure": 7,
    "device": 8,
}
_COMPACT_RE = re.compile(r"[\W_]+")
# What a term never runs over: a sentence stop ("St. John's wort" keeps its dot), a bracket.
_BREAK_RE = re.compile(r"[;:()\[\]\n]|(?<=[a-z]{3})\.")


# Words a term's run may step over once, inside the term: which side, and whose (the walk only;
# the automaton, for the rare text where a letter folds to two words, does not).
_SIDE_WORDS = frozenset({"left", "right", "bilateral", "both", "his", "her", "their"})


@dataclass(frozen=True, slots=True)
class Mention:
    """A concept named in a text: ``text[start:end]`` is the writer's words for it."""

    concept: Concept
    start: int
    end: int
    text: str
    term: str  # the vocabulary's term the words matched
    first_token: int
    last_token: int  # inclusive
    flags: int = 0  # the term's FLAG_* bits (FLAG_ABSENT: "afebrile" says fever is absent)

    def to_dict(self) -> dict[str, object]:
        return {**self.concept.to_dict(), "text": self.text, "start": self.start, "end": self.end}


class Recognizer:
    """Finds the vocabulary's concepts in texts; build once (:func:`load_recognizer`), use often."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        keys: dict[str, list[int]] = {}
        for i, term_key in enumerate(vocabulary.terms.key):
            keys.setdefault(term_key, []).append(i)
        self._keys = {key: tuple(rows) for key, rows in keys.items()}
        # Every term's key and every shorter run of its first tokens ("chronic kidney" of
        # "chronic kidney disease") → (the term's rows or None, does a longer term go on).
        prefixes: dict[str, tuple[tuple[int, ...] | None, bool]] = {}
        for key, rows in self._keys.items():
            words = key.split(" ")
            for n in range(1, len(words)):
                prefix = " ".join(words[:n])
                found = prefixes.get(prefix)
                if found is None or not found[1]:
                    prefixes[prefix] = (found[0] if found else None, True)
            found = prefixes.get(key)
            prefixes[key] = (rows, found is not None and found[1])
        self._prefixes = prefixes
        self._automaton: ahocorasick.Automaton | None = None  # built for the rare text that needs it
        self._support: dict[int, frozenset[str]] = {}
        self._name_keys: dict[int, str] = {}  # concept index -> its folded name
        self._ranked: dict[tuple[int, ...], tuple[int, ...]] = {}  # a term's rows, best first
        self._compacted: dict[int, str] = {}  # abbreviation row -> its letters and digits

    def find(self, text: str, *, kinds: frozenset[str] | None = None) -> list[Mention]:
        """Every concept named in ``text``, in text order, overlapping matches resolved to the longest."""
        toks = token_columns(text)
        if not toks.folded:
            return []
        candidates: list[tuple[int, int, int]] = []  # (first token, last token, term row)
        pending: list[tuple[int, int, tuple[int, ...]]] = []  # ambiguous, with no supporting word near
        for first, last, rows in self._matches(text, toks.folded):
            if first != last and self._broken(text, toks, first, last, rows[0]):
                continue
            row = self._choose(rows, text, toks, first, last, kinds)
            if row is not None:
                candidates.append((first, last, row))
            elif unsupported := self._unsupported(rows, text, toks, first, last, kinds):
                pending.append((first, last, unsupported))
        if pending:
            candidates += self._supported_by_others(pending, candidates)
        return self._longest(candidates, text, toks)

    def _matches(self, text: str, folded: list[str]) -> list[tuple[int, int, tuple[int, ...]]]:
        """Every run of tokens ``folded[first : last + 1]`` that is a term's key, with its rows.

        Walked token by token over the keys and their leading runs, from each token that
        begins one. A character automaton (pyahocorasick, 980,000 nodes, 40 MB) iterated the
        9,114 fixture criteria items in 30 ms with its nodes in the cache but 170 ms without,
        as in a parse, where other work evicts them; this walk takes 50 ms and needs no
        text " a b c " laid out for it nor tokens found back by bisection (2026-12-08).
        """
        if not text.isascii() and any(" " in word for word in folded):
            return self._automaton_matches(folded)  # a letter folding to two words ("ͺ" → " ι")
        get = self._prefixes.get
        found = list(map(get, folded))
        size = len(folded)
        out = []
        for first in compress(range(size), found):
            rows, longer = found[first]  # type: ignore[misc]
            if rows is not None:
                out.append((first, first, rows))
            key, last = folded[first], first
            while longer and last + 1 < size:
                following = last + 1
                entry = get(f"{key} {folded[following]}")
                if entry is None and folded[following] in _SIDE_WORDS and following + 1 < size:
                    # a side or a possessive inside a term: "effusion in the right knee" is a knee
                    # effusion, "ringing in her left ear" tinnitus
                    following += 1
                    entry = get(f"{key} {folded[following]}")
                if entry is None:
                    break
                last = following
                key = f"{key} {folded[last]}"
                rows, longer = entry
                if rows is not None:
                    out.append((first, last, rows))
        return out

    def _automaton_matches(self, folded: list[str]) -> list[tuple[int, int, tuple[int, ...]]]:
        """The same as :meth:`_matches` by an Aho-Corasick automaton over the text " a b c "
        with each term padded " a b ", for a text where a folded token holds a space."""
        if self._automaton is None:
            self._automaton = ahocorasick.Automaton()
            for key, rows in self._keys.items():
                padded = f" {key} "
                self._automaton.add_word(padded, (len(padded), rows))
            self._automaton.make_automaton()
        spaced, begins = _layout(folded)
        out = []
        for end, (length, rows) in self._automaton.iter(spaced):
            # the tokens whose folded words the padded match " a b " covers
            out.append((bisect_left(begins, end - length + 2), bisect_right(begins, end - 1) - 1, rows))
        return out

    def _unsupported(
        self,
        rows: tuple[int, ...],
        text: str,
        toks: TokenColumns,
        first: int,
        last: int,
        kinds: frozenset[str] | None,
    ) -> tuple[int, ...]:
        """The ambiguous abbreviations among ``rows`` that failed only for want of a supporting word."""
        flags = self.vocabulary.terms.flags
        return tuple(
            row
            for row in rows
            if flags[row] & FLAG_AMBIGUOUS
            and self._choose((row,), text, toks, first, last, kinds, need_support=False) is not None
        )

    def _supported_by_others(
        self, pending: list[tuple[int, int, tuple[int, ...]]], found: list[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """An ambiguous abbreviation also counts when the text names another concept of its
        branch of the hierarchy: "prior MI" in a note that speaks of coronary artery disease."""
        vocabulary = self.vocabulary
        branches = {
            tree[:7]
            for _, _, row in found
            for tree in vocabulary.concepts[vocabulary.terms.concept[row]].trees
        }
        accepted = []
        for first, last, rows in pending:
            for row in rows:
                concept = vocabulary.concepts[vocabulary.terms.concept[row]]
                if any(tree[:7] in branches for tree in concept.trees):
                    accepted.append((first, last, row))
                    break
        return accepted

    def _broken(self, text: str, toks: TokenColumns, first: int, last: int, row: int) -> bool:
        """Does a term's match run over a sentence stop, a bracket, or a comma its term does not
        have ("drug. Use", "therapy (radiation", "breast cancer, cervical")?"""
        gap = text[toks.ends[first] : toks.starts[last]]
        if _BREAK_RE.search(gap):
            return True
        return "," in gap and "," not in self.vocabulary.terms.written[row]

    def _choose(
        self,
        rows: tuple[int, ...],
        text: str,
        toks: TokenColumns,
        first: int,
        last: int,
        kinds: frozenset[str] | None,
        *,
        need_support: bool = True,
    ) -> int | None:
        terms = self.vocabulary.terms
        if len(rows) == 1 and kinds is None:
            # The common case, read from the columns without building a TermRow: one
            # concept has this term and it is a plain word of three letters or more.
            row = rows[0]
            flags = terms.flags[row]
            if not flags & FLAG_ABBREVIATION:
                return None if _word_set_aside(terms.key[row], flags, text, toks, first, last) else row
        ranked = self._ranked.get(rows)
        if ranked is None:
            ranked = self._ranked[rows] = self._rank(rows)
        seen: str | None = None  # the words as written, compacted (for an abbreviation)
        for row in ranked:  # the first that passes the guards is the best ranked
            flags = terms.flags[row]
            if kinds is not None and self.vocabulary.concepts[terms.concept[row]].kind not in kinds:
                continue
            if flags & FLAG_ABBREVIATION:
                if flags & FLAG_SPANISH and not is_spanish(toks.folded):
                    continue
                if seen is None:
                    seen = _COMPACT_RE.sub("", text[toks.starts[first] : toks.ends[last]])
                wanted = self._compact(row)
                if not (seen == wanted or (len(wanted) >= 3 and seen == wanted.upper())):
                    continue  # not as the writer capitalised it
                if _beside_number(text, toks, first, last):
                    continue
                if (
                    need_support
                    and flags & FLAG_AMBIGUOUS
                    and not self._supported(terms.concept[row], toks, first, last)
                ):
                    continue
            elif _word_set_aside(terms.key[row], flags, text, toks, first, last):
                continue
            return row
        return None

    def _rank(self, rows: tuple[int, ...]) -> tuple[int, ...]:
        """The rows of one term, best first: the concept the term names exactly, then by the
        kind a clinical text most likely means (a stable sort: ties keep the rows' order)."""
        vocabulary = self.vocabulary
        if len(rows) == 1:
            return rows

        def rank(row: int) -> tuple[int, int]:
            concept_index = vocabulary.terms.concept[row]
            concept = vocabulary.concepts[concept_index]
            name_key = self._name_keys.get(concept_index)
            if name_key is None:
                name_key = self._name_keys[concept_index] = fold(concept.name)
            return (0 if name_key == vocabulary.terms.key[row] else 1, _KIND_ORDER.get(concept.kind, 9))

        return tuple(sorted(rows, key=rank))

    def _compact(self, row: int) -> str:
        """An abbreviation's letters and digits as the vocabulary writes it ("IgA-N" → "IgAN")."""
        wanted = self._compacted.get(row)
        if wanted is None:
            wanted = self._compacted[row] = _COMPACT_RE.sub("", self.vocabulary.terms.written[row])
        return wanted

    def _supported(self, concept_index: int, toks: TokenColumns, first: int, last: int) -> bool:
        words = self._support.get(concept_index)
        if words is None:
            words = self._support[concept_index] = self._support_words(concept_index)
        folded = toks.folded
        near = folded[max(0, first - SUPPORT_WINDOW) : first] + folded[last + 1 : last + 1 + SUPPORT_WINDOW]
        return any(word in words for word in near)

    def _support_words(self, concept_index: int) -> frozenset[str]:
        vocabulary = self.vocabulary
        concept = vocabulary.concepts[concept_index]
        names = [concept.name]
        names += [t.written for t in vocabulary.terms_of(concept.id) if not t.flags & FLAG_ABBREVIATION]
        # The parents' and the narrower concepts' names: "leukemia" supports "ALL",
        # "relapsing" (relapsing-remitting multiple sclerosis) supports "MS".
        for other in (*vocabulary.parents(concept.id), *vocabulary.descendants(concept.id)[1:]):
            names.append(vocabulary.by_id[other].name)
        words = {w for name in names for w in fold(name).split()}
        return frozenset(w for w in words if len(w) > 2 and w not in _GENERIC)

    def _longest(
        self, candidates: list[tuple[int, int, int]], text: str, toks: TokenColumns
    ) -> list[Mention]:
        candidates.sort()
        chosen = candidates
        if any(a[1] >= b[0] for a, b in pairwise(candidates)):  # some overlap
            candidates.sort(key=lambda c: (c[0] - c[1], c[0]))  # longest first, then leftmost
            taken: list[tuple[int, int]] = []
            chosen = []
            for first, last, row in candidates:
                if any(first <= b and a <= last for a, b in taken):
                    continue
                taken.append((first, last))
                chosen.append((first, last, row))
            chosen.sort()
        mentions = []
        terms, concepts = self.vocabulary.terms, self.vocabulary.concepts
        for first, last, row in chosen:
            start, end = toks.starts[first], toks.ends[last]
            concept = concepts[terms.concept[row]]
            mentions.append(
                Mention(
                    concept, start, end, text[start:end], terms.written[row], first, last, terms.flags[row]
                )
            )
        return mentions


def _layout(folded: list[str]) -> tuple[str, list[int]]:
    """The folded text " a b c " and where each token begins there (so a padded match maps
    back to token numbers by bisection)."""
    # Each token begins one past the previous token and its space (summed in C: this runs for
    # every text read).
    return f" {' '.join(folded)} ", list(accumulate(map(add, map(len, folded), repeat(1)), initial=1))


# Words frequent in Spanish clinical text and absent from English (and the reverse).
_SPANISH_WORDS = frozenset(
    [
        "de",
        "la",
        "el",
        "los",
        "las",
        "con",
        "por",
        "para",
        "del",
        "una",
        "que",
        "se",
        "su",
        "es",
        "en",
        "y",
        "sin",
        "años",
        "paciente",
    ]
)
_ENGLISH_WORDS = frozenset(
    [
        "the",
        "of",
        "and",
        "with",
        "for",
        "is",
        "was",
        "has",
        "her",
        "his",
        "she",
        "he",
        "on",
        "in",
        "no",
        "patient",
        "years",
    ]
)


def is_spanish(folded: list[str]) -> bool:
    """Is the text Spanish rather than English (by its commonest folded words)?"""
    # Counted by C loops (it runs for every text read).
    words = folded[:400]
    return sum(map(_SPANISH_WORDS.__contains__, words)) > sum(map(_ENGLISH_WORDS.__contains__, words))


def _spanish_word_in_english(flags: int, first: int, last: int, toks: TokenColumns) -> bool:
    """A Spanish word alone is read only in Spanish texts: "gripe", "tos", "sol" are English too."""
    return bool(flags & FLAG_SPANISH) and first == last and not is_spanish(toks.folded)


def _beside_number(text: str, toks: TokenColumns, first: int, last: int) -> bool:
    """Is a number written right beside the words, with only spaces between ("25 IU/L",
    "PTT 32 s")? A number across punctuation ("07102.\nESKD", "(dx 2011), HTN") is not."""
    folded = toks.folded
    before = first > 0 and folded[first - 1][:1].isdigit()
    if before and not text[toks.ends[first - 1] : toks.starts[first]].strip(" \t"):
        return True
    after = last + 1 < len(folded) and folded[last + 1][:1].isdigit()
    return after and not text[toks.ends[last] : toks.starts[last + 1]].strip(" \t")


def _word_set_aside(key: str, flags: int, text: str, toks: TokenColumns, first: int, last: int) -> bool:
    """A plain term not read here: under three letters, a Spanish word alone in an English text,
    or a short word right after a percentage ("46% pred" is predicted, not prednisolone)."""
    if len(key) < 3 or _spanish_word_in_english(flags, first, last, toks):
        return True
    return (
        len(key) <= 4
        and first > 0
        and toks.folded[first - 1][:1].isdigit()
        and text[toks.ends[first - 1] : toks.starts[first]].strip(" \t") == "%"
    )


@cache
def load_recognizer() -> Recognizer:
    """The recognizer over the shipped vocabulary, built once per process."""
    return Recognizer(load_vocabulary())


def find_concepts(text: str, *, kinds: frozenset[str] | None = None) -> list[Mention]:
    """The concepts ``text`` names (see :class:`Recognizer`)."""
    return load_recognizer().find(text, kinds=kinds)
