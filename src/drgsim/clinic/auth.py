"""Passwords, sessions and CSRF.

Passwords are hashed with Argon2id (argon2-cffi, RFC 9106 parameters of its default profile),
never stored in plain text. A sign-in creates a server-side session: the browser's cookie holds a
random token (HttpOnly, SameSite=Lax), the database only its SHA-256, with a per-session CSRF token
that every state-changing request must echo (form field ``csrf_token`` or header ``X-CSRF-Token``:
the synchronizer-token pattern, OWASP CSRF Prevention Cheat Sheet).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from drgsim.clinic.models import User, WebSession

SESSION_COOKIE = "drgsim_session"
SESSION_HOURS = 12
MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password: {len(password)} characters; needs at least {MIN_PASSWORD_LENGTH}")
    return _hasher.hash(password)


def check_password(db: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, else None (same work either way: no user enumeration by timing)."""
    user = db.scalar(select(User).where(User.username == username, User.active.is_(True)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(db: Session, user: User) -> tuple[str, WebSession]:
    """A new session for ``user``; returns the cookie token (shown once) and the stored row."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    row = WebSession(token_sha256=_digest(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                     created_at=now, expires_at=now + timedelta(hours=SESSION_HOURS))
    db.add(row)
    return token, row


def find_session(db: Session, token: str | None) -> WebSession | None:
    if not token:
        return None
    row = db.get(WebSession, _digest(token))
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
    if expires <= datetime.now(timezone.utc) or not row.user.active:
        return None
    return row


def close_session(db: Session, token: str | None) -> None:
    if token:
        db.execute(delete(WebSession).where(WebSession.token_sha256 == _digest(token)))


def csrf_ok(session: WebSession, supplied: str | None) -> bool:
    return bool(supplied) and hmac.compare_digest(session.csrf_token, supplied)
