"""Match and search outcomes as lines a clinician or an advocate reads in a terminal.

Each result says why it matched, where the nearest open site is and whom to call,
and which criteria failed or are still to check.
"""

from __future__ import annotations

from typing import Any

from ingest.places.distance import KM_PER_MILE
from matching.match import MatchOutcome

SHOWN_CRITERIA = 5  # per kind; --json has them all


def outcome_lines(outcome: MatchOutcome, *, miles: bool, title: str) -> list[str]:
    lines: list[str] = []
    if outcome.place:
        place = outcome.place
        radius = outcome.radius_km or 0.0
        within = f"{radius / KM_PER_MILE:.4g} mi" if miles else f"{radius:g} km"
        lines.append(f"{title} near {place.name} ({place.lat:.3f}, {place.lon:.3f}) within {within}")
        if place.note:
            lines.append(f"  place: {place.note}")
    else:
        lines.append(f"{title} at any distance (no place given)")
    lines.extend(f"  note: {note}" for note in outcome.notes)
    if not outcome.matches:
        lines.append(f"no matches: {outcome.hint or 'nothing matched'}")
        return lines
    for rank, match in enumerate(outcome.matches, 1):
        lines.append("")
        lines.extend(result_lines(rank, match, miles=miles))
    return lines


def result_lines(rank: int, m: dict[str, Any], *, miles: bool) -> list[str]:
    site = m["nearest_site"]
    distance = site.get("distance_mi" if miles else "distance_km")
    flag = "  [likely ineligible]" if m["likely_ineligible"] else ""
    where = ", ".join(p for p in (site["facility"], site["city"], site["country"]) if p)
    away = f" — {distance:g} {'mi' if miles else 'km'}" if distance is not None else ""
    lines = [
        f"{rank}. {m['nct_id']}  {m['title']}{flag}",
        f"   {m['overall_status']}" + (f" — {m['status_note']}" if m["status_note"] else ""),
        # Without a place there is no "nearest": the first open site, and how many there are.
        f"   {'nearest open site' if distance is not None else 'open site'}: {where}{away} "
        f"({site['status'] or 'status not given'})",
    ]
    for c in site["contacts"][:2]:
        lines.append("   contact: " + ", ".join(str(c[k]) for k in ("name", "phone", "email") if c.get(k)))
    if len(m["sites"]) > 1:
        lines.append(f"   {len(m['sites'])} open sites in range")
    if m["criteria"]:
        met = sum(1 for v in m["criteria"] if v["status"] == "met")
        failed, unknown = m["failed_criteria"], m["unknown_criteria"]
        lines.append(f"   criteria: {met} met, {len(failed)} not met, {len(unknown)} to check")
        lines.extend(f"     ✗ {v['reason']}" for v in failed[:SHOWN_CRITERIA])
        lines.extend(f"     ? {v['reason']}" for v in unknown[:SHOWN_CRITERIA])
        if len(unknown) > SHOWN_CRITERIA:
            lines.append(f"     … {len(unknown) - SHOWN_CRITERIA} more to check (--json for all)")
        administrative = m.get("administrative_criteria") or []
        if administrative:
            lines.append(
                f"   confirm at screening: {len(administrative)} administrative "
                f"{'item' if len(administrative) == 1 else 'items'} (consent, compliance, visits)"
            )
    lines.append(f"   why: {m['why']}")
    return lines
