"""Concepts a search names: an advocate's few words, read more leniently than a letter.

A letter says "MS" in capitals when it means multiple sclerosis; a person typing a search
writes "ms", "ckd" or "sle". A query that is, as a whole, an abbreviation of three letters or
more is read as that abbreviation in any case; shorter ones ("ms", "ra") only as capitalised.
Otherwise the query is read like any text (longest terms, guards, Spanish names).
"""

from __future__ import annotations

from ingest.vocabulary.concepts import CONDITION_KINDS, FLAG_ABBREVIATION, Concept, load_vocabulary
from ingest.vocabulary.normalize import fold
from ingest.vocabulary.recognizer import find_concepts

# Search names per concept: enough to find a trial listed under any usual name, few enough to
# keep the full-text query short.
MAX_SEARCH_NAMES = 12
_MAX_NAME_WORDS = 5


def concepts_in_query(query: str, *, kinds: frozenset[str] = CONDITION_KINDS) -> list[Concept]:
    """The concepts of ``kinds`` a search query names, in order."""
    vocabulary = load_vocabulary()
    whole = query.strip()
    concept = vocabulary.lookup(whole)
    if concept is None and len(fold(whole).replace(" ", "")) >= 3:
        concept = vocabulary.lookup(whole.upper())  # "ckd", "sle", "adpkd" typed in lower case
    if concept is not None and concept.kind in kinds:
        return [concept]
    return list({m.concept.id: m.concept for m in find_concepts(query, kinds=kinds)}.values())


def search_names(concept: Concept) -> list[str]:
    """The names a trial may list the concept under: MeSH's name, the clinical name, English
    entry terms (no Spanish, no ambiguous or two-letter abbreviations)."""
    vocabulary = load_vocabulary()
    names = {fold(concept.name): concept.name, fold(concept.display): concept.display}
    terms = vocabulary.terms
    usable = []
    for row in vocabulary.term_rows(concept.id):
        written, flags = terms.written[row], terms.flags[row]
        if flags & ~FLAG_ABBREVIATION or "," in written:
            continue  # Spanish, ambiguous, an absence word; an inverted form repeats another
        if flags & FLAG_ABBREVIATION and len(written) < 3:
            continue
        key = fold(written)
        if len(key.split()) <= _MAX_NAME_WORDS:
            usable.append((len(key.split()), len(key), key, written))
    for _, _, key, written in sorted(usable):  # the shortest names first: the usual ones
        if len(names) >= MAX_SEARCH_NAMES:
            break
        names.setdefault(key, written)
    return list(names.values())
