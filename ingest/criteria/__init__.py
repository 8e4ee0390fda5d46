"""Eligibility criteria → items → checkable rules (pure; no database, no network).

- :func:`parse_criteria` — criteria text → ordered :class:`CriterionItem` with rules.
- :func:`parse_items` — the split step alone (text → raw items with sections).
- :func:`parse_rules` — one item's text → :class:`Rule` list.
- :func:`extract_abbreviations` — trial-defined abbreviations merged over the curated list.
- :func:`load_catalogue` — the variable catalogue (names, units, conversions).
"""

from ingest.criteria.abbrev import extract_abbreviations
from ingest.criteria.catalogue import Catalogue, Variable, load_catalogue, normalize_unit
from ingest.criteria.model import CriterionItem, Rule, Window
from ingest.criteria.rules import parse_criteria, parse_rules
from ingest.criteria.split import RawItem, parse_items

__all__ = [
    "Catalogue",
    "CriterionItem",
    "RawItem",
    "Rule",
    "Variable",
    "Window",
    "extract_abbreviations",
    "load_catalogue",
    "normalize_unit",
    "parse_criteria",
    "parse_items",
    "parse_rules",
]
