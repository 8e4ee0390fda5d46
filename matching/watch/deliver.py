"""Alert delivery: each alert not yet delivered to a channel goes, as one JSON object, to
``--notify-cmd`` (on its standard input, one line, one run of the command per alert: exit 0
delivers it) and to ``--webhook`` (an HTTP POST: a 2xx answer delivers it). A failure is
counted on the alert and tried again on the next run; it never fails the sync."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import requests
from sqlalchemy import Engine, select, update

from matching.watch.core import ALERT, WATCH, alert_view

COMMAND_TIMEOUT_S = 30.0
WEBHOOK_TIMEOUT_S = 10.0


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "failed": self.failed, "errors": self.errors}


def deliver_pending(
    engine: Engine, *, notify_cmd: str | None = None, webhook: str | None = None
) -> DeliveryReport:
    report = DeliveryReport()
    for column, send in (
        ("notified_at", _command_sender(notify_cmd) if notify_cmd else None),
        ("posted_at", _webhook_sender(webhook) if webhook else None),
    ):
        if send is None:
            continue
        with engine.connect() as conn:
            pending = [
                dict(r)
                for r in conn.execute(
                    select(ALERT, WATCH.c.name.label("watch"))
                    .join(WATCH, WATCH.c.id == ALERT.c.watch_id)
                    .where(ALERT.c[column].is_(None))
                    .order_by(ALERT.c.id)
                ).mappings()
            ]
        for row in pending:
            payload = {k: v for k, v in alert_view(row).items() if k not in ("notified_at", "posted_at")}
            problem = send(orjson.dumps(payload))
            with engine.begin() as conn:
                if problem is None:
                    report.delivered += 1
                    conn.execute(
                        update(ALERT).where(ALERT.c.id == row["id"]).values({column: datetime.now(UTC)})
                    )
                else:
                    report.failed += 1
                    report.errors.append(f"alert {row['id']}: {problem}")
                    conn.execute(
                        update(ALERT)
                        .where(ALERT.c.id == row["id"])
                        .values(attempts=ALERT.c.attempts + 1, last_error=problem)
                    )
    return report


def _command_sender(command: str) -> Any:
    def send(line: bytes) -> str | None:
        # Its output is not ours to keep: stdout goes nowhere, stderr to a file whose last
        # line is quoted on failure (a chatty or endless command costs no memory).
        with tempfile.TemporaryFile() as errors:
            try:
                done = subprocess.run(  # the operator's own command line, as cron runs it
                    command,
                    shell=True,
                    input=line + b"\n",
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    timeout=COMMAND_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return f"--notify-cmd did not finish within {COMMAND_TIMEOUT_S:g} s"
            except OSError as exc:
                return f"--notify-cmd could not run: {exc}"
            if done.returncode == 0:
                return None
            errors.seek(max(0, errors.seek(0, os.SEEK_END) - 4096))
            said = errors.read().decode("utf-8", "replace").strip().splitlines()
        return f"--notify-cmd exited {done.returncode}" + (f": {said[-1][:200]}" if said else "")

    return send


def _webhook_sender(url: str) -> Any:
    session = requests.Session()

    def send(body: bytes) -> str | None:
        try:
            # Only the status is read: an answer's body, however long or slow, is never taken.
            with session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=WEBHOOK_TIMEOUT_S,
                stream=True,
            ) as answer:
                status = answer.status_code
        except requests.RequestException as exc:
            return f"--webhook {url}: {type(exc).__name__}"
        if not 200 <= status < 300:
            return f"--webhook {url} answered {status}"
        return None

    return send
