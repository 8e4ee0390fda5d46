"""A patient's conditions and treatments as vocabulary concepts, widened by the hierarchy.

Criteria rules name concepts (``concepts: [{"id", "name"}]``, see
``ingest/criteria/terms.py``); a patient's entries are read into the same concepts:
an entry that is a concept's name, term or id ("lupus nephritis", "LES", "D008181")
is that concept, and a free-text entry ("biopsy-proven lupus nephritis class IV")
the concepts the recognizer finds in it. Each is widened *upwards* with its
ancestors, so her lupus nephritis is also a kidney disease and tacrolimus an
immunosuppressive agent (a drug's pharmacological actions are ancestors too). What
she explicitly denies (``absent_conditions``) is widened *downwards*: denying
diabetes denies type 2 diabetes, never endocrine disease.

Pure and cached by the entries (a match evaluates many trials for one patient);
nothing about the patient is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ingest.criteria.words import states_qualifier
from ingest.vocabulary.concepts import CONDITION_KINDS, TREATMENT_KINDS, Concept, load_vocabulary
from ingest.vocabulary.recognizer import find_concepts


@dataclass(frozen=True, slots=True)
class ConceptFacts:
    """``conditions``/``treatments``: concept id (her concepts and their ancestors) → her
    entries naming it, as recorded; ``widened``: entry → the ids it stands for; ``denied``:
    concept id (as resolved, not widened) → her entry denying it."""

    conditions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    treatments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    widened: Mapping[str, frozenset[str]] = field(default_factory=dict)
    denied: Mapping[str, str] = field(default_factory=dict)

    def denial(self, concept_id: str) -> str | None:
        """Her entry denying the concept or a broader one ("diabetes" denies type 2
        diabetes), None when she denies neither."""
        if not self.denied:
            return None
        found = self.denied.get(concept_id)
        if found is not None:
            return found
        for ancestor in load_vocabulary().ancestors(concept_id):
            if ancestor in self.denied:
                return self.denied[ancestor]
        return None

    @staticmethod
    def shown(entry: str) -> str:
        """An entry as a clinician reads it: a concept id by its name ("D003924" → "Diabetes
        Mellitus")."""
        concept = load_vocabulary().by_id.get(entry)
        return concept.name if concept is not None else entry

    def denied_descendants(self) -> frozenset[str]:
        """Every concept her denials cover (for the stored needs of exclusion items)."""
        vocabulary = load_vocabulary()
        return frozenset(d for denied in self.denied for d in vocabulary.descendants(denied))


EMPTY = ConceptFacts()


def resolve(entry: str, kinds: frozenset[str]) -> list[Concept]:
    """The concepts an entry names: itself when it is a name, term or id of one of ``kinds``,
    else those the recognizer finds in it."""
    concept = load_vocabulary().lookup(entry)
    if concept is not None and concept.kind in kinds:
        return [concept]
    return list({m.concept.id: m.concept for m in find_concepts(entry, kinds=kinds)}.values())


def _index(
    entries: Sequence[str], kinds: frozenset[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, frozenset[str]]]:
    vocabulary = load_vocabulary()
    index: dict[str, list[str]] = {}
    widened: dict[str, frozenset[str]] = {}
    for entry in dict.fromkeys(entries):
        ids: set[str] = set()
        for concept in resolve(entry, kinds):
            ids.add(concept.id)
            ids.update(vocabulary.ancestors(concept.id))
        widened[entry] = frozenset(ids)
        for concept_id in ids:
            index.setdefault(concept_id, []).append(entry)
    return {k: tuple(v) for k, v in index.items()}, widened


_TREATMENT_KINDS = frozenset(TREATMENT_KINDS)
_CONDITION_KINDS = frozenset(CONDITION_KINDS)


@lru_cache(maxsize=256)
def concept_facts(
    conditions: tuple[str, ...], treatments: tuple[str, ...], absent: tuple[str, ...]
) -> ConceptFacts:
    """Her entries as concepts (see the module docstring)."""
    if not (conditions or treatments or absent):
        return EMPTY
    condition_index, widened = _index(conditions, _CONDITION_KINDS)
    treatment_index, treatment_widened = _index(treatments, _TREATMENT_KINDS)
    denied: dict[str, str] = {}
    for entry in absent:
        for concept in resolve(entry, _CONDITION_KINDS):
            denied.setdefault(concept.id, entry)
    return ConceptFacts(condition_index, treatment_index, {**treatment_widened, **widened}, denied)


_LINK_WORDS = ("of", "to", "with", "against")


def _left_out(exceptions: Sequence[Mapping[str, Any]], entry: str, known: ConceptFacts) -> bool:
    """Is her entry one the item leaves out ("other than basal cell carcinoma")?"""
    widened = known.widened.get(entry, frozenset())
    return any(
        str(x["id"]) in widened and (not x.get("qualifier") or states_qualifier(str(x["qualifier"]), entry))
        for x in exceptions
    )


def concept_truth(
    rule: Mapping[str, Any], kind: str, known: ConceptFacts, required: bool
) -> tuple[bool | None, str]:
    """A rule naming concepts: met by an entry of hers under one of them (the hierarchy: her
    lupus nephritis meets "renal disease"), unless the entry falls under a concept the text
    leaves out ("other than basal cell carcinoma") or does not state what narrows the concept
    ("severe"); an excluded condition she denies is not hers; anything else is unknown."""
    index = known.conditions if kind == "condition" else known.treatments
    concepts: Sequence[Mapping[str, Any]] = rule["concepts"]
    left_out: Sequence[Mapping[str, Any]] = rule.get("exceptions") or ()
    unqualified: tuple[str, str] | None = None
    excepted: str | None = None
    for concept in concepts:
        qualifier = concept.get("qualifier")
        for entry in index.get(str(concept["id"]), ()):
            if left_out and _left_out(left_out, entry, known):
                excepted = excepted or entry
            elif qualifier and not states_qualifier(qualifier, entry):
                unqualified = unqualified or (entry, qualifier)
            else:
                return True, f"{known.shown(entry)} on record"
    if kind == "condition" and not required and known.denied:
        # Only where the trial excludes the condition: a denial answers exactly that question.
        denials = [known.denial(str(c["id"])) for c in concepts]
        if all(denials):
            return False, f"{', '.join(dict.fromkeys(d for d in denials if d))}: denied in the referral"
    if unqualified is not None:
        entry, qualifier = unqualified
        words = qualifier.split()
        while words and words[-1].lower() in _LINK_WORDS:
            words.pop()
        return None, f"{known.shown(entry)} on record; not stated: {' '.join(words)}"
    if excepted is not None:
        return None, f"{known.shown(excepted)} on record, which the item leaves out"
    terms = rule.get("terms") or [rule.get("text", "")]
    return None, f"no record of {terms[0]}"
