"""Alert delivery: each alert not yet delivered to a channel goes, as one JSON object, to
``--notify-cmd`` (on its standard input, one line, one run of the command per alert: exit 0
delivers it) and to ``--webhook`` (an HTTP POST: a 2xx answer delivers it).

Delivery can neither stall the nightly job nor repeat without end:

- each delivery has a deadline for the whole exchange (:data:`WEBHOOK_TIMEOUT_S`: connect,
  send, the answer's status line and headers; :data:`COMMAND_TIMEOUT_S` for a command, whose
  process group is killed then), and the delivery phase of a run has one in all
  (:data:`DELIVERY_BUDGET_S`): a webhook that trickles a header line every few seconds, or
  accepts and never answers, costs at most that. What the budget leaves untried waits for
  the next run, uncounted;
- a channel that timed out or could not be reached is not tried again in the run: the
  alerts it still owed are counted as failed with the same reason;
- redirects are never followed: a 3xx is a failed delivery, its status said;
- a failure is counted on the alert (``attempts``) and tried again next run, up to
  :data:`~matching.watch.core.MAX_DELIVERY_ATTEMPTS` runs; then the alert is given up, and
  ``trialsite alerts`` says so with the last error. A delivery never fails the sync.

Errors name the webhook by scheme and host only: its path is often its secret.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from sqlalchemy import Engine, or_, select, update

from matching.watch.core import ALERT, MAX_DELIVERY_ATTEMPTS, WATCH, alert_payload

COMMAND_TIMEOUT_S = 30.0
WEBHOOK_TIMEOUT_S = 10.0
DELIVERY_BUDGET_S = 60.0


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    given_up: int = 0  # alerts whose last allowed attempt failed in this run
    deferred: int = 0  # alerts left for the next run: the run's delivery time was used up
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "given_up": self.given_up,
            "deferred": self.deferred,
            "duration_s": self.duration_s,
            "errors": self.errors,
        }


class ChannelDown(Exception):
    """A channel that did not answer in time or could not be reached: not tried again this run."""


# A sender takes the alert's JSON and the seconds it may take; returns None (delivered) or
# the problem in words, or raises ChannelDown.
Sender = Callable[[bytes, float], str | None]


def deliver_pending(
    engine: Engine,
    *,
    notify_cmd: str | None = None,
    webhook: str | None = None,
    budget_s: float = DELIVERY_BUDGET_S,
    heartbeat: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DeliveryReport:
    """Deliver every alert still owed to a channel, oldest first, within ``budget_s`` in all."""
    started = clock()
    deadline = started + budget_s
    report = DeliveryReport()
    channels: list[tuple[str, Sender, float]] = []
    if notify_cmd:
        channels.append(("notified_at", command_sender(notify_cmd), COMMAND_TIMEOUT_S))
    if webhook:
        channels.append(("posted_at", webhook_sender(webhook), WEBHOOK_TIMEOUT_S))
    if not channels:
        return report
    with engine.connect() as conn:
        pending = [
            dict(r)
            for r in conn.execute(
                select(ALERT, WATCH.c.name.label("watch"))
                .join(WATCH, WATCH.c.id == ALERT.c.watch_id)
                .where(
                    or_(*(ALERT.c[column].is_(None) for column, _, _ in channels)),
                    ALERT.c.attempts < MAX_DELIVERY_ATTEMPTS,
                )
                .order_by(ALERT.c.id)
            ).mappings()
        ]
    down: dict[str, str] = {}  # channel column -> why it is not tried again this run
    for index, row in enumerate(pending):
        outcome = _deliver_one(engine, row, channels, down, deadline, clock, report)
        if outcome is None:  # the run's delivery time is spent: this alert and the rest wait
            _defer(report, len(pending) - index, budget_s)
            break
        if outcome:
            attempts = row["attempts"] + 1
            error = "; ".join(outcome)
            with engine.begin() as conn:
                conn.execute(
                    update(ALERT).where(ALERT.c.id == row["id"]).values(attempts=attempts, last_error=error)
                )
            if attempts >= MAX_DELIVERY_ATTEMPTS:
                report.given_up += 1
                error += f" (given up after {attempts} attempts)"
            report.errors.append(f"alert {row['id']}: {error}")
        if heartbeat is not None:
            heartbeat()
    report.duration_s = round(clock() - started, 2)
    return report


def _deliver_one(
    engine: Engine,
    row: dict[str, Any],
    channels: list[tuple[str, Sender, float]],
    down: dict[str, str],
    deadline: float,
    clock: Callable[[], float],
    report: DeliveryReport,
) -> list[str] | None:
    """Send one alert to each channel that still owes it; the problems (empty: all went),
    or None when the run's delivery time ran out before it was tried everywhere."""
    body = orjson.dumps(alert_payload(row))
    problems = []
    for column, send, timeout in channels:
        if row[column] is not None:
            continue
        problem = down.get(column)
        if problem is None:
            allowed = min(timeout, deadline - clock())
            if allowed <= 0:
                return None
            try:
                problem = send(body, allowed)
            except ChannelDown as exc:
                if allowed < timeout and clock() >= deadline:
                    return None  # cut short by the run's budget, not the channel's fault
                problem = str(exc)
                down[column] = f"not tried: {problem} earlier in this run"
        if problem is None:
            report.delivered += 1
            with engine.begin() as conn:
                conn.execute(update(ALERT).where(ALERT.c.id == row["id"]).values({column: datetime.now(UTC)}))
        else:
            report.failed += 1
            problems.append(problem)
    return problems


def _defer(report: DeliveryReport, count: int, budget_s: float) -> None:
    report.deferred = count
    report.errors.append(
        f"{count} alert{'s' if count != 1 else ''} left for the next run (not counted as attempts): "
        f"delivery used its {budget_s:g} s for this run"
    )


# -- the command ------------------------------------------------------------------------


def command_sender(command: str) -> Sender:
    def send(line: bytes, timeout: float) -> str | None:
        # Its output is not ours to keep: stdout goes nowhere, stderr to a file whose last
        # line is quoted on failure (a chatty or endless command costs no memory). It runs in
        # a session of its own, so a timeout kills what it started too.
        with tempfile.TemporaryFile() as errors:
            try:
                process = subprocess.Popen(  # the operator's own command line, as cron runs it
                    command,
                    shell=True,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    start_new_session=True,
                )
            except OSError as exc:
                return f"--notify-cmd could not run: {exc}"
            try:
                process.communicate(line + b"\n", timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                raise ChannelDown(f"--notify-cmd did not finish within {timeout:g} s") from None
            if process.returncode == 0:
                return None
            errors.seek(max(0, errors.seek(0, os.SEEK_END) - 4096))
            said = errors.read().decode("utf-8", "replace").strip().splitlines()
        return f"--notify-cmd exited {process.returncode}" + (f": {said[-1][:200]}" if said else "")

    return send


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        process.kill()
    process.wait()


# -- the webhook ------------------------------------------------------------------------


def webhook_sender(url: str) -> Sender:
    parts = urlsplit(url)
    shown = f"--webhook {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json", "User-Agent": "trialsite-alerts"}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()

    def send(body: bytes, timeout: float) -> str | None:
        try:
            status = _post(parts.scheme, parts.hostname or "", parts.port, target, body, headers, timeout)
        except _Expired:
            raise ChannelDown(f"{shown}: no answer within {timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ChannelDown(f"{shown}: {_reason(exc)}") from None
        if 300 <= status < 400:
            return f"{shown} answered {status} (a redirect: not followed)"
        if not 200 <= status < 300:
            return f"{shown} answered {status}"
        return None

    return send


class _Expired(Exception):
    pass


def _post(
    scheme: str,
    host: str,
    port: int | None,
    target: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> int:
    """POST and return the answer's status, its body unread; raises :class:`_Expired` when
    the whole exchange outlasts ``timeout`` (a socket timeout bounds one read only: a server
    sending a header line every few seconds never trips it)."""
    proxy = _proxy_for(scheme, host)
    context = ssl.create_default_context() if scheme == "https" else None
    connection: http.client.HTTPConnection
    if proxy is None:
        connection = (
            http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
            if scheme == "https"
            else http.client.HTTPConnection(host, port, timeout=timeout)
        )
    else:
        proxy_parts = urlsplit(proxy)
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                proxy_parts.hostname or "", proxy_parts.port, timeout=timeout, context=context
            )
            connection.set_tunnel(host, port)
        else:
            connection = http.client.HTTPConnection(
                proxy_parts.hostname or "", proxy_parts.port, timeout=timeout
            )
            target = f"http://{host}{f':{port}' if port else ''}{target}"
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target, body=body, headers=headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise _Expired from None
        raise
    finally:
        watchdog.cancel()
        connection.close()
    if expired.is_set():  # cut off mid-headers reads as their end: the answer is not whole
        raise _Expired
    return status


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy the environment names for this URL (``https_proxy``, ``no_proxy``), as
    requests and curl honour them."""
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed the connection without answering"
    return type(exc).__name__
