"""What the clinic's routes share: the request's database transaction, the signed-in user, form parsing,
page rendering and the live predictions. Per-app state (sessions, predictor, comparisons, quality, cookie
security) lives on ``request.app.state``, set by ``drgsim.clinic.app.create_app``."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from drgsim.anatomy.levels import Level
from drgsim.clinic import auth
from drgsim.clinic import service as svc
from drgsim.clinic.models import User, WebSession
from drgsim.devices.program import Program, contacts_label
from drgsim.errors import field_problems

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def field_message(name: str, text: str) -> str:
    """A form error naming its field once: a message that starts with it ("implant_date=9999-12-31; allowed:
    ...") as it is, any other with the field in front."""
    return text if text.startswith(f"{name}=") else f"{name}: {text}"


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals.update(today=lambda: svc.today(),  # looked up at each call: tests may set the clinic's date
                             contacts_label=contacts_label, levels=[lv.value for lv in Level],
                             field_message=field_message)


class NeedLogin(Exception):
    """No valid session cookie: the API answers 401, the pages send the browser to /login."""


class MustChangePassword(Exception):
    """Signed in with a clinician's temporary password: the API answers 403, the pages send the browser to
    /password, until the user has chosen a new password."""


class CommitFirst(APIRoute):
    """Commit the request's transaction before the response leaves, so the browser's next request (e.g.
    following a redirect) always sees the write; FastAPI may run a dependency's exit code later."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            response = await handler(request)
            db = getattr(request.state, "db", None)
            if db is not None:
                await run_in_threadpool(db.commit)
            return response
        return run


class Ctx:
    """What a request knows: the database session, the signed-in user and their web session."""

    def __init__(self, db: Session, user: User, web: WebSession):
        self.db, self.user, self.web = db, user, web


def get_db(request: Request):
    """The request's transaction: committed when the request succeeded, rolled back otherwise."""
    db = request.app.state.sessions()
    request.state.db = db
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


async def form_data(request: Request) -> dict[str, Any]:
    """A posted HTML form's non-empty fields (parsed here so the endpoints can stay synchronous)."""
    if request.method in UNSAFE and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        return {k: v for k, v in (await request.form()).items() if v != ""}
    return {}


def signed_in(request: Request, db: Session = Depends(get_db), form: dict = Depends(form_data)) -> Ctx:
    """The signed-in user (NeedLogin otherwise), even one who must change their password (the password
    page and sign-out); a write needs the session's CSRF token."""
    web = auth.find_session(db, request.cookies.get(auth.SESSION_COOKIE))
    if web is None:
        raise NeedLogin()
    if request.method in UNSAFE:
        supplied = request.headers.get("x-csrf-token") or form.get("csrf_token")
        if not auth.csrf_ok(web, supplied):
            raise svc.Forbidden(web.user, f"{request.method} {request.url.path}", None, "missing or wrong CSRF token")
    return Ctx(db, web.user, web)


def ctx(c: Ctx = Depends(signed_in)) -> Ctx:
    """The signed-in user, who has no password to change first (MustChangePassword otherwise)."""
    if c.user.must_change_password:
        raise MustChangePassword()
    return c


def predictor(request: Request):
    """The app's predictor, started at its first use (its worker process starts then; the models live there)."""
    state = request.app.state
    if state.predictor is None:
        from drgsim.clinic.predict import Predictor

        state.predictor = Predictor(quality=state.quality)
    return state.predictor


def prediction(request: Request, c: Ctx, pid: int, program: str, wait_s: float = 0.3):
    """The live prediction of the patient's ``program`` on their current pain map and implanted leads."""
    from drgsim.clinic.predict import LeadAt, PredictionRequest

    _, row = svc.device_of(c.db, c.user, pid, "prediction", clinician_only=True)
    progs = row.state.get("programs", {})
    if program not in progs:
        raise svc.NotFound(f"program {program!r} does not exist")
    pain = svc.current_pain(c.db, pid)
    req = PredictionRequest(pain=dict(pain.nrs) if pain else {},  # the predictor's request document
                            leads=[LeadAt(lead=x["lead"], level=x["level"], side=x["side"]) for x in row.leads],
                            program=Program.model_validate(progs[program]))
    try:
        return predictor(request).predict(req, wait_s=wait_s)
    except ValueError as err:
        raise svc.Conflict(str(err)) from None


def render(request: Request, c: Ctx | None, name: str, http_status: int = 200, **context) -> HTMLResponse:
    base = {"user": c.user if c else None, "csrf": c.web.csrf_token if c else ""}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=http_status)


def fields(form: dict[str, Any]) -> dict[str, Any]:
    """A form's fields without its CSRF token."""
    return {k: v for k, v in form.items() if k != "csrf_token"}


def parse(model: type[BaseModel], data: dict[str, Any]) -> tuple[BaseModel | None, dict[str, str]]:
    """The form as ``model``, or its errors by field (``form`` for a check of the whole form)."""
    try:
        return model.model_validate(data), {}
    except ValidationError as err:
        return None, {p.field or "form": p.constraint if "password" in p.field else p.detail  # never echo it
                      for p in field_problems(err)}


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def iso(d: date | datetime | None) -> str | None:
    return None if d is None else d.isoformat()
