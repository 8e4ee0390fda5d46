"""Recognize what is not a trial record, and say what it is instead.

A refusal is a reason string (kept with the quarantined record) or None when
the thing looks like a record the parsers read. Recognized: the retired classic
API's JSON (``FullStudiesResponse``, ``StudyFieldsResponse``, PascalCase keys),
empty search results (``{"studies": []}``, ``<search_results count="0">``), the
classic site's RSS search feeds (``<rss>``), classic XML search listings, HTML
saved where XML was expected, and any other XML root. Pages that are not trial
pages are refused by the page parser (``ingest.pages.parser``), which knows what a
trial page holds. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree  # type: ignore[import-untyped]  # no stubs installed (types-lxml)


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


def _local(tag: Any) -> str:
    """An element's tag without its namespace (``{http://www.w3.org/1999/xhtml}html`` → ``html``)."""
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def refuse_xml(root: etree._Element) -> str | None:
    """Why an XML document is not a ``<clinical_study>`` record, or None if it is one."""
    tag = _local(root.tag)
    if tag == "clinical_study":
        return None
    if tag == "rss":
        title = " ".join((root.findtext("channel/title") or "").split())
        items = len(root.findall("channel/item"))
        what = f"{items} item{'s' if items != 1 else ''}" if items else "no items"
        named = f" {title!r}" if title else ""
        return f"RSS search feed{named} ({what}), not a study record"
    if tag == "search_results":
        count = root.get("count")
        if count == "0" or (count is None and len(root) == 0):
            return "empty search result (count 0), not a study record"
        return f"classic search result listing ({count or len(root)} studies), not full study records"
    if tag == "html":
        title = " ".join((root.findtext(".//{*}title") or root.findtext(".//title") or "").split())
        return f"an HTML page{f' ({title!r})' if title else ''}, not a study record"
    return f"not a <clinical_study> record (root <{tag}>)"


def sniff_html(data: bytes) -> bool:
    """Whether bytes saved as XML are in fact an HTML page (a saved error page, say)."""
    head = data[:2048].lstrip().lower()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")
