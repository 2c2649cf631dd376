"""Request guards of the clinic (issue 17): bad input answers 422 naming the field, never 500.

JSON as Python parses it admits ``NaN``, ``Infinity`` and numbers such as ``1e999`` (read as infinity);
none of them is a clinical value, none survives a strict JSON encoder, and a stored one breaks every later
answer that shows it (the audit log). Path ids beyond the database's integer range overflow the driver.
Both are refused before any endpoint runs, by ``checked_input``, a dependency of every router.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_ID = 2**31 - 1  # the largest INTEGER of PostgreSQL (and of the ids SQLite hands out here)
ID_PARAMS = ("pid",)


def non_finite(value: Any, loc: tuple = ()) -> tuple | None:
    """The location of the first NaN or infinity in a parsed JSON document, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return loc
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = non_finite(item, (*loc, key))
        if found is not None:
            return found
    return None


def json_safe(value: Any) -> Any:
    """``value`` with each NaN or infinity replaced by its name (a string), so strict JSON can carry it."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _id_problems(request: Request) -> list[dict[str, Any]]:
    out = []
    for name in ID_PARAMS:
        raw = request.path_params.get(name)
        if isinstance(raw, str) and raw.lstrip("+-").isdigit() and not 1 <= int(raw) <= MAX_ID:
            out.append({"type": "id_range", "loc": ("path", name), "input": raw,
                        "msg": f"{name}={raw}; allowed: 1-{MAX_ID}"})
    return out


async def _body_problems(request: Request) -> list[dict[str, Any]]:
    if "json" not in request.headers.get("content-type", "") or not await request.body():
        return []
    try:
        loc = non_finite(await request.json())  # parsed once: FastAPI's own parse is cached on the request
    except ValueError:
        return []  # not JSON: FastAPI has answered 422 already
    if loc is None:
        return []
    field = ".".join(str(part) for part in loc) or "body"
    return [{"type": "finite_number", "loc": ("body", *loc), "input": None,
             "msg": f"{field}: NaN and Infinity are not allowed; give a finite number"}]


async def checked_input(request: Request) -> None:
    """Refuse (422) path ids out of range and any non-finite number in a JSON body."""
    problems = _id_problems(request) + await _body_problems(request)
    if problems:
        raise RequestValidationError(problems)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 answer, with any non-finite input shown by name (the default encoder fails on it: 500)
    and no typed password echoed."""
    errors = json_safe(jsonable_encoder(exc.errors()))
    for e in errors:
        if "password" in str(e.get("loc", ())[-1:]):
            e.pop("input", None)
    return JSONResponse({"detail": errors}, status_code=422)


CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
"""Scripts only from /static (HTMX; no inline script); inline styles, which the templates and HTMX use;
no framing (clickjacking)."""


class SecurityHeaders:
    """ASGI middleware: every answer but /static is ``Cache-Control: no-store`` (no patient record in the
    browser's cache for Back after sign-out), with the Content-Security-Policy above and ``nosniff``.
    Plain ASGI, not ``BaseHTTPMiddleware``: it adds headers and nothing else, at no cost per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if static or k.lower() != b"cache-control"]
                headers.append((b"x-content-type-options", b"nosniff"))
                if not static:
                    headers += [(b"cache-control", b"no-store"), (b"content-security-policy", CSP.encode()),
                                (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
                message = {**message, "headers": headers}
            await send(message)
        await self.app(scope, receive, send_with_headers)
