"""Studies a listing skipped because the registry changed while it was paged.

The registry pages a listing by position: a study removed from a page already read shifts
every later study one place back, and the study that moves across the page boundary is
never served (250 studies paged by 10, one removed while paging: 249 seen, a live study
missed, and no later incremental run lists it again if its last update is old). A run
therefore compares what it saw with the ``totalCount`` the first page announced; when they
differ (or a resumed run cannot tell), it lists the same query's ids and last-update dates
(``fields=NCTId,LastUpdatePostDate``, 1000 a page), compares them with the store and fetches
by id (``filter.ids``) what is missing or older. The removal check does the same for every
id it lists (a miss the counts could not see: one study removed and another added).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, select

from db.upsert import TRIAL
from ingest.ctgov.client import PageProgress, RegistryClient
from ingest.ctgov.query import NCT_ID_RE, RegistryQuery

LISTING_PAGE_SIZE = 1000
IDS_A_REQUEST = 100  # filter.ids travels in the URL: 100 ids are about 1.2 KB
# A check that finds more than this missing fetches the first ones and says so: that many
# is a broken mirror or a store loaded from elsewhere, not a shifted page.
MAX_RECOVERED = 5000


def listed_updates(
    client: RegistryClient,
    *,
    updated_since: str | None,
    page_size: int = LISTING_PAGE_SIZE,
    on_page: Callable[[PageProgress], None] | None = None,
) -> dict[str, str]:
    """Every NCT id the query lists now, with its last update's posting date ("" if none)."""
    query = RegistryQuery(
        updated_since=updated_since, fields=("NCTId", "LastUpdatePostDate"), page_size=page_size
    )
    found: dict[str, str] = {}
    for study in client.fetch_studies(query, on_page=on_page):
        section = study.get("protocolSection") if isinstance(study, dict) else None
        if not isinstance(section, dict):
            continue
        nct_id = _get(section, "identificationModule", "nctId")
        if isinstance(nct_id, str) and NCT_ID_RE.match(nct_id.strip().upper()):
            posted = _get(section, "statusModule", "lastUpdatePostDateStruct")
            day = posted.get("date") if isinstance(posted, dict) else None
            found[nct_id.strip().upper()] = day if isinstance(day, str) else ""
    return found


def missing_or_older(conn: Connection, listed: dict[str, str], skip: Iterable[str] = ()) -> list[str]:
    """The listed ids the store lacks, or holds with an older last update; ``skip``: ids not
    to fetch again (refused by this run)."""
    skipped = set(skip)
    ids = sorted(listed)
    stored: dict[str, str] = {}
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = conn.execute(
            select(TRIAL.c.nct_id, TRIAL.c.last_update_post_date).where(TRIAL.c.nct_id.in_(chunk))
        )
        stored.update({r.nct_id.upper(): r.last_update_post_date or "" for r in rows})
    return [
        nct_id
        for nct_id in ids
        if nct_id not in skipped and (nct_id not in stored or stored[nct_id] < listed[nct_id])
    ]


def fetch_by_ids(client: RegistryClient, ids: list[str]) -> Iterator[list[dict[str, Any]]]:
    """The studies of ``ids``, a page of :data:`IDS_A_REQUEST` at a time."""
    for start in range(0, len(ids), IDS_A_REQUEST):
        chunk = ids[start : start + IDS_A_REQUEST]
        yield list(client.fetch_studies(RegistryQuery(ids=chunk, page_size=len(chunk))))


def _get(section: dict[str, Any], module: str, key: str) -> Any:
    part = section.get(module)
    return part.get(key) if isinstance(part, dict) else None
