"""Eligibility criteria → items → checkable rules (pure; no database, no network).

- :func:`parse_criteria` — criteria text → ordered :class:`CriterionItem` with rules.
- :func:`parse_items` — the split step alone (text → raw items with sections).
- :func:`parse_rules` — one item's text → :class:`Rule` list.
- :func:`extract_abbreviations` — trial-defined abbreviations merged over the curated list.
- :func:`load_catalogue` — the variable catalogue (names, units, conversions).
- ``needs`` — what each item needs of a patient (``criterion.needs``), written at ingest.
- ``words`` — the significant words terms and patients' entries are compared on.

May import ``db``; never ``matching`` or ``api``.
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
