"""Match and search outcomes as CSV: one row per trial and its nearest open site.

What an advocate pastes into a spreadsheet (``search --csv``, ``Accept: text/csv``):
the trial, where the nearest open site is, how far, and whom to call there.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from db.display import strip_bidi
from ingest.places.distance import KM_PER_MILE

COLUMNS = (
    "rank",
    "nct_id",
    "title",
    "overall_status",
    "phases",
    "likely_ineligible",
    "criteria_met",
    "criteria_not_met",
    "criteria_to_check",
    "site_facility",
    "site_city",
    "site_state",
    "site_country",
    "site_status",
    "distance_km",
    "distance_mi",
    "contact_name",
    "contact_phone",
    "contact_email",
    "registry_url",
)


def outcome_rows(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a match or search outcome (its ``--json`` dict), best first."""
    rows = []
    for rank, m in enumerate(outcome.get("matches", []), 1):
        site = m.get("nearest_site") or {}
        contact = (site.get("contacts") or [{}])[0]
        km = site.get("distance_km")
        criteria = m.get("criteria") or []
        rows.append(
            {
                "rank": rank,
                "nct_id": m["nct_id"],
                "title": m.get("title") or "",
                "overall_status": m.get("overall_status") or "",
                "phases": "|".join(m.get("phases") or []),
                "likely_ineligible": "yes" if m.get("likely_ineligible") else "no",
                "criteria_met": sum(1 for c in criteria if c.get("status") == "met") if criteria else "",
                "criteria_not_met": len(m.get("failed_criteria") or []) if criteria else "",
                "criteria_to_check": len(m.get("unknown_criteria") or []) if criteria else "",
                "site_facility": site.get("facility") or "",
                "site_city": site.get("city") or "",
                "site_state": site.get("state") or "",
                "site_country": site.get("country") or "",
                "site_status": site.get("status") or "",
                "distance_km": "" if km is None else km,
                "distance_mi": "" if km is None else round(km / KM_PER_MILE, 1),
                "contact_name": contact.get("name") or "",
                "contact_phone": contact.get("phone") or "",
                "contact_email": contact.get("email") or "",
                "registry_url": registry_url(m["nct_id"]),
            }
        )
    return rows


def registry_url(nct_id: str) -> str:
    """The trial's ClinicalTrials.gov page, for registry ids (pages without one have none)."""
    return f"https://clinicaltrials.gov/study/{nct_id}" if nct_id.upper().startswith("NCT") else ""


def outcome_csv(outcome: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in outcome_rows(outcome):
        # A cell a spreadsheet would run as a formula ("=cmd|…", "+…", "@…") starts with "'".
        writer.writerow({k: _safe_cell(v) for k, v in row.items()})
    return buffer.getvalue()


_PHONE = re.compile(r"[+\-]?[\d\s().\-/]+")


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str):
        value = strip_bidi(value)  # bidirectional controls reorder what a reader sees
    if (
        isinstance(value, str)
        and value[:1] in {"=", "+", "-", "@", "\t", "\r"}
        and not _PHONE.fullmatch(value)
    ):
        return "'" + value
    return value
