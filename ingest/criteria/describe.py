"""Criterion items and their rules as lines a clinician reads (``criteria parse``, ``show``)."""

from __future__ import annotations

from typing import Any


def describe_rule(rule: dict[str, Any]) -> str:
    """One stored rule (its JSON form) as "kind: statement   «text it came from»"."""
    kind = rule["kind"]
    if kind == "threshold":
        if rule.get("comparator") == "between":
            what = f"{rule.get('low'):g}–{rule.get('high'):g}"
        else:
            what = f"{rule.get('comparator')} {rule.get('value'):g}"
        unit = " × ULN" if rule.get("uln_multiple") else (f" {rule['unit']}" if rule.get("unit") else "")
        text = f"{rule.get('variable')} {what}{unit}"
    elif kind == "time_window" and rule.get("window"):
        w = rule["window"]
        text = (
            f"{rule.get('event') or 'event'} {w['direction'].replace('_', ' ')} {w['amount']:g} {w['unit']}"
        )
    elif kind in ("condition", "treatment"):
        text = " / ".join(rule.get("terms") or [rule["text"]])
    else:
        text = rule.get("sex") or rule["text"]
    return f"{kind}: {'not ' if rule.get('negated') else ''}{text}   «{rule['text']}»"


def item_lines(items: list[dict[str, Any]]) -> list[str]:
    """Numbered items with their section, each followed by its rules."""
    lines = []
    for item in items:
        mark = "  (needs review)" if item["needs_review"] else ""
        lines.append(f"{item['position'] + 1:>3}. [{item['section']}] {item['text']}{mark}")
        lines.extend(f"       → {describe_rule(rule)}" for rule in item["rules"] or [])
    return lines
