"""Differences between two versions of a trial, as change events.

Each difference is ``(kind, field, old, new)``: ``status`` (overall status),
``date`` (start/completion/update dates and their ACTUAL/ESTIMATED types),
``criteria`` (eligibility text), ``field`` (any other stated fact),
``site_added`` / ``site_removed`` / ``site_status``, and ``record`` — the JSON
paths of the raw source record that changed, so that even a change the
normalized record does not carry (e.g. a MeSH browse leaf) is on file.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from lxml import etree  # type: ignore[import-untyped]

from db.rows import BOOKKEEPING, TRIAL_COLUMNS, site_key

Change = tuple[str, str | None, str | None, str | None]

# The registry's dates and their ACTUAL/ESTIMATED types (bookkeeping times end in ``_at``).
_DATE_FIELDS = frozenset(c for c in TRIAL_COLUMNS if "_date" in c)


def _kind(field: str) -> str:
    if field == "overall_status":
        return "status"
    if field == "eligibility_criteria":
        return "criteria"
    return "date" if field in _DATE_FIELDS else "field"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def diff_trial(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for field, new_value in new.items():
        if field in BOOKKEEPING:
            continue
        old_value = old.get(field)
        if field == "eligibility_criteria" and _folded(old_value) == _folded(new_value):
            continue  # re-wrapped legacy text (XML textblocks) is not a criteria change
        if old_value != new_value:
            changes.append((_kind(field), field, _text(old_value), _text(new_value)))
    return changes


def _site_label(row: dict[str, Any]) -> str:
    parts = (
        row.get("facility"),
        row.get("city"),
        row.get("state"),
        row.get("zip"),
        row.get("country"),
    )
    return ", ".join(p for p in parts if p)


def diff_sites(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Change]:
    """Sites matched by (facility, city, zip, country); duplicates are matched in order."""
    old_by_key: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in old:
        old_by_key[site_key(row)].append(row)
    changes: list[Change] = []
    for row in new:
        same = old_by_key.get(site_key(row))
        if not same:
            changes.append(("site_added", _site_label(row), None, row.get("status")))
            continue
        before = same.pop(0)
        if before.get("status") != row.get("status"):
            changes.append(("site_status", _site_label(row), before.get("status"), row.get("status")))
    for rows in old_by_key.values():
        changes.extend(("site_removed", _site_label(r), r.get("status"), None) for r in rows)
    return changes


def _paths(old: Any, new: Any, path: str, out: set[str]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() | new.keys():
            _paths(old.get(key), new.get(key), f"{path}.{key}" if path else key, out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for a, b in zip(old, new, strict=True):
            _paths(a, b, f"{path}[]", out)
    else:
        out.add(path or "$")


def _folded(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


_XML = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


def _element(node: Any) -> Any:
    """An XML element as nested values: text whitespace-folded (a re-wrapped textblock is
    no change), attributes as ``@name``, repeated children as a list."""
    children = [c for c in node if isinstance(c.tag, str)]
    tree: dict[str, Any] = {f"@{k}": v for k, v in node.attrib.items()}
    if not children:
        text = _folded(node.text or "")
        if not tree:
            return text
        tree["#text"] = text
    for child in children:
        tree.setdefault(child.tag, []).append(_element(child))
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in tree.items()}


def _raw_tree(raw: bytes) -> Any:
    """A raw source record as nested values: JSON decoded; legacy XML as its element tree;
    anything else (a trial page's HTML or text) as its whitespace-folded text."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        root = etree.fromstring(raw, _XML)
    except etree.XMLSyntaxError:
        return {"page": _folded(raw.decode("utf-8", "replace"))}
    return {root.tag: _element(root)}


def diff_raw(old_raw: bytes, new_raw: bytes, *, limit: int = 200) -> list[Change]:
    """One ``record`` event listing the raw paths that differ: JSON keys, XML elements
    (list indices collapsed), or ``page`` for a page's text."""
    out: set[str] = set()
    _paths(_raw_tree(old_raw), _raw_tree(new_raw), "", out)
    if not out:
        return []
    paths = sorted(out)
    shown = paths[:limit] + ([f"... {len(paths) - limit} more"] if len(paths) > limit else [])
    return [("record", "raw", None, "\n".join(shown))]
