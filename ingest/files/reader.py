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
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

JSON = "json"
XML = "xml"
# Trial pages, read by ``ingest.pages.load`` (not from folders: a page needs its identity resolved).
HTML = "html"
TEXT = "text"

_CHUNK = 1 << 20
# A zip member is quarantined unread when it would inflate past either cap (the
# bulk export's members are single studies of ~50 KB, deflated about 6 to 1).
MAX_MEMBER_BYTES = 512 * _CHUNK
MAX_MEMBER_RATIO = 200
# A JSON document that is not an array is decoded whole: at most this much of it.
MAX_DOCUMENT_BYTES = 64 * _CHUNK


@dataclass(slots=True)
class RawItem:
    origin: str  # "path", "path[i]" for an array element, "path!member" for a zip member
    kind: str  # JSON, XML, or a page: HTML or TEXT
    payload: Any = None  # decoded JSON value; for XML the document bytes
    raw: bytes = b""  # the bytes as read (kept for quarantine when undecodable)
    error: str | None = None
    encoded: bool = False  # JSON not decoded yet (zip members): decode_item() opens it up
    # Set when ``raw`` is still a zip member's deflate stream: the CRC-32 of its bytes.
    crc: int | None = None
    # ``raw`` as a zlib stream, when the source had it compressed already (zip members).
    compressed: bytes = b""
    size: int = 0  # a zip member's uncompressed size, as its header states


def decode_item(item: RawItem) -> list[RawItem]:
    """The records of an item whose JSON was left encoded (decoded where it is parsed)."""
    if not item.encoded:
        return [item]
    if item.crc is None:
        return list(_decode_json(item.raw, item.origin))
    try:
        # Inflate no further than the member says it holds (a lying header is a bomb).
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        data = inflater.decompress(item.raw, item.size + 1)
    except zlib.error as exc:
        return [RawItem(item.origin, JSON, None, item.raw, f"corrupt zip member: {exc}")]
    if len(data) > item.size:
        return [RawItem(item.origin, JSON, None, item.raw, "corrupt zip member: larger than its header says")]
    if zlib.crc32(data) != item.crc:
        return [RawItem(item.origin, JSON, None, data, "corrupt zip member: CRC-32 mismatch")]
    records = list(_decode_json(data, item.origin))
    if len(records) == 1 and records[0].error is None and records[0].raw is data:
        # A whole member is one record: its deflate stream, framed as zlib (header, stream,
        # Adler-32), is the stored raw record as is, not compressed a second time.
        records[0].compressed = _ZLIB_HEADER + item.raw + zlib.adler32(data).to_bytes(4, "big")
    return records


_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window (zip's), no preset dictionary


class SourceFileError(Exception):
    """A path that cannot be read at all (missing, unreadable, not a known format)."""


def count_records_hint(paths: list[Path]) -> int | None:
    """A cheap total for the progress bar: zip members + files; None when unknown."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(1 for p in path.rglob("*") if p.suffix.lower() in {".json", ".xml"})
        elif path.suffix.lower() == ".zip" and path.is_file():  # never a device: it may not end
            try:
                with zipfile.ZipFile(path) as archive:
                    total += sum(1 for n in archive.namelist() if not n.endswith("/"))
            except (zipfile.BadZipFile, OSError):
                return None
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
        elif not path.is_file():
            raise SourceFileError(f"{path}: not a regular file (a device or a pipe is not read)")
        else:
            yield from _iter_file(path)


def _iter_file(path: Path) -> Iterator[RawItem]:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        yield from _iter_zip(path)
    elif suffix == ".xml":
        with path.open("rb") as handle:  # bounded: a device or an endless file is not read whole
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            reason = f"one XML document over {MAX_DOCUMENT_BYTES // _CHUNK} MB: not read"
            yield RawItem(str(path), XML, None, data[:_CHUNK], reason)
            return
        yield RawItem(str(path), XML, data, data)
    elif suffix == ".json":
        with path.open("rb") as handle:
            yield from _iter_json_stream(handle, str(path))
    else:
        raise SourceFileError(f"{path}: not a .json, .xml or .zip file")


def _iter_zip(path: Path) -> Iterator[RawItem]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        # One unreadable archive among several sources is quarantined; the rest load.
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
        yield RawItem(str(path), JSON, None, head, f"not a readable zip archive ({exc})")
        return
    with archive, path.open("rb") as handle:
        for info in archive.infolist():
            if info.is_dir():
                continue
            origin = f"{path}!{info.filename}"
            name = info.filename.lower()
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size > MAX_MEMBER_BYTES or ratio > MAX_MEMBER_RATIO:
                reason = (
                    f"zip member refused unread: {info.file_size:,} bytes inflated from "
                    f"{info.compress_size:,} (caps {MAX_MEMBER_BYTES // _CHUNK} MB, ratio {MAX_MEMBER_RATIO})"
                )
                yield RawItem(origin, JSON, None, b"", reason)
                continue
            if name.endswith(".xml"):
                data = archive.read(info)
                yield RawItem(origin, XML, data, data)
            elif name.endswith(".json") and info.file_size <= 64 * _CHUNK:
                # Left encoded, and deflated when it is: inflating and decoding are CPU
                # work the parsing workers share (decode_item).
                if info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 1:
                    deflated = _member_stream(handle, info, origin)
                    yield RawItem(
                        origin, JSON, None, deflated, encoded=True, crc=info.CRC, size=info.file_size
                    )
                else:
                    yield RawItem(origin, JSON, None, archive.read(info), encoded=True)
            elif name.endswith(".json"):
                with archive.open(info) as member:
                    yield from _iter_json_stream(member, origin)


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... file name length, extra field length


def _member_stream(handle: IO[bytes], info: zipfile.ZipInfo, origin: str) -> bytes:
    """A member's stored (compressed) bytes, read past its local header."""
    handle.seek(info.header_offset)
    header = handle.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise SourceFileError(f"{origin}: bad zip local header")
    _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    handle.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    data = handle.read(info.compress_size)
    if len(data) < info.compress_size:
        raise SourceFileError(f"{origin}: truncated zip member")
    return data


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
        data = head + handle.read(MAX_DOCUMENT_BYTES + 1 - len(head))
        if len(data) > MAX_DOCUMENT_BYTES:
            reason = f"one JSON document over {MAX_DOCUMENT_BYTES // _CHUNK} MB (not an array): not read"
            yield RawItem(origin, JSON, None, b"", reason)
            return
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
        if len(text) > MAX_DOCUMENT_BYTES:  # one element that never ends: bounded, like a document
            reason = f"one array element over {MAX_DOCUMENT_BYTES // _CHUNK} MB: not read, nor the rest of the file"
            yield RawItem(f"{origin}[{index}]", JSON, None, text[:_CHUNK].encode(), reason)
            return
        chunk = handle.read(_CHUNK)
        eof = not chunk
        text += utf8.decode(chunk, final=eof)
