"""Watches and alerts: a patient (match) or a search (condition near a place) saved by name,
asked again after each sync over the trials that changed, and an alert each time a trial
starts or stops matching one; alerts are delivered to a command or a webhook (``deliver``:
deadlines per delivery and per run, no redirects, a retry limit). ``job`` composes the
nightly job — sync, watches, delivery — under the sync's one lock; ``sync_cli`` is the
``trialsite sync`` command that runs it.

A watch on a patient stores the patient details it was given — the one place trialsite
keeps a patient's details, because the user asked it to (``watch remove`` deletes them).
"""

from matching.watch.core import (
    WatchError,
    add_watch,
    evaluate_watches,
    list_alerts,
    list_watches,
    remove_watch,
)
from matching.watch.deliver import DeliveryReport, deliver_pending

__all__ = [
    "DeliveryReport",
    "WatchError",
    "add_watch",
    "deliver_pending",
    "evaluate_watches",
    "list_alerts",
    "list_watches",
    "remove_watch",
]
