"""Sign-in and sign-out: the API's session (JSON, CSRF token in the answer) and the login page (a CSRF
cookie of its own, since no session exists yet). Every attempt is audited."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from drgsim.clinic import auth
from drgsim.clinic import service as svc
from drgsim.clinic.deps import CommitFirst, Ctx, ctx, form_data, get_db, render, see
from drgsim.clinic.schemas import Login

LOGIN_CSRF_COOKIE = "drgsim_login_csrf"

api = APIRouter(prefix="/api/v1", tags=["api"], route_class=CommitFirst)
pages = APIRouter(include_in_schema=False, route_class=CommitFirst)


def _session_cookie(request: Request, resp: Response, token: str) -> None:
    resp.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax",
                    secure=request.app.state.secure_cookies)


@api.post("/session")
def api_login(request: Request, body: Login, db: Session = Depends(get_db)):
    user = auth.check_password(db, body.username, body.password)
    if user is None:
        svc.audit(db, None, "login.failed", None, allowed=False, username=body.username)
        return JSONResponse({"detail": "unknown username or wrong password"}, status_code=401)
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


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    token = secrets.token_urlsafe(24)
    resp = render(request, None, "login.html", login_csrf=token, error=None)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                    secure=request.app.state.secure_cookies)
    return resp


@pages.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, db: Session = Depends(get_db), form: dict = Depends(form_data)):
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not secrets.compare_digest(cookie, str(form.get("csrf_token", ""))):
        return render(request, None, "login.html", 403, login_csrf=cookie or "", error="the form expired; reload")
    user = auth.check_password(db, str(form.get("username", "")), str(form.get("password", "")))
    if user is None:
        svc.audit(db, None, "login.failed", None, allowed=False, username=str(form.get("username", ""))[:64])
        return render(request, None, "login.html", 401, login_csrf=cookie, error="unknown username or wrong password")
    token, _ = auth.open_session(db, user)
    svc.audit(db, user, "login", None)
    resp = see("/")
    _session_cookie(request, resp, token)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@pages.post("/logout")
def logout(request: Request, c: Ctx = Depends(ctx)):
    auth.close_session(c.db, request.cookies.get(auth.SESSION_COOKIE))
    svc.audit(c.db, c.user, "logout", None)
    resp = see("/login")
    resp.delete_cookie(auth.SESSION_COOKIE)
    return resp
