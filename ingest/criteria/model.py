"""The parsed form of eligibility criteria: items and the checkable rules found in them.

Both classes are plain frozen dataclasses that round-trip through JSON
(``to_dict``/``from_dict``) because the store keeps the rules as JSON beside each
item's original text, and ``matching.eligibility`` evaluates those stored dicts.
``to_dict`` leaves out fields that hold their default, so a stored rule carries
only what its kind uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

Section = Literal["inclusion", "exclusion"]
RuleKind = Literal[
    "age",
    "sex",
    "pregnancy",
    "breastfeeding",
    "contraception",
    "threshold",
    "time_window",
    "condition",
    "treatment",
    "unread",
]
Comparator = Literal[">=", ">", "<=", "<", "=", "between"]
Direction = Literal["within_past", "at_least_ago"]

RULE_KINDS: tuple[str, ...] = get_args(RuleKind)


@dataclass(frozen=True, slots=True)
class Window:
    """A time window: ``amount`` ``unit`` (``days`` … ``years``) measured back from the visit.

    ``within_past``: the event happened at most that long ago ("within the past 6
    months", "no more than 6 months before"). ``at_least_ago``: it happened at
    least that long ago ("completed at least 4 weeks before randomization").
    """

    amount: float
    unit: str
    direction: Direction
    days: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "unit": self.unit,
            "direction": self.direction,
            "days": self.days,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Window:
        return cls(
            amount=float(data["amount"]),
            unit=str(data["unit"]),
            direction=data["direction"],
            days=float(data["days"]),
        )


@dataclass(frozen=True, slots=True)
class ConceptRef:
    """A vocabulary concept a rule names: its stable id (``D008181``) and preferred name, and
    the words that narrow it in the text (``qualifier``: "severe", "recurrence of", "class
    III or IV", "to penicillin"), which a patient's record must state too."""

    id: str
    name: str
    qualifier: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"id": self.id, "name": self.name}
        if self.qualifier:
            out["qualifier"] = self.qualifier
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConceptRef:
        qualifier = data.get("qualifier")
        return cls(
            id=str(data["id"]), name=str(data["name"]), qualifier=str(qualifier) if qualifier else None
        )


def _concepts(data: Any) -> tuple[ConceptRef, ...]:
    return tuple(ConceptRef.from_dict(c) for c in data or ())


@dataclass(frozen=True, slots=True)
class Rule:
    """One checkable statement found in an item's text.

    The rule states what the *text* says ("SLEDAI-2K ≥ 10", "pregnant"); the
    item's section says whether that statement is required (inclusion) or
    disqualifying (exclusion). ``negated`` records a negation inside the text
    itself ("no history of …", "must not be pregnant", "negative pregnancy
    test"), so the requirement is ``statement`` when ``(section == inclusion) !=
    negated`` and ``not statement`` otherwise.

    ``span`` is ``(start, end)`` into the item text and ``text`` is that slice.
    Threshold values are kept as written (``value``/``low``/``high`` + ``unit``)
    and, when the catalogue knows the unit, converted (``canonical_*``).

    A condition or treatment rule names vocabulary ``concepts`` (any one of them
    makes the statement true: "MI, stroke or TIA"), each with what narrows it (its
    ``qualifier``), and ``terms``, the writer's words for each; ``exceptions`` are
    the narrower concepts the text leaves out ("malignancy other than basal cell
    carcinoma"). Rules stored before concepts were read have ``terms`` alone.
    """

    kind: RuleKind
    text: str
    span: tuple[int, int]
    negated: bool = False
    variable: str | None = None
    variable_text: str | None = None
    comparator: Comparator | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str | None = None
    canonical_unit: str | None = None
    canonical_value: float | None = None
    canonical_low: float | None = None
    canonical_high: float | None = None
    uln_multiple: bool = False
    sex: str | None = None
    window: Window | None = None
    event: str | None = None
    anchor: str | None = None
    terms: tuple[str, ...] = ()
    concepts: tuple[ConceptRef, ...] = ()
    exceptions: tuple[ConceptRef, ...] = ()
    note: str | None = None
    # The condition the rule holds under, as written ("if they enter from the induction
    # period"): a patient failing the rule may still qualify another way (unknown, not failed).
    applies_if: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text, "span": list(self.span)}
        for f in fields(self):
            if f.name in out:
                continue
            value = getattr(self, f.name)
            if value is None or value is False or value == ():
                continue
            if isinstance(value, Window):
                out[f.name] = value.to_dict()
            elif f.name in ("concepts", "exceptions"):
                out[f.name] = [c.to_dict() for c in value]
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
        if data.get("kind") not in RULE_KINDS:
            raise ValueError(f"unknown rule kind {data.get('kind')!r}")
        kwargs: dict[str, Any] = dict(data)
        start, end = data["span"]
        kwargs["span"] = (int(start), int(end))
        if data.get("window") is not None:
            kwargs["window"] = Window.from_dict(data["window"])
        if "terms" in data:
            kwargs["terms"] = tuple(str(t) for t in data["terms"])
        for name in ("concepts", "exceptions"):
            if name in data:
                kwargs[name] = _concepts(data[name])
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class CriterionItem:
    """One eligibility item: its original text, where it sits, and its rules.

    ``text`` is the item's lines with list markers, indentation and markdown
    backslash-escapes removed (sub-bullets stay, one per line, with their
    marker; hard-wrapped lines are re-joined with a space). ``span`` is
    ``(start, end)`` into the source text, so ``source[start:end]`` is the raw
    original. ``heading`` is the heading (and sub-heading) in force, as written.
    ``needs_review`` is true when no rule was found: the item stays as text for
    a human.
    """

    position: int
    section: Section
    text: str
    span: tuple[int, int]
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    heading: str | None = None

    @property
    def needs_review(self) -> bool:
        return not self.rules

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "section": self.section,
            "text": self.text,
            "span": list(self.span),
            "heading": self.heading,
            "needs_review": self.needs_review,
            "rules": [rule.to_dict() for rule in self.rules],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CriterionItem:
        if data.get("section") not in ("inclusion", "exclusion"):
            raise ValueError(f"unknown section {data.get('section')!r}")
        start, end = data["span"]
        return cls(
            position=int(data["position"]),
            section=data["section"],
            text=str(data["text"]),
            span=(int(start), int(end)),
            rules=tuple(Rule.from_dict(r) for r in data.get("rules", ())),
            heading=data.get("heading"),
        )
