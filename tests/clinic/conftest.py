"""Clinic fixtures: a fresh database per test on SQLite and (where DRGSIM_TEST_POSTGRES_URL is set, as
.ci/run does) on PostgreSQL, the app on it, and signed-in clients."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from drgsim.clinic import service
from drgsim.clinic.app import create_app
from drgsim.clinic.db import make_engine, session_factory, upgrade

PG_ENV = "DRGSIM_TEST_POSTGRES_URL"
CLINICIAN = ("drsmith", "clinician-pass-1")


def _reset_postgres(url: str) -> None:
    engine = make_engine(url, pooled=False)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An empty database (no tables) of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: .ci/run starts PostgreSQL and sets it")
        pytest.skip(f"{PG_ENV} not set (run .ci/postgres.sh and export its URL)")
    _reset_postgres(url)
    return url


@pytest.fixture
def migrated(db_url) -> str:
    upgrade(db_url)
    engine = make_engine(db_url, pooled=False)
    with session_factory(engine).begin() as db:
        service.create_clinician(db, CLINICIAN[0], CLINICIAN[1], "Dr Smith")
        service.create_clinician(db, "drjones", "clinician-pass-2", "Dr Jones")
    engine.dispose()
    return db_url


@pytest.fixture
def app(migrated, tmp_path, monkeypatch):
    monkeypatch.setenv("DRGSIM_DATA_DIR", str(tmp_path / "data"))
    return create_app(migrated, quality="quick")


def sign_in(client: TestClient, username: str, password: str) -> TestClient:
    r = client.post("/api/v1/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


@pytest.fixture
def clinician(app):
    with TestClient(app) as c:
        yield sign_in(c, *CLINICIAN)


@pytest.fixture
def new_client(app):
    """Make more clients of the same app (each with its own cookies)."""
    made = []

    def make() -> TestClient:
        c = TestClient(app)
        c.__enter__()
        made.append(c)
        return c
    yield make
    for c in made:
        c.__exit__(None, None, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark a failed test (the browser fixture saves its pages then)."""
    outcome = yield
    if outcome.get_result().failed:
        item.failed = True
