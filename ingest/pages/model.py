"""The section model both page readers produce: a title and named sections of entries.

A trial page sourced from ClinicalTrials.gov reaches us as HTML or as its
plain-text rendering (the seed, ``tests/fixtures/seeds/000_7eec3db7379f51b9.txt``).
``pages.text`` and ``pages.html`` turn either into a :class:`Page`; ``pages.parser``
reads the facts from that one model, so both renderings give the same record.

Each section is a list of :class:`Entry`: a sub-heading (``sub``: "Primary",
"Participation Requirements", an arm's "Experimental: …" header in HTML), a
labelled value (``pair``: "Sex: All", a ``<dt>``/``<dd>``), a list item
(``item``: a bullet, an ``<li>``) or a line of text (``text``). A ``pair`` with
an empty value labels the items that follow it ("Collaborators:" then a list).
Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

EntryKind = Literal["sub", "pair", "item", "text"]

# Section headings as pages print them (case- and space-folded) → section key.
SECTIONS: dict[str, str] = {
    "summary": "summary",
    "brief summary": "summary",
    "study summary": "summary",
    "description": "summary",
    "eligibility": "eligibility",
    "eligibility criteria": "eligibility",
    "who can participate": "eligibility",
    "locations": "locations",
    "location": "locations",
    "contacts and locations": "locations",
    "study locations": "locations",
    "time frame": "time_frame",
    "dates": "time_frame",
    "study dates": "time_frame",
    "participants": "participants",
    "enrollment": "participants",
    "treatments": "treatments",
    "arms": "treatments",
    "study arms": "treatments",
    "arms and interventions": "treatments",
    "sponsors": "sponsors",
    "sponsor": "sponsors",
    "sponsors and collaborators": "sponsors",
    "similar clinical trials": "similar",
    "similar trials": "similar",
    "related trials": "similar",
    "related clinical trials": "similar",
}
# Headings inside a section that structure it but state no fact themselves.
SUBHEADINGS = frozenset(
    {
        "participation requirements",
        "criteria",
        "inclusion criteria",
        "exclusion criteria",
        "other locations",
        "nearest location",
        "all locations",
        "contact information",
        "contacts",
        "primary",
        "backup",
    }
)
OVERVIEW = "overview"  # what comes before the first section heading
# The line the seed's source ends its trial content with.
SOURCED_FROM_RE = re.compile(r"sourced\s+from\s+clinicaltrials\.gov", re.IGNORECASE)
NCT_RE = re.compile(r"\bNCT\d{8}\b")
# "Label: value" or "Question? answer": a short label (at most eight words).
_PAIR_RE = re.compile(r"^(?P<label>[^:?]{1,80}?[:?])(?:\s+(?P<value>.*\S)|\s*)$")


def fold_label(text: str) -> str:
    """Case-, space- and trailing-punctuation-folded text: ``"SUMMARY "`` → ``"summary"``."""
    return " ".join(text.casefold().split()).rstrip(":?").strip()


def split_pair(line: str) -> tuple[str, str] | None:
    """``"Sex: All"`` → ``("Sex", "All")``; ``"Who is this study for? X"`` → (question, X)."""
    match = _PAIR_RE.match(line)
    if not match:
        return None
    label = match.group("label")
    if len(label.split()) > 8:
        return None
    return label.rstrip(":").strip(), (match.group("value") or "").strip()


@dataclass(frozen=True, slots=True)
class Entry:
    kind: EntryKind
    line: str  # the entry's whole text, as the page shows it ("Sex: All")
    label: str | None = None  # pair only
    value: str = ""  # pair only
    para: bool = True  # starts a paragraph (text readers: a blank line came before)

    @staticmethod
    def pair(label: str, value: str) -> Entry:
        label = label.strip().rstrip(":").strip()
        value = " ".join(value.split())
        line = f"{label}: {value}" if value else f"{label}:"
        return Entry("pair", line, label, value)


def line_entry(line: str, *, para: bool = True) -> Entry:
    """A line that is not a list item: a sub-heading, a labelled value or text."""
    if fold_label(line) in SUBHEADINGS:
        return Entry("sub", line, para=para)
    pair = split_pair(line)
    if pair is not None:
        return Entry.pair(*pair)
    return Entry("text", line, para=para)


@dataclass(slots=True)
class Page:
    title: str | None = None
    sections: dict[str, list[Entry]] = field(default_factory=dict)
    nct_ids: list[str] = field(default_factory=list)  # NCT ids printed in the trial's own content
    sourced_from_registry: bool = False  # says "sourced from clinicaltrials.gov"

    def section(self, key: str) -> list[Entry]:
        return self.sections.get(key, [])

    def add(self, key: str, entry: Entry) -> None:
        self.sections.setdefault(key, []).append(entry)
        if key != "similar":
            for nct_id in NCT_RE.findall(entry.line):
                if nct_id not in self.nct_ids:
                    self.nct_ids.append(nct_id)
