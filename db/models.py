"""The store's schema: SQLModel tables, one per entity.

A trial row holds the structured facts a matcher filters on; its sites,
conditions, arms, interventions and criteria are child rows replaced together
when a newer version of the record arrives. The raw source record is kept,
compressed, beside it (``source_record``), so normalization can be re-run and
nothing a source said is lost. Operators read ``ingest_run``,
``change_event`` and ``quarantine``.

Lists of small values (phases, collaborators, contacts) are JSON columns; the
values matching filters on (status, ages in days, sex, coordinates) are plain
indexed columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


def _text() -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=True))


class Trial(SQLModel, table=True):
    __tablename__ = "trial"
    # What a candidate query filters a trial on, by id: status and the hard filters are
    # checked on the index for thousands of trials, whose wide rows are read only when shown.
    __table_args__ = (
        Index(
            "ix_trial_match_filters",
            "nct_id",
            "overall_status",
            "minimum_age_days",
            "maximum_age_days",
            "sex",
            "healthy_volunteers",
            "phases",
        ),
    )

    nct_id: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=32)
    brief_title: str | None = _text()
    official_title: str | None = _text()
    acronym: str | None = _text()
    org_study_id: str | None = _text()
    overall_status: str | None = Field(default=None, max_length=40, index=True)
    last_known_status: str | None = Field(default=None, max_length=40)
    why_stopped: str | None = _text()
    phases: str | None = Field(default=None, max_length=80)  # "PHASE1|PHASE2"
    study_type: str | None = Field(default=None, max_length=40)
    minimum_age: str | None = Field(default=None, max_length=40)
    maximum_age: str | None = Field(default=None, max_length=40)
    minimum_age_days: float | None = None
    maximum_age_days: float | None = None
    sex: str | None = Field(default=None, max_length=10)
    healthy_volunteers: bool | None = None
    std_ages: list[str] | None = _json()
    start_date: str | None = Field(default=None, max_length=10)
    start_date_type: str | None = Field(default=None, max_length=20)
    primary_completion_date: str | None = Field(default=None, max_length=10)
    primary_completion_date_type: str | None = Field(default=None, max_length=20)
    completion_date: str | None = Field(default=None, max_length=10)
    completion_date_type: str | None = Field(default=None, max_length=20)
    first_post_date: str | None = Field(default=None, max_length=10)
    last_update_post_date: str | None = Field(default=None, max_length=10, index=True)
    last_update_post_date_type: str | None = Field(default=None, max_length=20)
    status_verified_date: str | None = Field(default=None, max_length=10)
    version_date: str | None = Field(default=None, max_length=10)
    enrollment: int | None = None
    enrollment_type: str | None = Field(default=None, max_length=20)
    lead_sponsor: str | None = _text()
    lead_sponsor_class: str | None = Field(default=None, max_length=40)
    collaborators: list[dict[str, Any]] | None = _json()
    secondary_ids: list[dict[str, Any]] | None = _json()
    keywords: list[str] | None = _json()
    central_contacts: list[dict[str, Any]] | None = _json()
    brief_summary: str | None = _text()
    detailed_description: str | None = _text()
    eligibility_criteria: str | None = _text()
    has_results: bool = False
    content_hash: str = Field(max_length=64)
    ingested_at: datetime
    updated_at: datetime
    # The registry day (its dataTimestamp) a complete listing of its NCT ids first missed
    # this trial (``trialsite sync --check-removed``); NULL while it is listed. Never
    # deleted: match and search skip it, ``show`` says so, and it is restored if it returns.
    removed_from_registry: str | None = Field(default=None, max_length=10)


class Site(SQLModel, table=True):
    __tablename__ = "site"
    # Coordinates are indexed by migration 0002 in each dialect's spatial form (SQLite
    # R*Tree, PostgreSQL GiST); plain b-trees on them, on status or on country code served
    # no query and slowed bulk loads (migration 0003 drops them). The trial's sites are
    # found on (nct_id, latitude, longitude, status): a candidate query compares a broad
    # condition's trials' sites with the patient's box on the index, reading no site row.
    __table_args__ = (Index("ix_site_nct_id_place", "nct_id", "latitude", "longitude", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(foreign_key="trial.nct_id", max_length=64, ondelete="CASCADE")
    position: int
    facility: str | None = _text()
    city: str | None = _text()
    state: str | None = _text()
    zip: str | None = _text()
    country: str | None = _text()
    country_code: str | None = Field(default=None, max_length=2)
    status: str | None = Field(default=None, max_length=40)
    latitude: float | None = None
    longitude: float | None = None
    geo_source: str | None = Field(default=None, max_length=20)
    geo_precision: str | None = Field(default=None, max_length=20)
    contacts: list[dict[str, Any]] | None = _json()


class TrialCondition(SQLModel, table=True):
    __tablename__ = "trial_condition"

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(foreign_key="trial.nct_id", index=True, max_length=64, ondelete="CASCADE")
    position: int
    kind: str = Field(max_length=20)  # listed, keyword, mesh, mesh_ancestor
    term: str = Field(sa_column=Column(Text, nullable=False))
    mesh_id: str | None = Field(default=None, max_length=20)


class Arm(SQLModel, table=True):
    __tablename__ = "arm"

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(foreign_key="trial.nct_id", index=True, max_length=64, ondelete="CASCADE")
    position: int
    label: str = Field(sa_column=Column(Text, nullable=False))
    type: str | None = Field(default=None, max_length=40)
    description: str | None = _text()
    intervention_names: list[str] | None = _json()


class Intervention(SQLModel, table=True):
    __tablename__ = "intervention"

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(foreign_key="trial.nct_id", index=True, max_length=64, ondelete="CASCADE")
    position: int
    name: str = Field(sa_column=Column(Text, nullable=False))
    type: str | None = Field(default=None, max_length=40)
    description: str | None = _text()
    arm_group_labels: list[str] | None = _json()
    other_names: list[str] | None = _json()


class Criterion(SQLModel, table=True):
    """One eligibility item: its original text and the rules parsed from it."""

    __tablename__ = "criterion"
    # Covering the match's per-trial count of items a patient cannot meet (no row read).
    __table_args__ = (Index("ix_criterion_nct_id_needs", "nct_id", "needs"),)

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(foreign_key="trial.nct_id", index=True, max_length=64, ondelete="CASCADE")
    position: int
    section: str = Field(max_length=20)  # inclusion / exclusion
    text: str = Field(sa_column=Column(Text, nullable=False))
    rules: list[dict[str, Any]] | None = _json()
    needs_review: bool = False
    heading: str | None = _text()
    span_start: int | None = None  # the item's place in trial.eligibility_criteria
    span_end: int | None = None
    # The patient facts it needs to be met, "&age;m:egfr,w:egfr" ("" for no rules: always
    # unknown); see ingest.criteria.needs and matching.needs. NULL (not computed) is never relied on.
    needs: str | None = _text()


class TrialNeeds(SQLModel, table=True):
    """A trial's criterion needs counted, one row per trial: a match bounds thousands of
    candidates' ranks from one row each instead of ~50 criterion index entries. Derived
    from ``criterion.needs`` (``db.rows.needs_summary``) wherever criteria are written."""

    __tablename__ = "trial_needs"
    # SQLite: rows in the primary key's b-tree, one descent per trial instead of two.
    __table_args__ = {"sqlite_with_rowid": False}

    nct_id: str = Field(primary_key=True, foreign_key="trial.nct_id", max_length=64, ondelete="CASCADE")
    # "count needs" lines, one per distinct needs (matching.candidates.criteria_needs).
    needs: str = Field(sa_column=Column(Text, nullable=False))


class SourceRecord(SQLModel, table=True):
    """The raw record a trial was normalized from, zlib-framed: the source's own bytes (a bulk zip
    member's deflate data as read, without recompression); ``content_hash`` is of the canonical JSON."""

    __tablename__ = "source_record"

    nct_id: str = Field(primary_key=True, max_length=64)
    source: str = Field(primary_key=True, max_length=32)
    content_hash: str = Field(max_length=64)
    version_date: str | None = Field(default=None, max_length=10)
    last_update_post_date: str | None = Field(default=None, max_length=10)
    origin: str | None = _text()  # file path (and member) or URL it was read from
    fetched_at: datetime
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Quarantine(SQLModel, table=True):
    """A record that could not be normalized, kept with its reason."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    content_hash: str = Field(max_length=64, unique=True)
    nct_id: str | None = Field(default=None, max_length=64, index=True)
    origin: str | None = _text()
    reason: str = Field(sa_column=Column(Text, nullable=False))
    first_seen: datetime
    last_seen: datetime
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ChangeEvent(SQLModel, table=True):
    """One difference between two versions of a trial."""

    __tablename__ = "change_event"

    id: int | None = Field(default=None, primary_key=True)
    nct_id: str = Field(max_length=64, index=True)
    run_id: int | None = Field(default=None, foreign_key="ingest_run.id", index=True)
    kind: str = Field(max_length=40)  # field, site_added, site_removed, site_status, criteria, record
    field: str | None = _text()
    old_value: str | None = _text()
    new_value: str | None = _text()
    old_version: str | None = Field(default=None, max_length=10)
    new_version: str | None = Field(default=None, max_length=10)
    detected_at: datetime


class IngestRun(SQLModel, table=True):
    __tablename__ = "ingest_run"

    id: int | None = Field(default=None, primary_key=True)
    command: str = Field(max_length=40)
    source: str | None = _text()
    started_at: datetime
    finished_at: datetime | None = None
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0
    quarantined: int = 0
    status: str = Field(default="running", max_length=20)
    pid: int | None = None  # the process running it, on ``host``: a dead one is marked interrupted
    host: str | None = Field(default=None, max_length=200)


class GeocodeCache(SQLModel, table=True):
    """Answers of the online geocoder (``--online``), so a place is asked for once."""

    __tablename__ = "geocode_cache"

    query: str = Field(primary_key=True, max_length=500)
    resolution: dict[str, Any] | None = _json()
    fetched_at: datetime


class SyncRun(SQLModel, table=True):
    """One ``trialsite sync`` run: its mode, where its listing got to, what it did."""

    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    mode: str = Field(max_length=20)  # full, incremental
    status: str = Field(
        default="running", max_length=20, index=True
    )  # running, succeeded, failed, interrupted
    started_at: datetime
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    holder: str | None = Field(default=None, max_length=200)  # pid@host
    data_timestamp: str | None = Field(default=None, max_length=40)  # the registry's /version at the start
    since_day: str | None = Field(default=None, max_length=10)  # LastUpdatePostDate lower bound
    page_token: str | None = _text()  # the next page to fetch (checkpoint); None: from the start
    pages: int = 0
    requests: int = 0
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0
    quarantined: int = 0
    removed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # by its removal check
    resumed_from: int | None = None  # the interrupted run this one carried on
    ingest_run_id: int | None = Field(default=None, foreign_key="ingest_run.id")
    error: str | None = _text()


class SyncState(SQLModel, table=True):
    """Sync bookkeeping that outlives a run: the watermark (last succeeded run's dataTimestamp)."""

    __tablename__ = "sync_state"

    key: str = Field(primary_key=True, max_length=40)
    value: str | None = _text()


class SyncLock(SQLModel, table=True):
    """Who runs a sync now (one row at most): SQLite's lock, and on PostgreSQL the holder
    of the advisory lock, for the message a second run prints."""

    __tablename__ = "sync_lock"

    id: int = Field(default=1, primary_key=True)
    holder: str = Field(max_length=200)  # pid@host
    pid: int
    host: str = Field(max_length=200)
    run_id: int | None = None
    since: datetime
    heartbeat_at: datetime


class Watch(SQLModel, table=True):
    """A saved question asked again after each sync: a patient (the match patient JSON, which
    is stored because the user asked for it) or a search (condition near a place)."""

    __tablename__ = "watch"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=10)  # patient, search
    patient: dict[str, Any] | None = _json()  # kind patient: as given
    condition: str | None = _text()  # kind search
    place: dict[str, Any] | None = _json()  # the resolved place: label, lat, lon
    radius_km: float | None = None
    created_at: datetime


class WatchHit(SQLModel, table=True):
    """A trial a watch matches now (with open sites within its radius): what an alert is
    measured against, so a watch alerts once when a trial starts or stops matching."""

    __tablename__ = "watch_hit"

    watch_id: int = Field(primary_key=True, foreign_key="watch.id", ondelete="CASCADE")
    nct_id: str = Field(primary_key=True, max_length=64)
    since: datetime


class Alert(SQLModel, table=True):
    """A trial that started (``matches``) or stopped (``no_longer_matches``) matching a watch
    after a sync, and its delivery to ``--notify-cmd`` / ``--webhook``."""

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    watch_id: int = Field(foreign_key="watch.id", index=True, ondelete="CASCADE")
    nct_id: str = Field(max_length=64)
    kind: str = Field(max_length=20)  # matches, no_longer_matches
    reason: str = Field(sa_column=Column(Text, nullable=False))
    detail: dict[str, Any] | None = _json()  # title, status, nearest site, distance
    sync_run_id: int | None = Field(default=None, foreign_key="sync_run.id")
    created_at: datetime
    notified_at: datetime | None = None  # piped to --notify-cmd
    posted_at: datetime | None = None  # POSTed to --webhook
    attempts: int = 0
    last_error: str | None = _text()
