"""The clinic web application (FastAPI): a JSON API under ``/api/v1`` and server-rendered pages
(Jinja2 + HTMX, no front-end build) over the same operations in ``drgsim.clinic.service``.

Each request runs in one database transaction, committed only when the whole request succeeded.
Refused access (wrong role or another patient's record) answers 403 and is written to the audit
log in a transaction of its own, so the refusal is kept although the request's work is rolled back.
The routes are in ``drgsim.clinic.routes``; what they share in ``drgsim.clinic.deps``.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm.exc import StaleDataError

from drgsim.clinic import service as svc
from drgsim.clinic.auth import OneTimeTokens, SignInThrottle
from drgsim.clinic.db import make_engine, session_factory
from drgsim.clinic.deps import NeedLogin, templates
from drgsim.clinic.guards import SecurityHeaders, checked_input, validation_error
from drgsim.clinic.models import AuditEntry
from drgsim.clinic.reports import Comparisons
from drgsim.clinic.routes import api, auth, pages, programming

log = logging.getLogger("drgsim.clinic")


def create_app(database_url: str | None = None, *, quality: str = "standard", secure_cookies: bool = False,
               predictor=None) -> FastAPI:
    """The clinic on ``database_url`` (default: ``DRGSIM_DATABASE_URL`` or the SQLite file; migrate first).

    ``quality`` is the therapy-model quality of predicted paresthesia maps (``standard`` or ``quick``)."""
    engine = make_engine(database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if app.state.predictor is not None:
            app.state.predictor.close()
        app.state.comparisons.close()
        engine.dispose()

    app = FastAPI(title="drgsim clinic", version="1", lifespan=lifespan,
                  description="DRG stimulation pathway: evaluation, trial, implant, programming, follow-up.")
    app.state.sessions = session_factory(engine)
    app.state.quality = quality
    app.state.secure_cookies = secure_cookies
    app.state.predictor = predictor
    app.state.comparisons = Comparisons(quality)
    app.state.throttle = SignInThrottle()  # failed sign-ins, in this process's memory (see its docstring)
    app.state.login_tokens = OneTimeTokens()  # the login form's single-use CSRF tokens
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(SecurityHeaders)  # no-store, CSP with frame-ancestors 'none', nosniff
    _add_error_handlers(app)
    for router in (auth.api, api.router, auth.pages, pages.router, programming.router):
        app.include_router(router, dependencies=[Depends(checked_input)])  # ids in range, finite JSON: else 422
    app.add_api_route("/health", health, include_in_schema=False)
    return app


def health():
    return {"ok": True, "time": datetime.now(timezone.utc).isoformat()}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _need_login(request: Request, exc: NeedLogin):
    if _wants_json(request):
        return JSONResponse({"detail": "sign in first (POST /api/v1/session)"}, status_code=401)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    return RedirectResponse("/login", status_code=303)


def _plain(status: int):
    """The error's message as JSON (API) or the error page, with ``status``."""
    async def handler(request: Request, exc: Exception):
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return templates.TemplateResponse(request, "error.html", {"status": status, "message": str(exc)},
                                          status_code=status)
    return handler


async def _forbidden(request: Request, exc: svc.Forbidden):
    with request.app.state.sessions.begin() as db:  # the refusal is kept although the request is rolled back
        db.add(AuditEntry(**exc.entry, detail={"path": request.url.path, "method": request.method, "why": exc.why}))
    log.warning("refused: %s", exc.why)
    return await _plain(403)(request, exc)


async def _invalid(request: Request, exc: svc.InvalidInput):
    """A value the pathway does not allow now: 422, shaped as FastAPI's own validation errors in the API."""
    if _wants_json(request):
        problem = {"loc": ["body", exc.field], "msg": str(exc), "type": "value_error", "input": exc.value}
        return JSONResponse({"detail": [problem]}, status_code=422)
    return await _plain(422)(request, exc)


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NeedLogin, _need_login)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(svc.Forbidden, _forbidden)
    app.add_exception_handler(svc.NotFound, _plain(404))
    app.add_exception_handler(svc.Conflict, _plain(409))
    app.add_exception_handler(svc.InvalidInput, _invalid)
    app.add_exception_handler(StaleDataError, _plain(409))
