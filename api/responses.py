"""JSON bodies written by orjson: a match answer for 20 trials carries every criterion's
verdict, and the standard library's encoder spent more time on it than the match."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

T = TypeVar("T")


class FastJSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):  # already encoded (off the event loop)
            return content
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


async def json_response(content: Any, *, status_code: int = 200, media_type: str | None = None) -> FastJSON:
    """Encode in a worker thread, so a large answer does not hold up the event loop."""
    body = await run_in_threadpool(orjson.dumps, content, None, orjson.OPT_NON_STR_KEYS)
    return FastJSON(body, status_code=status_code, media_type=media_type)


# Requests that query the store run a few at a time per worker, first come first served:
# under load a match then waits its turn instead of sharing the CPU with thirty others
# (same throughput, a shorter tail; bench/serve.py measures it).
STORE_CONCURRENCY = max(1, int(os.environ.get("TRIALSITE_API_CONCURRENCY", "2")))
_gates: dict[int, asyncio.Semaphore] = {}


async def run_in_store(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = id(asyncio.get_running_loop())
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(STORE_CONCURRENCY)
    async with gate:
        return await run_in_threadpool(fn, *args, **kwargs)
