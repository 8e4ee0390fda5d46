"""What a criterion item needs of a patient to be met, written beside it at ingest.

Each item's rules become ``criterion.needs``: the facts a patient record must hold for
the item to be decided, so a match knows which items cannot be met for a patient
without loading or evaluating them (``matching.needs`` reads the stored form against a
patient's facts). Computed once at load time (``ingest.pipeline``, ``criteria reparse``).

The stored form: ``&`` (every rule must be met) or ``|`` (inclusion alternatives: one is
enough), then one group per rule, ``;``-separated, each the ``,``-separated facts of which
one must be on record for the rule to be decided: "age", "m:egfr" (a measured variable),
"c:D008181" (a condition under that vocabulary concept), "t:D007166" (a treatment under
it), "c:lupus+nephritis" (rules stored before concepts were read: condition entries
holding those words). A group starting with ``!`` is a rule never met but by a denial: a
condition or treatment the trial excludes (a record shows it, or, for a condition, denies
it: "a:D003920", a condition she explicitly rules out, a broader one included); an empty
group, a rule never decided (unreadable). ``""`` is an item without rules (always
unknown). Pure: no DB.

Reading a rule: it states what the item's text says ("SLEDAI-2K ≥ 10", "pregnant"); the
trial *requires* that statement when ``(section == "inclusion") != negated``
(:func:`requires`) and *excludes* it otherwise.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ingest.criteria.demographics import item_scope
from ingest.criteria.words import curated_abbreviations, measurement_key, term_words

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
NAMED_PREFIXES = frozenset(_NAMED.values())
# Kinds whose truth is "on record" or unknown, never false: an exclusion of them is never met.
_PRESENCE_ONLY = frozenset(["condition", "treatment"])


def requires(section: str, rule: Mapping[str, Any]) -> bool:
    """Does the trial require the rule's statement (rather than exclude it)?"""
    return (section == "inclusion") != bool(rule.get("negated", False))


def alternatives(item: Mapping[str, Any], rules: Sequence[Mapping[str, Any]]) -> bool:
    """Are the item's rules inclusion alternatives joined by "or" (one met is enough)? What
    no rule reads (an ``unread`` rule) is no alternative: it keeps the item from being met."""
    rules = [r for r in rules if r.get("kind") != "unread"]
    section = item.get("section", "inclusion")
    if len(rules) < 2 or not all(requires(section, r) for r in rules):
        return False
    text = str(item.get("text", "")).lower()
    spans = sorted(tuple(r.get("span", (0, 0))) for r in rules)
    between = " ".join(text[spans[i][1] : spans[i + 1][0]] for i in range(len(spans) - 1))
    return re.search(r"\bor\b", between) is not None


# An "or" that joins clauses (", or", "; or") or adjoins a rule's words ("eGFR ≥ 30 or on
# dialysis"), and a word long enough to name something (not "or", "a", "the").
_CLAUSE_OR = re.compile(r"(?:^|[,;])\s*(?:and/)?or\b|\bor\s*$", re.IGNORECASE)
_NAMING_WORD = re.compile(r"[^\W\d_]{4,}")
_ANY_OR = re.compile(r"\bor\b", re.IGNORECASE)
# Words that compare or join rather than name ("18 years or older", "or equal to")
_NOT_NAMING = frozenset(
    [
        "older",
        "younger",
        "greater",
        "higher",
        "lower",
        "more",
        "less",
        "fewer",
        "above",
        "below",
        "over",
        "under",
        "equal",
        "than",
        "later",
        "earlier",
        "longer",
        "shorter",
        "both",
        "either",
        "other",
        "those",
        "which",
        "with",
        "have",
        "been",
        "from",
        "into",
        "without",
        "within",
        "prior",
        "after",
        "before",
        "during",
    ]
)


def unread_options(item: Mapping[str, Any], rules: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Per rule: does the item offer, beside it and joined by "or", an option no rule reads?

    "No response or partial response to standard treatment, or moderate/severe recurrence
    of lupus nephritis" gives one rule (the recurrence): a patient without a recurrence may
    still qualify by the option before it, so that rule alone can never fail the item.
    Only inclusion items are concerned (an exclusion of "A or B" excludes either), and only
    where the rules read are not already alternatives of each other (:func:`alternatives`:
    there the "or" is read).
    """
    text = str(item.get("text", ""))
    section = str(item.get("section", "inclusion"))
    # Most items hold no "or" at all: answered without looking further (every match reads this).
    if section != "inclusion" or not _ANY_OR.search(text) or alternatives(item, rules):
        return [False] * len(rules)
    spans = [tuple(r.get("span") or (0, 0)) for r in rules]
    bounds = sorted({0, len(text), *(edge for span in spans for edge in span)})
    pieces = list(itertools.pairwise(bounds))
    covered = [any(a <= lo and hi <= b for a, b in spans if a < b) for lo, hi in pieces]
    out: list[bool] = []
    for rule, (start, end) in zip(rules, spans, strict=True):
        if not requires(section, rule) or start >= end:
            out.append(False)
            continue
        # the uncovered text on each side of the rule, up to the next rule's words
        before = after = ""
        for (lo, hi), is_covered in zip(pieces, covered, strict=True):
            if hi <= start:
                before = "" if is_covered else before + text[lo:hi]
            elif lo >= end:
                if is_covered:
                    break
                after += text[lo:hi]
        out.append(
            any(
                _CLAUSE_OR.search(gap)
                and any(w.lower() not in _NOT_NAMING for w in _NAMING_WORD.findall(_CLAUSE_OR.sub(" ", gap)))
                for gap in (before, after)
            )
        )
    return out


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
        return (*facts, f"w:{measurement_key(rule.get('variable_text') or name or 'value')}")
    if kind in _PRESENCE_ONLY and rule.get("concepts"):
        prefix = _NAMED[kind]
        ids = [str(c["id"]) for c in rule["concepts"]]
        denials = [f"a:{i}" for i in ids] if kind == "condition" else []
        return tuple(sorted({*(f"{prefix}:{i}" for i in ids), *denials}))
    if kind in _NAMED:
        abbreviations = curated_abbreviations()
        prefix = _NAMED[kind]
        word_sets = {
            "+".join(sorted(set(w))) for term in _terms(rule) for w in term_words(term, abbreviations)
        }
        return tuple(sorted(f"{prefix}:{words}" for words in word_sets))
    return _KIND_FACTS.get(kind, ())


def item_needs(item: Mapping[str, Any]) -> str:
    """The stored form of an item (``section``, ``text``, ``rules`` as dicts): ``"&age"``,
    ``"|m:egfr,w:egfr;m:creatinine,w:creatinine"``, ``""`` for no rules."""
    rules: Sequence[Mapping[str, Any]] = item.get("rules") or ()
    if not rules:
        return ""
    section = str(item.get("section", "inclusion"))
    read = [r for r in rules if r.get("kind") != "unread"]
    groups = [rule_group(rule, section) for rule in read]
    if len(read) < len(rules):
        # What no rule reads keeps the item from being met (an empty group: never on record),
        # but for a man when all it reads is pregnancy or breastfeeding (eligibility.evaluate_items).
        reproductive = read and all(r.get("kind") in ("pregnancy", "breastfeeding") for r in read)
        if any(unread_options(item, read)):
            pass  # the words not read may be another option: a rule met may meet the item
        elif reproductive:
            groups.append("sex:male")
        else:
            groups.append("")
    scope = item_scope(section, str(item.get("text", "")), read) if read else None
    if scope is not None:
        # Not asked of the other sex: decided (met) for them, whatever else is on record.
        other = "sex:male" if scope == "female" else "sex:female"
        groups = [g + other if g in ("", "!") else f"{g},{other}" for g in groups]
    return ("|" if alternatives(item, rules) else "&") + ";".join(groups)


def with_needs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Criterion rows (``section``, ``text``, ``rules`` as dicts) given their ``needs``, in place."""
    for row in rows:
        row["needs"] = item_needs(row)
    return rows


_FACT_KINDS = {
    "m": "measurement",
    "w": "measurement_named",
    "c": "condition",
    "t": "treatment",
    "h": "event",
    "a": "denied_condition",
}


def needs_view(stored: str | None) -> dict[str, Any] | None:
    """The stored form as the documented JSON structure (``criteria parse --json``, ``show
    --json``, the API): ``{"combine": "all" | "any", "rules": [{"decided_by_any_of": [fact],
    "never_met": bool}]}``, each fact ``{"kind": "age" | "sex" | "pregnant" | "breastfeeding" |
    "contraception"}``, ``{"kind": "sex", "is": "male"}`` (an item asked of women only is
    decided for a man), ``{"kind": "measurement", "variable": "egfr"}``, ``{"kind":
    "measurement_named", "name": "sledai2k"}``, ``{"kind": "condition" | "treatment" |
    "denied_condition", "concept": "D008181"}`` or, for rules stored before concepts were
    read, ``{"kind": "condition" | "treatment" | "event", "words": ["lupus", "nephritis"]}``.
    None when not computed."""
    if stored is None:
        return None
    if not stored:
        return {"combine": "all", "rules": []}
    rules = []
    for group in stored[1:].split(";"):
        never = group.startswith("!")
        facts: list[dict[str, Any]] = []
        for fact in (f for f in group.lstrip("!").split(",") if f):
            prefix, sep, value = fact.partition(":")
            kind = _FACT_KINDS.get(prefix) if sep else None
            if prefix == "sex" and sep:
                facts.append({"kind": "sex", "is": value})  # the item is not asked of this sex
            elif kind is None:
                facts.append({"kind": fact})
            elif kind == "measurement":
                facts.append({"kind": kind, "variable": value})
            elif kind == "measurement_named":
                facts.append({"kind": kind, "name": value})
            elif value[:1].isupper():  # a concept id ("D008181", "TS0001"); words are folded
                facts.append({"kind": kind, "concept": value})
            else:
                facts.append({"kind": kind, "words": value.split("+")})
        rules.append({"decided_by_any_of": facts, "never_met": never})
    return {"combine": "any" if stored[0] == "|" else "all", "rules": rules}


def with_needs_view(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Criterion rows for output: ``needs`` in its documented structure, in place."""
    for item in items:
        if "needs" in item:
            item["needs"] = needs_view(item["needs"])
    return items
