"""Conditions and treatments an item requires or excludes, read as vocabulary concepts.

The vocabulary finds the concepts an item names (:mod:`ingest.criteria.mentions`);
a phrase that names none gives no rule, and the item stays text for a human ("relevant
respirator", "posing a serious suicide" were such phrases once). Each concept is then
read in its place (:mod:`ingest.criteria.scope`): what an exception, a cause, a
purpose, a relative or a plan names is no requirement of the trial; qualifiers
("severe", "recurrence of", "class III or IV", "to penicillin") narrow it; "no",
"without", "free of" and "… negative" negate it. Concepts listed as alternatives ("MI,
stroke or TIA", or examples in brackets) make one rule; concepts joined by "and" one
rule each, so an inclusion needs them all.
"""

from __future__ import annotations

import re

from ingest.criteria.lexicon import ItemText, contains_any
from ingest.criteria.lists import Reading, group_readings, listed_with, previous
from ingest.criteria.mentions import find_mentions, not_the_patients, rule_kind
from ingest.criteria.model import ConceptRef, Rule
from ingest.criteria.scope import (
    Zone,
    find_zones,
    head_after,
    naive_after,
    negative_after,
    qualifier_after,
    qualifier_before,
    specimen_after,
    staged,
    zone_at,
)
from ingest.vocabulary.concepts import FLAG_ABSENT, load_vocabulary
from ingest.vocabulary.recognizer import Mention

_VACCINATION = "D014611"
_PERMISSIVE_GATE = ("allow", "permit", "eligib", "includ", "accept", "enrol", "exclu")
_IF_CLAUSE_RE = re.compile(r"\b(?:if|when|unless|in\s+case\s+of)\b[^,;.:()\n]{0,50}$")
# "Patients are excluded if they have …", "eligible when …": there the clause is the criterion.
_CRITERION_VERB_RE = re.compile(r"(?:excluded|included|eligible|ineligible|exclude|include)\s*$")
# "cancer-related pain", "steroid-induced diabetes": the first concept is a cause of the second.
_CAUSE_AFTER_RE = re.compile(
    r"[\s-]?(?:related|induced|associated|mediated|caused|triggered|secondary)(?![a-z])(?!\s+(?:by|to|with)\b)"
    # "biopsy-proven lupus nephritis", "MRI-confirmed": the first concept is the evidence
    r"|-(?:proven|confirmed|documented|verified|based|guided|defined|diagnosed)(?![a-z])"
)
# Items on childbearing potential name contraception methods and sterility, not treatments.
_FERTILITY = (
    "contracep",
    "childbearing",
    "child-bearing",
    "reproductive potential",
    "menopaus",
    "steril",
    "wocbp",
)
_WORD_RE = re.compile(r"[a-z0-9]+")
_PHRASE_STOP_RE = re.compile(
    r"[;:.()\[\]]|\s(?=(?:who|which|that|at|within|during|before|after|prior|since|in\s+the|for|on|if|unless|"
    r"except|when|according|as|per|by|is|are|was|were|will|must|should|with|without|and\s+(?:has|have|is|are|"
    r"who|must))\b)"
)


def _in_if_clause(low: str, start: int) -> bool:
    """Does the words at ``start`` sit in an if-clause in the middle of a sentence ("… no more
    than one year if they enter with a moderate/severe recurrence")? What it names says when
    another part applies; the trial does not require it."""
    lo = max(0, start - 60)
    window = low[lo:start]
    if "if" not in window and "when" not in window and "unless" not in window and "in case" not in window:
        return False
    m = _IF_CLAUSE_RE.search(low, lo, start)
    if m is None:
        return False
    before = low[: m.start()].rstrip()
    return bool(before) and before[-1] not in ".;:\n*•" and not _CRITERION_VERB_RE.search(before)


def _read(doc: ItemText, mention: Mention, kind: str, floor: int, ceiling: int) -> Reading | None:
    """The concept with its qualifiers and negation; None when the words name something else.
    Its qualifiers stay between ``floor`` and ``ceiling`` (another rule's words)."""
    low = doc.low
    end = qualifier_after(low, mention.end)
    if end > ceiling:
        end = mention.end
    head = head_after(low, end) if kind == "condition" else None
    if head is not None and head[0] == "other":
        return None  # "tumor tissue", "diabetes medication", "stroke risk"
    if head is not None:
        end = head[1]  # "bleeding disorder": narrower than bleeding
    if kind == "treatment" and specimen_after(low, mention.end):
        return None
    if low.startswith(":", mention.end) or low.startswith(" :", mention.end):
        return None  # "Surgical procedure: …", a label
    start = qualifier_before(doc, mention.start, floor)
    inside = staged(mention.text)  # "CKD stage 4": the vocabulary's term names the disease only
    qualifier = None
    if start < mention.start or end > mention.end or inside:
        parts = (
            doc.text[start : mention.start].strip(" ,-"),
            inside or "",
            doc.text[mention.end : end].strip(" ,()-"),
        )
        qualifier = " ".join(part for part in parts if part) or None
    # "ALK-negative NSCLC" is NSCLC: a bare "negative" before a concept describes another one.
    negated = (doc.negatable() and doc.negated(start, mention.end, negative_before=False)) != bool(
        mention.flags & FLAG_ABSENT
    )
    if negative_after(low, end) or (kind == "treatment" and naive_after(low, mention.end)):
        negated = True
    return Reading(mention.concept, kind, start, end, negated, qualifier, doc.text[start:end])


def _vaccination(doc: ItemText, zone: Zone) -> Reading | None:
    """ "vaccinated against pneumococcus and influenza": what the trial asks is the
    vaccination, not the diseases it prevents."""
    concept = load_vocabulary().get(_VACCINATION)
    if concept is None:
        return None
    end = _phrase_end(doc, zone.start, zone.end)
    qualifier = f"{doc.low[zone.phrase_start : zone.start].split()[-1]} {doc.text[zone.start : end].strip()}"
    negated = doc.negated(zone.phrase_start, end)
    return Reading(
        concept, "treatment", zone.phrase_start, end, negated, qualifier, f"vaccination {qualifier}"
    )


def _readings(
    doc: ItemText, mentions: list[Mention], avoid: list[tuple[int, int]], named: dict[int, str | None]
) -> list[Reading]:
    low = doc.low
    zones: list[Zone] | None = None  # read when a concept may be a rule
    permissive = contains_any(low, _PERMISSIVE_GATE)
    fertility = contains_any(low, _FERTILITY)
    readings: list[Reading] = []
    vocabulary = load_vocabulary()
    vaccinations: set[int] = set()
    floor = 0  # a qualifier never reaches back over another concept …
    for i, mention in enumerate(mentions):
        previous_end, floor = floor, max(floor, mention.end)
        kind = rule_kind(mention.concept)
        if kind is None:
            continue
        fence = 0  # … nor over a threshold's words
        if avoid:
            if any(s < mention.end and mention.start < e for s, e in avoid):
                continue
            fence = max((e for s, e in avoid if e <= mention.start), default=0)
        if _in_if_clause(low, mention.start) or (permissive and doc.permissive(mention.start, mention.end)):
            continue
        if zones is None:
            # up to the last concept, or to the end for what may narrow the concepts before it
            narrows_back = "requir" in low or "need" in low or "necessitat" in low
            zones = find_zones(doc, len(low) if narrows_back else mentions[-1].start)
        zone = zone_at(zones, mention.start)
        what = zone.what if zone else None
        if mention.concept.id == _VACCINATION and any(
            z.what == "vaccine" and mention.end <= z.start <= mention.end + 12 for z in zones
        ):
            continue  # "vaccinated" of "vaccinated against …": the vaccine zone holds the rule
        if zone is not None and what == "vaccine":
            if zone.start not in vaccinations and (reading := _vaccination(doc, zone)) is not None:
                vaccinations.add(zone.start)
                readings.append(reading)
            continue
        if what in ("cause", "hypothetical", "family", "optional", "reference", "means") or (
            what == "purpose" and kind == "condition"
        ):
            continue
        if (fertility and (kind == "treatment" or mention.concept.kind == "behavior")) or not_the_patients(
            doc.text, low, mention
        ):
            continue
        nxt = mentions[i + 1] if i + 1 < len(mentions) else None
        if (
            i
            and _adjacent(low, mentions[i - 1], mention)
            and vocabulary.is_a(mentions[i - 1].concept.id, mention.concept.id)
        ):
            continue  # "hepatitis B or C infection": the head noun of the concept before
        if _CAUSE_AFTER_RE.match(low, mention.end) or _modifies(low, mention, nxt):
            floor = previous_end  # "non-melanoma skin cancer", "penicillin allergy": words of the next
            continue
        ceiling = min((s for s, e in avoid if s >= mention.end), default=len(low)) if avoid else len(low)
        reading = _read(doc, mention, kind, max(previous_end, fence), ceiling)
        if reading is None:
            continue
        if (
            fence
            and fence > previous_end
            and not low[fence : reading.start].strip(" \t-")
            and _names(named, fence, mention.text)
        ):
            continue  # "NYHA class III or IV heart failure", ">4/10 pain": the threshold reads them
        if zone is None:
            readings.append(reading)
            continue
        before = previous(
            readings, low, zone.phrase_start if what in ("exception", "example") else zone.start
        )
        if what == "exception":
            if before is not None:
                before.exceptions.append(
                    ConceptRef(reading.concept.id, reading.concept.name, reading.qualifier)
                )
            continue
        if what == "example":
            reading.example = True
        elif what in ("allergen", "requiring") and before is not None:
            if before.end <= zone.start:
                # "allergy to penicillin", "asthma requiring oral steroids": what narrows the concept
                end = _phrase_end(doc, zone.start, zone.end)
                narrowing = doc.text[before.end : end].strip(" ,")
                for narrowed in listed_with(readings, low):  # "hypersensitivity or anaphylaxis to …"
                    narrowed.qualifier = " ".join(filter(None, (narrowed.qualifier, narrowing)))
                before.end = end
                before.words = doc.text[before.start : end]
            continue
        elif what == "allergen":
            continue  # an allergen is no treatment the trial asks about
        readings.append(reading)  # "Patients requiring dialysis": the requirement itself
    if zones:
        _narrow_by_requirements(doc, zones, readings)
    return readings


def _narrow_by_requirements(doc: ItemText, zones: list[Zone], readings: list[Reading]) -> None:
    """ "atopic conditions (eczema, allergic asthma) requiring active treatment": what the
    concepts listed just before "requiring" need is part of them, concept named in it or not."""
    for zone in zones:
        if zone.what != "requiring":
            continue
        before = [r for r in readings if r.end <= zone.phrase_start]
        if not before or doc.low[before[-1].end : zone.phrase_start].strip(" ),]"):
            continue
        end = _phrase_end(doc, zone.start, zone.end)
        narrowing = doc.text[zone.phrase_start : end].strip(" ,")
        listed = listed_with(before, doc.low)
        if any(narrowing in (r.qualifier or "") for r in listed):
            continue  # a concept inside the zone did it already
        for reading in listed:
            reading.qualifier = " ".join(filter(None, (reading.qualifier, narrowing)))


def _names(named: dict[int, str | None], fence: int, words: str) -> bool:
    """Does the threshold ending at ``fence`` measure the concept written right after it: a
    catalogue variable of it ("NYHA class III or IV heart failure"), or its own words
    (">4/10 pain"), not a count of something else ("Maximum of 3 levels degenerative disc
    disease")?"""
    if fence not in named:
        return False  # a time window's words
    measured = named[fence]
    return measured is None or words.lower() in measured.lower()


def _adjacent(low: str, first: Mention, second: Mention) -> bool:
    return 0 <= second.start - first.end <= 2 and not low[first.end : second.start].strip(" -")


def _modifies(low: str, mention: Mention, nxt: Mention | None) -> bool:
    """Does the concept only modify the next one: "non-melanoma skin cancer", "penicillin
    allergy", "breast cancer surgery"?"""
    if nxt is None or not _adjacent(low, mention, nxt):
        return False
    if low.endswith(("non-", "non "), 0, mention.start):
        return True
    kind, next_kind = rule_kind(mention.concept), rule_kind(nxt.concept)
    return (
        next_kind is not None
        and kind != next_kind
        and not load_vocabulary().is_a(mention.concept.id, nxt.concept.id)
    )


def _phrase_end(doc: ItemText, start: int, limit: int) -> int:
    """Where the noun phrase from ``start`` ends (at most ten words)."""
    stop = _PHRASE_STOP_RE.search(doc.low, start + 1, limit)
    end = stop.start() if stop else limit
    words = list(_WORD_RE.finditer(doc.low, start, end))
    if len(words) > 10:
        end = words[9].end()
    return len(doc.text[:end].rstrip(" ,"))


def find_terms(
    text: str | ItemText,
    section: str,
    abbreviations: dict[str, str],
    avoid: list[tuple[int, int]],
    named: dict[int, str | None] | None = None,
) -> list[Rule]:
    """Condition and treatment rules in one item; concepts inside ``avoid`` spans (a
    threshold's or a time window's words) are left to those rules. ``named``: where each
    threshold ends → the words it measures (None: a catalogue variable), so that a concept
    it measures ("NYHA class III heart failure") is left to it too."""
    doc = text if isinstance(text, ItemText) else ItemText(text, section)
    mentions = find_mentions(doc.text, doc.low, abbreviations)
    if not mentions:
        return []
    rules: list[Rule] = []
    seen: set[tuple[object, ...]] = set()
    for group in group_readings(_readings(doc, mentions, avoid, named or {}), doc.low, section):
        first = group[0]
        start, end = min(r.start for r in group), max(r.end for r in group)
        refs: dict[str, ConceptRef] = {}
        for r in group:  # a concept named twice in a group keeps its first words
            refs.setdefault(r.concept.id, ConceptRef(r.concept.id, r.concept.name, r.qualifier))
        concepts = tuple(refs.values())
        # A concept named again is most often its definition ("hepatitis B (defined as hepatitis
        # B surface antigen reactive …)"): the first statement is the rule.
        key = (first.kind, tuple(c.id for c in concepts))
        if key in seen:
            continue
        seen.add(key)
        rules.append(
            Rule(
                kind=first.kind,  # type: ignore[arg-type]
                text=doc.text[start:end],
                span=(start, end),
                negated=first.negated,
                terms=tuple(dict.fromkeys(r.words for r in group if r.words)),
                concepts=concepts,
                exceptions=tuple(dict.fromkeys(c for r in group for c in r.exceptions)),
            )
        )
    return rules
