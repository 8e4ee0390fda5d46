"""Criterion items and their rules as lines a clinician reads (``criteria parse``, ``show``)."""

from __future__ import annotations

from typing import Any

from ingest.criteria.catalogue import clinical_unit, load_catalogue
from ingest.criteria.categories import CATEGORY_REASONS, category_of

SYMBOLS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "=": "="}


def measure_name(rule: dict[str, Any]) -> str:
    """The measurement as a clinician names it: the catalogue's display ("eGFR", "BMI"),
    else the words the trial used."""
    variable = load_catalogue().variables.get(rule.get("variable") or "")
    return variable.display if variable is not None else str(rule.get("variable_text") or "value")


def threshold_statement(rule: dict[str, Any]) -> str:
    """ "≥ 30 kg/m²", "between 18 and 40 kg/m²", "≤ 2 × ULN"."""
    if rule.get("uln_multiple"):
        unit = " × ULN"
    else:
        unit = f" {clinical_unit(rule.get('unit'))}" if rule.get("unit") else ""
    roman = rule.get("variable") in ROMAN_CLASSES
    if roman and rule.get("comparator") == "between":
        return f"{roman_numeral(rule.get('low'))}–{roman_numeral(rule.get('high'))}"  # "NYHA class III–IV"
    if roman and rule.get("comparator") in (None, "="):
        return roman_numeral(rule.get("value"))  # "NYHA class IV"
    number = roman_numeral if roman else _plain
    if rule.get("comparator") == "between":
        return f"between {number(rule.get('low'))} and {number(rule.get('high'))}{unit}"
    return f"{SYMBOLS.get(rule.get('comparator') or '=', '=')} {number(rule.get('value'))}{unit}"


# Classes clinicians write in Roman numerals: "NYHA class III", not "NYHA class 3".
ROMAN_CLASSES = frozenset(["nyha"])
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


def _plain(value: Any) -> str:
    return f"{value:g}"


def roman_numeral(value: Any) -> str:
    """3 → "III" (1 to 4, the classes clinicians write so); anything else as a number."""
    return _ROMAN.get(int(value), f"{value:g}") if float(value).is_integer() else f"{value:g}"


def window_amount(window: dict[str, Any]) -> str:
    """ "1 year", "6 months": singular for one."""
    count, unit = window.get("amount", 0), str(window.get("unit", ""))
    return f"{count:g} {unit[:-1] if count == 1 and unit.endswith('s') else unit}"


def _concept(ref: dict[str, Any]) -> str:
    return f"{ref['name']} ({ref['qualifier']})" if ref.get("qualifier") else str(ref["name"])


def describe_rule(rule: dict[str, Any]) -> str:
    """One stored rule (its JSON form) as "kind: statement   «text it came from»"."""
    kind = rule["kind"]
    if kind == "unread":
        return f"not read (to check): «{rule.get('note') or rule['text']}»"
    if kind == "age" and rule.get("comparator"):
        text = threshold_statement(rule)  # "≥ 18 years", "between 0.5 and 13 years"
    elif kind == "threshold":
        text = f"{measure_name(rule)} {threshold_statement(rule)}"
        if rule.get("anchor"):
            text += f" ({rule['anchor']} value)"  # "Hemoglobin < 90 g/L (initial value)"
    elif kind == "time_window" and rule.get("window"):
        w = rule["window"]
        when = "within the past" if w["direction"] == "within_past" else "at least"
        ago = " ago" if w["direction"] == "at_least_ago" else ""
        text = f"{rule.get('event') or 'event'} {when} {window_amount(w)}{ago}"
        if rule.get("applies_if"):
            text += f" ({rule['applies_if']})"
    elif kind in ("condition", "treatment") and rule.get("concepts"):
        # the concepts read, each with what narrows it: "Renal Insufficiency, Chronic (stage 3 or 4)"
        text = " / ".join(_concept(c) for c in rule["concepts"])
        if rule.get("exceptions"):
            text += " except " + " / ".join(_concept(c) for c in rule["exceptions"])
    elif kind in ("condition", "treatment"):
        text = " / ".join(rule.get("terms") or [rule["text"]])
    elif kind == "sex":
        text = "either sex" if rule.get("sex") == "any" else str(rule.get("sex"))
    else:
        text = rule["text"]
    return f"{kind}: {'not ' if rule.get('negated') else ''}{text}   «{rule['text']}»"


def item_lines(items: list[dict[str, Any]]) -> list[str]:
    """Numbered items with their section, each followed by its rules."""
    lines = []
    for item in items:
        category = category_of(item["text"], list(item["rules"] or []))
        if category != "clinical":  # "(administrative: confirm at screening)", "(empty: states no criterion)"
            mark = f"  ({category}: {CATEGORY_REASONS[category]})"
        else:
            mark = "  (needs review)" if item["needs_review"] else ""
        lines.append(f"{item['position'] + 1:>3}. [{item['section']}] {item['text']}{mark}")
        lines.extend(f"       → {describe_rule(rule)}" for rule in item["rules"] or [])
    return lines
