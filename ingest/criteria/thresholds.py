"""Numeric thresholds (labs, scores, vitals, age) in an item: variable, comparator, value(s), unit.

Value expressions are found first — "≥ 10", "less than 2,000 /mm3", "between
18 and 30 kg/m2", "18 years or older", "≤ 2.5 × ULN", "0-1" after a score —
then each is tied to the variable named just before it (or just after: "2 or
more grams per day of proteinuria"), several variables sharing one threshold
when joined by "/", "and", "or" ("AST/ALT ≤ 3 × ULN"). Variables come from the
catalogue; a threshold on something the catalogue does not know is kept with
``variable=None`` and the name as written, so recall does not depend on the
catalogue being complete.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal

from ingest.criteria.catalogue import Catalogue, Mention, Variable, normalize_unit
from ingest.criteria.expressions import Expr, collect, led_values, values_before
from ingest.criteria.lexicon import ULN_UNIT, ItemText, comparator_before, contains_any
from ingest.criteria.model import Rule

_DIGIT_RE = re.compile(r"\d")
_DIGITS_RE = re.compile(r"\d+")
_WORD_RE = re.compile(r"\S+")
_ROMAN_HINT_RE = re.compile(r"\b(?:NYHA|ASA)\b")
_WORD_GATE_RE = re.compile(r"(?:one|two|three|four|five|six|twelve)\s+(?:or\s+more\s+)?[a-z]")
_BP_RE = re.compile(
    r"(?<![a-z])(?:blood\s+pressure|bp)\s*(?:\([^)]{1,12}\)\s*)?(?:of\s+|values?\s+|readings?\s+)?"
    r"(?P<cmp>[^\d]{1,30}?)\s*(?P<sys>\d{2,3})\s*/\s*(?P<dia>\d{2,3})\s*(?P<unit>mm\s*hg)?"
)
_SHARE_GAP_RE = re.compile(r"[\s/,&()]*(?:(?:and/or|and|or)[\s/,&()]*)?")
_INHERIT_GAP_RE = re.compile(r"[\s,;(\[]*(?:and|or|but|to|nor|and/or)?[\s,]*(?:(?:a|an|the)\s+)?")
_RIGHT_GAP_RE = re.compile(
    r"\s*[),]?\s*(?:(?:of|on|in|for|by)\s+)?(?:(?:the|a|an|total|serum|his|her|their)\s+)?"
    # the scale's size or range: "≥ 4 on an 11-point NRS", "≥ 4 on a 0-10 NRS"
    r"(?:\d{1,3}[-\s]points?\s+|0\s*(?:-|–|to)\s*10{1,2}\s+(?:mm\s+|cm\s+)?)?"
)
# A clause that opens on the value itself ("…; or < 5 × ULN if …"), up to 120 characters on.
_ALTERNATIVE_BOUND_RE = re.compile(
    r"(?<=[;,])[\s(]*(?:(?:or|and|but)\s+)?(?:(?:if|for|in|with)\s+[^;,\d]{0,60})?\Z"
)
# The condition a second ULN bound is for: "≤ 1.5 × ULN if no liver metastases or ≤ 3 × ULN in the
# presence of liver metastases", "≤ 3 × ULN, except for Gilbert syndrome ≤ 5 × ULN".
_ULN_CONDITION_RE = re.compile(
    r"\b(?:if|unless|except|in\s+(?:the\s+)?(?:presence|case|patients|subjects|participants)|for\s+(?:patients|"
    r"subjects|participants)|with|when|where)\b|metasta|gilbert|hepatic\s+involvement|liver\s+involvement"
)
# What a grade is graded by, written after it: "grade III-IV … according to NYHA".
_GRADED_BY_RE = re.compile(r"\b(?:according\s+to|per|by|using|on\s+the)\b")
# A list bullet between two bounds starts another criterion ("BASDAI ≥ 4 * Spinal pain ≥ 4").
_BULLET_RE = re.compile(r"[*•\n]|(?<!\w)-\s")
# A capitalised name after a comma opens the next entry of a list: "…, Alkalin phosphatases ≤ 5 × ULN".
_NEW_ENTRY_RE = re.compile(r"[,;]\s*(?!(?:And|Or|But|Nor)\b)[A-Z][a-z]{3,}")
# The ends of a rating scale, not a bound: "on a 0 to 10 Numerical Rating Scale", "using a 0-100 mm VAS".
_SCALE_ANCHOR_RE = re.compile(r"\b(?:on|of|using|with|in)\s+(?:a|an|the)\s*\Z")
_VAR_BOUNDARY_RE = re.compile(r"[;\n\x00]|\.(?=\s)")
_ULN_RE = re.compile(ULN_UNIT, re.IGNORECASE)
_LLN_RE = re.compile(r"LLN|lower\s+limit", re.IGNORECASE)
_AGE_LEFT_RE = re.compile(
    r"\b(?:age[ds]?|old|adults?|patients?|subjects?|participants?|men|women|males?|females?|persons?|people|"
    r"individuals?|children|adolescents?|volunteers?|infants?|boys|girls|pediatric|paediatric|candidates?)\b"
)
_AGE_RIGHT_RE = re.compile(
    r"\s*(?:old|of\s+age|(?:years?|yrs?)\s+(?:of\s+age|old)|yo\b|yoa\b|y/o|-?years?-old|of\s+(?:their\s+)?age)"
)
_NOT_AGE_RE = re.compile(
    r"\b(?:prior|before|since|ago|within|history|duration|for|after|last|past|previous|preceding|diagnos\w*|"
    r"treat\w*|therap\w*|during|follow\w*|expectancy|survival|remission|onset|smok\w*|post\w*|symptoms?|"
    r"pain|months?\s+of|weeks?\s+of|stable|period|interval|dose|use|used|received|receiving|taking)\b"
)
_MEASURE_NOUN_RE = re.compile(
    r"\b(?:score|subscore|scale|index|count|level|levels|grade|ratio|titer|titre|value|concentration|class|stage|rate|"
    r"fraction|volume|pressure|saturation|size|diameter|clearance|dose|dosage|percentage|weight|mass|length|"
    r"rating|test|lines?|regimens?|number|classification|assessment|ph)\b",
    re.IGNORECASE,
)
_ABBREV_TOKEN_RE = re.compile(r"\b[A-Za-z]*[A-Z][A-Za-z0-9-]*[A-Z0-9][A-Za-z0-9-]*\b")
_COUNTED_RE = re.compile(
    # Up to three words between the number and what it counts, none a preposition ("1 at baseline visit").
    r"\s*(?:(?!(?:at|in|on|for|by|with|from|to|during|per|within|before|after|since|over)\s)[a-z-]+\s+){0,3}?"
    r"(?P<noun>warts?|herniations?|medications?|drugs|agents|units|falls?|foci|organ\s+systems?|organs?|levels?|"
    r"segments?|lesions?|lines?|regimens?|cycles?|courses?|episodes?|"
    r"attacks?|relapses?|flares?|fractures?|seizures?|hospitali[sz]ations?|therap(?:y|ies)|treatments?|doses?|"
    r"joints?|nodules?|tumou?rs?|metastases|sites?|vertebrae|injections?|sessions?|visits?|drinks?|cigarettes?|"
    r"patients|participants|subjects|centers|centres|criteria|(?:migraine|headache|seizure)\s+days)\b"
)
_PEOPLE_GAP_RE = re.compile(
    r"\b(?:women|men|males?|females?|patients?|participants?|subjects?|children|adults?|aged?|individuals?)\b"
)
_FUTURE_RE = re.compile(r"\s*(?:after|following|post|from\s+now|later)\b")
_NOT_COUNTED_RE = re.compile(r"patients|participants|subjects|centers|centres|sites?|visits?")
_RIGHT_NAME_RE = re.compile(r"\s*(?:(?:of|on|in)\s+(?:the\s+)?)?((?:[A-Za-z][\w/-]*\s?){1,3})")
_NOT_A_QUANTITY_RE = re.compile(
    r"\b(?:stage|version|phase|cohort|item|visit|day|edition|group|part|arm|week\s+\d|ios|android)\s*$",
    re.IGNORECASE,
)
_LEFT_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "with",
        "of",
        "and",
        "or",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "is",
        "are",
        "be",
        "was",
        "were",
        "has",
        "have",
        "having",
        "who",
        "which",
        "that",
        "must",
        "should",
        "patients",
        "patient",
        "subjects",
        "subject",
        "participants",
        "participant",
        "their",
        "his",
        "her",
        "its",
        "any",
        "if",
        "as",
        "than",
        "from",
        "no",
        "not",
        "pre-existing",
        "preexisting",
        "persistent",
    ]
)


def _roman_hint(text: str) -> bool:
    """Does the text name a Roman-numeral scale (NYHA class II, ASA III)?"""
    # The substring test first: the regex opens with ``\b``, so ``re`` cannot skip ahead.
    return ("NYHA" in text or "ASA" in text) and _ROMAN_HINT_RE.search(text) is not None


def _group_before(low: str, mentions: list[Mention], index: int, floor: int) -> list[Mention]:
    group = [mentions[index]]
    j = index - 1
    while j >= 0 and mentions[j].start >= floor:
        if not _SHARE_GAP_RE.fullmatch(low, mentions[j].end, group[0].start):
            break
        if "(" in low[mentions[j].end : group[0].start] and mentions[j].name != group[0].name:
            # "QT interval corrected for heart rate (QTc)": a bracketed name defines what precedes it.
            break
        group.insert(0, mentions[j])
        j -= 1
    return group


def _is_age(doc: ItemText, expr: Expr) -> bool:
    if expr.hint == "age":
        return True
    right = doc.low[expr.end : expr.end + 30]
    if expr.unit is None:
        return _AGE_RIGHT_RE.match(right) is not None  # "≥ 50 YoA", "18 yo"
    if normalize_unit(expr.unit) not in ("years", "months", "weeks", "days"):
        return False
    clause_start, _ = doc.clause(expr.start, expr.end)
    left = doc.low[clause_start : expr.start]
    if _AGE_RIGHT_RE.match(right):
        return True
    if _NOT_AGE_RE.search(left) or _NOT_AGE_RE.match(right.strip()):
        return False
    if _AGE_LEFT_RE.search(left) is not None:
        return True
    # A bare "at least 6 months of conservative care" is a duration; a bare "18 years or older" is an age.
    return not left.strip(" -:*•(") and normalize_unit(expr.unit) == "years"


def _left_phrase(text: str, floor: int, start: int) -> tuple[str, int] | None:
    """The name written before a value ("sleep efficiency", "CGI-SCH negative symptoms score")."""
    end = start
    window = text[floor:end].rstrip()
    while window.endswith(")") and "(" in window:
        window = window[: window.rindex("(")].rstrip()
    end = floor + len(window)
    cut = max(window.rfind(","), window.rfind("("), window.rfind(":"), window.rfind(")"), window.rfind(";"))
    offset = floor + cut + 1
    words = list(_WORD_RE.finditer(text, offset, end))[-5:]
    while words and (words[0].group(0).lower().strip(".,") in _LEFT_STOP):
        words.pop(0)
    while words and words[-1].group(0).lower().strip(".,:=") in _LEFT_STOP | {"", "level", "levels", "of"}:
        if words[-1].group(0).lower().strip(".,:=") in ("level", "levels") and len(words) > 1:
            break
        words.pop()
    if not words:
        return None
    begin = words[0].start()
    return text[begin : words[-1].end()].strip(" .,:=("), begin


def _convert(
    variable: Variable, values: tuple[float, ...], unit: str | None
) -> tuple[tuple[float, ...] | None, str | None]:
    """Canonical values, and a note when they could not be trusted."""
    converted = []
    for value in values:
        canonical = variable.convert(value, unit)
        if canonical is None:
            return (
                None,
                None if unit is None else f"unit {unit!r} is not in the catalogue for {variable.display}",
            )
        if not variable.plausible(canonical):
            return (
                None,
                f"{value:g} {unit or ''} is outside the plausible range for {variable.display}; check the unit",
            )
        converted.append(canonical)
    return tuple(converted), None


def _infer_unit(variable: Variable, values: tuple[float, ...]) -> str | None:
    """The one catalogue unit in which a unit-less lab value is plausible (100,000 platelets → /uL)."""
    fits = {
        variable.conversions[u].apply(values[0])
        for u in variable.conversions
        if all(variable.plausible(variable.conversions[u].apply(v)) for v in values)
    }
    if len(fits) != 1:
        return None
    value = fits.pop()
    return next(u for u in variable.conversions if variable.conversions[u].apply(values[0]) == value)


def _rule(
    doc: ItemText, start: int, expr: Expr, variable: Variable | None, variable_text: str | None
) -> Rule:
    unit = expr.unit
    kind: Literal["age", "threshold"] = (
        "age" if variable is not None and variable.name == "age" else "threshold"
    )
    uln = unit is not None and _ULN_RE.fullmatch(unit) is not None
    values = expr.values
    canonical: tuple[float, ...] | None = None
    canonical_unit: str | None = None
    note: str | None = None
    if uln:
        canonical, canonical_unit = values, "xULN"
    elif unit is not None and _LLN_RE.search(unit):
        note = "threshold is a multiple of the lower limit of normal"
    elif variable is not None:
        if unit is None and variable.kind != "score" and variable.unit not in ("ratio", "class"):
            inferred = _infer_unit(variable, values)
            if inferred is not None:
                canonical = tuple(variable.conversions[inferred].apply(v) for v in values)
                canonical_unit = variable.unit
                note = "unit not written; inferred from the value's magnitude"
        else:
            canonical, note = _convert(variable, values, unit)
            canonical_unit = variable.unit if canonical is not None else None
    if kind == "age" and unit is None:
        unit = "years"
        canonical, canonical_unit = values, "years"
    between = expr.comparator == "between"
    return Rule(
        kind=kind,
        text=doc.text[start : expr.end],
        span=(start, expr.end),
        negated=doc.negated(start, expr.end),
        variable=variable.name if variable is not None else None,
        variable_text=variable_text,
        comparator=expr.comparator,  # type: ignore[arg-type]
        value=None if between else values[0],
        low=values[0] if between else None,
        high=values[1] if between else None,
        unit=unit,
        canonical_unit=canonical_unit,
        canonical_value=None if between or canonical is None else canonical[0],
        canonical_low=canonical[0] if between and canonical is not None else None,
        canonical_high=canonical[1] if between and canonical is not None else None,
        uln_multiple=uln,
        note=note,
    )


def _resolve(catalogue: Catalogue, name: str, unit: str | None) -> Variable:
    """Prefer a related variable when only it accepts the unit (proteinuria in g/g is a UPCR)."""
    variable = catalogue[name]
    if unit is None or variable.accepts(unit) or _ULN_RE.fullmatch(unit):
        return variable
    for other in variable.related:
        if catalogue[other].accepts(unit):
            return catalogue[other]
    return variable


def _blood_pressure(doc: ItemText, catalogue: Catalogue) -> tuple[list[Rule], list[tuple[int, int]]]:
    """Blood pressure pairs are two thresholds: "BP > 140/90 mmHg" is systolic and diastolic."""
    rules: list[Rule] = []
    taken: list[tuple[int, int]] = []
    if "pressure" not in doc.low and "bp" not in doc.low:
        return rules, taken
    for m in _BP_RE.finditer(doc.low):
        cmp = comparator_before(doc.low, m.start("sys"))
        if cmp is None:
            continue
        written = doc.text[m.start() : cmp[1]].strip()
        for name, group in (("sbp", "sys"), ("dbp", "dia")):
            unit = doc.text[m.start("unit") : m.end("unit")] if m["unit"] else "mmHg"
            expr = Expr(cmp[1], m.end(), cmp[0], (float(m[group]),), unit, "bp")
            rules.append(_rule(doc, m.start(), expr, catalogue[name], written))
        taken.append((m.start(), m.end()))
    return rules, taken


def find_thresholds(text: str | ItemText, section: str, catalogue: Catalogue) -> list[Rule]:
    """Every numeric threshold (kind ``threshold`` or ``age``) in one item's text."""
    doc = text if isinstance(text, ItemText) else ItemText(text, section)
    if (
        not _DIGIT_RE.search(doc.text)
        and not _roman_hint(doc.text)
        and not _WORD_GATE_RE.search(doc.low)
        and "grade" not in doc.low
    ):
        return []
    rules, taken = _blood_pressure(doc, catalogue)
    exprs = collect(doc)
    if taken:
        exprs = [e for e in exprs if all(e.end <= s or e.start >= t for s, t in taken)]
    mentions = catalogue.find(doc.text, doc.low, _search_windows(doc, exprs))
    symbols = contains_any(doc.low, "<>≤≥")
    for mention in mentions:
        variable = catalogue[mention.name]
        led = led_values(doc, mention, variable)
        if led is not None and led.comparator == "=":
            # "a minimum hemoglobin of 9 g/dL", "a maximum serum creatinine of 1.5 mg/dL"
            cmp = comparator_before(doc.low, mention.start)
            if cmp is not None and cmp[2] is None:
                led.comparator = cmp[0]
        for found in (led, values_before(doc, mention, variable) if symbols else None):
            if found is None or any(e.start < found.end and found.start < e.end for e in exprs):
                continue
            if all(found.end <= s or found.start >= t for s, t in taken):
                found.variable = mention.name
                exprs.append(found)
    exprs = [e for e in exprs if not _scale_anchor(doc, e)]
    exprs.sort(key=lambda e: e.start)
    breaks = [b.end() for b in _VAR_BOUNDARY_RE.finditer(doc.low)] if exprs else []
    previous: Expr | None = None
    for expr in exprs:
        floor = max([b for b in breaks if b <= expr.start], default=0)
        floor = max(floor, previous.end if previous is not None else 0, expr.start - 90)
        rules.extend(_tie(doc, expr, previous, mentions, floor, catalogue))
        previous = expr
    return _timed(doc, _expand_members(rules, catalogue))


# "Gestational age < 23 weeks" is the pregnancy's age, not the patient's.
_GESTATION_RE = re.compile(r"\b(?:gestation(?:al)?|foetal|fetal|bone|corrected)\s+age\b[^;,.]{0,12}\Z")
# A value at a given time, not the latest: "Initial haemoglobin < 90 g/L", "baseline eGFR ≥ 30",
# "hemoglobin at admission", "nadir platelet count", "peak creatinine" ("minimum", "lowest" are
# comparators as often: "a minimum hemoglobin of 9 g/dL").
_TIMED_BEFORE_RE = re.compile(
    r"\b(?P<when>initial|baseline|admission|presenting|pre-?treatment|pre-?operative|nadir|peak|historical)\b"
    r"(?:\s+[\w-]+){0,4}\s*\Z"
)
_TIMED_AFTER_RE = re.compile(
    r"\A[^;.]{0,40}?\b(?P<when>at\s+(?:admission|presentation|diagnosis|baseline)|on\s+admission|"
    r"(?:prior\s+to|before)\s+(?:treatment|therapy|surgery|transplant\w*)|at\s+the\s+time\s+of\s+diagnosis)\b"
)


# A share of the enrolled, not a value of hers: "a maximum of 40% can have parents of …",
# "at least 30% of participants", "Minimum 60% of participants should have …".
_QUOTA_RE = re.compile(
    r"\d\s*%\s*(?:of\s+(?:the\s+)?(?:participants|patients|subjects|enrolled|randomi[sz]ed|population|cohort)|"
    r"(?:can|should|will|may|must)\s+(?:have|be)\b)"
)
_FRAGMENT_END_RE = re.compile(
    r"\b(?:while|whereas|and|or|but|if|when|of|the|a|an|to|with|for|by|in|on|that)\W*\Z"
)


def _fragment(doc: ItemText, rule: Rule) -> bool:
    """Is an unnamed threshold no reading of the item ("parents of Caucasian descent while ≤ 40 %")?"""
    name = (rule.variable_text or "").lower()
    left, right = doc.clause(rule.span[0], rule.span[1])
    sentence = doc.low[max(0, left - 80) : right + 40]
    return bool(_FRAGMENT_END_RE.search(name)) or (
        rule.unit == "%" and _QUOTA_RE.search(sentence) is not None
    )


def _timed(doc: ItemText, rules: list[Rule]) -> list[Rule]:
    """A measured value the item takes at a given time ("initial", "at diagnosis") carries that
    time as its ``anchor``: the latest value on record is no verdict on it. An age that is the
    pregnancy's ("gestational age") is no age of the patient's."""
    out = []
    for rule in rules:
        start, end = rule.span
        gestation = (
            _GESTATION_RE.search(doc.low, max(0, start - 40), start + 1) if rule.kind == "age" else None
        )
        if gestation is not None:
            begin = min(start, gestation.start())
            rule = replace(
                rule,
                kind="threshold",
                variable=None,
                text=doc.text[begin:end],
                span=(begin, end),
                variable_text=doc.text[
                    gestation.start() : gestation.start() + gestation.group().index("age") + 3
                ],
            )
        elif rule.kind == "threshold" and rule.variable is None and _fragment(doc, rule):
            continue
        elif rule.kind == "threshold":
            when = _TIMED_BEFORE_RE.search(
                doc.low, max(0, start - 30), start + len(rule.variable_text or "")
            ) or (_TIMED_AFTER_RE.match(doc.low, end))
            if when is not None:
                begin = min(start, when.start("when"))  # "Initial haemoglobin …": the word is the rule's
                rule = replace(
                    rule, anchor=" ".join(when["when"].split()), span=(begin, end), text=doc.text[begin:end]
                )
        out.append(rule)
    return out


def _expand_members(rules: list[Rule], catalogue: Catalogue) -> list[Rule]:
    """A bound on a name for several variables ("transaminases ≤ 2.5 × ULN") is one rule on each."""
    if not any(r.variable is not None and catalogue[r.variable].members for r in rules):
        return rules
    out: list[Rule] = []
    for rule in rules:
        members = catalogue[rule.variable].members if rule.variable is not None else ()
        out.extend([replace(rule, variable=name) for name in members] if members else [rule])
    return out


def _scale_anchor(doc: ItemText, expr: Expr) -> bool:
    return (
        expr.comparator == "between"
        and expr.values[0] == 0
        and _SCALE_ANCHOR_RE.search(doc.low, max(0, expr.start - 12), expr.start) is not None
    )


def _search_windows(doc: ItemText, exprs: list[Expr]) -> list[tuple[int, int]] | None:
    """Where a variable name can matter: shortly before or after a value, or before a bare number
    (a score written without a comparator, "ECOG 2"). Long items are mostly not searched."""
    if len(doc.low) < 160 or _roman_hint(doc.text):
        return None
    spans = [(max(0, e.start - 100), e.end + 40) for e in exprs]
    # One span per run of digits: the spans of a run's single digits overlap and merge into it anyway.
    # (and a few characters after it: "18 ≤ age")
    spans += [(max(0, m.start() - 45), m.end() + 8) for m in _DIGITS_RE.finditer(doc.low)]
    spans.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        while hi < len(doc.low) and doc.low[hi].isalnum():
            hi += 1
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _tie(
    doc: ItemText,
    expr: Expr,
    previous: Expr | None,
    mentions: list[Mention],
    floor: int,
    catalogue: Catalogue,
) -> list[Rule]:
    """Tie one value expression to its variable(s) and build the rule(s)."""
    low = doc.low
    if expr.hint == "word" and not expr.is_time:
        # A number word counts something ("three or more levels"); before a time unit it can be a
        # variable's bound like a figure ("life expectancy of less than one year").
        return _unknown(doc, expr, floor)
    if expr.variable is not None:
        expr.variables = (expr.variable,)
        if expr.origin == "before":
            named = next(m for m in mentions if m.end == expr.end)
            return [_rule(doc, expr.start, expr, catalogue[expr.variable], doc.text[named.start : named.end])]
        start = _led_start(mentions, expr)
        return [
            _rule(doc, start, expr, catalogue[expr.variable], doc.text[start : _led_end(mentions, start)])
        ]
    if (expr.hint == "age" and not _named_before(mentions, expr, floor, "age")) or (
        expr.hint is None and _is_age(doc, expr) and not _named_before(mentions, expr, floor)
    ):
        expr.variable, expr.variables = "age", ("age",)
        return [_rule(doc, expr.start, expr, catalogue["age"], None)]
    before = [i for i, m in enumerate(mentions) if m.start >= floor and m.end <= expr.start]
    if (
        before
        and expr.start - mentions[before[-1]].end <= 60
        # "FSH in the post-menopausal range for women under 50": a bare number after people is theirs
        and not (expr.unit is None and _PEOPLE_GAP_RE.search(low, mentions[before[-1]].end, expr.start))
    ):
        group = _group_before(low, mentions, before[-1], floor)
        # One mention per variable, the one nearest the value ("hypoalbuminemia (serum albumin ≤ 3")
        nearest = {m.name: m for m in group}
        group = [m for m in group if nearest[m.name] is m]
        resolved = [(m, _resolve(catalogue, m.name, expr.unit)) for m in group]
        while len(resolved) > 1 and not _fits(resolved[0][1], expr):
            # "Hypokalemia, hemoglobin < 8.0 g/dL": a listed name the unit cannot belong to is not in the group.
            resolved.pop(0)
            group.pop(0)
        if all(_fits(v, expr) for _, v in resolved):
            expr.variables = tuple(v.name for _, v in resolved)
            expr.variable = expr.variables[0]
            return [_rule(doc, group[0].start, expr, v, doc.text[m.start : m.end]) for m, v in resolved]
        return _unknown(doc, expr, floor)
    # (A grade in Roman numerals restates no earlier bound: "QTc ≥ 470 ms). Grade III-IV cardiac …")
    if (
        previous is not None
        and previous.variables
        and expr.origin != "roman"
        and _inherits(doc, previous, expr, mentions)
    ):
        inherited = [_resolve(catalogue, name, expr.unit) for name in previous.variables]
        if all(_fits(v, expr) for v in inherited):
            expr.variable, expr.variables = inherited[0].name, tuple(v.name for v in inherited)
            negated = _inherited_negation(doc, previous, expr)
            return [replace(_rule(doc, expr.start, expr, v, None), negated=negated) for v in inherited]
    for mention in mentions:
        if expr.end <= mention.start <= expr.end + 30 and _RIGHT_GAP_RE.fullmatch(
            low, expr.end, mention.start
        ):
            variable = _resolve(catalogue, mention.name, expr.unit)
            if not _fits(variable, expr) or (
                "," in low[expr.end : mention.start] and _left_phrase(doc.text, floor, expr.start) is not None
            ):
                # (a value with a name before it ends its entry at the comma: "Alkalin phosphatases
                # ≤ 5 x ULN, Creatinine clearance …")
                break
            expr.variable, expr.variables = variable.name, (variable.name,)
            rule = _rule(doc, expr.start, expr, variable, doc.text[mention.start : mention.end])
            return [replace(rule, span=(expr.start, mention.end), text=doc.text[expr.start : mention.end])]
    if expr.origin == "roman" and (graded := _graded_by(doc, expr, mentions, catalogue)):
        return graded
    if (
        previous is not None
        and not previous.variables
        and previous.name
        and (_same_unit(previous, expr) or previous.unit is expr.unit is None)
        and _INHERIT_GAP_RE.fullmatch(low, previous.end, expr.start)
    ):
        # "pH ≥ 7.35 and ≤ 7.45": the second bound of a variable the catalogue does not know.
        expr.name = previous.name
        negated = _inherited_negation(doc, previous, expr)
        return [replace(_rule(doc, expr.start, expr, None, previous.name), negated=negated)]
    return _unknown(doc, expr, floor)


def _graded_by(doc: ItemText, expr: Expr, mentions: list[Mention], catalogue: Catalogue) -> list[Rule]:
    """A grade whose scale is named after it: "Grade III-IV cardiac insufficiency according to NYHA"."""
    for mention in mentions:
        if not expr.end < mention.start <= expr.end + 50:
            continue
        variable = catalogue[mention.name]
        if _GRADED_BY_RE.search(doc.low, expr.end, mention.start) and (
            variable.kind == "score" or variable.unit == "class"
        ):
            expr.variable, expr.variables = variable.name, (variable.name,)
            rule = _rule(doc, expr.start, expr, variable, doc.text[mention.start : mention.end])
            return [_with_name(rule, doc, expr.start, mention.end)]
    return []


def _inherited_negation(doc: ItemText, previous: Expr, expr: Expr) -> bool:
    """The bound restates the first one's variable, and so its negation: "less than 2.5 × ULN in the
    absence of metastases, or less than 5 × ULN" is not negated by "absence of"."""
    negated = previous.negated
    if negated is None:
        negated = doc.negated(previous.start, previous.end)
    expr.negated = negated
    return negated


def _fits(variable: Variable, expr: Expr) -> bool:
    """Can this variable carry this value's unit? (No unit, or a unit it converts, or a ULN multiple.)"""
    return expr.unit is None or variable.accepts(expr.unit) or _ULN_RE.fullmatch(expr.unit) is not None


def _named_before(mentions: list[Mention], expr: Expr, floor: int, name: str | None = None) -> bool:
    """Is a catalogue variable (other than age; or ``name``) named just before the value?"""
    return any(
        (m.name == name if name else m.name != "age") and m.start >= floor and 0 <= expr.start - m.end <= 60
        for m in mentions
    )


def _inherits(doc: ItemText, previous: Expr, expr: Expr, mentions: list[Mention]) -> bool:
    """Does the second bound reuse the variable ("≥ 42 points but ≤ 65", "male ≥ 450 ms, female ≥ 470")?"""
    if _INHERIT_GAP_RE.fullmatch(doc.low, previous.end, expr.start):
        return True
    gap = doc.text[previous.end : expr.start]
    if (
        len(gap) <= 120
        and _same_unit(previous, expr)
        and _ALTERNATIVE_BOUND_RE.search(doc.low, previous.end, expr.start)
    ):
        # "ALT < 2.5 × ULN without liver metastases; < 5 × ULN with": a clause opening on a bare
        # bound in the first bound's unit restates the variable.
        return not any(previous.end <= m.start < expr.start for m in mentions) and not _DIGIT_RE.search(gap)
    if (
        len(gap) <= 120
        and _uln(previous)
        and _uln(expr)
        and _ULN_CONDITION_RE.search(doc.low, previous.end, expr.start)
        and not any(previous.end <= m.start < expr.start for m in mentions)
    ):
        return True
    if (
        len(gap) > 25
        or _BULLET_RE.search(gap)
        or _NEW_ENTRY_RE.search(gap)
        or any(previous.end <= m.start < expr.start for m in mentions)
        or _ABBREV_TOKEN_RE.search(gap)
    ):
        return False
    same_unit = expr.unit is None or (
        previous.unit is not None and normalize_unit(previous.unit) == normalize_unit(expr.unit)
    )
    return same_unit and not any(c.isdigit() for c in gap)


def _uln(expr: Expr) -> bool:
    return expr.unit is not None and _ULN_RE.fullmatch(expr.unit) is not None


def _same_unit(previous: Expr, expr: Expr) -> bool:
    return (
        previous.unit is not None
        and expr.unit is not None
        and normalize_unit(previous.unit) == normalize_unit(expr.unit)
    )


_CLAUSE_NAME_RE = re.compile(r"(?i)(?:if|when|unless|while|they|who|which|that|whose|where)\b")


def _unknown(doc: ItemText, expr: Expr, floor: int) -> list[Rule]:
    """A threshold on something the catalogue does not know: keep the name as written.

    Accepted when the value has a unit, a comparator and a measurement-like name
    ("score", "grade", "count"), or counts something ("≥ 2 prior lines", "1-2
    levels"); durations ("pain for at least 6 months") are kept here too and
    dropped later if a time window explains them.
    """
    text = doc.text
    if expr.is_time and _FUTURE_RE.match(doc.low, expr.end):
        return []
    if expr.hint == "word" and not expr.is_time and _COUNTED_RE.match(doc.low, expr.end) is None:
        return []
    phrase = _left_phrase(text, floor, expr.start)
    name, start = phrase if phrase else (None, expr.start)
    if name is not None and (
        _NOT_A_QUANTITY_RE.search(name) or not any(c.isalpha() for c in name) or _CLAUSE_NAME_RE.match(name)
    ):
        # "* ≥ 30 kg/m²", "if they enter … no more than one year": no name to hold a value against.
        return []
    counted = _COUNTED_RE.match(doc.low, expr.end)
    if (
        counted is not None
        and expr.unit is not None
        and not expr.is_time
        and counted.group().split()[0] != "of"
    ):
        # A measurement with a unit counts nothing: "< 10 mm in participants with …" (but "60% of participants").
        counted = None
    if counted is not None:
        if _NOT_COUNTED_RE.match(counted.group("noun")):
            return []
        if expr.unit is None:
            noun_end = counted.end("noun")
            return [
                _with_name(
                    _rule(doc, expr.start, expr, None, text[expr.end : noun_end].strip()),
                    doc,
                    expr.start,
                    noun_end,
                )
            ]
    if name is None or expr.hint == "grade":
        right = _RIGHT_NAME_RE.match(text, expr.end)
        if right:
            name = (("grade " if expr.hint == "grade" else "") + right.group(1).strip()).strip()
        elif expr.hint == "grade":
            name = "grade"
    if name is not None and _CLAUSE_NAME_RE.match(name):
        return []  # "no more than one year if they enter …": a clause, not a measurement's name
    if expr.origin == "range" and expr.unit is None and not (name and _MEASURE_NOUN_RE.search(name)):
        return []
    measurable = expr.unit is not None or (
        name is not None and (_MEASURE_NOUN_RE.search(name) or _ABBREV_TOKEN_RE.search(name))
    )
    if not measurable:
        return []
    expr.name = name or expr.unit
    return [_rule(doc, start, expr, None, expr.name)]


def _with_name(rule: Rule, doc: ItemText, start: int, end: int) -> Rule:
    return replace(rule, span=(start, end), text=doc.text[start:end])


def _led_end(mentions: list[Mention], start: int) -> int:
    return next((m.end for m in mentions if m.start == start), start)


def _led_start(mentions: list[Mention], expr: Expr) -> int:
    owner = [m for m in mentions if m.end <= expr.start and m.name == expr.variable]
    return owner[-1].start if owner else expr.start
