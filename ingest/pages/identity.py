"""Who a trial page is: a stable id when it prints no NCT id, and its merge into a registry record.

A page sourced from ClinicalTrials.gov often omits the NCT number (the seed
does). Such a page is stored under ``PAGE-<10 hex>``, a digest of its folded
title and lead sponsor, so the same page always lands on the same id whatever
its whitespace, casing or section order. When the store already holds the
registry's record of the trial, the page attaches to it instead:
:func:`merge_page_into_registry` keeps every fact the registry states and takes
from the page only what the registry leaves blank. Pure.
"""

from __future__ import annotations

import copy
import hashlib
import re
import unicodedata
from dataclasses import fields

from ingest.record import SOURCE_PAGE, NormalizedTrial, Site

PAGE_ID_PREFIX = "PAGE-"
_NON_WORD = re.compile(r"[\W_]+")
# Facts a merge never takes from the page: identity and the registry's versioning.
_IDENTITY = frozenset(
    {"nct_id", "source", "last_update_post_date", "last_update_post_date_type", "version_date"}
)


def fold_title(text: str | None) -> str:
    """Accent-, case-, punctuation- and space-folded text: "Río  Hortega," → "rio hortega"."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", bare).strip()


def page_trial_id(trial: NormalizedTrial) -> str:
    """``PAGE-`` + the first 10 hex digits of sha256(folded title, folded lead sponsor)."""
    title = fold_title(trial.official_title or trial.brief_title)
    sponsor = fold_title(trial.lead_sponsor.name if trial.lead_sponsor else None)
    digest = hashlib.sha256(f"{title}\n{sponsor}".encode()).hexdigest()
    return f"{PAGE_ID_PREFIX}{digest[:10]}"


def is_page_id(value: str | None) -> bool:
    return bool(value and value.startswith(PAGE_ID_PREFIX))


def _site_key(site: Site) -> tuple[str, str, str]:
    # Pages print no zip code: facility, city and country identify a site between the two.
    return (fold_title(site.facility), fold_title(site.city), site.country_code or fold_title(site.country))


def merge_page_into_registry(registry: NormalizedTrial, page: NormalizedTrial) -> NormalizedTrial:
    """The registry's record with the gaps the page can fill; the registry wins where both speak.

    Scalars the registry leaves ``None`` and lists it leaves empty are taken from
    the page; a site both list keeps the registry's facts and takes the page's
    contacts (and status) only when the registry gives none. Sites only the page
    lists are not added: the registry's site list is the one that speaks.

    The result is the stored form of an attached page: its ``source`` is the
    page's (the page's raw record is kept beside the registry's), and its version
    is the registry's last update with the later of the two snapshot dates, so
    the store takes it over the registry version it completes.
    """
    merged = copy.deepcopy(registry)
    for f in fields(NormalizedTrial):
        if f.name in _IDENTITY or f.name == "sites":
            continue
        ours, theirs = getattr(merged, f.name), getattr(page, f.name)
        if (ours is None or ours == []) and theirs not in (None, []):
            setattr(merged, f.name, copy.deepcopy(theirs))
    if not merged.sites:
        merged.sites = copy.deepcopy(page.sites)
    else:
        by_key: dict[tuple[str, str, str], list[Site]] = {}
        for site in page.sites:
            by_key.setdefault(_site_key(site), []).append(site)
        for site in merged.sites:
            same = by_key.get(_site_key(site))
            if not same:
                continue
            theirs = same.pop(0)
            if not site.contacts and theirs.contacts:
                site.contacts = copy.deepcopy(theirs.contacts)
            if site.status is None:
                site.status = theirs.status
    merged.source = SOURCE_PAGE
    merged.version_date = max((d for d in (registry.version_date, page.version_date) if d), default=None)
    return merged
