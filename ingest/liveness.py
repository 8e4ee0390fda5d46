"""Is the process that holds a run or a lock still there? (pid and host, as recorded)."""

from __future__ import annotations

import os
import socket


def process_alive(pid: int, host: str | None) -> bool:
    """False only when ``pid`` is known gone on this host; another host cannot be asked (the
    caller's heartbeat decides then)."""
    if host != socket.gethostname():
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
