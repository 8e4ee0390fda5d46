"""Hostile HTTP servers on loopback, for tests and ``bench/hostile.py``.

Each behaviour is a real server on 127.0.0.1 (ephemeral port) misbehaving the
way registries and web pages were seen to:

- ``looping``: ``/api/v2/studies`` pages whose ``nextPageToken`` cycles
  (page 1 → t100 → t200 → t100 …), each page a slice of real studies.
- ``endless_tokens``: a fresh token on every page, forever (totalCount small).
- ``trickle``: any path answers 200 with a Content-Length and then one byte
  every ``interval`` seconds.
- ``endless``: any path answers 200, chunked, with an endless HTML body.
- ``page2_fails``: page 1 of the listing is good; page 2 answers ``status``.

Every request is counted in ``server.hits``. :func:`serve_webhook` serves webhooks that
never answer, trickle their headers or redirect (issue 23). Usage::

    with serve_hostile("looping", studies) as server:
        ... server.base_url ...  # ends in /api/v2
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

BEHAVIOURS = frozenset({"looping", "endless_tokens", "trickle", "endless", "page2_fails"})


@dataclass
class HostileServer:
    behaviour: str
    studies: Sequence[Mapping[str, Any]] = ()
    interval: float = 0.5  # trickle: seconds between bytes
    status: int = 400  # page2_fails: the status page 2 answers
    page_size: int = 5
    base_url: str = ""
    hits: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def listing(self, params: dict[str, str]) -> tuple[int, bytes]:
        token = params.get("pageToken")
        n = self.page_size
        body: dict[str, Any]
        if self.behaviour == "looping":
            page = {None: 0, "t100": 1, "t200": 2}[token]
            body = {"studies": list(self.studies[(page % 2) * n : (page % 2) * n + n])}
            body["nextPageToken"] = "t200" if token == "t100" else "t100"
        elif self.behaviour == "endless_tokens":
            page = int(token[1:]) if token else 0
            body = {"studies": list(self.studies[:n]) if page == 0 else []}
            body["nextPageToken"] = f"p{page + 1}"
        else:  # page2_fails
            if token is not None:
                return self.status, b"page 2 is broken"
            body = {"studies": list(self.studies[:n]), "nextPageToken": "page2"}
        if token is None:
            body["totalCount"] = 2 * n
        return 200, orjson.dumps(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hostile: HostileServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hostile = hostile

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hanging up is the point


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        hostile = self.server.hostile
        hostile.hits += 1
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query))
        if hostile.behaviour == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            while not hostile.stopping.wait(hostile.interval):
                self.wfile.write(b" ")
                self.wfile.flush()
            return
        if hostile.behaviour == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"<p>" + b"x" * 65536 + b"</p>"
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            self.wfile.write(b"c\r\n<html><body>\r\n")
            while not hostile.stopping.is_set():
                self.wfile.write(frame)
            return
        status, body = hostile.listing(params)
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve_hostile(
    behaviour: str, studies: Sequence[Mapping[str, Any]] = (), **options: Any
) -> Iterator[HostileServer]:
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; expected one of {sorted(BEHAVIOURS)}")
    hostile = HostileServer(behaviour, studies, **options)
    httpd = _Server(hostile)
    host, port = httpd.server_address[:2]
    hostile.base_url = f"http://{host!s}:{port}/api/v2"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield hostile
    finally:
        hostile.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# -- webhooks: where the nightly job delivers alerts ---------------------------------------

WEBHOOK_BEHAVIOURS = frozenset({"ok", "silent", "trickle", "redirect_loop", "redirect_away", "status"})


@dataclass
class HostileWebhook:
    """A webhook on 127.0.0.1 that misbehaves as ``behaviour`` says:

    - ``ok``: 200 after ``delay`` seconds;
    - ``silent``: reads the POST and never answers (the connection stays open);
    - ``trickle``: a status line, then one header line every ``interval`` seconds, forever
      (each read is quick: only a deadline on the whole exchange ends it);
    - ``redirect_loop``: 307 to itself; ``redirect_away``: 307 to ``target``;
    - ``status``: answers ``status``.

    Every POST is recorded in ``posts`` (its decoded JSON body). With a ``gate``, the first POST
    is answered only once the gate is set (or after 9 s): a test holds a delivery open while it
    does something else, whatever the machine's load."""

    behaviour: str
    delay: float = 0.0
    interval: float = 0.5
    status: int = 503
    target: str = ""
    url: str = ""
    posts: list[Any] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event | None = None


class _WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hook: HostileWebhook) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.hook = hook

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _WebhookHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _WebhookServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        hook = self.server.hook
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        hook.posts.append(orjson.loads(body) if body else None)
        if hook.behaviour == "silent":
            hook.stopping.wait()
            self.close_connection = True
            return
        if hook.behaviour == "trickle":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            count = 0
            while not hook.stopping.wait(hook.interval):
                count += 1
                self.wfile.write(f"X-Still-Coming-{count}: yes\r\n".encode())
                self.wfile.flush()
            self.close_connection = True
            return
        if hook.gate is not None and len(hook.posts) == 1:
            hook.gate.wait(9)
        if hook.delay:
            hook.stopping.wait(hook.delay)
        status = {"ok": 200, "redirect_loop": 307, "redirect_away": 307}.get(hook.behaviour, hook.status)
        self.send_response(status)
        if hook.behaviour == "redirect_loop":
            self.send_header("Location", hook.url)
        elif hook.behaviour == "redirect_away":
            self.send_header("Location", hook.target)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def serve_webhook(behaviour: str, **options: Any) -> Iterator[HostileWebhook]:
    if behaviour not in WEBHOOK_BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; expected one of {sorted(WEBHOOK_BEHAVIOURS)}")
    hook = HostileWebhook(behaviour, **options)
    httpd = _WebhookServer(hook)
    host, port = httpd.server_address[:2]
    hook.url = f"http://{host!s}:{port}/hooks/trialsite"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
