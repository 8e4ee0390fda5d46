"""Which parser reads a raw item, and refusals of what is not a trial record.

JSON goes to the API v2 parser, ``<clinical_study>`` XML to the legacy parser,
pages (HTML or text) to the page parser; everything else is refused with a
reason (``ingest.refuse``) and quarantined by the pipeline. Pure.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ingest.ctgov.parser import get_nct_id, parse_study
from ingest.files.reader import HTML, JSON, TEXT, XML, RawItem
from ingest.legacy_xml.parser import get_xml_aliases, get_xml_nct_id, parse_clinical_study, parse_xml_document
from ingest.pages.parser import parse_page_html, parse_page_text
from ingest.record import NormalizedTrial, RecordError
from ingest.refuse import refuse_json, refuse_xml, sniff_html

__all__ = ["parse_item", "refuse_json"]

_NAMED_BY_ID_RE = re.compile(r"^(NCT\d{8})(?!\d)")


def parse_item(item: RawItem) -> NormalizedTrial:
    """Dispatch a raw item to its parser; raises :class:`RecordError` with the reason."""
    if item.kind == JSON:
        reason = refuse_json(item.payload)
        if reason:
            raise RecordError(reason, nct_id=get_nct_id(item.payload))
        return parse_study(item.payload)
    if item.kind == XML:
        return _parse_xml(item)
    if item.kind == HTML:
        return parse_page_html(item.payload)
    if item.kind == TEXT:
        data = item.payload
        return parse_page_text(
            data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
        )
    raise RecordError(f"no parser for {item.kind} records")


def _parse_xml(item: RawItem) -> NormalizedTrial:
    data: bytes = item.payload
    if sniff_html(data):
        raise RecordError("an HTML page saved as XML, not a study record")
    root = parse_xml_document(data)
    reason = refuse_xml(root)
    if reason:
        raise RecordError(reason)
    nct_id = get_xml_nct_id(root)
    # AllPublicXML names each file by its NCT id; a file named by another trial's id
    # holds the wrong record (a merged id's alias is fine: NCT00980226 → NCT00081588).
    name = PurePosixPath(item.origin.rsplit("!", 1)[-1].replace("\\", "/")).name
    named = _NAMED_BY_ID_RE.match(name)
    if named and nct_id and named.group(1) not in (nct_id, *get_xml_aliases(root)):
        raise RecordError(
            f"file named {named.group(1)} holds the record of {nct_id}, which lists no such alias",
            nct_id=nct_id,
        )
    return parse_clinical_study(root)
