"""JSON bodies written by orjson: a match answer for 20 trials carries every criterion's
verdict, and the standard library's encoder spent more time on it than the match."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response


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
