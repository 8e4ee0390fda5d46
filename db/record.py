"""The normalized trial record: the contract between source parsers and the store.

Parsers in ``ingest/`` (API v2 JSON, legacy XML, trial pages) are pure
functions from a source object to a :class:`NormalizedTrial`; the store's
upsert (``db.upsert``) takes nothing else. The vocabulary is the registry's:
enum values as API v2 spells them (``RECRUITING``, ``PHASE2``,
``INTERVENTIONAL``, ``ALL``), ages as the registry's text plus a number of days,
dates as the partial ISO dates the registry gives (``yyyy``, ``yyyy-mm`` or
``yyyy-mm-dd``). It lives in ``db`` because ``db`` imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Contact:
    name: str | None = None
    role: str | None = None  # registry role: CONTACT, PRINCIPAL_INVESTIGATOR, ...
    phone: str | None = None
    phone_ext: str | None = None
    email: str | None = None


@dataclass(slots=True)
class Site:
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None  # ISO 3166-1 alpha-2
    status: str | None = None  # site recruitment status, registry vocabulary
    latitude: float | None = None
    longitude: float | None = None
    geo_source: str | None = None  # "registry", "gazetteer", "online"; None = not geocoded
    geo_precision: str | None = None  # "registry", "postal", "city", ...
    contacts: list[Contact] = field(default_factory=list)

    def key(self) -> tuple[str, str, str, str]:
        """Identity of a site across versions of one trial (for change events)."""
        return (
            (self.facility or "").strip().casefold(),
            (self.city or "").strip().casefold(),
            (self.zip or "").strip().casefold(),
            (self.country or "").strip().casefold(),
        )


@dataclass(slots=True)
class Condition:
    term: str
    kind: str  # "listed", "keyword", "mesh", "mesh_ancestor"
    mesh_id: str | None = None


@dataclass(slots=True)
class Arm:
    label: str
    type: str | None = None  # EXPERIMENTAL, PLACEBO_COMPARATOR, ...
    description: str | None = None
    intervention_names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Intervention:
    name: str
    type: str | None = None  # DRUG, BIOLOGICAL, ...
    description: str | None = None
    arm_group_labels: list[str] = field(default_factory=list)
    other_names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SecondaryId:
    id: str
    type: str | None = None  # EUDRACT_NUMBER, NIH, REGISTRY, OTHER, ...
    domain: str | None = None


@dataclass(slots=True)
class Sponsor:
    name: str
    sponsor_class: str | None = None  # NIH, INDUSTRY, OTHER, ...


@dataclass(slots=True)
class NormalizedTrial:
    nct_id: str
    source: str
    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    org_study_id: str | None = None
    overall_status: str | None = None
    last_known_status: str | None = None
    why_stopped: str | None = None
    phases: list[str] = field(default_factory=list)
    study_type: str | None = None
    minimum_age: str | None = None  # as the registry wrote it, e.g. "18 Years"
    maximum_age: str | None = None
    minimum_age_days: float | None = None
    maximum_age_days: float | None = None
    sex: str | None = None  # ALL, FEMALE, MALE
    healthy_volunteers: bool | None = None
    std_ages: list[str] = field(default_factory=list)
    start_date: str | None = None
    start_date_type: str | None = None  # ACTUAL / ESTIMATED
    primary_completion_date: str | None = None
    primary_completion_date_type: str | None = None
    completion_date: str | None = None
    completion_date_type: str | None = None
    first_post_date: str | None = None
    last_update_post_date: str | None = None
    last_update_post_date_type: str | None = None
    status_verified_date: str | None = None
    version_date: str | None = None  # derivedSection.miscInfoModule.versionHolder
    enrollment: int | None = None
    enrollment_type: str | None = None
    lead_sponsor: Sponsor | None = None
    collaborators: list[Sponsor] = field(default_factory=list)
    secondary_ids: list[SecondaryId] = field(default_factory=list)
    brief_summary: str | None = None
    detailed_description: str | None = None
    keywords: list[str] = field(default_factory=list)
    eligibility_criteria: str | None = None
    has_results: bool = False
    conditions: list[Condition] = field(default_factory=list)
    arms: list[Arm] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    central_contacts: list[Contact] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
