"""Loading saved registry files into a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from db.engine import open_store
from db.queries import get_trial
from db.upsert import CHANGE, QUARANTINE, SITE, TRIAL
from ingest.files.reader import iter_paths
from ingest.pipeline import IngestSummary, ingest_items
from tests.conftest import V2


def load(engine: Engine, *paths: Path) -> IngestSummary:
    return ingest_items(engine, iter_paths(list(paths)), command="test")


def studies_in(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else [data]


def version_key(study: dict[str, Any]) -> tuple[str, str]:
    status = study["protocolSection"]["statusModule"]
    return (
        status.get("lastUpdatePostDateStruct", {}).get("date", ""),
        study.get("derivedSection", {}).get("miscInfoModule", {}).get("versionHolder", ""),
    )


def newest_versions(folder: Path) -> dict[str, dict[str, Any]]:
    """The expected store content, computed from the raw JSON: newest version of each id."""
    newest: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        for study in studies_in(path):
            nct_id = study["protocolSection"]["identificationModule"]["nctId"]
            if nct_id not in newest or version_key(study) > version_key(newest[nct_id]):
                newest[nct_id] = study
    return newest


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_v2_folder_gives_every_trial_and_every_site(engine: Engine) -> None:
    expected = newest_versions(V2)
    summary = load(engine, V2)
    assert len(expected) == 469
    assert summary.inserted == 469 and summary.quarantined == 0
    assert count(engine, TRIAL) == 469
    expected_sites = sum(
        len(s["protocolSection"].get("contactsLocationsModule", {}).get("locations", []))
        for s in expected.values()
    )
    assert count(engine, SITE) == expected_sites
    for nct_id in ("NCT04267848", "NCT02513394", "NCT05923112"):
        locations = expected[nct_id]["protocolSection"]["contactsLocationsModule"]["locations"]
        assert count(engine, SITE, SITE.c.nct_id == nct_id) == len(locations)
    assert count(engine, SITE, SITE.c.nct_id == "NCT04267848") == 1148


def test_reloading_changes_nothing(engine: Engine) -> None:
    load(engine, V2)
    with engine.connect() as conn:
        before = conn.execute(select(TRIAL.c.nct_id, TRIAL.c.content_hash, TRIAL.c.updated_at)).all()
    again = load(engine, V2)
    assert (again.inserted, again.updated, again.quarantined) == (0, 0, 0)
    assert again.unchanged == 469
    with engine.connect() as conn:
        after = conn.execute(select(TRIAL.c.nct_id, TRIAL.c.content_hash, TRIAL.c.updated_at)).all()
    assert sorted(before) == sorted(after)
    assert count(engine, CHANGE) == 0


def test_day_newer_export_updates_and_records_real_differences(engine: Engine) -> None:
    first = load(engine, V2 / "dgg32_ctg-studies_10.json")
    assert first.inserted == 10
    second = load(engine, V2 / "dgg32_ctg-studies_50.json")
    assert second.inserted == 40
    assert second.updated == 10  # every one of the ten moved its versionHolder a day on
    assert second.unchanged == 0
    with engine.connect() as conn:
        events = conn.execute(
            select(
                CHANGE.c.nct_id,
                CHANGE.c.kind,
                CHANGE.c.field,
                CHANGE.c.old_value,
                CHANGE.c.new_value,
            )
        ).all()
    by_trial: dict[str, list[Any]] = {}
    for e in events:
        by_trial.setdefault(e.nct_id, []).append(e)
    assert len(by_trial) == 10
    # NCT05923281: the registry switched two date types from ESTIMATED to ACTUAL.
    fields = {(e.kind, e.field, e.old_value, e.new_value) for e in by_trial["NCT05923281"]}
    assert ("date", "last_update_post_date_type", "ESTIMATED", "ACTUAL") in fields
    assert ("date", "version_date", "2023-06-28", "2023-06-29") in fields
    # NCT05923112: its MeSH browse leaves were reordered; only the raw-record event can say so.
    raw = [e for e in by_trial["NCT05923112"] if e.kind == "record"]
    assert raw and "derivedSection.conditionBrowseModule.browseLeaves[].name" in raw[0].new_value
    # Loading the older export again changes nothing: it is older than what is stored.
    third = load(engine, V2 / "dgg32_ctg-studies_10.json")
    assert (third.inserted, third.updated, third.stale) == (0, 0, 10)


def test_older_snapshot_never_overwrites_newer(engine: Engine) -> None:
    load(engine, V2 / "NCT04267848.json")
    older = load(engine, V2 / "NCT04267848_complex.json")
    assert (older.updated, older.stale) == (0, 1)
    assert count(engine, SITE, SITE.c.nct_id == "NCT04267848") == 1148


def test_older_snapshot_first_is_replaced_by_newer(engine: Engine) -> None:
    load(engine, V2 / "NCT04267848_complex.json")
    assert count(engine, SITE, SITE.c.nct_id == "NCT04267848") == 2
    newer = load(engine, V2 / "NCT04267848.json")
    assert newer.updated == 1
    assert count(engine, SITE, SITE.c.nct_id == "NCT04267848") == 1148
    trial = get_trial(engine, "NCT04267848")
    assert trial is not None and trial["version_date"] == "2025-09-11"
    with engine.connect() as conn:
        kinds = [k for (k,) in conn.execute(select(CHANGE.c.kind).where(CHANGE.c.nct_id == "NCT04267848"))]
    assert kinds.count("site_added") >= 1146


def test_malformed_records_are_quarantined_and_the_rest_load(engine: Engine, tmp_path: Path) -> None:
    good = studies_in(V2 / "dgg32_ctg-studies_10.json")[:3]
    no_id = json.loads(json.dumps(good[0]))
    del no_id["protocolSection"]["identificationModule"]["nctId"]
    wrong_type = json.loads(json.dumps(good[1]))
    wrong_type["protocolSection"]["identificationModule"]["nctId"] = "NCT99999991"
    wrong_type["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "many"
    bad_date = json.loads(json.dumps(good[2]))
    bad_date["protocolSection"]["identificationModule"]["nctId"] = "NCT99999992"
    bad_date["protocolSection"]["statusModule"]["startDateStruct"]["date"] = "2023-02-30"
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([*good, no_id, wrong_type, bad_date]))
    summary = load(engine, path)
    assert (summary.inserted, summary.quarantined, summary.exit_code) == (3, 3, 2)
    reasons = {q["nct_id"]: q["reason"] for q in summary.quarantine}
    assert "nctId" in reasons[None]
    assert "enrollmentInfo.count" in reasons["NCT99999991"] and "'many'" in reasons["NCT99999991"]
    assert "startDateStruct.date" in reasons["NCT99999992"] and "2023-02-30" in reasons["NCT99999992"]
    assert count(engine, QUARANTINE) == 3
    again = load(engine, path)  # the same bad records are not quarantined twice
    assert again.quarantined == 3 and count(engine, QUARANTINE) == 3


def test_bulk_zip_and_single_objects_and_api_pages(engine: Engine, tmp_path: Path) -> None:
    studies = studies_in(V2 / "dtx-analysis_ctg-studies_128.json")
    archive = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for s in studies[:100]:
            z.writestr(f"{s['protocolSection']['identificationModule']['nctId']}.json", json.dumps(s))
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"studies": studies[100:120], "nextPageToken": "abc"}))
    single = tmp_path / "one.json"
    single.write_text(json.dumps(studies[120]))
    summary = load(engine, archive, page, single)
    assert (summary.seen, summary.inserted, summary.quarantined) == (121, 121, 0)
    assert count(engine, TRIAL) == 121


def test_json_array_is_streamed_across_chunk_boundaries(tmp_path: Path) -> None:
    studies = studies_in(V2 / "dgg32_ctg-studies_50.json")
    path = tmp_path / "export.json"
    # Pretty-printed with non-ASCII text: elements and UTF-8 sequences straddle 1 MiB reads.
    path.write_text(json.dumps(studies, indent=3, ensure_ascii=False), encoding="utf-8")
    assert path.stat().st_size > 1 << 20
    items = list(iter_paths([path]))
    assert [i.payload for i in items] == studies
    assert all(i.error is None for i in items)


def test_truncated_array_reports_the_broken_element(tmp_path: Path) -> None:
    studies = studies_in(V2 / "dgg32_ctg-studies_10.json")
    text = json.dumps(studies)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) * 3 // 4])
    items = list(iter_paths([path]))
    assert all(i.error is None for i in items[:-1])
    assert items[-1].error is not None and items[-1].origin.endswith(f"[{len(items) - 1}]")


def test_worker_processes_store_the_same_records(tmp_path: Path) -> None:
    studies = studies_in(V2 / "nsclcbench_ctg-studies_100.json")
    studies[7]["protocolSection"]["statusModule"]["startDateStruct"]["date"] = "2021-13"
    archive = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i, s in enumerate(studies):
            z.writestr(f"{i:03d}.json", json.dumps(s))
    results = {}
    for workers in (0, 1):
        url = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        store = open_store(url)
        try:
            summary = ingest_items(store, iter_paths([archive]), command="test", workers=workers)
            with store.connect() as conn:
                rows = conn.execute(
                    select(TRIAL.c.nct_id, TRIAL.c.content_hash).order_by(TRIAL.c.nct_id)
                ).all()
                sites = count(store, SITE)
        finally:
            store.dispose()
        results[workers] = (summary.inserted, summary.quarantined, summary.ids, rows, sites)
    assert results[0] == results[1]
    assert results[1][:2] == (99, 1)
