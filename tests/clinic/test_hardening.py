"""Issue 17, defects 3, 4, 8 and 9: sign-in throttling and passwords, non-finite and out-of-range input,
cache and framing headers, and what a patient may read through the API."""

from __future__ import annotations

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
    """Rows written before the fix (an Infinity in the detail) still read back as JSON."""
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
