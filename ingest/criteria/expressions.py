"""Value expressions in an item: "≥ 10", "less than 2,000 /mm3", "between 18 and 30 kg/m2",
"18 years or older", "≤ 2.5 × ULN", "1-2 levels", "0-1" after a score.

They are found from the numbers outwards (see the lexicon's docstring for why):
each number is checked for a comparator just before it, a unit just after it,
a postfix ("or more") or a range ("to 65"). Which variable an expression is
about is decided by :mod:`ingest.criteria.thresholds`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ingest.criteria.catalogue import Mention, Variable, to_days
from ingest.criteria.lexicon import (
    COMPARATOR_OF_PHRASE,
    NUM,
    NUM_RE,
    NUMBER_WORD,
    POSTFIX_RE,
    RANGE_HEAD_RE,
    RANGE_TAIL_RE,
    TIME_UNIT,
    UNIT,
    UNIT_RE,
    ItemText,
    comparator_before,
    parse_number,
    parse_roman,
    spelled_out,
)

_ROMAN = r"(?:vi|iv|v|i{1,3})(?![a-z])"
_VALUE = rf"(?:{NUM}|{_ROMAN})"
_LED_RE = re.compile(
    rf"\s*\)?\s*(?:\([^()]{{1,20}}\)\s*)?(?:(?:score|status|class|level|value|count|index|grade|scale|ps|performance|of|:|=|"
    rf"is|was|must\s+be|should\s+be|be|in\s+the\s+range|range)\s*)*"
    # "/10", "/100" after the value is the scale's maximum ("VAS of 20/100"), not a fraction
    rf"(?P<vals>{_VALUE}(?:\s*(?:-|–|—|~|to|or|,\s*or|,|and|and/or)\s*{_VALUE}){{0,4}})"
    rf"(?![\d]|/(?!\s*100?(?![\d.,/]))|[.,]\d)"
    rf"(?:[ \t]*(?P<unit>{UNIT}))?",
)
# Number words count only before a time unit or a counted noun ("six months", "three or more levels").
_WORD_NUMBER_RE = re.compile(
    rf"(?<![a-z-])(?P<w>{NUMBER_WORD})(?=\s*(?:-\s*)?(?:{TIME_UNIT}|or\s+more|or\s+fewer)\b|\s+\w)"
)
_WORD_GATE_RE = re.compile(r"(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty)\s")
# A unit restated in brackets after the value: "23.0 kilogram per meter square (kg/m^2)".
_RESTATED_UNIT_RE = re.compile(r"[ \t]*\([ \t]*(?P<u>[^()]{1,24}?)[ \t]*\)")
_SHARED_UNIT_GAP_RE = re.compile(r"\s*(?:and|or|to|but|,)\s*")
_SCIENTIFIC_RE = re.compile(
    r"[ \t]*[x×*][ \t]*10[ \t]*(?:\^|\*\*?|e)?[ \t]*(?P<exp>\d{1,2}|[⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2})(?![\d/])"
)
_DATE_TAIL_RE = re.compile(r"/\d{1,2}/\d")
_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
TIME_UNIT_RE = re.compile(rf"^{TIME_UNIT}$", re.IGNORECASE)


@dataclass(slots=True)
class Expr:
    """One value expression: where it is, comparator, value(s) and unit as written."""

    start: int
    end: int
    comparator: str
    values: tuple[float, ...]
    unit: str | None
    origin: str
    hint: str | None = None
    variable: str | None = None
    variables: tuple[str, ...] = ()
    # Set on a bound that restates an earlier one's variable: that bound's negation, passed down a chain.
    negated: bool | None = None
    # The name written for a threshold on a variable the catalogue does not know ("pH").
    name: str | None = None

    @property
    def is_time(self) -> bool:
        return self.unit is not None and TIME_UNIT_RE.match(self.unit) is not None


def _numbers(low: str) -> list[tuple[int, int, float]]:
    """(start, end, value) of every number not part of a name ("L2", "CD20", "COVID-19")."""
    found: list[tuple[int, int, float]] = []
    for m in NUM_RE.finditer(low):
        s, e = m.span()
        negative = False
        if s > 0:
            before = low[s - 1]
            if before.isalpha() or before in "_^":
                continue
            if before in "-/." and s > 1 and low[s - 2].isalnum():
                continue
            negative = before == "-" and (s == 1 or low[s - 2] in " \t(:")
        value = parse_number(m.group())
        spelled = spelled_out(low, s, e) if s and low[s - 1] == "(" else None
        if spelled is not None:
            found.append((spelled, e + 1, value))  # "six (6) months": one number, ending after the ")"
            continue
        found.append((s - 1, e, -value) if negative else (s, e, value))
    if _WORD_GATE_RE.search(low):
        for w in _WORD_NUMBER_RE.finditer(low):
            if w.group("w") not in ("a", "an"):
                found.append((w.start(), -w.end(), parse_number(w.group("w"))))
        found.sort()
    return found


def _unit_at(doc: ItemText, pos: int) -> tuple[str | None, int]:
    m = UNIT_RE.match(doc.low, pos)
    if m is None:
        return None, pos
    return doc.text[m.start("unit") : m.end("unit")], m.end()


def collect(doc: ItemText) -> list[Expr]:
    """Every comparator, postfix, range and between-expression around the item's numbers."""
    low = doc.low
    exprs: list[Expr] = []
    consumed = 0
    ranged = "betw" in low or "from" in low or "range" in low
    for s, e, value in _numbers(low):
        word = e < 0
        e = abs(e)
        if s < consumed or (low.startswith("/", e) and _DATE_TAIL_RE.match(low, e)):
            continue  # ("… to 08/14/2023": a date is no value)
        unit, after = _unit_at(doc, e)
        if unit is None and "10" in low[e : e + 8]:
            # Scientific notation that is not a count unit: "HBV DNA ≥ 1 × 10^3 copies/mL" is 1000.
            sci = _SCIENTIFIC_RE.match(low, e)
            if sci is not None:
                value *= 10.0 ** int(sci["exp"].translate(_SUPERSCRIPT_DIGITS))
                unit, after = _unit_at(doc, sci.end())
                after = max(after, sci.end())
        restated = _RESTATED_UNIT_RE.match(low, after) if unit is not None else None
        if restated is not None and UNIT_RE.fullmatch(low, restated.start("u"), restated.end("u")):
            after = restated.end()  # "23.0 kilogram per meter square (kg/m^2) and 39.9 kg/m^2"
        tail = RANGE_TAIL_RE.match(low, after)
        if tail is not None and ranged:
            head = RANGE_HEAD_RE.search(low, max(0, s - 30), s)
            if head is not None:
                unit2, end = _unit_at(doc, tail.end())
                begin = head.start() + len(head.group()) - len(head.group().lstrip())
                hint = "age" if head["age"] else None
                low_value = _in_unit(value, unit, unit2)
                exprs.append(
                    Expr(
                        begin,
                        end,
                        "between",
                        (low_value, parse_number(tail["hi"])),
                        unit2 or unit,
                        "between",
                        hint,
                    )
                )
                consumed = end
                continue
        cmp = comparator_before(low, s)
        if cmp is not None:
            hint = "word" if word and cmp[2] is None else cmp[2]
            exprs.append(Expr(cmp[1], after, cmp[0], (value,), unit, "prefix", hint=hint))
            consumed = after
            continue
        post = POSTFIX_RE.match(low, after)
        if post is not None:
            end = post.end()
            if unit is None:
                unit, end = _unit_at(doc, end)
                end = max(end, post.end())
            # "6 months or older" is an age
            hint = "word" if word else "age" if post["age"] or post["age2"] else None
            exprs.append(Expr(s, end, ">=" if post["ge"] else "<=", (value,), unit, "postfix", hint))
            consumed = end
            continue
        if tail is not None and tail["sep"] != "and":
            high = parse_number(tail["hi"])
            unit2, end = _unit_at(doc, tail.end())
            value = _in_unit(value, unit, unit2)
            if value < high:
                exprs.append(
                    Expr(s, end, "between", (value, high), unit2 or unit, "range", "word" if word else None)
                )
                consumed = end
    _share_units(low, exprs)
    if "grade" in low:
        exprs += _roman_grades(low)
    return exprs


_ROMAN_GRADE_RE = re.compile(
    r"(?:(?<![a-z])(?P<pre>above|over|below|under|at\s+least|at\s+most|≥|>=|>|≤|<=|<)\s*)?"
    rf"(?<![a-z])grade\s*(?:(?P<cmp>≥|>=|>|≤|<=|<)\s*)?(?P<lo>{_ROMAN})"
    r"(?:\s*(?:(?:or|and)\s+(?P<dir>higher|above|greater|more|worse|over|lower|less|below|better)(?!\s+than)"
    rf"|(?:-|–|to|or|/)\s*(?P<hi>{_ROMAN})))?"
)
_ROMAN_DIRECTION = {"lower": "<=", "less": "<=", "below": "<=", "better": "<="}


def _roman_grades(low: str) -> list[Expr]:
    """Grades in Roman numerals with a comparator or a range: "grade II or above", "Grade III-IV"."""
    exprs = []
    for m in _ROMAN_GRADE_RE.finditer(low):
        lo = parse_roman(m["lo"])
        hi = parse_roman(m["hi"]) if m["hi"] else None
        if lo is None:
            continue
        start = m.start("pre") if m["pre"] else m.start("cmp") if m["cmp"] else m.start("lo")
        if m["cmp"] or m["pre"]:
            # "grade ≥ II", "above grade II"
            comparator = COMPARATOR_OF_PHRASE[" ".join((m["cmp"] or m["pre"]).split())]
        elif m["dir"]:
            comparator = _ROMAN_DIRECTION.get(m["dir"], ">=")
        elif hi is not None and hi > lo:
            exprs.append(Expr(start, m.end(), "between", (lo, hi), None, "roman", "grade"))
            continue
        else:
            continue
        exprs.append(Expr(start, m.end(), comparator, (lo,), None, "roman", "grade"))
    return exprs


def _in_unit(value: float, unit: str | None, target: str | None) -> float:
    """A range's low bound in its high bound's time unit: "6 months to 17 years" is 0.5 to 17 years."""
    if unit is None or target is None or unit == target:
        return value
    if not TIME_UNIT_RE.match(unit) or not TIME_UNIT_RE.match(target):
        return value
    days, per = to_days(value, unit), to_days(1.0, target)
    return value if days is None or not per else round(days / per, 4)


def _share_units(low: str, exprs: list[Expr]) -> None:
    """A unit written once belongs to both bounds: "≥ 22 and ≤ 80 years"."""
    for first, second in itertools.pairwise(exprs):
        if (
            first.unit is None
            and second.unit is not None
            and _SHARED_UNIT_GAP_RE.fullmatch(low, first.end, second.start)
        ):
            first.unit = second.unit


_BEFORE_NAME_RE = re.compile(
    rf"(?<![\w.,/-])(?P<num>{NUM})[ \t]*(?:(?P<unit>{UNIT})[ \t]*)?(?P<cmp>≤|<=|=<|<|≥|>=|=>|>)[ \t]*\Z"
)
# "18 ≤ age" is "age ≥ 18": the comparator read from the variable's side.
_FLIPPED = {"≤": ">=", "<=": ">=", "=<": ">=", "<": ">", "≥": "<=", ">=": "<=", "=>": "<=", ">": "<"}


def values_before(doc: ItemText, mention: Mention, variable: Variable) -> Expr | None:
    """A bound written before the variable, comparator first: "18 ≤ age ≤ 75", "5 < HbA1c"."""
    lo = max(0, mention.start - 40)
    m = _BEFORE_NAME_RE.search(doc.low, lo, mention.start)
    if m is None:
        return None
    unit = doc.text[m.start("unit") : m.end("unit")] if m["unit"] else None
    if unit is not None and not variable.accepts(unit):
        return None
    return Expr(m.start(), mention.end, _FLIPPED[m["cmp"]], (parse_number(m["num"]),), unit, "before")


def led_values(doc: ItemText, mention: Mention, variable: Variable) -> Expr | None:
    """A value written straight after a variable name: "ECOG 0-1", "BMI 18-30 kg/m2", "NYHA I-II"."""
    m = _LED_RE.match(doc.low, mention.end)
    if m is None:
        return None
    roman = variable.name in ("nyha", "asa")
    values: list[float] = []
    for token in re.findall(rf"{NUM}|{_ROMAN}", m["vals"]):
        number = parse_roman(token) if token.isalpha() else parse_number(token)
        if number is None or (token.isalpha() and not roman):
            return None
        values.append(number)
    unit = doc.text[m.start("unit") : m.end("unit")] if m["unit"] else None
    if unit is not None and TIME_UNIT_RE.match(unit) and variable.name not in ("age", "life_expectancy"):
        return None
    if not (variable.kind == "score" or roman or (unit is not None and variable.accepts(unit))):
        return None
    if len(values) == 1:
        return Expr(m.start("vals"), m.end(), "=", (values[0],), unit, "led")
    return Expr(m.start("vals"), m.end(), "between", (min(values), max(values)), unit, "led")
