"""Issue 17, defects 3, 4, 8 and 9: sign-in throttling and passwords, non-finite and out-of-range input,
cache and framing headers, and what a patient may read through the API."""

from __future__ import annotations

import time

import pytest

from drgsim.clinic.db import make_engine, session_factory
from drgsim.clinic.models import AuditEntry
from tests.clinic.conftest import sign_in
from tests.clinic.test_api import START, new_patient, to_trial


def raw_json(client, method: str, url: str, text: str):
    """Send ``text`` as a JSON body as it is (NaN and Infinity are not JSON, so no encoder writes them)."""
    return client.request(method, url, content=text.encode(), headers={"content-type": "application/json"})


# ------------------------------------------------------------ defect 4: non-finite numbers, ids out of range
def test_infinity_and_nan_answer_422_naming_the_field(clinician):
    pid = new_patient(clinician)
    to_trial(clinician, pid)
    assert clinician.post(f"/api/v1/patients/{pid}/programs", json={"name": "P1"}).status_code == 200
    body = ('{"contacts": "0+-0", "amplitude_ma": 0.5, "pulse_width_us": 300, "frequency_hz": 20, '
            '"enabled": true, "min_amplitude_ma": 0.3, "max_amplitude_ma": Infinity}')
    r = raw_json(clinician, "PUT", f"/api/v1/patients/{pid}/programs/P1/leads/1", body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "max_amplitude_ma"] and "finite" in r.text
    r = raw_json(clinician, "POST", f"/api/v1/patients/{pid}/trial",
                 '{"start_date": "2026-11-01", "baseline_nrs": NaN}')
    assert r.status_code == 422 and "baseline_nrs" in r.text
    r = raw_json(clinician, "PUT", f"/api/v1/patients/{pid}/painmap", '{"nrs": {"left_sole": 1e999}}')
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "nrs", "left_sole"]
    log = clinician.get("/api/v1/audit?limit=100")
    assert log.status_code == 200 and "Infinity" not in log.text


def test_audit_log_survives_a_stored_infinity(clinician, migrated):
    """Rows written before the fix (an Infinity in the detail) still read back as JSON. Only SQLite kept such
    rows: PostgreSQL's JSON type refuses an Infinity."""
    if migrated.startswith("postgresql"):
        pytest.skip("PostgreSQL's JSON type never stored an Infinity")
    engine = make_engine(migrated, pooled=False)
    with session_factory(engine).begin() as db:
        user_id = db.scalar(AuditEntry.__table__.select().with_only_columns(AuditEntry.user_id)
                            .where(AuditEntry.username == "drsmith"))
        db.add(AuditEntry(user_id=user_id, username="drsmith", role="clinician", action="program.edit",
                          patient_id=None, allowed=True, detail={"max_amplitude_ma": float("inf")}))
    engine.dispose()
    r = clinician.get("/api/v1/audit?limit=100")
    assert r.status_code == 200
    assert any(e["detail"].get("max_amplitude_ma") == "inf" for e in r.json())


def test_ids_beyond_the_database_range_answer_422(clinician):
    huge = 10**20
    for url in (f"/api/v1/patients/{huge}", f"/api/v1/patients/{huge}/device", f"/clinician/patients/{huge}"):
        r = clinician.get(url)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["detail"][0]["loc"] == ["path", "pid"] and "2147483647" in r.text
    assert clinician.get("/api/v1/patients/2147483647").status_code == 404  # in range: as before


# ------------------------------------------------------------ defect 8: cache and framing headers
def test_pages_are_not_cached_nor_framed(app, clinician):
    from fastapi.testclient import TestClient

    from tests.clinic.test_pages import csrf_of, page_login

    pid = new_patient(clinician)
    with TestClient(app) as c:
        assert page_login(c, "drsmith", "clinician-pass-1").status_code == 303
        page = c.get(f"/clinician/patients/{pid}")
        assert page.status_code == 200 and "Ann Example" in page.text
        assert page.headers["cache-control"] == "no-store"  # Back after sign-out cannot show it from the cache
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert c.get("/login").headers["cache-control"] == "no-store"
        assert c.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False).status_code == 303
        back = c.get(f"/clinician/patients/{pid}", follow_redirects=False)
        assert back.status_code == 303 and back.headers["cache-control"] == "no-store"
    api = clinician.get(f"/api/v1/patients/{pid}")
    assert api.headers["cache-control"] == "no-store" and api.headers["x-content-type-options"] == "nosniff"
    assert clinician.get("/static/htmx.min.js").headers["x-content-type-options"] == "nosniff"


# ------------------------------------------------------------ defect 9: a patient's API is their controller and diary
def test_a_patient_reads_only_their_controller_and_diary(clinician, new_client, migrated):
    pid = new_patient(clinician)
    to_trial(clinician, pid)
    patient = sign_in(new_client(), "pat1", "patient-pass-1")
    assert patient.post(f"/api/v1/patients/{pid}/diary", json={"day": START.isoformat(), "nrs": 3,
                                                                "activity_minutes": 20}).status_code == 201
    assert patient.get(f"/api/v1/patients/{pid}/diary").json()[0]["nrs"] == 3
    assert patient.get(f"/api/v1/patients/{pid}/device").status_code == 200  # the controller's view
    for url in ("", "/trial", "/device/events", "/plan/recommended"):
        assert patient.get(f"/api/v1/patients/{pid}{url}").status_code == 403, url
    assert clinician.get(f"/api/v1/patients/{pid}").status_code == 200
    refused = [e for e in clinician.get("/api/v1/audit").json() if not e["allowed"] and e["username"] == "pat1"]
    assert {e["action"] for e in refused} >= {"patient.read", "trial.read"}


# ------------------------------------------------------------ defect 3: sign-in throttling, tokens, passwords
def test_a_burst_of_failed_sign_ins_locks_the_username(app, new_client):
    from tests.clinic.test_pages import page_login

    c = new_client()
    for _ in range(5):
        r = c.post("/api/v1/session", json={"username": "drsmith", "password": "wrong-password-1"})
        assert r.status_code == 401
    r = c.post("/api/v1/session", json={"username": "drsmith", "password": "clinician-pass-1"})
    assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 900, r.text  # even the right password
    assert "try again" in r.json()["detail"]
    r = page_login(new_client(), "drsmith", "clinician-pass-1")  # the login page too
    assert r.status_code == 429 and "retry-after" in r.headers and "clinician-pass-1" not in r.text
    other = sign_in(new_client(), "drjones", "clinician-pass-2")  # another username is not locked
    log = [e for e in other.get("/api/v1/audit").json() if e["action"] == "login.failed"]
    assert log == []  # drsmith's failures are not drjones's to read
    app.state.throttle.clock = lambda: time.time() + 901  # the lockout (900 s) is over
    sign_in(new_client(), "drsmith", "clinician-pass-1")


def test_failed_sign_ins_are_audited_under_the_username_without_the_password(clinician, new_client):
    r = new_client().post("/api/v1/session", json={"username": "drsmith", "password": "secret-typo-1"})
    assert r.status_code == 401
    failed = [e for e in clinician.get("/api/v1/audit").json() if e["action"] == "login.failed"]
    assert failed and failed[0]["username"] == "drsmith" and not failed[0]["allowed"]
    assert "secret-typo-1" not in clinician.get("/api/v1/audit").text


def test_login_form_token_is_single_use_and_the_password_never_echoed(app):
    import re

    from fastapi.testclient import TestClient
    with TestClient(app) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"username": "drsmith", "password": "typed-secret-9", "csrf_token": token})
        assert r.status_code == 401 and "typed-secret-9" not in r.text
        c.cookies.set("drgsim_login_csrf", token)  # replay the same form
        r = c.post("/login", data={"username": "drsmith", "password": "clinician-pass-1", "csrf_token": token},
                   follow_redirects=False)
        assert r.status_code == 403 and "expired" in r.text


def test_weak_passwords_are_refused_naming_the_rule(clinician):
    base = {"name": "Ann", "birth_year": 1970, "sex": "female", "diagnosis": "crps_i", "username": "annex"}
    for weak in ("password", "12345678", "annex-annex", "1234567890", "aaaaaaaaaaaa"):
        r = clinician.post("/api/v1/patients", json={**base, "password": weak})
        assert r.status_code == 422, weak
        err = r.json()["detail"][0]
        assert err["loc"][-1] == "password" and "input" not in err  # the typed password is not echoed
    r = clinician.post("/api/v1/patients", json={**base, "password": "annex-pass"})
    assert r.status_code == 422 and "username" in r.text
    assert clinician.post("/api/v1/patients", json={**base, "password": "correct-horse-7"}).status_code == 201


def test_password_change_ends_the_other_sessions(clinician, new_client):
    new_patient(clinician)
    phone, laptop = sign_in(new_client(), "pat1", "patient-pass-1"), sign_in(new_client(), "pat1", "patient-pass-1")
    r = laptop.post("/api/v1/password", json={"current_password": "wrong-pass-1", "new_password": "river-stone-42"})
    assert r.status_code == 403
    r = laptop.post("/api/v1/password", json={"current_password": "patient-pass-1", "new_password": "pat1-secret"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "new_password"] and "username" in r.text
    r = laptop.post("/api/v1/password", json={"current_password": "patient-pass-1", "new_password": "river-stone-42"})
    assert r.status_code == 200 and r.json() == {"changed": True, "sessions_ended": 1}, r.text
    assert phone.get("/api/v1/patients/1/diary").status_code == 401  # signed out
    assert laptop.post("/api/v1/session", json={"username": "pat1", "password": "patient-pass-1"}).status_code == 401
    sign_in(new_client(), "pat1", "river-stone-42")


def test_the_new_patient_form_never_echoes_the_password(app):
    from fastapi.testclient import TestClient

    from tests.clinic.test_pages import csrf_of, page_login

    with TestClient(app) as c:
        page_login(c, "drsmith", "clinician-pass-1")
        csrf = csrf_of(c.get("/clinician").text)
        r = c.post("/clinician/patients", data={"name": "Ann", "birth_year": "1970", "sex": "female",
                                                "diagnosis": "crps_i", "username": "annex", "password": "hunter2x",
                                                "csrf_token": csrf})
        assert r.status_code == 422 and 'data-field="password"' in r.text and "hunter2x" not in r.text


def test_password_page_changes_the_password(app, clinician, new_client):
    from fastapi.testclient import TestClient

    from tests.clinic.test_pages import csrf_of, page_login

    new_patient(clinician)
    with TestClient(app) as c:
        assert page_login(c, "pat1", "patient-pass-1").status_code == 303
        page = c.get("/password")
        assert page.status_code == 200 and "at least 10 characters" in page.text
        form = {"csrf_token": csrf_of(page.text), "current_password": "patient-pass-1"}
        r = c.post("/password", data={**form, "new_password": "short"})
        assert r.status_code == 422 and "new_password" in r.text and "'short'" not in r.text
        r = c.post("/password", data={**form, "current_password": "nope-nope-1", "new_password": "river-stone-42"})
        assert r.status_code == 403 and "nope-nope-1" not in r.text
        r = c.post("/password", data={**form, "new_password": "river-stone-42"})
        assert r.status_code == 200 and 'id="password-changed"' in r.text
    sign_in(new_client(), "pat1", "river-stone-42")
