"""A local stand-in for the ClinicalTrials.gov API v2, for tests.

A real HTTP/1.1 server on 127.0.0.1 (ephemeral port, one thread per
connection) that serves recorded real study objects the way the registry
does (contract: ``fixtures/ctgov/openapi/ctg-oas-v2.0.5.yaml``):

- ``GET /api/v2/studies`` — the studies in pages of ``pageSize`` (default 10,
  at most 1000) with opaque ``nextPageToken``s, ``totalCount`` on the first
  page when ``countTotal=true``. Applies ``filter.ids`` (NCT ids or aliases),
  ``filter.overallStatus`` and ``query.cond`` (case-insensitive substring of a
  listed condition); accepts but does not evaluate ``query.term``,
  ``query.locn``, ``filter.geo`` and other ``filter.advanced`` expressions (Essie
  and geo search are the registry's business; assert on the recorded params) but
  ``AREA[LastUpdatePostDate]RANGE[day,MAX]``, which it evaluates. ``fields=NCTId``
  (also ``OverallStatus``, ``LastUpdatePostDate``) projects each study on those pieces.
- ``GET /api/v2/version`` — ``dataTimestamp`` (``server.data_timestamp``);
  :meth:`RegistryServer.set_studies` moves the registry on a day.
  Unknown parameters and a ``pageToken`` reused with different query
  parameters get 400, as the registry answers.
- ``GET /api/v2/studies/{nctId}`` — 200 with the study; 301 from an alias
  (the studies' own ``nctIdAliases`` plus any given) to the current id; 404
  for an unknown id; 400 for an id the spec's pattern rejects.

Faults are queued on ``server.faults`` (or :meth:`RegistryServer.add_faults`)
and each spoils the next request, in order: ``"429"``, ``"500"``, ``"502"``,
``"503"``, ``"504"`` (status, optional ``Retry-After``), ``"timeout"`` (answer
only after ``delay`` seconds), ``"truncate"`` (full ``Content-Length``, half
the body, then close), ``"drop"`` (close without answering), ``"empty_page"``
(``studies: []`` with a token that resumes at the same place).

Paging is by offset (``server.paging = "offset"``, the default: a token is a position in
the listing, so a study removed from a page already served shifts the next ones back, as
the registry's own tokens do) or by key (``"key"``: a token is the last NCT id served and
the listing, sorted by id, resumes after it, so nothing shifts). ``server.before_answer``,
if set, is called with each recorded request before it is answered (a test changes the
studies mid-listing with it).

Every request is recorded in ``server.requests`` (path, query params, headers
with lower-case names, the fault applied). Usage::

    with serve_registry(load_studies()) as server:
        server.add_faults("503", Fault("429", retry_after="1"))
        client = RegistryClient(server.base_url, ...)
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY_STUDIES = FIXTURES / "registry" / "studies.json"

FAULT_KINDS = frozenset({"429", "500", "502", "503", "504", "timeout", "truncate", "drop", "empty_page"})
_STATUS_TEXT = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_LIST_PARAMS = frozenset(
    {
        "format", "markupFormat", "query.cond", "query.term", "query.locn", "query.titles",
        "query.intr", "query.outc", "query.spons", "query.lead", "query.id", "query.patient",
        "filter.overallStatus", "filter.geo", "filter.ids", "filter.advanced",
        "filter.synonyms", "postFilter.overallStatus", "postFilter.geo", "postFilter.ids",
        "postFilter.advanced", "postFilter.synonyms", "aggFilters", "geoDecay", "fields",
        "sort", "countTotal", "pageSize", "pageToken",
    }
)  # fmt: skip
# Paging parameters may change between pages; nothing else may (spec, listStudies).
_PAGING_PARAMS = frozenset({"countTotal", "pageSize", "pageToken"})
# The spec's nctId path pattern.
_NCT_PATH_RE = re.compile(r"^[Nn][Cc][Tt]0*[1-9]\d{0,7}$")


def load_studies(*paths: Path | str) -> list[dict[str, Any]]:
    """Study objects from files holding an array of them or a single one.

    With no path: ``fixtures/registry/studies.json`` (13 real studies).
    """
    studies: list[dict[str, Any]] = []
    for path in paths or (REGISTRY_STUDIES,):
        data = orjson.loads(Path(path).read_bytes())
        studies.extend(data if isinstance(data, list) else [data])
    return studies


def nct_id_of(study: Mapping[str, Any]) -> str:
    return str(study["protocolSection"]["identificationModule"]["nctId"])


def _aliases_of(study: Mapping[str, Any]) -> list[str]:
    ident = study["protocolSection"]["identificationModule"]
    return [str(a) for a in ident.get("nctIdAliases", [])]


def _conditions_of(study: Mapping[str, Any]) -> list[str]:
    module = study["protocolSection"].get("conditionsModule", {})
    return [str(c) for c in module.get("conditions", [])]


def _status_of(study: Mapping[str, Any]) -> str:
    return str(study["protocolSection"].get("statusModule", {}).get("overallStatus", ""))


_UPDATED_SINCE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]")


def _last_update_of(study: Mapping[str, Any]) -> str:
    status = study.get("protocolSection", {}).get("statusModule", {})
    return str((status.get("lastUpdatePostDateStruct") or {}).get("date") or "")


# The registry's piece names this fake projects on (``fields=``) and where each lives.
_PIECES: dict[str, tuple[str, str]] = {
    "NCTId": ("identificationModule", "nctId"),
    "OverallStatus": ("statusModule", "overallStatus"),
    "LastUpdatePostDate": ("statusModule", "lastUpdatePostDateStruct"),
}


def _projected(studies: Sequence[Mapping[str, Any]], fields: str) -> list[dict[str, Any]]:
    """Each study with only the asked pieces, nested as the registry nests them."""
    out: list[dict[str, Any]] = []
    for study in studies:
        section: dict[str, Any] = {}
        for piece in _split_list(fields):
            module, key = _PIECES[piece]
            value = study.get("protocolSection", {}).get(module, {}).get(key)
            if value is not None:
                section.setdefault(module, {})[key] = value
        out.append({"protocolSection": section})
    return out


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,|]", value) if v.strip()]


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # one of FAULT_KINDS
    retry_after: str | None = None  # Retry-After header value, for status faults
    delay: float = 2.0  # seconds a "timeout" holds the answer back

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names
    fault: str | None


@dataclass(slots=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _text(status: int, message: str) -> _Answer:
    # The spec's error bodies are text/plain messages (`errorMessage`).
    return _Answer(status, message.encode(), "text/plain; charset=utf-8")


class RegistryServer:
    """The registry's behaviour; the HTTP plumbing is in :class:`_Handler`."""

    def __init__(
        self, studies: Sequence[Mapping[str, Any]], aliases: Mapping[str, str] | None = None
    ) -> None:
        self.studies = list(studies)
        self._by_id = {nct_id_of(s): s for s in self.studies}
        self.aliases = {a: nct_id_of(s) for s in self.studies for a in _aliases_of(s)}
        self.aliases.update({k.upper(): v.upper() for k, v in (aliases or {}).items()})
        self.faults: deque[Fault] = deque()
        self.requests: list[RecordedRequest] = []
        self.base_path = "/api/v2"
        self.base_url = ""  # set once listening
        self._tokens: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {}
        self._keys: dict[str, str] = {}  # token -> the last NCT id its page served ("key" paging)
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.data_timestamp = "2026-12-01T09:00:00"  # what GET /version answers
        self.paging = "offset"  # or "key"
        self.before_answer: Callable[[RecordedRequest], None] | None = None

    def set_studies(self, studies: Sequence[Mapping[str, Any]], data_timestamp: str | None = None) -> None:
        """A new registry day: these studies (updated, new, some gone) and, if given, a new
        ``/version`` dataTimestamp. Tokens handed out before stay valid (offsets into the new list)."""
        with self._lock:
            self.studies = list(studies)
            self._by_id = {nct_id_of(s): s for s in self.studies}
            self.aliases = {a: nct_id_of(s) for s in self.studies for a in _aliases_of(s)}
            if data_timestamp is not None:
                self.data_timestamp = data_timestamp

    def forget_tokens(self) -> None:
        """Page tokens handed out so far stop being accepted (400), as the registry's expire."""
        with self._lock:
            self._tokens.clear()

    def add_faults(self, *faults: Fault | str) -> None:
        self.faults.extend(f if isinstance(f, Fault) else Fault(f) for f in faults)

    def requests_to(self, suffix: str) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``suffix`` (e.g. ``"/studies"``)."""
        return [r for r in self.requests if r.path.endswith(suffix)]

    # -- request handling (called from handler threads) -------------------------

    def take_fault(self, request: RecordedRequest) -> Fault | None:
        try:
            fault = self.faults.popleft()
        except IndexError:
            fault = None
        recorded = RecordedRequest(
            request.method, request.path, request.params, request.headers, fault.kind if fault else None
        )
        with self._lock:
            self.requests.append(recorded)
        if self.before_answer is not None:
            self.before_answer(recorded)
        return fault

    def answer(self, path: str, query: str, params: dict[str, str], fault: Fault | None) -> _Answer:
        if fault is not None and fault.kind in {"429", "500", "502", "503", "504"}:
            status = int(fault.kind)
            answer = _text(status, _STATUS_TEXT[status])
            if fault.retry_after is not None:
                answer.headers = (("Retry-After", fault.retry_after),)
            return answer
        if path == f"{self.base_path}/version":
            return _Answer(200, orjson.dumps({"apiVersion": "2.0.5", "dataTimestamp": self.data_timestamp}))
        if path == f"{self.base_path}/studies":
            return self._list(params, empty=fault is not None and fault.kind == "empty_page")
        prefix = f"{self.base_path}/studies/"
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            return self._single(path[len(prefix) :], query)
        return _text(404, "Not Found")

    def _list(self, params: dict[str, str], *, empty: bool) -> _Answer:
        for name in params:
            if name not in _LIST_PARAMS:
                # Wording of the live API's answer, e.g. "`query.recrs` is unknown
                # parameter" (github.com/Cicatriiz/healthcare-mcp-public/issues/11).
                return _text(400, f"`{name}` is unknown parameter")
        if params.get("format", "json") != "json":
            return _text(400, "format: only json is served here")
        try:
            size = int(params.get("pageSize", "10") or 10) or 10
        except ValueError:
            return _text(400, f"pageSize: invalid integer {params['pageSize']!r}")
        size = min(size, 1000)
        fingerprint = tuple(sorted((k, v) for k, v in params.items() if k not in _PAGING_PARAMS))
        offset = 0
        if "pageToken" in params:
            with self._lock:
                entry = self._tokens.get(params["pageToken"])
            if entry is None:
                return _text(400, f"pageToken: unknown token {params['pageToken']!r}")
            offset, first_fingerprint = entry
            if fingerprint != first_fingerprint:
                return _text(400, "parameters differ from the first page's")
        matches = self._matching(params)
        if self.paging == "key":  # the token holds the last id served: resume after it
            matches = sorted(matches, key=nct_id_of)
            after = self._keys.get(params.get("pageToken", ""), "")
            offset = next((i for i, m in enumerate(matches) if nct_id_of(m) > after), len(matches))
        page = [] if empty else matches[offset : offset + size]
        next_offset = offset if empty else offset + size
        body: dict[str, Any] = {}
        if params.get("countTotal") == "true" and "pageToken" not in params:
            body["totalCount"] = len(matches)
        body["studies"] = _projected(page, params["fields"]) if params.get("fields") else page
        if next_offset < len(matches):
            token = secrets.token_urlsafe(9)
            with self._lock:
                self._tokens[token] = (next_offset, fingerprint)
                if page:
                    self._keys[token] = nct_id_of(page[-1])
                else:
                    self._keys[token] = self._keys.get(params.get("pageToken", ""), "")
            body["nextPageToken"] = token
        return _Answer(200, orjson.dumps(body))

    def _matching(self, params: dict[str, str]) -> list[Mapping[str, Any]]:
        studies: Iterable[Mapping[str, Any]] = self.studies
        if "filter.ids" in params:
            wanted = {i.upper() for i in _split_list(params["filter.ids"])}
            studies = [s for s in studies if wanted & {nct_id_of(s), *_aliases_of(s)}]
        if "filter.overallStatus" in params:
            statuses = {s.upper() for s in _split_list(params["filter.overallStatus"])}
            studies = [s for s in studies if _status_of(s) in statuses]
        if "query.cond" in params:
            needle = params["query.cond"].casefold()
            studies = [s for s in studies if any(needle in c.casefold() for c in _conditions_of(s))]
        since = _UPDATED_SINCE.fullmatch(params.get("filter.advanced", ""))
        if since:  # the one Essie expression evaluated here: what `updated_since` and sync send
            studies = [s for s in studies if _last_update_of(s) >= since.group(1)]
        return list(studies)

    def _single(self, raw_id: str, query: str) -> _Answer:
        if not _NCT_PATH_RE.match(raw_id):
            return _text(400, f"nctId: {raw_id!r} is not a valid NCT number")
        nct_id = raw_id.upper()
        if nct_id in self._by_id:
            return _Answer(200, orjson.dumps(self._by_id[nct_id]))
        if nct_id in self.aliases:
            location = f"{self.base_path}/studies/{self.aliases[nct_id]}"
            location += f"?{query}" if query else ""
            return _Answer(301, b"", "text/plain", (("Location", location),))
        # Stand-in wording: the spec fixes only the status and a text/plain body.
        return _text(404, f"Study {nct_id} not found")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every connection thread
    block_on_close = True

    def __init__(self, registry: RegistryServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.registry = registry
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up mid-answer is part of the script.
        pass

    def hang_up_all(self) -> None:
        with self.connections_lock:
            for conn in self.connections:
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' connection pool expects
    timeout = 10.0  # an idle kept-alive connection is let go
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm
        # meets the client's delayed ACK and every answer waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        registry = self.server.registry
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        fault = registry.take_fault(RecordedRequest("GET", parts.path, params, headers, None))
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "timeout" and registry.stopping.wait(fault.delay):
            self.close_connection = True  # the server is closing: give up the answer
            return
        answer = registry.answer(parts.path, parts.query, params, fault)
        body = answer.body
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        if fault is not None and fault.kind == "truncate":
            self.send_header("Connection", "close")
            body = body[: len(body) // 2]
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve_registry(
    studies: Sequence[Mapping[str, Any]] | None = None,
    *,
    aliases: Mapping[str, str] | None = None,
) -> Iterator[RegistryServer]:
    """Run a fake registry on 127.0.0.1 for the ``with`` block; ``.base_url``
    ends in ``/api/v2`` like :data:`ingest.ctgov.client.DEFAULT_BASE_URL`."""
    registry = RegistryServer(load_studies() if studies is None else studies, aliases)
    httpd = _HTTPServer(registry)
    host, port = httpd.server_address[:2]
    registry.base_url = f"http://{host!s}:{port}{registry.base_path}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        registry.stopping.set()
        httpd.shutdown()
        httpd.hang_up_all()
        httpd.server_close()
        thread.join()
