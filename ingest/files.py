"""Read saved registry records from files: ``fetch``-side I/O for ``trialsite ingest file``.

Accepted, by content rather than by name alone:

- a single API v2 study object (``GET /api/v2/studies/{nctId}``);
- a JSON array of them (the website's "Download → JSON" export), streamed
  element by element so memory stays bounded whatever the file's size;
- a saved ``/api/v2/studies`` page (``{"studies": [...], "nextPageToken": ...}``);
- a directory of such files (recursively, in name order);
- the bulk ``ctg-studies.json.zip`` (one study JSON per member), read member by member;
- legacy ``<clinical_study>`` XML files, and zip archives of them.

Each record comes out as a :class:`RawItem`; decoding errors are items too,
so the caller can quarantine them and go on.
"""

from __future__ import annotations

import codecs
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

JSON = "json"
XML = "xml"
# Trial pages, read by ``ingest.pages`` (not from folders: a page needs its identity resolved).
HTML = "html"
TEXT = "text"

_CHUNK = 1 << 20


@dataclass(slots=True)
class RawItem:
    origin: str  # "path", "path[i]" for an array element, "path!member" for a zip member
    kind: str  # JSON, XML, or a page: HTML or TEXT
    payload: Any = None  # decoded JSON value; for XML the document bytes
    raw: bytes = b""  # the bytes as read (kept for quarantine when undecodable)
    error: str | None = None
    encoded: bool = False  # JSON not decoded yet (zip members): decode_item() opens it up


def decode_item(item: RawItem) -> list[RawItem]:
    """The records of an item whose JSON was left encoded (decoded where it is parsed)."""
    if not item.encoded:
        return [item]
    return list(_decode_json(item.raw, item.origin))


class SourceFileError(Exception):
    """A path that cannot be read at all (missing, unreadable, not a known format)."""


def count_records_hint(paths: list[Path]) -> int | None:
    """A cheap total for the progress bar: zip members + files; None when unknown."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(1 for p in path.rglob("*") if p.suffix.lower() in {".json", ".xml"})
        elif path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                total += sum(1 for n in archive.namelist() if not n.endswith("/"))
        else:
            return None
    return total


def iter_paths(paths: list[Path]) -> Iterator[RawItem]:
    for path in paths:
        if not path.exists():
            raise SourceFileError(f"{path}: no such file or directory")
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in {".json", ".xml", ".zip"}:
                    yield from _iter_file(child)
        else:
            yield from _iter_file(path)


def _iter_file(path: Path) -> Iterator[RawItem]:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        yield from _iter_zip(path)
    elif suffix == ".xml":
        data = path.read_bytes()
        yield RawItem(str(path), XML, data, data)
    elif suffix == ".json":
        with path.open("rb") as handle:
            yield from _iter_json_stream(handle, str(path))
    else:
        raise SourceFileError(f"{path}: not a .json, .xml or .zip file")


def _iter_zip(path: Path) -> Iterator[RawItem]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise SourceFileError(f"{path}: not a readable zip archive ({exc})") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            origin = f"{path}!{info.filename}"
            name = info.filename.lower()
            if name.endswith(".xml"):
                data = archive.read(info)
                yield RawItem(origin, XML, data, data)
            elif name.endswith(".json"):
                with archive.open(info) as member:
                    if info.file_size <= 64 * _CHUNK:
                        # Left encoded: decoding is CPU work the parsing workers share.
                        yield RawItem(origin, JSON, None, member.read(), encoded=True)
                    else:
                        yield from _iter_json_stream(member, origin)


def _decode_json(data: bytes, origin: str) -> Iterator[RawItem]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield RawItem(origin, JSON, None, data, f"invalid JSON: {exc}")
        return
    yield from _expand(value, origin, data)


def _expand(value: Any, origin: str, data: bytes) -> Iterator[RawItem]:
    """A decoded document → its records: arrays and API pages are opened up."""
    if isinstance(value, list):
        for i, element in enumerate(value):
            yield RawItem(f"{origin}[{i}]", JSON, element)
    elif isinstance(value, dict) and value.get("studies") and isinstance(value["studies"], list):
        for i, element in enumerate(value["studies"]):
            yield RawItem(f"{origin}[{i}]", JSON, element)
    else:
        yield RawItem(origin, JSON, value, data)


def _iter_json_stream(handle: IO[bytes], origin: str) -> Iterator[RawItem]:
    """Stream a JSON document; a top-level array is decoded one element at a time."""
    head = handle.read(_CHUNK)
    stripped = head.lstrip()
    if not stripped.startswith(b"["):
        data = head + handle.read()
        yield from _decode_json(data, origin)
        return
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = utf8.decode(stripped[1:])
    index = 0
    eof = False
    while True:
        text = text.lstrip().lstrip(",").lstrip()
        if text.startswith("]"):
            return
        if text:
            try:
                element, end = decoder.raw_decode(text)
            except json.JSONDecodeError as exc:
                if eof:
                    bad = text[:_CHUNK].encode()
                    yield RawItem(f"{origin}[{index}]", JSON, None, bad, f"invalid JSON: {exc}")
                    return
            else:
                yield RawItem(f"{origin}[{index}]", JSON, element)
                index += 1
                text = text[end:]
                continue
        if eof:
            if text.strip():
                bad = text.encode()
                yield RawItem(f"{origin}[{index}]", JSON, None, bad, "invalid JSON: unterminated array")
            return
        chunk = handle.read(_CHUNK)
        eof = not chunk
        text += utf8.decode(chunk, final=eof)
