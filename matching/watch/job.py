"""The nightly job: sync the store, ask the watches again, deliver the alerts — under one lock.

It is composed here, above both layers it drives: ``ingest.sync`` keeps the store in step
with the registry and knows nothing of watches; this module holds the sync's lock from
before the registry is asked until the last alert is delivered. Two overlapping runs (a
slow night, a manual run beside the timer) therefore never evaluate or deliver the same
alerts twice: the second finds the lock held (:class:`~ingest.sync.lock.SyncLocked`) and
does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ingest.ctgov.client import RegistryClient
from ingest.sync.lock import Lock
from ingest.sync.runner import run_sync
from ingest.sync.summary import SyncSummary
from matching.watch.core import evaluate_watches
from matching.watch.deliver import DELIVERY_BUDGET_S, DeliveryReport, deliver_pending


@dataclass
class NightlyRun:
    summary: SyncSummary
    alerts: list[dict[str, Any]] = field(default_factory=list)  # raised by this run
    delivery: DeliveryReport | None = None


def run_nightly(
    engine: Engine,
    client: RegistryClient,
    *,
    notify_cmd: str | None = None,
    webhook: str | None = None,
    delivery_budget_s: float = DELIVERY_BUDGET_S,
    on_alert: Callable[[dict[str, Any]], None] | None = None,
    **sync_options: Any,
) -> NightlyRun:
    """A sync (``sync_options`` as :func:`~ingest.sync.runner.run_sync` takes them); after a
    succeeded one, the watches asked over what changed and the pending alerts delivered,
    all under the lock (raises ``SyncLocked`` when another run holds it)."""
    lock = Lock.acquire(engine)
    try:
        summary = run_sync(engine, client, lock=lock, **sync_options)
        run = NightlyRun(summary)
        if summary.status != "succeeded":
            return run
        lock.beat_now()
        with engine.begin() as conn:
            run.alerts = evaluate_watches(conn, sync_run_id=summary.run_id)
        summary.alerts = len(run.alerts)
        for alert in run.alerts:
            if on_alert is not None:
                on_alert(alert)
        if notify_cmd or webhook:
            lock.beat_now()
            run.delivery = deliver_pending(
                engine,
                notify_cmd=notify_cmd,
                webhook=webhook,
                budget_s=delivery_budget_s,
                heartbeat=lock.beat_now,
            )
        return run
    finally:
        lock.release()
