"""Bulk-load paths of ingest: set-based indexing of large batches, zip members stored as
read, rows built in worker processes (real stores, SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, Engine, select, text

from db.engine import open_store
from db.search import (
    CLOSED_SITE_STATUSES,
    OPEN_TRIAL_STATUSES,
    find_trials,
    match_expression,
    matching_ids_sql,
)
from db.upsert import QUARANTINE, SET_BASED_INDEXING_FROM, SITE, SOURCE, TRIAL
from ingest.cli import site_geocoding
from ingest.files.reader import iter_paths
from ingest.pipeline import ingest_items
from tests.conftest import V2, empty_store, pg_skip_reason, stored_needs

QUERIES = [["cancer"], ["lung", "carcinoma"], ["spinal"], ["breast", "neoplasms"], ["diabetes"]]
# (south, west, north, east): Europe, the north-east of the US, the whole world.
BOXES = [(35.0, -10.0, 60.0, 30.0), (38.0, -80.0, 45.0, -70.0), (-90.0, -180.0, 90.0, 180.0)]


def _in_box_sql(dialect: str) -> str:
    if dialect == "sqlite":
        return (
            "SELECT s.nct_id, s.position FROM site_rtree r JOIN site s ON s.id = r.id "
            "WHERE r.min_lat >= :s AND r.max_lat <= :n AND r.min_lon >= :w AND r.max_lon <= :e "
            "ORDER BY 1, 2"
        )
    return (
        "SELECT nct_id, position FROM site "
        "WHERE point(longitude, latitude) <@ box(point(:w, :s), point(:e, :n)) ORDER BY 1, 2"
    )


def _indexed(engine: Engine) -> dict[str, Any]:
    """What the search and spatial indexes answer, and the rows they index."""
    with engine.connect() as conn:
        dialect = conn.dialect.name
        found: dict[str, Any] = {
            "search": [find_trials(conn, [q]) for q in QUERIES],
            "boxes": [
                conn.execute(text(_in_box_sql(dialect)), dict(zip("swne", box, strict=True))).all()
                for box in BOXES
            ],
            # Site ids follow the order records were stored in, which batching changes.
            "sites": conn.execute(
                select(*(c for c in SITE.c if c.name != "id")).order_by(SITE.c.nct_id, SITE.c.position)
            ).all(),
        }
    with engine.connect() as conn:
        # The open trials' matches (their own FTS5 index on SQLite): every match of an open trial.
        found["open"] = []
        status: dict[str, str] = {
            n: st for n, st in conn.execute(text("SELECT nct_id, overall_status FROM trial"))
        }
        for q in QUERIES:
            expression = match_expression(dialect, [q])
            rows = conn.execute(text(matching_ids_sql(dialect, open_only=True)), {"q": expression})
            open_ids = sorted(nct_id for (nct_id,) in rows)
            everyone = find_trials(conn, [q])
            assert open_ids == sorted(n for n in everyone if status[n] in OPEN_TRIAL_STATUSES)
            found["open"].append(open_ids)
        if dialect == "sqlite":
            found["site_open"] = _site_open(conn)
    summaries, counted = stored_needs(engine)
    assert summaries == counted and summaries  # every trial's row, as its criteria count
    found["needs"] = summaries
    with engine.connect() as conn:
        if dialect == "sqlite":
            # FTS5 and R*Tree check their index against their content; both raise or report on a mismatch.
            conn.execute(text("INSERT INTO trial_search (trial_search) VALUES ('integrity-check')"))
            assert conn.execute(text("SELECT rtreecheck('site_rtree')")).scalar_one() == "ok"
            found["triggers"] = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
            ).all()
    return found


def _site_open(conn: Connection) -> list[Any]:
    """SQLite's site_open: it must hold exactly the open, placed sites of open trials."""
    kept = conn.execute(
        text(
            "SELECT d.nct_id, s.position, o.latitude = s.latitude AND o.longitude = s.longitude "
            "FROM site_open o JOIN trial_search_doc d ON d.id = o.doc_id JOIN site s ON s.id = o.site_id "
            "ORDER BY 1, 2"
        )
    ).all()
    expected = conn.execute(
        text(
            "SELECT s.nct_id, s.position, 1 FROM site s JOIN trial t ON t.nct_id = s.nct_id "
            f"WHERE t.overall_status IN {tuple(OPEN_TRIAL_STATUSES)} AND s.latitude IS NOT NULL "
            "AND s.longitude IS NOT NULL "
            f"AND (s.status IS NULL OR s.status NOT IN {tuple(CLOSED_SITE_STATUSES)}) ORDER BY 1, 2"
        )
    ).all()
    assert kept == expected and kept
    return list(kept)


def test_site_open_follows_site_updates(tmp_path: Path) -> None:
    """Sites placed or closed after their trial was stored (``trialsite geocode --sites``, an
    operator's fix) move in or out of site_open with the site row."""
    store = open_store(f"sqlite:///{tmp_path / 'trialsite.db'}")
    try:
        ingest_items(store, iter_paths([V2 / "dgg32_ctg-studies_50.json"]), command="test")
        with store.begin() as conn:
            before = _site_open(conn)
            open_site = conn.execute(text("SELECT site_id FROM site_open LIMIT 1")).scalar_one()
            conn.execute(text("UPDATE site SET status = 'COMPLETED' WHERE id = :i"), {"i": open_site})
            conn.execute(
                text("UPDATE site SET latitude = NULL WHERE id IN (SELECT site_id FROM site_open LIMIT 3)")
            )
            closed = _site_open(conn)
            conn.execute(text("UPDATE site SET latitude = 1.5, longitude = 2.5, status = NULL"))
            placed = _site_open(conn)
    finally:
        store.dispose()
    assert len(closed) == len(before) - 4 and len(placed) > len(before)


def _revised(folder: Path) -> Path:
    """Newer versions of 100 fixture trials: a new title, a site fewer, a later update date."""
    studies = json.loads((V2 / "nsclcbench_ctg-studies_100.json").read_text())
    for study in studies:
        protocol = study["protocolSection"]
        protocol["identificationModule"]["briefTitle"] += " in spinal cord injury"
        protocol["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2099-01-01", "type": "ACTUAL"}
        del protocol.get("contactsLocationsModule", {}).get("locations", [None])[:1]
    path = folder / "revised.json"
    path.write_text(json.dumps(studies))
    return path


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_large_batches_index_like_row_by_row(backend: str, tmp_path: Path) -> None:
    """Batches of many records index their new rows in one statement (SQLite: with the insert
    triggers dropped inside the batch's transaction); the answers are those of row-by-row
    indexing, after a first load and after newer versions replace stored ones."""
    if backend == "postgresql" and (reason := pg_skip_reason()):
        pytest.skip(reason)
    revised = _revised(tmp_path)
    results = []
    for batch_size in (SET_BASED_INDEXING_FROM - 1, 500):
        folder = tmp_path / f"b{batch_size}"
        folder.mkdir()
        with empty_store(backend, folder) as url:
            store = open_store(url)
            try:
                first = ingest_items(store, iter_paths([V2]), command="test", batch_size=batch_size)
                loaded = _indexed(store)
                second = ingest_items(store, iter_paths([revised]), command="test", batch_size=batch_size)
                assert (first.inserted, second.updated) == (469, 100)
                results.append((loaded, _indexed(store)))
            finally:
                store.dispose()
    assert results[0] == results[1]
    (loaded, revised_index) = results[1]
    assert (
        all(loaded["search"]) and all(loaded["boxes"]) and len(loaded["boxes"][2]) > len(loaded["boxes"][0])
    )
    assert len(revised_index["search"][2]) >= len(loaded["search"][2]) + 100
    assert len(revised_index["sites"]) < len(loaded["sites"])


def _archive(path: Path, studies: list[dict[str, Any]]) -> list[bytes]:
    bodies = [json.dumps(s, indent=1).encode() for s in studies]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, body in enumerate(bodies):
            archive.writestr(f"{i:03d}.json", body)
    return bodies


def test_zip_members_are_kept_as_read_and_hashed_as_any_copy(engine: Engine, tmp_path: Path) -> None:
    studies = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())
    bodies = _archive(tmp_path / "ctg-studies.json.zip", studies)
    assert (
        ingest_items(engine, iter_paths([tmp_path / "ctg-studies.json.zip"]), command="test").inserted == 10
    )
    with engine.connect() as conn:
        stored = {
            r.nct_id: r for r in conn.execute(select(SOURCE.c.nct_id, SOURCE.c.raw, SOURCE.c.content_hash))
        }
    for study, body in zip(studies, bodies, strict=True):
        row = stored[study["protocolSection"]["identificationModule"]["nctId"]]
        assert zlib.decompress(row.raw) == body  # the member's bytes, not re-serialized
        assert (
            row.content_hash == hashlib.sha256(orjson.dumps(study, option=orjson.OPT_SORT_KEYS)).hexdigest()
        )
    # The same studies from the website's JSON array: the same content, nothing to store.
    again = ingest_items(engine, iter_paths([V2 / "dgg32_ctg-studies_10.json"]), command="test")
    assert (again.inserted, again.updated, again.unchanged, again.stale) == (0, 0, 10, 0)


def test_corrupt_zip_member_is_quarantined_and_the_rest_loaded(engine: Engine, tmp_path: Path) -> None:
    studies = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())
    path = tmp_path / "ctg-studies.json.zip"
    _archive(path, studies)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("003.json")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename)  # Python writes no extra field here
    for i in range(start + 100, start + 140):
        data[i] ^= 0x55
    path.write_bytes(bytes(data))
    summary = ingest_items(engine, iter_paths([path]), command="test")
    assert (summary.inserted, summary.quarantined) == (9, 1)
    assert summary.quarantine[0]["origin"].endswith("!003.json")
    assert summary.quarantine[0]["reason"].startswith("corrupt zip member")
    with engine.connect() as conn:
        assert conn.execute(select(QUARANTINE.c.reason)).scalar_one().startswith("corrupt zip member")


def test_worker_rows_are_geocoded_like_parsed_records(tmp_path: Path) -> None:
    """Sites the registry gave no coordinates are placed by the gazetteer in the writing
    process, on rows a worker built, as on records parsed in process."""
    studies = json.loads((V2 / "nsclcbench_ctg-studies_100.json").read_text())
    removed = 0
    for study in studies[:30]:
        for location in study["protocolSection"].get("contactsLocationsModule", {}).get("locations", []):
            removed += location.pop("geoPoint", None) is not None
    assert removed > 0
    archive = tmp_path / "ctg-studies.json.zip"
    _archive(archive, studies)
    results = []
    for workers in (0, 1):
        store = open_store(f"sqlite:///{tmp_path / f'w{workers}.db'}")
        try:
            with site_geocoding() as geocode:
                ingest_items(store, iter_paths([archive]), command="test", workers=workers, geocode=geocode)
            with store.connect() as conn:
                results.append(
                    conn.execute(
                        select(SITE.c.nct_id, SITE.c.position, SITE.c.latitude, SITE.c.geo_source).order_by(
                            SITE.c.nct_id, SITE.c.position
                        )
                    ).all()
                )
                assert conn.execute(select(TRIAL.c.nct_id)).first() is not None
        finally:
            store.dispose()
    assert results[0] == results[1]
    assert sum(1 for r in results[1] if r.geo_source == "gazetteer") > removed // 2


def test_a_record_the_store_refuses_is_quarantined_alone(engine: Engine, tmp_path: Path) -> None:
    """PostgreSQL refuses a NUL character in text (SQLite takes it): the batch's rows, sent
    by COPY, are refused together, then stored one by one and the refused record quarantined."""
    studies = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())
    studies[4]["protocolSection"]["identificationModule"]["briefTitle"] = "A title with a NUL \u0000 inside"
    path = tmp_path / "studies.json"
    path.write_text(json.dumps(studies))
    summary = ingest_items(engine, iter_paths([path]), command="test")
    if engine.dialect.name == "sqlite":
        assert (summary.inserted, summary.quarantined) == (10, 0)
        return
    assert (summary.inserted, summary.quarantined) == (9, 1)
    assert summary.quarantine[0]["origin"].endswith("[4]")
    assert summary.quarantine[0]["reason"].startswith("the store refused it: ")


def test_row_tuples_name_every_stored_column() -> None:
    """Workers build rows as tuples in these column orders: a model column missing from them
    would be silently left NULL by bulk loads (criterion.needs once was)."""
    from db.rows import (
        ARM_COLUMNS,
        CONDITION_COLUMNS,
        CRITERION_COLUMNS,
        INTERVENTION_COLUMNS,
        REGISTRY_STATE,
        SITE_COLUMNS,
        TRIAL_COLUMNS,
    )
    from db.upsert import (
        ARM,
        CONDITION,
        CRITERION,
        INTERVENTION,
        NEEDS,
        NEEDS_COLUMNS,
        SITE,
        SOURCE,
        SOURCE_COLUMNS,
        TRIAL,
    )

    for table, columns in (
        (TRIAL, TRIAL_COLUMNS),
        (SITE, SITE_COLUMNS),
        (CONDITION, CONDITION_COLUMNS),
        (ARM, ARM_COLUMNS),
        (INTERVENTION, INTERVENTION_COLUMNS),
        (CRITERION, CRITERION_COLUMNS),
        (NEEDS, NEEDS_COLUMNS),
        (SOURCE, SOURCE_COLUMNS),
    ):
        assert sorted(columns) == sorted(
            c.name for c in table.columns if c.name != "id" and c.name not in REGISTRY_STATE
        ), table.name
