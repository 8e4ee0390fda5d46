"""Short-lived, single-use values held in memory: a card's patient profile, a launch's state.

A CDS card links to ``/handoff/{id}``: the id is 256 random bits (``secrets``), names the
profile the card was made from, is taken once (a second open finds nothing) and expires
after ``handoff_ttl_s`` (5 minutes by default). A SMART launch keeps its OAuth state (PKCE
verifier, endpoints; no patient data) the same way between ``/launch`` and its callback.

Nothing is written anywhere. With one worker the values live in its memory
(:class:`Handoffs`). ``trialsite serve`` with several workers starts one small process of
its own holding them (:func:`start_shared`, a ``multiprocessing`` manager on a Unix socket
in a private folder, with a random key), which every worker reaches
(:func:`connect_shared`): a link made by one worker opens on any other, and a restart of
the service forgets every value.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any, Protocol

ENV_ADDRESS = "TRIALSITE_HANDOFF_ADDRESS"
ENV_KEY = "TRIALSITE_HANDOFF_KEY"
MAX_VALUES = 10_000  # past this the oldest are dropped: memory stays bounded under a flood


class HandoffStore(Protocol):
    def put(self, value: dict[str, Any], key: str | None = None) -> str: ...

    def take(self, key: str) -> dict[str, Any] | None: ...


def new_key() -> str:
    return secrets.token_urlsafe(32)


class Handoffs:
    """Values by unguessable key, each taken at most once, gone after ``ttl_s``."""

    def __init__(self, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._values: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, value: dict[str, Any], key: str | None = None) -> str:
        key = key or new_key()
        now = self.clock()
        with self._lock:
            self._expire(now)
            self._values[key] = (now + self.ttl_s, value)
            while len(self._values) > MAX_VALUES:
                self._values.popitem(last=False)
        return key

    def take(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._values.pop(key, None)
        if found is None or found[0] < self.clock():
            return None
        return found[1]

    def __len__(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._values)

    def _expire(self, now: float) -> None:
        while self._values:
            key, (expires, _) = next(iter(self._values.items()))
            if expires >= now:
                break
            del self._values[key]


class _Manager(BaseManager):
    pass


_shared: Handoffs | None = None


def _the_store(ttl_s: float) -> Handoffs:
    global _shared
    if _shared is None:
        _shared = Handoffs(ttl_s)
    return _shared


_Manager.register("store", callable=_the_store)


class Shared:
    """The serving processes' shared store (started by :func:`start_shared`)."""

    def __init__(self, manager: BaseManager, folder: Path) -> None:
        self.manager, self.folder = manager, folder

    def stop(self) -> None:
        self.manager.shutdown()
        for path in self.folder.iterdir():
            path.unlink(missing_ok=True)
        self.folder.rmdir()


def start_shared(ttl_s: float) -> Shared:
    """Start the store process and name it in the environment the workers inherit."""
    folder = Path(tempfile.mkdtemp(prefix="trialsite-handoff-"))  # mode 0700
    address = str(folder / "socket")
    key = secrets.token_bytes(32)
    manager = _Manager(address=address, authkey=key, ctx=multiprocessing.get_context("spawn"))
    manager.start()
    manager.store(ttl_s)  # type: ignore[attr-defined]
    os.environ[ENV_ADDRESS] = address
    os.environ[ENV_KEY] = key.hex()
    return Shared(manager, folder)


def connect_shared(ttl_s: float) -> HandoffStore | None:
    """The shared store the environment names, or None (then each worker keeps its own)."""
    address, key = os.environ.get(ENV_ADDRESS), os.environ.get(ENV_KEY)
    if not address or not key:
        return None
    manager = _Manager(address=address, authkey=bytes.fromhex(key))
    manager.connect()
    store: HandoffStore = manager.store(ttl_s)  # type: ignore[attr-defined]
    return store
