"""Issue 17, sign-in: a clinician's password reset (temporary password, change at the next sign-in), the
throttle and the login form's tokens shared by several server workers (in the database), and page errors
that name their field once."""

from __future__ import annotations

import html
import re
import time
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from drgsim.clinic.app import create_app
from drgsim.clinic.db import make_engine, session_factory
from drgsim.clinic.models import SignInFailure
from tests.clinic.conftest import CLINICIAN, sign_in
from tests.clinic.test_api import START, diary, new_patient, set_today, to_trial
from tests.clinic.test_pages import clinician_pages, csrf_of, page_login

TEMPORARY = re.compile(r'id="temporary-password">.*?<code>([a-z0-9-]+)</code>', re.S)


def audit(client, action: str) -> list[dict]:
    return [e for e in client.get("/api/v1/audit?limit=200").json() if e["action"] == action]


# ------------------------------------------------------------ a clinician resets a patient's password
def test_clinician_resets_a_patients_password_from_the_patient_page(app, new_client):
    phone = None
    with TestClient(app) as c:
        token = clinician_pages(c)
        pid = new_patient(c)
        phone = sign_in(new_client(), "pat1", "patient-pass-1")  # signed in before the reset
        r = c.post(f"/clinician/patients/{pid}/password-reset", data={"csrf_token": token})
        assert r.status_code == 422 and r.text.count("confirm=unticked") == 1  # the box must be ticked
        r = c.post(f"/clinician/patients/{pid}/password-reset", data={"csrf_token": token, "confirm": "on"})
        assert r.status_code == 200, r.text
        temporary = TEMPORARY.search(r.text).group(1)
        assert len(temporary) == 14 and "shown this once" in r.text
        page = c.get(f"/clinician/patients/{pid}").text  # shown once: not on the page again
        assert temporary not in page and 'id="password-reset-pending"' in page
        entries = audit(c, "password.reset")
        assert len(entries) == 1 and entries[0]["patient_id"] == pid and entries[0]["detail"]["sessions_ended"] == 1
        assert temporary not in c.get("/api/v1/audit?limit=200").text
    assert phone.get(f"/api/v1/patients/{pid}/diary").status_code == 401  # the patient's session ended
    assert new_client().post("/api/v1/session", json={"username": "pat1",
                                                       "password": "patient-pass-1"}).status_code == 401
    with TestClient(app) as p:  # the temporary password opens only the password page
        r = page_login(p, "pat1", temporary)
        assert r.status_code == 303 and r.headers["location"] == "/password"
        assert p.get("/patient", follow_redirects=False).headers["location"] == "/password"
        page = p.get("/password")
        assert 'id="password-must-change"' in page.text
        r = p.post("/password", data={"csrf_token": csrf_of(page.text), "current_password": temporary,
                                      "new_password": "river-stone-42"})
        assert r.status_code == 200 and 'id="password-changed"' in r.text
        assert p.get("/patient").status_code == 200  # the controller again
    sign_in(new_client(), "pat1", "river-stone-42")


def test_after_an_api_reset_the_api_answers_403_until_the_password_is_changed(clinician, new_client):
    pid = new_patient(clinician)
    to_trial(clinician, pid)
    r = clinician.post(f"/api/v1/patients/{pid}/password-reset")
    assert r.status_code == 200 and r.json()["username"] == "pat1" and r.json()["must_change_password"]
    temporary = r.json()["temporary_password"]
    r = new_client().post("/api/v1/session", json={"username": "pat1", "password": temporary})
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    patient = sign_in(new_client(), "pat1", temporary)
    r = patient.get(f"/api/v1/patients/{pid}/device")
    assert r.status_code == 403 and "change the password first" in r.json()["detail"]
    r = patient.post("/api/v1/password", json={"current_password": temporary, "new_password": "river-stone-42"})
    assert r.status_code == 200, r.text
    assert patient.get(f"/api/v1/patients/{pid}/device").status_code == 200
    (changed,) = audit(clinician, "password.change")
    assert changed["username"] == "pat1" and changed["patient_id"] == pid and changed["detail"]["after_reset"]


def test_a_clinician_cannot_reset_another_clinicians_patient(app, clinician, new_client):
    pid = new_patient(clinician)
    jones = sign_in(new_client(), "drjones", "clinician-pass-2")
    assert jones.post(f"/api/v1/patients/{pid}/password-reset").status_code == 403
    with TestClient(app) as c:
        page_login(c, "drjones", "clinician-pass-2")
        r = c.post(f"/clinician/patients/{pid}/password-reset",
                   data={"csrf_token": csrf_of(c.get("/clinician").text), "confirm": "on"})
        assert r.status_code == 403 and "temporary-password" not in r.text
    patient = sign_in(new_client(), "pat1", "patient-pass-1")  # the password is unchanged
    assert patient.post(f"/api/v1/patients/{pid}/password-reset").status_code == 403  # nor by the patient
    refused = [e for e in clinician.get("/api/v1/audit?limit=200").json()
               if e["action"] == "password.reset" and not e["allowed"]]
    assert {e["username"] for e in refused} == {"drjones", "pat1"}
    assert audit(clinician, "password.reset") == refused  # no reset was allowed


def test_a_reset_lifts_the_patients_lockout(clinician, new_client):
    pid = new_patient(clinician)
    c = new_client()
    for _ in range(5):
        assert c.post("/api/v1/session", json={"username": "pat1", "password": "wrong-pass-99"}).status_code == 401
    assert c.post("/api/v1/session", json={"username": "pat1", "password": "patient-pass-1"}).status_code == 429
    temporary = clinician.post(f"/api/v1/patients/{pid}/password-reset").json()["temporary_password"]
    sign_in(new_client(), "pat1", temporary)


# ------------------------------------------------------------ several server workers: one database
def test_two_workers_share_the_lockout_and_the_login_forms(app, migrated, tmp_path):
    """Two apps on one database stand for two server processes behind one address."""
    second = create_app(migrated, quality="quick")
    with TestClient(app) as one, TestClient(second) as two:
        for i in range(5):  # the failures alternate between the workers
            worker = (one, two)[i % 2]
            r = worker.post("/api/v1/session", json={"username": "drsmith", "password": "wrong-pass-99"})
            assert r.status_code == 401
        for worker in (one, two):
            r = worker.post("/api/v1/session", json={"username": "drsmith", "password": CLINICIAN[1]})
            assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 900
        assert two.post("/api/v1/session", json={"username": "drjones",
                                                  "password": "clinician-pass-2"}).status_code == 200
        # a login form served by one worker is taken once by the other
        form = one.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        two.cookies.set("drgsim_login_csrf", token)
        data = {"username": "drjones", "password": "clinician-pass-2", "csrf_token": token}
        assert two.post("/login", data=data, follow_redirects=False).status_code == 303
        one.cookies.set("drgsim_login_csrf", token)
        r = one.post("/login", data=data, follow_redirects=False)
        assert r.status_code == 403 and "expired" in r.text
        for worker in (app, second):  # both workers' clocks past the lockout
            worker.state.throttle.clock = lambda: time.time() + 901
        assert two.post("/api/v1/session", json={"username": "drsmith", "password": CLINICIAN[1]}).status_code == 200


def test_old_failures_are_forgotten(app, migrated, new_client):
    c = new_client()
    app.state.throttle.clock = lambda: time.time() - 1000  # four failures more than the window (900 s) ago
    for _ in range(4):
        assert c.post("/api/v1/session", json={"username": "drsmith", "password": "wrong-pass-99"}).status_code == 401
    app.state.throttle.clock = time.time
    assert c.post("/api/v1/session", json={"username": "drsmith", "password": "wrong-pass-99"}).status_code == 401
    engine = make_engine(migrated, pooled=False)
    with session_factory(engine)() as db:  # the old rows are gone: the user and the address key, one each
        assert db.scalar(select(func.count()).select_from(SignInFailure)) == 2
    engine.dispose()
    sign_in(c, *CLINICIAN)  # the fifth failure in 15 min has not come: no lockout


# ------------------------------------------------------------ a date error names its field once
def error_items(text: str, field: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(rf'<li data-field="{field}">(.*?)</li>', text)]


def test_page_date_errors_name_the_field_once_with_the_value_and_range(app, monkeypatch):
    with TestClient(app) as c, TestClient(app) as phone:
        token = clinician_pages(c)
        pid = new_patient(c)
        to_trial(c, pid)
        set_today(monkeypatch, START + timedelta(days=4))
        page_login(phone, "pat1", "patient-pass-1")
        r = phone.post("/patient/diary", data={"day": "2026-11-07", "nrs": "3", "activity_minutes": "30"},
                       headers={"X-CSRF-Token": csrf_of(phone.get("/patient").text)})
        assert r.status_code == 422
        assert error_items(r.text, "day") == ["day=2026-11-07; allowed: 2026-11-01 to 2026-11-05 "
                                              "(the trial's days up to today)"]
        for i in range(5):
            assert diary(c, pid, START + timedelta(days=i)).status_code == 201
        set_today(monkeypatch, date(2026, 12, 7))
        assert c.post(f"/clinician/patients/{pid}/decision", data={"csrf_token": token, "proceed": "true"},
                      follow_redirects=False).status_code == 303
        r = c.post(f"/clinician/patients/{pid}/implant", data={"csrf_token": token, "implant_date": "9999-12-31"})
        assert r.status_code == 422
        assert error_items(r.text, "implant_date") == [
            "implant_date=9999-12-31; allowed: 2026-11-01 (the trial's start) to 2027-12-07 (a year after today)"]
        assert "implant_date: implant_date" not in r.text
        r = c.post(f"/clinician/patients/{pid}/implant", data={"csrf_token": token, "implant_date": "2026-11-20"},
                   follow_redirects=False)
        assert r.status_code == 303
        r = c.post(f"/clinician/patients/{pid}/ipg-replacement",
                   data={"csrf_token": token, "replacement_date": "2026-11-19", "confirm": "on"})
        assert r.status_code == 422
        assert error_items(r.text, "replacement_date") == [
            "replacement_date=2026-11-19; allowed: 2026-11-20 (the implant date) to 2027-12-07 (a year after today)"]
        r = c.post(f"/clinician/patients/{pid}/followups", data={"csrf_token": token, "visit_date": "2026-13-01",
                                                                  "nrs": "3", "odi_pct": "20", "eq_vas": "70"})
        assert r.status_code == 422  # a form check keeps its field in front: "visit_date: ..." once
        (item,) = error_items(r.text, "visit_date")
        assert item.startswith("visit_date: ") and item.count("visit_date") == 1
