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
import secrets
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from drgsim.clinic.models import User, WebSession

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


def close_other_sessions(db: Session, user: User, keep: WebSession) -> int:
    """End every session of ``user`` but ``keep`` (after a password change); how many ended."""
    return db.execute(delete(WebSession).where(WebSession.user_id == user.id,
                                               WebSession.token_sha256 != keep.token_sha256)).rowcount


class SignInThrottle:
    """Failed sign-ins per username and per client address: after ``max_failures`` for a username (or
    ``max_address_failures`` from one address) within ``window_s``, every attempt for it answers 429 for
    ``lockout_s``, even with the right password (OWASP Authentication Cheat Sheet: account lockout).
    A refused attempt costs no Argon2 work, so a flood cannot slow the clinic. The counts live in this
    process's memory (``app.state.throttle``): one clinic process; several workers would each count alone."""

    def __init__(self, max_failures: int = 5, max_address_failures: int = 20, window_s: float = 900,
                 lockout_s: float = 900, clock=time.monotonic):
        self.limits = {"user": max_failures, "addr": max_address_failures}
        self.window_s, self.lockout_s, self.clock = window_s, lockout_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str) -> list[str]:
        return [f"user:{username.strip().lower()[:64]}", f"addr:{address}"]

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until ``username`` from ``address`` may try again; 0: now."""
        now = self.clock()
        with self._lock:
            left = max((self._until.get(k, 0) - now for k in self._keys(username, address)), default=0)
        return math.ceil(left) if left > 0 else 0

    def failed(self, username: str, address: str) -> bool:
        """Count a failure; True when it starts a lockout."""
        now, locked = self.clock(), False
        with self._lock:
            if len(self._failures) > 10_000:  # forget the old ones: the memory stays bounded under a flood
                self._forget(now)
            for key in self._keys(username, address):
                times = self._failures.setdefault(key, deque())
                times.append(now)
                while times and times[0] <= now - self.window_s:
                    times.popleft()
                if len(times) >= self.limits[key.split(":")[0]]:
                    self._until[key], locked = now + self.lockout_s, True
                    times.clear()
        return locked

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(username, "")[0], None)

    def _forget(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if not t or t[-1] <= now - self.window_s]:
            del self._failures[key]
        for key in [k for k, t in self._until.items() if t <= now]:
            del self._until[key]


class OneTimeTokens:
    """The login form's CSRF tokens: each taken at most once (a replayed form is refused), for
    ``ttl_s``. In this process's memory (``app.state.login_tokens``), like ``SignInThrottle``."""

    def __init__(self, ttl_s: float = 3600, clock=time.monotonic, capacity: int = 50_000):
        self.ttl_s, self.clock, self.capacity = ttl_s, clock, capacity
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            while len(self._expires) >= self.capacity:  # the oldest first
                del self._expires[next(iter(self._expires))]
            self._expires[token] = self.clock() + self.ttl_s
        return token

    def take(self, token: str | None) -> bool:
        """True once for a token issued here and not expired."""
        with self._lock:
            expires = self._expires.pop(token or "", None)
        return expires is not None and expires > self.clock()
