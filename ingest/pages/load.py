"""``trialsite ingest page``: fetch trial pages, give them an identity, store them.

Each source is a URL (fetched with ``requests``; the session is injected so
tests serve pages locally) or a file (HTML or its plain-text rendering). Pages
go through the same pipeline and idempotent upsert as registry JSON and XML,
with one extra step, :class:`PageResolver`: a page of a trial whose registry
record is already stored (same NCT id, or same official title) attaches to that
record — registry facts win, the page fills what the registry leaves blank —
instead of making a duplicate.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import orjson
import requests
from sqlalchemy import Engine, func, or_, select

from db.upsert import SOURCE, TRIAL
from ingest.ctgov.parser import parse_study
from ingest.fetch import BodyTooLarge, read_body, read_timeout
from ingest.files.reader import HTML, TEXT, RawItem
from ingest.legacy_xml.parser import parse_clinical_study
from ingest.pages.identity import fold_title, merge_page_into_registry
from ingest.pipeline import IngestSummary, ingest_items
from ingest.record import SOURCE_API, SOURCE_PAGE, SOURCE_XML, NormalizedTrial, Site
from ingest.values import is_nct_id

TIMEOUT = 60.0  # seconds a whole page download may take (``--timeout``)
MAX_PAGE_BYTES = 20 * 1024 * 1024  # a trial page is ~100 KB; larger is not a trial page
_REGISTRY_SOURCES = (SOURCE_API, SOURCE_XML)


class PageSourceError(Exception):
    """A page that cannot be read at all: missing file, unreachable URL, HTTP error."""


def fetch_page(source: str, *, session: requests.Session | None = None, timeout: float = TIMEOUT) -> RawItem:
    """Read one page (URL or file) as a raw item of kind HTML or TEXT.

    A download must finish within ``timeout`` seconds and stay under
    :data:`MAX_PAGE_BYTES`; so must a file. ``file://`` URLs name local files.
    """
    if source.startswith(("http://", "https://")):
        if session is None:
            with requests.Session() as own:
                return _fetch_url(source, own, timeout)
        return _fetch_url(source, session, timeout)
    scheme = urlsplit(source).scheme
    if scheme == "file":
        parts = urlsplit(source)
        if parts.netloc not in ("", "localhost"):
            raise PageSourceError(f"{source}: only local file:// URLs are supported")
        path = Path(unquote(parts.path))
    elif len(scheme) > 1:  # not a Windows drive letter
        raise PageSourceError(f"{source}: unsupported URL scheme {scheme!r} (use http, https or file)")
    else:
        path = Path(source)
    if not path.exists():
        raise PageSourceError(f"{source}: no such file")
    if not path.is_file():
        raise PageSourceError(f"{source}: not a regular file (a folder, a device or a pipe is not read)")
    if path.stat().st_size > MAX_PAGE_BYTES:
        raise PageSourceError(f"{source}: larger than {MAX_PAGE_BYTES // (1024 * 1024)} MB; not a trial page")
    data = path.read_bytes()
    return RawItem(source, HTML if _looks_like_html(data) else TEXT, data, data)


def _fetch_url(url: str, session: requests.Session, timeout: float) -> RawItem:
    deadline = time.monotonic() + timeout
    try:
        with session.get(
            url, timeout=(min(10.0, timeout), read_timeout(timeout, 30.0)), stream=True
        ) as response:
            if response.status_code >= 400:
                raise PageSourceError(f"{url}: HTTP {response.status_code}")
            data = read_body(response, deadline=deadline, max_bytes=MAX_PAGE_BYTES)
    except requests.Timeout as exc:
        raise PageSourceError(f"{url}: no complete answer within {timeout:g} s (--timeout)") from exc
    except BodyTooLarge as exc:
        raise PageSourceError(str(exc)) from exc
    except requests.RequestException as exc:
        raise PageSourceError(
            f"{url}: could not fetch ({type(exc).__name__}: {_one_line(str(exc))})"
        ) from exc
    is_html = "html" in response.headers.get("Content-Type", "").lower() or _looks_like_html(data)
    return RawItem(url, HTML if is_html else TEXT, data, data)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:300]


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<!--"))


@dataclass(slots=True)
class RegistryMatch:
    nct_id: str
    source: str


class PageResolver:
    """The identity step for pages (``ingest_items(..., resolve=...)``).

    Stamps the page with the day it was read (its snapshot date, as a legacy XML
    record carries its download date) and, when the store holds the registry
    record of the same trial, returns that record completed by the page.
    """

    def __init__(self, engine: Engine, *, read_on: str) -> None:
        self.engine = engine
        self.read_on = read_on

    def __call__(self, page: NormalizedTrial) -> NormalizedTrial:
        if page.source != SOURCE_PAGE:
            return page
        page.version_date = page.version_date or self.read_on
        match = self.find_registry_record(page)
        if match is None:
            return page
        registry = self.load_registry_record(match)
        return merge_page_into_registry(registry, page) if registry is not None else page

    def find_registry_record(self, page: NormalizedTrial) -> RegistryMatch | None:
        """The stored registry trial this page shows: by its NCT id, else by its title."""
        query = (
            select(TRIAL.c.nct_id, TRIAL.c.lead_sponsor, TRIAL.c.official_title, SOURCE.c.source)
            .join(SOURCE, SOURCE.c.nct_id == TRIAL.c.nct_id)
            .where(SOURCE.c.source.in_(_REGISTRY_SOURCES))
        )
        if is_nct_id(page.nct_id):
            query = query.where(TRIAL.c.nct_id == page.nct_id)
        elif page.official_title:
            # lower() on both sides: the database folds case the same way for both.
            title = " ".join(page.official_title.split())
            query = query.where(
                or_(
                    func.lower(TRIAL.c.official_title) == func.lower(title),
                    func.lower(TRIAL.c.brief_title) == func.lower(title),
                )
            )
        else:
            return None
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        candidates = {row.nct_id: row for row in rows}
        if len(candidates) > 1 and page.lead_sponsor is not None:
            # Two registry trials with one title: the page's lead sponsor decides.
            sponsor = fold_title(page.lead_sponsor.name)
            candidates = {k: r for k, r in candidates.items() if fold_title(r.lead_sponsor) == sponsor}
        if len(candidates) != 1:
            return None
        row = next(iter(candidates.values()))
        return RegistryMatch(row.nct_id, row.source)

    def load_registry_record(self, match: RegistryMatch) -> NormalizedTrial | None:
        """The registry's record as stored (its newest raw source), parsed again."""
        query = select(
            SOURCE.c.source, SOURCE.c.raw, SOURCE.c.last_update_post_date, SOURCE.c.version_date
        ).where(SOURCE.c.nct_id == match.nct_id, SOURCE.c.source.in_(_REGISTRY_SOURCES))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return None
        row = max(rows, key=lambda r: (r.last_update_post_date or "", r.version_date or ""))
        raw = zlib.decompress(row.raw)
        if row.source == SOURCE_XML:
            return parse_clinical_study(raw)
        return parse_study(orjson.loads(raw))


def ingest_pages(
    engine: Engine,
    sources: list[str],
    *,
    session: requests.Session | None = None,
    read_on: str | None = None,
    geocode: Callable[[Site], None] | None = None,
    timeout: float = TIMEOUT,
) -> IngestSummary:
    """Fetch, parse, resolve and store trial pages; the summary's ``ids`` are the stored ids.

    Every source is read before anything is stored, so an unreachable URL or a
    missing file (:class:`PageSourceError`) stops the command with nothing half done.
    ``read_on`` (``yyyy-mm-dd``, default today in UTC) dates the pages' snapshot.
    """
    items = [fetch_page(source, session=session, timeout=timeout) for source in sources]
    resolver = PageResolver(engine, read_on=read_on or datetime.now(UTC).date().isoformat())
    return ingest_items(
        engine,
        items,
        command="ingest page",
        source=", ".join(sources)[:2000],
        resolve=resolver,
        geocode=geocode,
    )
