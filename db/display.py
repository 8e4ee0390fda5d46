"""What the store's text may show, to a client, a log or a terminal.

- Credentials never: a URL loses its userinfo (``https://user:TOKEN@host`` → ``https://host``)
  and query values whose names say they are secrets; a store URL shows ``***`` for its
  password (:func:`hide_password`).
- Server paths never: an origin that is a file path is cut to the file's name (with its zip
  member or array index), so ``/srv/data/ctg-studies.json.zip!NCT1.json`` shows as
  ``ctg-studies.json.zip!NCT1.json`` (:func:`public_origin`). Rows stored before this rule
  are shown through it as well.
- Unicode bidirectional controls (U+202A–U+202E, U+2066–U+2069) in registry text are removed
  wherever it is shown (HTML, CSV, alerts, the terminal): they reorder what a reader sees
  ("Trojan Source", CVE-2021-42574) and no trial record needs them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# scheme://userinfo@ anywhere in a text (an error message, a stored command line).
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@]*@")
_SECRET_NAME = re.compile(r"token|key|secret|pass|auth|sig|credential", re.IGNORECASE)
# A URL in running text, without the punctuation that ends its sentence.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://\S+?(?=[.,;:!?)\]'\"]*(?:\s|$))")


def strip_bidi(text: str) -> str:
    return BIDI_CONTROLS.sub("", text)


def strip_bidi_all(value: Any) -> Any:
    """``value`` (a JSON-like structure) with every string's bidirectional controls removed."""
    if isinstance(value, str):
        return strip_bidi(value)
    if isinstance(value, dict):
        return {k: strip_bidi_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip_bidi_all(v) for v in value]
    return value


def public_url(url: str) -> str:
    """``url`` without userinfo, and with secret-looking query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(r"\1", url)
    if not parts.scheme or not parts.netloc:
        return _USERINFO.sub(r"\1", url)
    host = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_NAME.search(name) for name, _ in pairs):
            query = urlencode([(n, "***" if _SECRET_NAME.search(n) else v) for n, v in pairs], safe="*")
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


def public_text(text: str) -> str:
    """A free text (an error, a stored command line) with every URL in it made public."""
    return _URL.sub(lambda m: public_url(m.group(0)), text)


def public_origin(origin: str | None) -> str | None:
    """Where a record came from, as it may be shown: a URL without credentials (see
    :func:`public_url`), a file by its name only (``file://`` URLs too)."""
    if origin is None:
        return None
    if "://" in origin and not origin.lower().startswith("file://"):
        return public_url(origin)
    path = origin[7:] if origin.lower().startswith("file://") else origin
    # "path!member" (a zip member) and "path[3]" (an array element) keep their suffix.
    head, bang, member = path.partition("!")
    return head.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] + bang + member


def public_source(source: str | None) -> str | None:
    """An ingest run's source (paths or URLs, space- or comma-separated, as a command got
    them) with each made public."""
    if source is None:
        return None
    return re.sub(r"[^\s,]+", lambda m: public_origin(m.group(0)) or "", _USERINFO.sub(r"\1", source))


def hide_password(url: str) -> str:
    """A store URL as it may be printed: its password (if any) as ``***``."""
    return re.sub(r"(://[^/\s:@]*:)[^/\s@]*@", r"\1***@", url)
