"""Normalized record → table rows (plain dicts for Core bulk inserts)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from db.record import Contact, NormalizedTrial, Sponsor

# Trial columns that are bookkeeping, not facts a source stated.
BOOKKEEPING = frozenset({"content_hash", "ingested_at", "updated_at"})


_CONTACT_FIELDS = ("name", "role", "phone", "phone_ext", "email")


def _contacts(contacts: list[Contact]) -> list[dict[str, Any]] | None:
    # Hand-rolled rather than dataclasses.asdict: this runs for every site of every trial.
    out = []
    for c in contacts:
        values = {k: getattr(c, k) for k in _CONTACT_FIELDS}
        out.append({k: v for k, v in values.items() if v is not None})
    return out or None


def _sponsor(s: Sponsor) -> dict[str, Any]:
    return {"name": s.name, "class": s.sponsor_class}


def trial_row(t: NormalizedTrial, *, content_hash: str, now: datetime) -> dict[str, Any]:
    return {
        "nct_id": t.nct_id,
        "source": t.source,
        "brief_title": t.brief_title,
        "official_title": t.official_title,
        "acronym": t.acronym,
        "org_study_id": t.org_study_id,
        "overall_status": t.overall_status,
        "last_known_status": t.last_known_status,
        "why_stopped": t.why_stopped,
        "phases": "|".join(t.phases) or None,
        "study_type": t.study_type,
        "minimum_age": t.minimum_age,
        "maximum_age": t.maximum_age,
        "minimum_age_days": t.minimum_age_days,
        "maximum_age_days": t.maximum_age_days,
        "sex": t.sex,
        "healthy_volunteers": t.healthy_volunteers,
        "std_ages": t.std_ages or None,
        "start_date": t.start_date,
        "start_date_type": t.start_date_type,
        "primary_completion_date": t.primary_completion_date,
        "primary_completion_date_type": t.primary_completion_date_type,
        "completion_date": t.completion_date,
        "completion_date_type": t.completion_date_type,
        "first_post_date": t.first_post_date,
        "last_update_post_date": t.last_update_post_date,
        "last_update_post_date_type": t.last_update_post_date_type,
        "status_verified_date": t.status_verified_date,
        "version_date": t.version_date,
        "enrollment": t.enrollment,
        "enrollment_type": t.enrollment_type,
        "lead_sponsor": t.lead_sponsor.name if t.lead_sponsor else None,
        "lead_sponsor_class": t.lead_sponsor.sponsor_class if t.lead_sponsor else None,
        "collaborators": [_sponsor(c) for c in t.collaborators] or None,
        "secondary_ids": [asdict(s) for s in t.secondary_ids] or None,
        "keywords": t.keywords or None,
        "central_contacts": _contacts(t.central_contacts),
        "brief_summary": t.brief_summary,
        "detailed_description": t.detailed_description,
        "eligibility_criteria": t.eligibility_criteria,
        "has_results": t.has_results,
        "content_hash": content_hash,
        "ingested_at": now,
        "updated_at": now,
    }


def site_rows(t: NormalizedTrial) -> list[dict[str, Any]]:
    return [
        {
            "nct_id": t.nct_id,
            "position": i,
            "facility": s.facility,
            "city": s.city,
            "state": s.state,
            "zip": s.zip,
            "country": s.country,
            "country_code": s.country_code,
            "status": s.status,
            "latitude": s.latitude,
            "longitude": s.longitude,
            "geo_source": s.geo_source,
            "geo_precision": s.geo_precision,
            "contacts": _contacts(s.contacts),
        }
        for i, s in enumerate(t.sites)
    ]


def condition_rows(t: NormalizedTrial) -> list[dict[str, Any]]:
    return [
        {"nct_id": t.nct_id, "position": i, "kind": c.kind, "term": c.term, "mesh_id": c.mesh_id}
        for i, c in enumerate(t.conditions)
    ]


def arm_rows(t: NormalizedTrial) -> list[dict[str, Any]]:
    return [
        {
            "nct_id": t.nct_id,
            "position": i,
            "label": a.label,
            "type": a.type,
            "description": a.description,
            "intervention_names": a.intervention_names or None,
        }
        for i, a in enumerate(t.arms)
    ]


def intervention_rows(t: NormalizedTrial) -> list[dict[str, Any]]:
    return [
        {
            "nct_id": t.nct_id,
            "position": i,
            "name": iv.name,
            "type": iv.type,
            "description": iv.description,
            "arm_group_labels": iv.arm_group_labels or None,
            "other_names": iv.other_names or None,
        }
        for i, iv in enumerate(t.interventions)
    ]


def site_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """Identity of a site across versions of one trial (facility, city, zip, country)."""
    return tuple(  # type: ignore[return-value]
        (row.get(k) or "").strip().casefold() for k in ("facility", "city", "zip", "country")
    )
