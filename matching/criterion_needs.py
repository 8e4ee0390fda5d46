"""Which patient facts a criterion item needs to be met, so an item that cannot be met for
a patient is known without loading or evaluating it.

Written beside each item at ingest (``criterion.needs``, by ``item_needs``) and read by
the match's exact top-k (``cannot_be_met``). An item that cannot be met is unknown or
not met: either its trial fails (ranked below every trial that does not) or the item
counts as unknown. So a trial's items that cannot be met bound its rank from below,
from a small aggregate query.

The stored form mirrors ``matching.eligibility``: ``&`` (every rule must be met) or
``|`` (inclusion alternatives: one is enough), then one group per rule, ``;``-separated,
each the ``,``-separated facts of which one must be on record for the rule to be
decided: "age", "m:egfr" (a measured variable), "c:lupus+nephritis" (condition entries
holding those words). A group starting with ``!`` is a rule never met: a condition or
treatment the trial excludes (a record can only show it, never its absence, so the
rule is not met or unknown); an empty group, a rule never decided (unreadable).
``""`` is an item without rules (always unknown). Pure: no DB, nothing stored about the patient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ingest.criteria.catalogue import load_catalogue
from matching.eligibility import (
    PatientFacts,
    alternatives,
    curated_abbreviations,
    entry_words,
    requires,
    term_words,
)

_WORD_RE = re.compile(r"[a-z0-9]+")
# Facts read by rule kinds that need no more than "is it recorded".
_KIND_FACTS = {
    "age": ("age",),
    "sex": ("sex",),
    "pregnancy": ("pregnant",),
    "breastfeeding": ("breastfeeding",),
    "contraception": ("contraception",),
}
# Rules naming conditions, treatments or past events are decided by the patient's entries
# of that kind whose words hold all of one term's (``eligibility.term_words``): the fact
# is that term's words, "+"-joined, on record when each is a word of her entries.
_NAMED = {"condition": "c", "treatment": "t", "time_window": "h"}
_PREFIXES = frozenset(_NAMED.values())
# Kinds whose truth is "on record" or unknown, never false: an exclusion of them is never met.
_PRESENCE_ONLY = frozenset(["condition", "treatment"])


def _key(written: str) -> str:
    """A measurement name as ``eligibility._threshold_truth`` compares uncatalogued ones."""
    return "".join(_WORD_RE.findall(written.lower()))


def _terms(rule: Mapping[str, Any]) -> list[str]:
    """The names a rule is matched on, as ``eligibility._truth`` and ``_window_truth`` take them."""
    if rule.get("kind") == "time_window":
        return list(rule.get("terms") or ([rule["event"]] if rule.get("event") else []))
    return list(rule.get("terms") or [rule.get("text", "")])


def rule_group(rule: Mapping[str, Any], section: str) -> str:
    """The rule's stored group: its facts, ``!``-prefixed when the rule is never met."""
    never_met = str(rule.get("kind")) in _PRESENCE_ONLY and not requires(section, rule)
    return ("!" if never_met else "") + ",".join(rule_facts(rule))


def rule_facts(rule: Mapping[str, Any]) -> tuple[str, ...]:
    """The facts of which one must be on record for the rule to be decided; () if it never is."""
    kind = str(rule.get("kind"))
    if kind == "threshold":
        # A catalogued variable is found through the catalogue (any related variable);
        # should the name leave the catalogue, through the written name: both facts.
        name = rule.get("variable")
        facts = (f"m:{name}",) if name else ()
        return (*facts, f"w:{_key(rule.get('variable_text') or name or 'value')}")
    if kind in _NAMED:
        abbreviations = curated_abbreviations()
        prefix = _NAMED[kind]
        alternatives = {
            "+".join(sorted(set(w))) for term in _terms(rule) for w in term_words(term, abbreviations)
        }
        return tuple(sorted(f"{prefix}:{words}" for words in alternatives))
    return _KIND_FACTS.get(kind, ())


def item_needs(item: Mapping[str, Any]) -> str:
    """The stored form of an item (``section``, ``text``, ``rules`` as dicts): ``"&age"``,
    ``"|m:egfr,w:egfr;m:creatinine,w:creatinine"``, ``""`` for no rules."""
    rules: Sequence[Mapping[str, Any]] = item.get("rules") or ()
    if not rules:
        return ""
    section = str(item.get("section", "inclusion"))
    groups = [rule_group(rule, section) for rule in rules]
    return ("|" if alternatives(item, rules) else "&") + ";".join(groups)


def with_needs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Criterion rows (``section``, ``text``, ``rules`` as dicts) given their ``needs``, in place."""
    for row in rows:
        row["needs"] = item_needs(row)
    return rows


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
    abbreviations = curated_abbreviations()
    treatments = [t.name for t in facts.treatments]
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
        have.update(f"w:{_key(m.name)}" for m in facts.measurements)
    return frozenset(have)


def _on_record(fact: str, have: frozenset[str]) -> bool:
    prefix, _, words = fact.partition(":")
    if prefix in _PREFIXES and "+" in words:
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
        not group.startswith("!") and any(_on_record(fact, have) for fact in group.split(",") if fact)
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
