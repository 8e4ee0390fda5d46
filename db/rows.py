"""Normalized record → table rows: value tuples in column order (for ``executemany``
straight to the driver) and, from them, plain dicts (for change diffs and updates)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from db.record import Contact, NormalizedTrial, Sponsor

# Trial columns that are bookkeeping, not facts a source stated.
BOOKKEEPING = frozenset({"content_hash", "ingested_at", "updated_at"})
# Trial columns no record sets (a load leaves them as they are): what sync learnt of the
# registry itself (``removed_from_registry``: a listing no longer holds the trial).
REGISTRY_STATE = frozenset({"removed_from_registry"})

TRIAL_COLUMNS = (
    "nct_id",
    "source",
    "brief_title",
    "official_title",
    "acronym",
    "org_study_id",
    "overall_status",
    "last_known_status",
    "why_stopped",
    "phases",
    "study_type",
    "minimum_age",
    "maximum_age",
    "minimum_age_days",
    "maximum_age_days",
    "sex",
    "healthy_volunteers",
    "std_ages",
    "start_date",
    "start_date_type",
    "primary_completion_date",
    "primary_completion_date_type",
    "completion_date",
    "completion_date_type",
    "first_post_date",
    "last_update_post_date",
    "last_update_post_date_type",
    "status_verified_date",
    "version_date",
    "enrollment",
    "enrollment_type",
    "lead_sponsor",
    "lead_sponsor_class",
    "collaborators",
    "secondary_ids",
    "keywords",
    "central_contacts",
    "brief_summary",
    "detailed_description",
    "eligibility_criteria",
    "has_results",
    "content_hash",
    "ingested_at",
    "updated_at",
)
SITE_COLUMNS = (
    "nct_id",
    "position",
    "facility",
    "city",
    "state",
    "zip",
    "country",
    "country_code",
    "status",
    "latitude",
    "longitude",
    "geo_source",
    "geo_precision",
    "contacts",
)
CONDITION_COLUMNS = ("nct_id", "position", "kind", "term", "mesh_id")
ARM_COLUMNS = ("nct_id", "position", "label", "type", "description", "intervention_names")
INTERVENTION_COLUMNS = (
    "nct_id",
    "position",
    "name",
    "type",
    "description",
    "arm_group_labels",
    "other_names",
)
# Criterion rows come from the criteria parser as dicts sans nct_id (``ingest.pipeline.criteria_rows``).
CRITERION_COLUMNS = (
    "nct_id",
    "position",
    "section",
    "text",
    "rules",
    "needs_review",
    "heading",
    "span_start",
    "span_end",
    "needs",
)

NEEDS_AT = CRITERION_COLUMNS.index("needs")


def needs_summary(needs: Iterable[str | None]) -> str | None:
    """A trial's ``trial_needs`` row from its criterion items' needs: "count needs" lines,
    one per distinct needs (``matching.candidates.criteria_needs`` reads them); None without
    any. Built from the rows being written, not read back: the bulk load's writer is its
    bottleneck."""
    counts = Counter(n for n in needs if n is not None)
    return "\n".join(f"{count} {n}" for n, count in counts.items()) or None


def parse_needs_summary(summary: str) -> list[tuple[str, int]]:
    """A ``trial_needs`` row read back: (needs, how many items have it)."""
    return [(needs, int(count)) for count, _, needs in (line.partition(" ") for line in summary.split("\n"))]


_CONTACT_FIELDS = ("name", "role", "phone", "phone_ext", "email")

Values = tuple[Any, ...]


def _contacts(contacts: list[Contact]) -> list[dict[str, Any]] | None:
    # Hand-rolled rather than dataclasses.asdict: this runs for every site of every trial.
    out = []
    for c in contacts:
        values = {k: getattr(c, k) for k in _CONTACT_FIELDS}
        out.append({k: v for k, v in values.items() if v is not None})
    return out or None


def _sponsor(s: Sponsor) -> dict[str, Any]:
    return {"name": s.name, "class": s.sponsor_class}


def trial_values(t: NormalizedTrial, *, content_hash: str) -> Values:
    """The trial's row in :data:`TRIAL_COLUMNS` order, without the two timestamps (set when stored)."""
    return (
        t.nct_id,
        t.source,
        t.brief_title,
        t.official_title,
        t.acronym,
        t.org_study_id,
        t.overall_status,
        t.last_known_status,
        t.why_stopped,
        "|".join(t.phases) or None,
        t.study_type,
        t.minimum_age,
        t.maximum_age,
        t.minimum_age_days,
        t.maximum_age_days,
        t.sex,
        t.healthy_volunteers,
        t.std_ages or None,
        t.start_date,
        t.start_date_type,
        t.primary_completion_date,
        t.primary_completion_date_type,
        t.completion_date,
        t.completion_date_type,
        t.first_post_date,
        t.last_update_post_date,
        t.last_update_post_date_type,
        t.status_verified_date,
        t.version_date,
        t.enrollment,
        t.enrollment_type,
        t.lead_sponsor.name if t.lead_sponsor else None,
        t.lead_sponsor.sponsor_class if t.lead_sponsor else None,
        [_sponsor(c) for c in t.collaborators] or None,
        [asdict(s) for s in t.secondary_ids] or None,
        t.keywords or None,
        _contacts(t.central_contacts),
        t.brief_summary,
        t.detailed_description,
        t.eligibility_criteria,
        t.has_results,
        content_hash,
    )


def site_values(t: NormalizedTrial) -> list[Values]:
    return [
        (
            t.nct_id,
            i,
            s.facility,
            s.city,
            s.state,
            s.zip,
            s.country,
            s.country_code,
            s.status,
            s.latitude,
            s.longitude,
            s.geo_source,
            s.geo_precision,
            _contacts(s.contacts),
        )
        for i, s in enumerate(t.sites)
    ]


def condition_values(t: NormalizedTrial) -> list[Values]:
    return [(t.nct_id, i, c.kind, c.term, c.mesh_id) for i, c in enumerate(t.conditions)]


def arm_values(t: NormalizedTrial) -> list[Values]:
    return [
        (t.nct_id, i, a.label, a.type, a.description, a.intervention_names or None)
        for i, a in enumerate(t.arms)
    ]


def intervention_values(t: NormalizedTrial) -> list[Values]:
    return [
        (
            t.nct_id,
            i,
            iv.name,
            iv.type,
            iv.description,
            iv.arm_group_labels or None,
            iv.other_names or None,
        )
        for i, iv in enumerate(t.interventions)
    ]


def site_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """Identity of a site across versions of one trial (facility, city, zip, country)."""
    return tuple(  # type: ignore[return-value]
        (row.get(k) or "").strip().casefold() for k in ("facility", "city", "zip", "country")
    )
