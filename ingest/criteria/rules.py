"""Item text → checkable rules, and criteria text → items with their rules.

``parse_rules`` runs the extractors in order of confidence — numeric
thresholds and age, time windows, sex/pregnancy/breastfeeding/contraception,
then conditions and treatments — and lets a later extractor skip text an
earlier one already explained (a treatment named inside a time window belongs
to the window: "use of kava within the past 8 weeks" is one rule, not two).
"""

from __future__ import annotations

from ingest.criteria.abbrev import extract_abbreviations
from ingest.criteria.catalogue import load_catalogue, normalize_unit
from ingest.criteria.coverage import unread_rule
from ingest.criteria.demographics import find_demographics
from ingest.criteria.lexicon import ItemText
from ingest.criteria.model import CriterionItem, Rule
from ingest.criteria.split import parse_items
from ingest.criteria.terms import find_terms
from ingest.criteria.thresholds import find_thresholds
from ingest.criteria.windows import find_windows


def _is_time(unit: str | None) -> bool:
    return unit is not None and normalize_unit(unit) in ("years", "months", "weeks", "days", "hours")


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _inside(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return b[0] <= a[0] and a[1] <= b[1]


def _core(window: Rule) -> tuple[int, int]:
    """The window phrase itself (not its event), which a threshold on a duration would share."""
    start, end = window.span
    if window.event and window.text.startswith(window.event):
        start += len(window.event)
    return start, end


def parse_rules(item_text: str, section: str, abbreviations: dict[str, str]) -> list[Rule]:
    """Every rule found in one item's text, in text order.

    ``section`` is ``"inclusion"`` or ``"exclusion"`` (it decides how a trailing
    "… are not eligible" reads); ``abbreviations`` maps short forms to
    expansions (see :func:`extract_abbreviations`). Spans are offsets into
    ``item_text``.
    """
    if section not in ("inclusion", "exclusion"):
        raise ValueError(f"section must be 'inclusion' or 'exclusion', not {section!r}")
    doc = ItemText(item_text, section)
    numeric = find_thresholds(doc, section, load_catalogue())
    windows = [
        w
        for w in find_windows(doc, section, abbreviations)
        if not any(_overlaps(w.span, t.span) and _inside(_core(w), t.span) for t in numeric)
    ]
    # A duration threshold that a time window explains ("at least 4 weeks before") is the window.
    numeric = [
        t
        for t in numeric
        if not (t.variable is None and _is_time(t.unit) and any(_overlaps(t.span, w.span) for w in windows))
    ]
    demographic = find_demographics(doc, section)
    # A duration ("low back pain for at least six months") is no name of the condition it times.
    measures = [r for r in numeric if not (r.variable is None and _is_time(r.unit))]
    named = {r.span[1]: None if r.variable else (r.variable_text or "") for r in measures}
    terms = find_terms(
        doc, section, abbreviations, [*(r.span for r in measures), *(w.span for w in windows)], named
    )
    sex_spans = [r.span for r in demographic if r.kind == "sex"]
    if sex_spans:
        terms = [t for t in terms if not any(_overlaps(t.span, s) for s in sex_spans)]
    rules = [*numeric, *windows, *demographic, *terms]
    rules.sort(key=lambda r: r.span)
    unread = unread_rule(item_text, rules, section)
    return [*rules, unread] if unread is not None else rules


# Longest item (characters) whose rules are looked for, and the characters of one
# record's criteria looked at in all (bench/criteria.py, bench/hostile.py: worst shapes).
MAX_ITEM_TEXT = 10_000
MAX_RULE_TEXT = 40_000


def parse_criteria(text: str, *, section_hint: str | None = None) -> list[CriterionItem]:
    """Criteria text → ordered items, each with its section, original text, span and rules.

    Items in which no rule was found keep their text and report
    ``needs_review``; nothing in the source is dropped.
    """
    abbreviations = extract_abbreviations(text)
    items = []
    budget = MAX_RULE_TEXT
    for position, raw in enumerate(parse_items(text, section_hint=section_hint)):
        # Rule finding grows faster than the text: an item past the caps keeps its text
        # with no rules (so ``needs_review``), and a record costs well under a second.
        parse = raw.text != raw.heading and len(raw.text) <= min(MAX_ITEM_TEXT, budget)
        rules = parse_rules(raw.text, raw.section, abbreviations) if parse else []
        if parse:
            budget -= len(raw.text)
        items.append(
            CriterionItem(
                position=position,
                section=raw.section,  # type: ignore[arg-type]
                text=raw.text,
                span=raw.span,
                rules=tuple(rules),
                heading=raw.heading,
            )
        )
    return items
