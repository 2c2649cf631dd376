"""Sign-in, sign-out and password change: the API's session (JSON, CSRF token in the answer) and the login
page (a single-use CSRF token of its own, also in a cookie, since no session exists yet). Every attempt is
audited under the username tried (never the password); failures are throttled per username and address
(``drgsim.clinic.auth.SignInThrottle``, in the database): 429 with Retry-After during a lockout, even for the
right password. A clinician resets a patient's password here too: a temporary one, shown once, which opens only the
password page until the patient has chosen a new one."""

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
from drgsim.clinic.deps import CommitFirst, Ctx, ctx, fields, form_data, get_db, parse, render, see, signed_in
from drgsim.clinic.models import AuditEntry, Patient, User
from drgsim.clinic.routes.pages import patient_view, unconfirmed
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
    wait, attempt = throttle.start(username, address)
    if wait:
        log.warning("sign-in throttled: %r from %s for %d s", username[:64], address, wait)
        raise Refused(429, f"too many failed sign-ins; try again in {wait} s", {"Retry-After": str(wait)})
    user = auth.check_password(db, username, password)
    if user is None:
        _audit_failure(db, username, address, throttle.failed(username, address))
        raise Refused(401, "unknown username or wrong password")
    throttle.succeeded(username, attempt)
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
    resp = JSONResponse({"username": user.username, "role": user.role, "csrf_token": web.csrf_token,
                         "must_change_password": user.must_change_password})
    _session_cookie(request, resp, token)
    return resp


@api.delete("/session")
def api_logout(request: Request, c: Ctx = Depends(signed_in)):
    auth.close_session(c.db, request.cookies.get(auth.SESSION_COOKIE))
    svc.audit(c.db, c.user, "logout", None)
    resp = JSONResponse({"signed_out": True})
    resp.delete_cookie(auth.SESSION_COOKIE)
    return resp


def change_password(request: Request, c: Ctx, body: PasswordChangeIn) -> int:
    """Set the signed-in user's new password and end their other sessions; how many ended. The current
    password is checked under the sign-in throttle (a wrong one counts as a failed sign-in); a temporary
    password (after a clinician's reset) is replaced by then."""
    sign_in(request, c.db, c.user.username, body.current_password)
    try:
        strong_password(body.new_password, c.user.username)
    except ValueError as err:
        raise RequestValidationError([{"type": "weak_password", "loc": ("body", "new_password"),
                                       "msg": f"new_password: {err}"}]) from None
    c.user.password_hash = auth.hash_password(body.new_password, c.user.username)
    was_reset, c.user.must_change_password = c.user.must_change_password, False
    ended = auth.close_other_sessions(c.db, c.user, c.web)
    patient_id = c.db.scalar(select(Patient.id).where(Patient.user_id == c.user.id))  # the clinician sees it
    svc.audit(c.db, c.user, "password.change", patient_id, sessions_ended=ended, after_reset=was_reset)
    return ended


@api.post("/password")
def api_password(request: Request, body: PasswordChangeIn, c: Ctx = Depends(signed_in)):
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
    tokens = request.app.state.login_tokens
    if not cookie or not secrets.compare_digest(cookie, supplied) or not tokens.take(supplied):
        return _login_form(request, 403, "the form expired; reload")
    try:
        user = sign_in(request, db, str(form.get("username", ""))[:200], str(form.get("password", ""))[:200])
    except Refused as r:
        resp = _login_form(request, r.status, str(r))
        resp.headers.update(r.headers)
        return resp
    token, _ = auth.open_session(db, user)
    svc.audit(db, user, "login", None)
    resp = see("/password" if user.must_change_password else "/")
    _session_cookie(request, resp, token)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


def _password_page(request: Request, c: Ctx, http_status: int = 200, error: str | None = None,
                   changed: bool = False) -> HTMLResponse:
    return render(request, c, "password.html", http_status, error=error, changed=changed, rule=PASSWORD_RULE)


@pages.get("/password", response_class=HTMLResponse)
def password_page(request: Request, c: Ctx = Depends(signed_in)):
    return _password_page(request, c)


@pages.post("/password", response_class=HTMLResponse)
def password_submit(request: Request, c: Ctx = Depends(signed_in), form: dict = Depends(form_data)):
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
def logout(request: Request, c: Ctx = Depends(signed_in)):
    auth.close_session(c.db, request.cookies.get(auth.SESSION_COOKIE))
    svc.audit(c.db, c.user, "logout", None)
    resp = see("/login")
    resp.delete_cookie(auth.SESSION_COOKIE)
    return resp


def reset_patient_password(request: Request, c: Ctx, pid: int) -> str:
    """The patient's temporary password (``drgsim.clinic.service.reset_password``); it also lifts a lockout
    of their username, since a locked-out patient is who asks for a reset."""
    temporary = svc.reset_password(c.db, c.user, pid)
    request.app.state.throttle.unlock(c.db, c.db.get(Patient, pid).user.username)
    return temporary


@api.post("/patients/{pid}/password-reset")
def api_password_reset(request: Request, pid: int, c: Ctx = Depends(ctx)):
    """Reset the patient's password: the temporary one is in this answer only (give it to the patient)."""
    temporary = reset_patient_password(request, c, pid)
    return {"username": c.db.get(Patient, pid).user.username, "temporary_password": temporary,
            "must_change_password": True}


@pages.post("/clinician/patients/{pid}/password-reset", response_class=HTMLResponse)
def password_reset_page(request: Request, pid: int, c: Ctx = Depends(ctx), form: dict = Depends(form_data)):
    """The patient page with the temporary password shown once (a reload of the URL goes to the page)."""
    errors = unconfirmed("password reset", fields(form))
    if errors:
        return patient_view(request, c, pid, 422, errors={"password-reset": errors})
    return patient_view(request, c, pid, temporary_password=reset_patient_password(request, c, pid))
