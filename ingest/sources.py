"""Which parser reads a raw item, and refusals of what is not a trial record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.api_v2 import get_nct_id, parse_study
from ingest.files import JSON, RawItem
from ingest.record import NormalizedTrial, RecordError


def refuse_json(value: Any) -> str | None:
    """Why a decoded JSON value is not an API v2 study, or None if it looks like one."""
    if isinstance(value, Mapping):
        if "FullStudiesResponse" in value or "StudyFieldsResponse" in value or "FullStudy" in value:
            return "retired classic API payload (PascalCase FullStudiesResponse/StudyFieldsResponse), not an API v2 study"
        if "Study" in value and "protocolSection" not in value:
            return "retired classic API study (PascalCase 'Study' object), not an API v2 study"
        if "studies" in value and not value.get("studies"):
            return "empty search result (no studies)"
        if "protocolSection" not in value:
            keys = ", ".join(sorted(value)[:6])
            return f"not an API v2 study: no protocolSection (keys: {keys})"
        return None
    return f"not an API v2 study: a JSON {type(value).__name__}"


def parse_item(item: RawItem) -> NormalizedTrial:
    """Dispatch a raw item to its parser; raises :class:`RecordError` with the reason."""
    if item.kind == JSON:
        reason = refuse_json(item.payload)
        if reason:
            raise RecordError(reason, nct_id=get_nct_id(item.payload))
        return parse_study(item.payload)
    raise RecordError(f"no parser for {item.kind} records yet")
