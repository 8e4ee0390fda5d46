"""Source kinds and the error every source parser raises; the record itself is in ``db.record``."""

from __future__ import annotations

from db.record import (
    Arm,
    Condition,
    Contact,
    Intervention,
    NormalizedTrial,
    SecondaryId,
    Site,
    Sponsor,
)

__all__ = [
    "SOURCE_API",
    "SOURCE_PAGE",
    "SOURCE_XML",
    "Arm",
    "Condition",
    "Contact",
    "Intervention",
    "NormalizedTrial",
    "RecordError",
    "SecondaryId",
    "Site",
    "Sponsor",
]

# Where a record came from; stored with its raw source.
SOURCE_API = "ctgov-api-v2"
SOURCE_XML = "ctgov-xml"
SOURCE_PAGE = "page"


class RecordError(ValueError):
    """A source record that cannot be normalized; names the record and the field."""

    def __init__(self, message: str, *, nct_id: str | None = None, field: str | None = None):
        self.nct_id = nct_id
        self.field = field
        where = " ".join(p for p in (nct_id, f"field {field}" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message
