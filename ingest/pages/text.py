"""A trial page's plain-text rendering → the section model (:class:`ingest.pages.model.Page`).

The rendering keeps the page's reading order: the title first, a few
"Label: value" lines, then headed sections ("SUMMARY", "Eligibility",
"Locations", …) in any order. Bullets may be ``•``, ``-``, ``*`` or numbers;
whitespace and blank lines vary. Pure.
"""

from __future__ import annotations

import re

from ingest.pages.model import (
    OVERVIEW,
    SECTIONS,
    SOURCED_FROM_RE,
    Entry,
    Page,
    fold_label,
    line_entry,
)

_BULLET_RE = re.compile(r"^(?:[•·●▪◦‣⁃*+\-–—]|\d{1,2}[.)])\s+(?P<text>\S.*)$")


def read_page_text(text: str) -> Page:
    """Split a page's text into its title and sections of entries."""
    page = Page()
    section = OVERVIEW
    blank_before = True
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            blank_before = True
            continue
        para, blank_before = blank_before, False
        if not line.endswith("?") and fold_label(line) in SECTIONS:
            section = SECTIONS[fold_label(line)]
            page.sections.setdefault(section, [])
            continue
        if SOURCED_FROM_RE.search(line):
            page.sourced_from_registry = True
            continue
        bullet = _BULLET_RE.match(line)
        entry = Entry("item", bullet.group("text"), para=para) if bullet else line_entry(line, para=para)
        if page.title is None and section == OVERVIEW and entry.kind == "text":
            page.title = line
            continue
        entries = page.section(section)
        if entry.kind == "text" and not para and entries and entries[-1].kind == "item":
            # A wrapped bullet: the line continues the item above it.
            last = entries.pop()
            entry = Entry("item", f"{last.line} {line}", para=last.para)
        page.add(section, entry)
    return page
