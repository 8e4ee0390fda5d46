"""A patient's facts against the needs stored beside each criterion item.

``criterion.needs`` (written at ingest by :mod:`ingest.criteria.needs`) says which facts
a patient record must hold for an item to be decided. A match counts a trial's items the
patient cannot meet on the index alone (:func:`cannot_be_met`), so it ranks its best trials
without loading every candidate's criteria; items no fact of hers can decide are known to
be unknown (:func:`undecidable`). Pure: nothing stored about the patient.
"""

from __future__ import annotations

from ingest.criteria.catalogue import load_catalogue
from ingest.criteria.needs import NAMED_PREFIXES
from ingest.criteria.words import curated_abbreviations, entry_words, measurement_key
from matching.eligibility import PAST_CHILDBEARING_AGE, PatientFacts


def patient_facts_on_record(facts: PatientFacts) -> frozenset[str]:
    """The facts this patient's record holds (a superset is safe, a subset is not)."""
    have = {
        name
        for name, present in (
            ("age", facts.age_years is not None),
            ("sex", facts.sex is not None),
            ("pregnant", facts.pregnant is not None),
            ("breastfeeding", facts.breastfeeding is not None),
            ("contraception", facts.uses_contraception is not None),
        )
        if present
    }
    # Decided for a man: never pregnant or breastfeeding, and women-only contraception items.
    if facts.sex == "male":
        have.update(("pregnant", "breastfeeding", "contraception"))
    elif facts.sex == "female" and facts.age_years is not None and facts.age_years >= PAST_CHILDBEARING_AGE:
        have.update(("pregnant", "breastfeeding"))
    if facts.sex is not None:
        have.add(f"sex:{facts.sex}")  # items asked of the other sex alone are decided (not applicable)
    abbreviations = curated_abbreviations()
    treatments = [t.name for t in facts.treatments]
    # Rules naming concepts are decided by her entries' concepts and their ancestors, and an
    # excluded condition by her denial of it or of a broader one.
    known = facts.concepts
    have.update(f"c:{concept_id}" for concept_id in known.conditions)
    have.update(f"t:{concept_id}" for concept_id in known.treatments)
    if known.denied:
        have.update(f"a:{concept_id}" for concept_id in known.denied_descendants())
    for prefix, names in (
        ("c", facts.conditions),
        ("t", treatments),
        ("h", [*treatments, *(e.name for e in facts.events)]),
    ):
        have.update(f"{prefix}:{w}" for name in names for w in entry_words(name, abbreviations))
    if facts.measurements:
        catalogue = load_catalogue()
        measured = {v.name for m in facts.measurements if (v := catalogue.lookup(m.name)) is not None}
        have.update(f"m:{v.name}" for v in catalogue.variables.values() if measured & {v.name, *v.related})
        have.update(f"w:{measurement_key(m.name)}" for m in facts.measurements)
    return frozenset(have)


def _on_record(fact: str, have: frozenset[str]) -> bool:
    prefix, _, words = fact.partition(":")
    if prefix in NAMED_PREFIXES and "+" in words:
        return all(f"{prefix}:{word}" in have for word in words.split("+"))
    return fact in have


def cannot_be_met(needs: str | None, have: frozenset[str]) -> bool:
    """Is an item with these stored needs certainly not met (unknown or not met) for a
    patient whose record holds ``have``? ``None`` (not computed) never is."""
    if needs is None:
        return False
    if not needs:
        return True
    possible = (
        any(_on_record(fact, have) for fact in group.split(",") if fact)
        if not group.startswith("!")
        # an excluded condition is met only where she denies it (or the item is not asked of her)
        else any(fact.startswith(("a:", "sex:")) and fact in have for fact in group[1:].split(","))
        for group in needs[1:].split(";")
    )
    return not all(possible) if needs[0] == "&" else not any(possible)


def undecidable(needs: str | None, have: frozenset[str]) -> bool:
    """Is the item certainly ``unknown``: no rule has a fact on record (so every rule is
    unknown, whichever way they combine)? Such items need no evaluation."""
    if needs is None:
        return False
    facts = (fact for group in needs[1:].split(";") for fact in group.lstrip("!").split(",") if fact)
    return not any(_on_record(fact, have) for fact in facts)
