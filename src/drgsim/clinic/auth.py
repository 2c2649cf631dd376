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
import math
import os
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from drgsim.clinic.models import LoginFormToken, SignInFailure, SignInLockout, User, WebSession, as_utc

SESSION_COOKIE = "drgsim_session"
SESSION_HOURS = 12
MIN_PASSWORD_LENGTH = 10
COMMON_PASSWORDS = frozenset({  # the most common passwords of at least 10 characters (breach corpora)
    "1234567890", "0123456789", "1111111111", "0987654321", "qwertyuiop", "1q2w3e4r5t", "password12",
    "password123", "password1234", "passw0rd123", "iloveyou12", "letmein123", "welcome123", "administrator",
    "changeme123", "qwerty1234", "qwerty12345", "abcdefghij", "1234qwerty", "asdfghjkl1", "zxcvbnm123",
    "football12", "baseball12", "sunshine12", "princess12", "trustno1trustno1", "starwars12", "monkey1234"})
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def password_problem(password: str, username: str | None = None) -> str | None:
    """The rule a new password breaks, else None: at least 10 characters, not containing the username,
    not a common password (NIST SP 800-63B, 5.1.1.2: length and a blocklist, no composition rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"{len(password)} characters; needs at least {MIN_PASSWORD_LENGTH}"
    if username and username.lower() in password.lower():
        return "must not contain the username"
    if password.lower() in COMMON_PASSWORDS or len(set(password)) < 4:
        return "is a common or repetitive password; choose another"
    return None


def hash_password(password: str, username: str | None = None) -> str:
    """The Argon2id hash of a new password (ValueError naming the rule if it is weak)."""
    problem = password_problem(password, username)
    if problem:
        raise ValueError(f"password: {problem}")
    return _hasher.hash(password)



# Argon2 checks running at once: each takes all cores for a moment (4 lanes, 64 MiB), so a burst of sign-ins
# queues here instead of starving the clinic's other requests of CPU [project choice: one per 4 cores]
_CHECKS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 1) // 4))


def check_password(db: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, else None (same work either way: no user enumeration by timing)."""
    user = db.scalar(select(User).where(User.username == username, User.active.is_(True)))
    try:
        with _CHECKS:
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
    if as_utc(row.expires_at) <= datetime.now(timezone.utc) or not row.user.active:
        return None
    return row


def close_session(db: Session, token: str | None) -> None:
    if token:
        db.execute(delete(WebSession).where(WebSession.token_sha256 == _digest(token)))


def csrf_ok(session: WebSession, supplied: str | None) -> bool:
    return bool(supplied) and hmac.compare_digest(session.csrf_token, supplied)


def close_other_sessions(db: Session, user: User, keep: WebSession | None = None) -> int:
    """End every session of ``user`` but ``keep`` (after a password change or reset); how many ended."""
    where = [WebSession.user_id == user.id] + ([WebSession.token_sha256 != keep.token_sha256] if keep else [])
    return db.execute(delete(WebSession).where(*where)).rowcount


TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read out on the phone without doubt


def temporary_password(username: str) -> str:
    """A clinician's one-time reset password, ``xxxx-xxxx-xxxx`` (about 59 bits), keeping the password rule."""
    while True:
        password = "-".join("".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(4)) for _ in range(3))
        if password_problem(password, username) is None:
            return password


class SignInThrottle:
    """Failed sign-ins per username and per client address: after ``max_failures`` for a username (or
    ``max_address_failures`` from one address) within ``window_s``, every attempt for it answers 429 for
    ``lockout_s``, even with the right password (OWASP Authentication Cheat Sheet: account lockout).

    The failures and lockouts are rows of the database (``sign_in_failures``, ``sign_in_lockouts``), each
    written in a short transaction of its own (``sessions``), so every server worker sees them at once.
    An attempt is counted as a failure *before* its password is checked (``start``) and uncounted when the
    password was right (``succeeded``): attempts running side by side see each other, so a flood gets about
    the limit's Argon2 checks before the lockout (exactly on SQLite, whose writes are serialized; PostgreSQL's
    concurrent transactions may let a few more through) and cannot slow the clinic. ``clock``: Unix seconds (all
    workers share it)."""

    def __init__(self, sessions: sessionmaker[Session], max_failures: int = 5, max_address_failures: int = 20,
                 window_s: float = 900, lockout_s: float = 900, clock=time.time):
        self.sessions = sessions
        self.limits = {"user": max_failures, "addr": max_address_failures}
        self.window_s, self.lockout_s, self.clock = window_s, lockout_s, clock

    @staticmethod
    def _keys(username: str, address: str) -> list[str]:
        return [f"user:{username.strip().lower()[:64]}", f"addr:{address[:74]}"]

    def _over(self, db: Session, key: str, more_than: int) -> bool:
        count = db.scalar(select(func.count()).select_from(SignInFailure).where(SignInFailure.key == key))
        return count > more_than

    def start(self, username: str, address: str) -> tuple[int, list[int]]:
        """Before the password check: (seconds to wait, []) when refused, else (0, the ids of this attempt's
        failure rows). Refused: during a lockout, or while as many attempts as the limit are counted already
        (failed or still being checked: wait a second for their outcome). Failures and lockouts past their
        time are deleted here, so the tables stay bounded under a flood."""
        now, keys = self.clock(), self._keys(username, address)
        with self.sessions.begin() as db:  # the deletes come first: the lockout is read inside the write
            db.execute(delete(SignInFailure).where(SignInFailure.at_s <= now - self.window_s))
            db.execute(delete(SignInLockout).where(SignInLockout.until_s <= now))
            until = db.scalar(select(func.max(SignInLockout.until_s)).where(SignInLockout.key.in_(keys)))
            if until is not None:
                return math.ceil(until - now), []
            rows = [SignInFailure(key=key, at_s=now) for key in keys]
            db.add_all(rows)
            db.flush()
            if any(self._over(db, key, self.limits[key.split(":")[0]]) for key in keys):
                for row in rows:
                    db.delete(row)
                return 1, []
            return 0, [row.id for row in rows]

    def failed(self, username: str, address: str) -> bool:
        """The attempt's password was wrong (its failures stay counted); True when it starts a lockout."""
        now, locked = self.clock(), False
        with self.sessions.begin() as db:
            for key in self._keys(username, address):
                if self._over(db, key, self.limits[key.split(":")[0]] - 1):
                    db.add(SignInLockout(key=key, until_s=now + self.lockout_s))
                    db.execute(delete(SignInFailure).where(SignInFailure.key == key))
                    locked = True
        return locked

    def succeeded(self, username: str, attempt: list[int]) -> None:
        """The password was right: the attempt is not a failure, and the username's failures are forgotten."""
        with self.sessions.begin() as db:
            db.execute(delete(SignInFailure).where(SignInFailure.id.in_(attempt)
                                                   | (SignInFailure.key == self._keys(username, "")[0])))

    def unlock(self, db: Session, username: str) -> None:
        """Forget the username's failures and lift its lockout, in the caller's transaction (a clinician's
        password reset: both land or neither)."""
        key = self._keys(username, "")[0]
        db.execute(delete(SignInFailure).where(SignInFailure.key == key))
        db.execute(delete(SignInLockout).where(SignInLockout.key == key))


class OneTimeTokens:
    """The login form's CSRF tokens: each taken at most once (a replayed form is refused), for ``ttl_s``.
    Rows of ``login_form_tokens`` (their SHA-256), each written in a short transaction of its own
    (``sessions``, as ``SignInThrottle``), so a form served by one server worker may be posted to another; at
    most ``capacity`` are kept (the oldest go first), so a flood of login pages stays bounded."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float = 3600, clock=time.time,
                 capacity: int = 50_000):
        self.sessions, self.ttl_s, self.clock, self.capacity = sessions, ttl_s, clock, capacity

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.sessions.begin() as db:
            row = LoginFormToken(token_sha256=_digest(token), expires_s=self.clock() + self.ttl_s)
            db.add(row)
            db.flush()
            db.execute(delete(LoginFormToken).where((LoginFormToken.id <= row.id - self.capacity)
                                                    | (LoginFormToken.expires_s <= self.clock())))
        return token

    def take(self, token: str | None) -> bool:
        """True once for a token issued and not expired (one DELETE: two workers cannot both take it)."""
        with self.sessions.begin() as db:
            taken = db.execute(delete(LoginFormToken).where(LoginFormToken.token_sha256 == _digest(token or ""),
                                                            LoginFormToken.expires_s > self.clock()))
        return taken.rowcount == 1
