"""Sign-in, sign-out and password change: the API's session (JSON, CSRF token in the answer) and the login
page (a single-use CSRF token of its own, also in a cookie, since no session exists yet). Every attempt is
audited under the username tried (never the password); failures are throttled per username and address
(``drgsim.clinic.auth.SignInThrottle``): 429 with Retry-After during a lockout, even for the right password."""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from drgsim.clinic import auth
from drgsim.clinic import service as svc
from drgsim.clinic.deps import CommitFirst, Ctx, ctx, fields, form_data, get_db, parse, render, see
from drgsim.clinic.models import AuditEntry, Patient, User
from drgsim.clinic.schemas import PASSWORD_RULE, Login, PasswordChangeIn, strong_password

LOGIN_CSRF_COOKIE = "drgsim_login_csrf"
log = logging.getLogger("drgsim.clinic")

api = APIRouter(prefix="/api/v1", tags=["api"], route_class=CommitFirst)
pages = APIRouter(include_in_schema=False, route_class=CommitFirst)


class Refused(Exception):
    """A sign-in refused: ``status`` 401 (wrong credentials) or 429 (throttled, with Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _audit_failure(db: Session, username: str, address: str, locked: bool) -> None:
    """A failed sign-in, under the username tried (and its account and patient record where they exist)."""
    user = db.scalar(select(User).where(User.username == username))
    patient_id = db.scalar(select(Patient.id).where(Patient.user_id == user.id)) if user else None
    db.add(AuditEntry(user_id=user.id if user else None, username=username[:64], role=user.role if user else
                      "anonymous", action="login.failed", patient_id=patient_id, allowed=False,
                      detail={"address": address, "locked": locked}))


def sign_in(request: Request, db: Session, username: str, password: str) -> User:
    """The user with these credentials, under the throttle (Refused otherwise)."""
    throttle: auth.SignInThrottle = request.app.state.throttle
    address = _address(request)
    wait = throttle.retry_after(username, address)
    if wait:
        log.warning("sign-in throttled: %r from %s for %d s", username[:64], address, wait)
        raise Refused(429, f"too many failed sign-ins; try again in {wait} s", {"Retry-After": str(wait)})
    user = auth.check_password(db, username, password)
    if user is None:
        _audit_failure(db, username, address, throttle.failed(username, address))
        raise Refused(401, "unknown username or wrong password")
    throttle.succeeded(username)
    return user


def _session_cookie(request: Request, resp: Response, token: str) -> None:
    resp.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax",
                    secure=request.app.state.secure_cookies)


@api.post("/session")
def api_login(request: Request, body: Login, db: Session = Depends(get_db)):
    try:
        user = sign_in(request, db, body.username, body.password)
    except Refused as r:
        return JSONResponse({"detail": str(r)}, status_code=r.status, headers=r.headers)
    token, web = auth.open_session(db, user)
    svc.audit(db, user, "login", None)
    resp = JSONResponse({"username": user.username, "role": user.role, "csrf_token": web.csrf_token})
    _session_cookie(request, resp, token)
    return resp


@api.delete("/session")
def api_logout(request: Request, c: Ctx = Depends(ctx)):
    auth.close_session(c.db, request.cookies.get(auth.SESSION_COOKIE))
    svc.audit(c.db, c.user, "logout", None)
    resp = JSONResponse({"signed_out": True})
    resp.delete_cookie(auth.SESSION_COOKIE)
    return resp


def change_password(request: Request, c: Ctx, body: PasswordChangeIn) -> int:
    """Set the signed-in user's new password and end their other sessions; how many ended. The current
    password is checked under the sign-in throttle (a wrong one counts as a failed sign-in)."""
    sign_in(request, c.db, c.user.username, body.current_password)
    try:
        strong_password(body.new_password, c.user.username)
    except ValueError as err:
        raise RequestValidationError([{"type": "weak_password", "loc": ("body", "new_password"),
                                       "msg": f"new_password: {err}"}]) from None
    c.user.password_hash = auth.hash_password(body.new_password, c.user.username)
    ended = auth.close_other_sessions(c.db, c.user, c.web)
    svc.audit(c.db, c.user, "password.change", None, sessions_ended=ended)
    return ended


@api.post("/password")
def api_password(request: Request, body: PasswordChangeIn, c: Ctx = Depends(ctx)):
    """Change the signed-in user's password (current and new); their other sessions end."""
    try:
        ended = change_password(request, c, body)
    except Refused as r:
        status = 403 if r.status == 401 else r.status
        return JSONResponse({"detail": "current_password is wrong" if status == 403 else str(r)},
                            status_code=status, headers=r.headers)
    return {"changed": True, "sessions_ended": ended}


def _login_form(request: Request, http_status: int = 200, error: str | None = None) -> HTMLResponse:
    """The login page with a fresh single-use token (in the form and the cookie); the password is never shown."""
    token = request.app.state.login_tokens.issue()
    resp = render(request, None, "login.html", http_status, login_csrf=token, error=error)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                    secure=request.app.state.secure_cookies)
    return resp


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return _login_form(request)


@pages.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, db: Session = Depends(get_db), form: dict = Depends(form_data)):
    cookie, supplied = request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get("csrf_token", ""))
    if not cookie or not secrets.compare_digest(cookie, supplied) or not request.app.state.login_tokens.take(supplied):
        return _login_form(request, 403, "the form expired; reload")
    try:
        user = sign_in(request, db, str(form.get("username", ""))[:200], str(form.get("password", ""))[:200])
    except Refused as r:
        resp = _login_form(request, r.status, str(r))
        resp.headers.update(r.headers)
        return resp
    token, _ = auth.open_session(db, user)
    svc.audit(db, user, "login", None)
    resp = see("/")
    _session_cookie(request, resp, token)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


def _password_page(request: Request, c: Ctx, http_status: int = 200, error: str | None = None,
                   changed: bool = False) -> HTMLResponse:
    return render(request, c, "password.html", http_status, error=error, changed=changed, rule=PASSWORD_RULE)


@pages.get("/password", response_class=HTMLResponse)
def password_page(request: Request, c: Ctx = Depends(ctx)):
    return _password_page(request, c)


@pages.post("/password", response_class=HTMLResponse)
def password_submit(request: Request, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    """The password form: the API's change; errors name the field and the rule, never the passwords."""
    body, errors = parse(PasswordChangeIn, fields(form))
    if errors:
        return _password_page(request, c, 422, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    try:
        change_password(request, c, body)
    except Refused as r:
        resp = _password_page(request, c, 403 if r.status == 401 else r.status,
                              "current password: wrong password" if r.status == 401 else str(r))
        resp.headers.update(r.headers)
        return resp
    except RequestValidationError as err:
        return _password_page(request, c, 422, err.errors()[0]["msg"])
    return _password_page(request, c, changed=True)


@pages.post("/logout")
def logout(request: Request, c: Ctx = Depends(ctx)):
    auth.close_session(c.db, request.cookies.get(auth.SESSION_COOKIE))
    svc.audit(c.db, c.user, "logout", None)
    resp = see("/login")
    resp.delete_cookie(auth.SESSION_COOKIE)
    return resp
