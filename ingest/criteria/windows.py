"""Time windows on events and treatments: "within the past 6 months", "no more than 6 months
before the selection visit", "completed at least 4 weeks before randomization".

Each window becomes a ``time_window`` rule with the amount, unit and direction,
the event it constrains (the words before it in the same clause, or after it
when it leads: "in the last 12 weeks, hospitalization…") and the reference
point as written ("the selection visit"), which evaluation reads as "now".
"""

from __future__ import annotations

import re

from ingest.criteria.abbrev import expand_terms
from ingest.criteria.catalogue import normalize_unit, to_days
from ingest.criteria.lexicon import (
    NUM_RE,
    NUMBER_WORD,
    TIME_UNIT,
    ItemText,
    last_word_in,
    parse_number,
    spelled_out,
    trie_pattern,
)
from ingest.criteria.model import Direction, Rule, Window

# A time amount is found from its number outwards (as thresholds are, see the
# lexicon): the words before it are matched as a reversed trie of qualifiers,
# the words after it by one anchored pattern.
_TIME_AFTER_RE = re.compile(rf"\s*-?\s*(?P<unit>{TIME_UNIT})(?![a-z])")
_WORD_TIME_RE = re.compile(rf"(?<![a-z])(?P<amount>{NUMBER_WORD})\s*-?\s*(?P<unit>{TIME_UNIT})(?![a-z])")
_PAST = ("past", "last", "previous", "preceding", "prior", "recent", "proceeding")
_QUALIFIERS: dict[str, str] = {
    # within_past on their own ("within the past 6 months", "in the last year")
    "within": "within", "within the": "within", "during the": "within",
    **{f"{lead}{past}": "within" for lead in ("within the ", "within ", "in the ", "in ", "during the ", "during ",
                                               "over the ", "for the ", "the ", "") for past in _PAST},
    "in the": "within_ref",
    # within_past only when a reference follows ("less than 6 months before")
    **{q: "within_ref" for q in ("less than", "fewer than", "no more than", "not more than", "up to", "<", "< =",
                                 "<=", "≤", "under", "at most", "maximum of", "a maximum of", "shorter than",
                                 "no longer than")},
    # at_least_ago when a reference follows ("at least 4 weeks before")
    **{q: "least_ref" for q in ("at least", "more than", "greater than", "longer than", "over", ">", ">=", "> =",
                                "≥", "no less than", "not less than", "minimum of", "a minimum of")},
    # at_least_ago on their own ("since at least 6 months")
    **{q: "since" for q in ("since", "since at least", "since more than", "since over", "since ≥", "since >")},
}  # fmt: skip
_QUALIFIER_REVERSED_RE = re.compile(r"[ \t]*(?P<q>" + trie_pattern(q[::-1] for q in _QUALIFIERS) + r")")
_REF_RE = re.compile(
    r"(?:\s+period)?(?:\s*\([^()]{0,20}\))?\s+(?P<more>or\s+(?:more|longer|greater)\s+)?(?:before|prior(?:\s+to)?|"
    r"preceding|ago|earlier|previously|previous|from|since)(?![a-z])"
)
# "in the last year": the amount is an implicit one.
_IMPLICIT_ONE_RE = re.compile(
    r"(?<![a-z])(?:within|in|during|over|for)\s+the\s+(?:past|last|previous|preceding)\s+(?P<unit>year|month|week|day)"
    r"(?![a-z])"
)
_FUTURE_RE = re.compile(
    r"(?:\s+period)?\s+(?:after|following|post|from\s+now|of\s+(?:starting|start|beginning|the\s+start))\b"
)
_PERIOD_RE = re.compile(r"\s+period\b")
_TIME_GATE_RE = re.compile(r"year|month|week|day|hour|yr|wk|mos|mths|hrs")
_ANCHOR_RE = re.compile(
    r"\s*(?:period\s+)?(?P<prep>before|prior\s+to|preceding|from|of|to)\s+(?P<anchor>(?:the\s+)?[^,;.()]{1,60}?)"
    r"(?=\s+(?:if|and|or|unless|except|for|with|in|when|while|until)\b|[,;.()]|$)"
)
_LEAD_RE = re.compile(
    r"^(?:(?:and|or|but|patients?|subjects?|participants?|individuals?|women|men|those|who|have|has|had|are|is|was|"
    r"were|be|been|being|must|should|will|would|did|do|does|not|no|never|any|receive[ds]?|received|receiving|"
    r"use\s+of|used|using|history\s+of|a|an|the|by|with|of|had\s+a|prior|previous|known|documented|current|"
    r"currently|undergone|undergo|underwent)\s+)+",
    re.IGNORECASE,
)
_TRAIL_RE = re.compile(
    r"(?:\s+(?:performed|done|obtained|conducted|carried\s+out|taken|collected|completed|administered|given|"
    r"occurring|occurred|that\s+was|which\s+was|at\s+any\s+time|is|was|were|has\s+been|have\s+been|must\s+be|"
    r"should\s+be|with|in|at|the|for|and|or|of|any|time|if|(?:are|is)\s+allowed|allowed|permitted|(?:are|is)\s+permitted))+$",
    re.IGNORECASE,
)
# The words _TRAIL_RE can end on: it is only tried on an event that ends with one.
_TRAIL_LAST_WORDS = frozenset(
    {"performed", "done", "obtained", "conducted", "out", "taken", "collected", "completed", "administered",
     "given", "occurring", "occurred", "was", "time", "is", "were", "been", "be", "with", "in", "at", "the",
     "for", "and", "or", "of", "any", "if", "allowed", "permitted"}
)  # fmt: skip
_VERB_AND_RE = re.compile(
    r"\band\s+(?=(?:who\s+)?(?:receive[ds]?|received|have|had|has|be|are|is|must|should|not|no|did|do|does|use|used|"
    r"take|took|undergo|underwent|been)\b)",
    re.IGNORECASE,
)

EVENT_CHARS = 400
# "within 1 year of biopsy": after "of", the event itself unless it is a study's own
# reference point ("within 28 days of randomization").
# A window that holds only under a condition: "… before the selection visit if they enter
# from the induction period, and no more than one year if they enter with a recurrence".
_APPLIES_IF_RE = re.compile(
    r"\s*,?\s*(?P<cond>(?:only\s+)?(?:if|when|in\s+case)\s+[^,;.()]{3,100}?)(?=\s*(?:,|;|\.|\)|$|\s+and\s+|\s+or\s+))"
)
_EXCEPT_RE = re.compile(
    r"[,;(]?\s*\b(?:except(?:\s+for)?|excluding|other\s+than|with\s+the\s+exception\s+of)\b"
)
_STUDY_POINT_RE = re.compile(
    r"(?<![a-z])(?:screening|randomi[sz]ation|enrol?ment|enrol?ling|study|trial|visit|consent|baseline|dos(?:e|ing)|"
    r"day\s+1|first|start|entry|registration|inclusion|treatment\s+initiation|signing)(?![a-z])"
)


def _clean_event(raw: str) -> str:
    event = raw.strip(" ,:-*•(")
    if len(event.split()) > 20:
        comma, bracket = event.rfind(", "), event.rfind("(")
        cuts = [
            *((comma + 2,) if comma >= 0 else ()),
            *((bracket + 1,) if bracket >= 0 else ()),
            *(m.end() for m in _VERB_AND_RE.finditer(event)),
        ]
        cut = max(cuts, default=0)
        event = event[cut:]
    previous = None
    while previous != event:
        previous = event
        event = _LEAD_RE.sub("", event.strip(" ,:-*•()"))
        event = event.strip(" ,:-*•()")
        if last_word_in(event, _TRAIL_LAST_WORDS):
            event = _TRAIL_RE.sub("", event)
    return event.strip(" ,:-*•()")


def _qualifier(low: str, start: int) -> tuple[str, int] | None:
    m = _QUALIFIER_REVERSED_RE.match(low[max(0, start - 40) : start][::-1])
    if m is None:
        return None
    phrase = " ".join(m.group("q")[::-1].split())
    begin = start - m.end()
    kind = _QUALIFIERS.get(phrase)
    if kind is None or (phrase[0].isalpha() and begin > 0 and low[begin - 1].isalpha()):
        return None
    return kind, begin


def _amounts(low: str) -> list[tuple[int, int, str, str]]:
    """(start, end, amount, unit) of every "6 months", "one year" in the text."""
    found = []
    for m in NUM_RE.finditer(low):
        if m.start() and (low[m.start() - 1].isalnum() or low[m.start() - 1] in "-/."):
            continue
        start, end = m.span()
        spelled = spelled_out(low, start, end) if start and low[start - 1] == "(" else None
        if spelled is not None:
            start, end = spelled, end + 1  # "three (3) years"
        unit = _TIME_AFTER_RE.match(low, end)
        if unit is not None:
            found.append((start, unit.end(), m.group(), unit.group("unit")))
    extra = False
    if _WORD_GATE_RE.search(low):
        for m in _WORD_TIME_RE.finditer(low):
            found.append((m.start(), m.end(), m.group("amount"), m.group("unit")))
            extra = True
    if "the past" in low or "the last" in low or "the previous" in low or "the preceding" in low:
        for m in _IMPLICIT_ONE_RE.finditer(low):
            found.append((m.start("unit"), m.end(), "1", m.group("unit")))
            extra = True
    if extra:
        found.sort()
    return found


_WORD_GATE_RE = re.compile(rf"{NUMBER_WORD}\s*-?\s*(?:y|mo|w|d|h)")


def find_windows(
    text: str | ItemText, section: str, abbreviations: dict[str, str] | None = None
) -> list[Rule]:
    """Every time window in one item's text, as ``time_window`` rules.

    With ``abbreviations`` (see :func:`extract_abbreviations`), each window's event is
    also expanded into ``terms``.
    """
    doc = text if isinstance(text, ItemText) else ItemText(text, section)
    low = doc.low
    if not _TIME_GATE_RE.search(low):
        return []
    rules: list[Rule] = []
    for start, end, written_amount, written_unit in _amounts(low):
        qualifier = _qualifier(low, start)
        ref = _REF_RE.match(low, end)
        kind, begin = qualifier if qualifier else (None, start)
        direction: Direction
        if kind == "within":
            if _FUTURE_RE.match(low, end) or (
                low.startswith("during", begin) and not _PERIOD_RE.match(low, end)
            ):
                continue
            direction = "within_past"
        elif kind == "within_ref" and ref is not None:
            direction = "within_past"
        elif (
            (kind == "least_ref" and ref is not None) or kind == "since" or (ref is not None and ref["more"])
        ):
            direction = "at_least_ago"
        else:
            continue
        stop = (
            ref.end()
            if (ref is not None and direction == "at_least_ago") or (kind == "within_ref" and ref)
            else end
        )
        amount = parse_number(written_amount)
        days = to_days(amount, written_unit)
        if days is None or amount <= 0:
            continue
        anchor_match = _ANCHOR_RE.match(low, end if ref is None else ref.start())
        anchor = (
            doc.text[anchor_match.start("anchor") : anchor_match.end("anchor")].strip()
            if anchor_match
            else None
        )
        stop = max(stop, anchor_match.end()) if anchor_match else stop
        left, right = doc.clause(begin, end)
        excepted = None
        if (
            anchor_match is not None
            and anchor
            and anchor_match.group("prep") == "of"
            and not _STUDY_POINT_RE.search(anchor.lower())
        ):
            # "within 1 year of biopsy": the biopsy is the event, dated from now.
            event, anchor, event_start = _clean_event(anchor), None, begin
        else:
            # An event is a phrase: reading at most EVENT_CHARS of its clause keeps a long
            # run-on item linear (each window used to clean the whole clause before it).
            region = max(left, begin - EVENT_CHARS)
            # "Use of prescription drugs, except routine vitamins, …, within 14 days": the event
            # is what the exceptions are taken from, not the exceptions.
            excepted = _EXCEPT_RE.search(low, max(0, begin - EVENT_CHARS), begin)
            if excepted is not None:
                region = max(doc.clause(excepted.start(), excepted.start() + 1)[0], begin - EVENT_CHARS, 0)
                left = min(left, region)
            while 0 < region < begin and doc.text[region - 1].isalnum():
                region += 1  # a cut phrase starts at a word, not inside one ("atients who …")
            event = _clean_event(doc.text[region : excepted.start() if excepted else begin])
            event_start = doc.text.find(event, left, begin) if event else -1
            if not event:
                event = _clean_event(doc.text[stop : min(right, stop + EVENT_CHARS)])
        span_start = event_start if event_start >= 0 else begin
        applies = _APPLIES_IF_RE.match(low, stop)
        negated = (
            doc.negated(span_start, span_start + len(event))
            if excepted is not None and event_start >= 0
            else doc.negated(begin, stop)
        )
        rules.append(
            Rule(
                kind="time_window",
                applies_if=doc.text[applies.start("cond") : applies.end("cond")] if applies else None,
                text=doc.text[span_start:stop],
                span=(span_start, stop),
                negated=negated,
                window=Window(
                    amount=amount, unit=_unit_name(written_unit), direction=direction, days=round(days, 2)
                ),
                event=event or None,
                anchor=anchor,
                terms=expand_terms([event], abbreviations) if event and abbreviations is not None else (),
            )
        )
    return rules


def _unit_name(written: str) -> str:
    unit = normalize_unit(written)
    return unit if unit in ("years", "months", "weeks", "days", "hours") else written.lower()
