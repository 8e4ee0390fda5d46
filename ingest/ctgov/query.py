"""A search of the ClinicalTrials.gov API v2 ``/studies`` endpoint, as data.

:class:`RegistryQuery` is what ``trialsite ingest ctgov`` options turn into; its
:meth:`RegistryQuery.to_params` is pure and gives the query-string parameters
the official OpenAPI spec (``ctg-oas-v2.0.5.yaml``, ``listStudies``) defines.
Paging parameters (``pageToken``, ``countTotal``) belong to the client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

# The API "coerces down to 1,000" larger page sizes (spec: pageSize).
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

# Identifiers the registry issues: "NCT" and eight digits (NCT03673748).
NCT_ID_RE = re.compile(r"^NCT\d{8}$")

# The spec's `Status` enum, accepted by filter.overallStatus.
# The registry's study phases (``phases`` in API v2), in order.
PHASES = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA")
OVERALL_STATUSES = frozenset(
    {
        "ACTIVE_NOT_RECRUITING",
        "COMPLETED",
        "ENROLLING_BY_INVITATION",
        "NOT_YET_RECRUITING",
        "RECRUITING",
        "SUSPENDED",
        "TERMINATED",
        "WITHDRAWN",
        "AVAILABLE",
        "NO_LONGER_AVAILABLE",
        "TEMPORARILY_NOT_AVAILABLE",
        "APPROVED_FOR_MARKETING",
        "WITHHELD",
        "UNKNOWN",
    }
)


def normalize_nct_id(value: str) -> str:
    """``" nct03673748 "`` -> ``"NCT03673748"``; ValueError for anything else."""
    nct_id = value.strip().upper()
    if not NCT_ID_RE.match(nct_id):
        raise ValueError(f"invalid NCT id {value!r}: expected 'NCT' and 8 digits, e.g. NCT03673748")
    return nct_id


def parse_iso_date(value: date | str) -> date:
    """A ``date`` (a ``datetime`` keeps its day) or ``"YYYY-MM-DD"`` text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"invalid date {value!r}: expected YYYY-MM-DD, e.g. 2024-01-31") from None


def _format_number(value: float) -> str:
    # The spec's filter.geo pattern allows only plain decimals: no exponent, no "+".
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _as_tuple(values: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = values.replace("|", ",").split(",")
    return tuple(v.strip() for v in values if v.strip())


@dataclass(frozen=True, slots=True)
class RegistryQuery:
    """What to ask the registry for; every field is optional.

    ``near`` is ``(latitude, longitude)`` in degrees, searched within
    ``radius_km``; ``updated_since`` keeps studies whose last update was posted
    on or after that day; ``limit`` caps how many studies a fetch yields.
    Lists may be given as any sequence or as ``"A,B"`` text, the date as
    ``"YYYY-MM-DD"``; after construction they are tuples of upper-case values
    and a :class:`~datetime.date`. Invalid values raise ``ValueError``.
    """

    condition: str | None = None
    term: str | None = None
    location: str | None = None
    overall_status: Sequence[str] = ()
    near: tuple[float, float] | None = None
    radius_km: float = 50.0
    updated_since: date | str | None = None
    ids: Sequence[str] = ()
    limit: int | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    fields: Sequence[str] = ()  # the registry's piece names, e.g. ("NCTId",); () = whole records

    def __post_init__(self) -> None:
        # Accept the loose shapes a CLI hands over (lists, "A,B" text, date text)
        # and store the validated canonical form.
        statuses = tuple(s.upper() for s in _as_tuple(self.overall_status))
        unknown = [s for s in statuses if s not in OVERALL_STATUSES]
        if unknown:
            raise ValueError(
                f"unknown overall status {', '.join(unknown)}; "
                f"expected one of {', '.join(sorted(OVERALL_STATUSES))}"
            )
        object.__setattr__(self, "overall_status", statuses)
        object.__setattr__(self, "ids", tuple(normalize_nct_id(i) for i in _as_tuple(self.ids)))
        object.__setattr__(self, "fields", _as_tuple(self.fields))
        if self.updated_since is not None:
            object.__setattr__(self, "updated_since", parse_iso_date(self.updated_since))
        if self.near is not None:
            lat, lon = (float(v) for v in self.near)
            if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0:
                raise ValueError(
                    f"invalid location ({lat}, {lon}): latitude must be within ±90 "
                    "and longitude within ±180 degrees"
                )
            object.__setattr__(self, "near", (lat, lon))
        if not self.radius_km > 0:
            raise ValueError(f"invalid radius {self.radius_km!r} km: must be greater than 0")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"invalid limit {self.limit!r}: must be at least 1")
        if self.page_size < 1:
            raise ValueError(f"invalid page size {self.page_size!r}: must be at least 1")
        for text_field in ("condition", "term", "location"):
            value = getattr(self, text_field)
            if value is not None and not value.strip():
                object.__setattr__(self, text_field, None)

    @property
    def effective_page_size(self) -> int:
        """Studies to ask for per page: ``page_size``, capped at 1000 and at ``limit``."""
        size = min(self.page_size, MAX_PAGE_SIZE)
        return min(size, self.limit) if self.limit is not None else size

    def to_params(self) -> dict[str, str]:
        """The ``/studies`` query parameters for this search (first page, no paging)."""
        params: dict[str, str] = {"format": "json"}
        if self.condition:
            params["query.cond"] = self.condition.strip()
        if self.term:
            params["query.term"] = self.term.strip()
        if self.location:
            params["query.locn"] = self.location.strip()
        if self.overall_status:
            params["filter.overallStatus"] = ",".join(self.overall_status)
        if self.near is not None:
            lat, lon, radius = (_format_number(v) for v in (*self.near, self.radius_km))
            params["filter.geo"] = f"distance({lat},{lon},{radius}km)"
        if self.updated_since is not None:
            # LastUpdatePostDate is the date the registry posted the latest change.
            day = parse_iso_date(self.updated_since).isoformat()
            params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{day},MAX]"
        if self.ids:
            params["filter.ids"] = ",".join(self.ids)
        if self.fields:
            params["fields"] = ",".join(self.fields)
        params["pageSize"] = str(self.effective_page_size)
        return params
