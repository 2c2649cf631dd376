"""The clinic web application (FastAPI): a JSON API under ``/api/v1`` and server-rendered pages
(Jinja2 + HTMX, no front-end build) over the same operations in ``drgsim.clinic.service``.

Each request runs in one database transaction, committed only when the whole request succeeded.
Refused access (wrong role or another patient's record) answers 403 and is written to the audit
log in a transaction of its own, so the refusal is kept although the request's work is rolled back.
The routes are in ``drgsim.clinic.routes``; what they share in ``drgsim.clinic.deps``.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from drgsim.clinic import auth as auth_sessions
from drgsim.clinic import service as svc
from drgsim.clinic.auth import OneTimeTokens, SignInThrottle
from drgsim.clinic.db import make_engine, session_factory
from drgsim.clinic.deps import MustChangePassword, NeedLogin, templates
from drgsim.clinic.guards import SecurityHeaders, checked_input, validation_error
from drgsim.clinic.models import AuditEntry, Patient
from drgsim.clinic.reports import Comparisons
from drgsim.clinic.routes import api, auth, pages, programming, remote

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
    app.state.throttle = SignInThrottle(app.state.sessions)  # failed sign-ins and lockouts, in the database
    app.state.login_tokens = OneTimeTokens(app.state.sessions)  # the login form's single-use CSRF tokens, also there
    app.state.remote_timeout_s = svc.remote_timeout_s(os.environ.get(svc.REMOTE_TIMEOUT_ENV))  # bad: fails here
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(SecurityHeaders)  # no-store, CSP with frame-ancestors 'none', nosniff
    _add_error_handlers(app)
    for router in (auth.api, api.router, auth.pages, pages.router, programming.router, remote.router):
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


async def _must_change(request: Request, exc: MustChangePassword):
    if _wants_json(request):
        return JSONResponse({"detail": "change the password first (POST /api/v1/password): it was reset"},
                            status_code=403)
    if request.headers.get("hx-request"):
        return Response(status_code=403, headers={"HX-Redirect": "/password"})
    return RedirectResponse("/password", status_code=303)


PATIENT_URL = re.compile(r"^/clinician/patients/(\d+)(?:/|$)")


def _page_layout(request: Request) -> dict:
    """What the error page shows around the message: the signed-in user's navigation and, on a patient's
    page they may see, the patient's header (read in a transaction of its own, never committed)."""
    with request.app.state.sessions() as db:
        web = auth_sessions.find_session(db, request.cookies.get(auth_sessions.SESSION_COOKIE))
        if web is None:
            return {}
        found = PATIENT_URL.match(request.url.path)
        p = None
        if found and web.user.role == "clinician":
            p = db.get(Patient, int(found[1]))
            p = p if p is not None and p.clinician_id == web.user.id else None
        user = SimpleNamespace(display_name=web.user.display_name, role=web.user.role)
        return {"user": user, "csrf": web.csrf_token, "p": p and SimpleNamespace(id=p.id, name=p.name, stage=p.stage)}


def _plain(status: int):
    """The error's message as JSON (API) or the error page (with the site's navigation), with ``status``."""
    async def handler(request: Request, exc: Exception):
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        layout = await run_in_threadpool(_page_layout, request)
        return templates.TemplateResponse(request, "error.html", {"status": status, "message": str(exc), **layout},
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


def _page_above(request: Request) -> str | None:
    """The nearest page above a POST-only URL (``.../patients/3/screening`` -> ``.../patients/3``), else None."""
    parts = request.scope["path"].rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        path = "/".join(parts) or "/"
        scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
        if any(r.matches(scope)[0] == Match.FULL for r in request.app.router.routes):
            if path.endswith("/programming") and (rest := request.scope["path"][len(path) + 1:].split("/")[0]):
                return f"{path}?program={quote(rest)}" if rest != "stop" else path
            return path
    return None


async def _http_error(request: Request, exc: StarletteHTTPException):
    """A reload (GET) of a page's form URL goes to its page; other HTTP errors as FastAPI answers them."""
    if exc.status_code == 405 and request.method in ("GET", "HEAD") and not _wants_json(request):
        page = _page_above(request)
        if page is not None:
            return RedirectResponse(page, status_code=303)
    return await http_exception_handler(request, exc)


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(NeedLogin, _need_login)
    app.add_exception_handler(MustChangePassword, _must_change)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(svc.Forbidden, _forbidden)
    app.add_exception_handler(svc.NotFound, _plain(404))
    app.add_exception_handler(svc.Conflict, _plain(409))
    app.add_exception_handler(svc.InvalidInput, _invalid)
    app.add_exception_handler(StaleDataError, _plain(409))
