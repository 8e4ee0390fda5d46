"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the service answers has a ``type``, ``title``, ``status`` and a ``detail``
that names the field and what was expected (``age: expected a number of years, got
'abc'``). Input never makes the service answer 5xx: an unexpected failure is answered by
:class:`api.guard.Guard`, a problem that says nothing of the request (no patient detail
reaches a log or a client).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.service import ProblemError

PROBLEM_JSON = "application/problem+json"


def problem_response(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _location(loc: tuple[Any, ...]) -> str:
    """FastAPI's error location without its source ("query", "body", "path")."""
    parts = [p for p in loc if p not in {"query", "body", "path", "header"}]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _expected(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    given = error.get("input")
    if kind in {"int_parsing", "int_type"}:
        return f"expected a whole number, got {given!r}"
    if kind in {"float_parsing", "float_type"}:
        return f"expected a number, got {given!r}"
    if kind in {"bool_parsing", "bool_type"}:
        return f"expected true or false, got {given!r}"
    if kind == "missing":
        return "required"
    if kind == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'syntax error')})"
    return str(error.get("msg", "invalid"))


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, field=exc.field, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        where = _location(tuple(first.get("loc", ())))
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        status = 400 if first.get("type") == "json_invalid" else 422
        return problem_response(status, "Invalid input", f"{where}: {_expected(first)}{more}", field=where)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
        title = titles.get(exc.status_code, "Error")
        detail = str(exc.detail) if exc.detail else title
        response = problem_response(exc.status_code, title, detail)
        response.headers.update(exc.headers or {})  # 405 keeps its Allow header (RFC 9110)
        return response
