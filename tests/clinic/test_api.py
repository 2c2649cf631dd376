"""The clinic API on SQLite and PostgreSQL: the whole pathway, access rules, audit, validation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from drgsim.clinic import service
from drgsim.clinic.db import make_engine, session_factory
from drgsim.clinic.models import AuditEntry, DeviceEvent, Patient, User
from tests.clinic.conftest import sign_in

START = date(2026, 11, 1)
FOOT = {"left_sole": 8, "left_heel": 7, "left_foot_dorsum": 6}


def new_patient(client, username="pat1", name="Ann Example") -> int:
    r = client.post("/api/v1/patients", json={"name": name, "birth_year": 1970, "sex": "female",
                                              "diagnosis": "crps_i", "username": username,
                                              "password": "patient-pass-1"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def to_trial(client, pid: int) -> None:
    assert client.put(f"/api/v1/patients/{pid}/painmap", json={"nrs": FOOT}).status_code == 200
    r = client.post(f"/api/v1/patients/{pid}/screening", json={
        "diagnosis": "crps_i", "neuropathic": True, "pain_duration_months": 18, "failed_drug_classes": 3,
        "failed_injections": True, "failed_therapy": True, "psych_screened": True, "bdi_ii": 14})
    assert r.status_code == 200 and r.json()["eligible"], r.text
    rec = client.get(f"/api/v1/patients/{pid}/plan/recommended").json()
    assert {(t["level"], t["side"]) for t in rec} >= {("S1", "left")}
    r = client.post(f"/api/v1/patients/{pid}/plan", json={"targets": [{"level": "L5", "side": "left"},
                                                                       {"level": "S1", "side": "left"}]})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/patients/{pid}/trial", json={"start_date": START.isoformat(), "baseline_nrs": 8})
    assert r.status_code == 201, r.text


def program_lead(client, pid, program="P1", lead=1, **kw):
    body = {"contacts": "0+-0", "amplitude_ma": 0.5, "pulse_width_us": 300, "frequency_hz": 20, "enabled": True,
            "min_amplitude_ma": 0.3, "max_amplitude_ma": 0.6, **kw}
    return client.put(f"/api/v1/patients/{pid}/programs/{program}/leads/{lead}", json=body)


def set_today(monkeypatch, day: date) -> None:
    """The clinic's date (service.today) for the rest of the test."""
    monkeypatch.setattr(service, "today", lambda: day)


def test_pathway_trial_to_implant(clinician, new_client, migrated, monkeypatch):
    pid = new_patient(clinician)
    to_trial(clinician, pid)
    patient = sign_in(new_client(), "pat1", "patient-pass-1")
    for i, nrs in enumerate([4, 3, 3, 4, 3, 2, 3]):
        r = patient.post(f"/api/v1/patients/{pid}/diary", json={
            "day": (START + timedelta(days=i)).isoformat(), "nrs": nrs, "medication": "gabapentin 300 mg",
            "activity_minutes": 30 + 10 * i})
        assert r.status_code == 201, r.text
    assert len(patient.get(f"/api/v1/patients/{pid}/diary").json()) == 7  # their diary, not the clinical record
    trial = clinician.get(f"/api/v1/patients/{pid}/trial").json()
    mean = (4 + 3 + 3 + 4 + 3 + 2 + 3) / 7
    assert trial["relief"]["relief_pct"] == pytest.approx(100 * (8 - mean) / 8)
    assert trial["relief"]["meets_rule"] and trial["relief"]["days"] == 7
    # the patient cannot decide; the clinician confirms
    assert patient.post(f"/api/v1/patients/{pid}/trial/decision", json={"proceed": True}).status_code == 403
    r = clinician.post(f"/api/v1/patients/{pid}/trial/decision", json={"proceed": True, "note": "good relief"})
    assert r.status_code == 200 and r.json()["meets_rule"], r.text
    r = clinician.post(f"/api/v1/patients/{pid}/implant", json={"implant_date": "2026-11-20"})
    assert r.status_code == 201, r.text
    assert r.json()["projected_replacement_date"] is not None
    assert clinician.post(f"/api/v1/patients/{pid}/programs", json={"name": "P1"}).status_code == 200
    r = program_lead(clinician, pid)
    assert r.status_code == 200 and r.json()["accepted"], r.text
    r = clinician.post(f"/api/v1/patients/{pid}/therapy", json={"on": True, "program": "P1"})
    assert r.status_code == 200, r.text
    before = clinician.get(f"/api/v1/patients/{pid}").json()["implant"]["projected_replacement_date"]
    # patient: up in device steps (0.025 mA below 2 mA) until the clinician's limit stops it
    amps = []
    for _ in range(5):
        r = patient.post(f"/api/v1/patients/{pid}/amplitude", json={"steps": 1})
        amps.append(r.status_code)
    assert amps == [200, 200, 200, 200, 409]
    dev = patient.get(f"/api/v1/patients/{pid}/device").json()
    assert dev["programs"]["P1"]["leads"]["1"]["amplitude_ma"] == pytest.approx(0.6)
    assert "0.625 mA would leave the clinician limits" in r.json()["reason"]
    after = clinician.get(f"/api/v1/patients/{pid}").json()["implant"]["projected_replacement_date"]
    assert before is not None and after is not None
    assert after < before  # the patient's higher amplitude brings the projected replacement forward
    # follow-up and adverse event
    r = clinician.post(f"/api/v1/patients/{pid}/followups", json={
        "visit_date": "2026-12-20", "nrs": 3, "odi_pct": 24, "mobility": 2, "self_care": 1, "usual_activities": 2,
        "pain_discomfort": 2, "anxiety_depression": 1, "eq_vas": 75, "reprogrammed": False})
    assert r.status_code == 201, r.text
    r = clinician.post(f"/api/v1/patients/{pid}/adverse-events", json={
        "onset_date": "2026-12-01", "kind": "lead_migration", "severity": "moderate",
        "description": "paresthesia moved to the calf"})
    assert r.status_code == 201, r.text
    full = clinician.get(f"/api/v1/patients/{pid}").json()
    assert full["stage"] == "implanted" and full["follow_ups"][0]["eq5d"]["eq_vas"] == 75
    assert full["adverse_events"][0]["kind"] == "lead_migration"
    # years later the IPG is replaced: programs carry over, leads re-measured and enabled, therapy back on
    r = clinician.post(f"/api/v1/patients/{pid}/ipg-replacement", json={"replacement_date": "2019-01-01"})
    assert r.status_code == 422 and "replacement_date=2019-01-01" in r.json()["detail"][0]["msg"]
    old_serial = full["implant"]["device"]
    set_today(monkeypatch, date(2034, 5, 2))  # years later
    r = clinician.post(f"/api/v1/patients/{pid}/ipg-replacement", json={"replacement_date": "2034-05-02"})
    assert r.status_code == 201, r.text
    assert r.json()["device"] != old_serial and r.json()["implant_date"] == "2034-05-02"
    dev = patient.get(f"/api/v1/patients/{pid}/device").json()
    lead1 = dev["programs"]["P1"]["leads"]["1"]
    assert dev["serial"] == r.json()["device"] and dev["status"]["therapy_on"]
    assert (lead1["enabled"], lead1["amplitude_ma"], lead1["patient_limits"]["max_amplitude_ma"]) == (True, 0.6, 0.6)
    assert dev["status"]["battery"]["percent_remaining"] == pytest.approx(100.0, abs=0.01)
    # device events stored as an unbroken chain; refused steps are kept
    events = clinician.get(f"/api/v1/patients/{pid}/device/events").json()
    assert any(e["action"] == "step_amplitude" and not e["accepted"] for e in events)
    engine = make_engine(migrated, pooled=False)
    with session_factory(engine)() as db:
        rows = db.scalars(select(DeviceEvent).order_by(DeviceEvent.device_id, DeviceEvent.seq)).all()
        by_dev: dict[int, list] = {}
        for e in rows:
            by_dev.setdefault(e.device_id, []).append(e)
        for chain in by_dev.values():
            assert [e.seq for e in chain] == list(range(len(chain)))
            assert all(b.event["prev_digest"] == a.digest for a, b in zip(chain, chain[1:]))
    engine.dispose()


def test_failed_trial_blocks_implant(clinician, new_client):
    pid = new_patient(clinician)
    to_trial(clinician, pid)
    patient = sign_in(new_client(), "pat1", "patient-pass-1")
    for i in range(5):
        patient.post(f"/api/v1/patients/{pid}/diary", json={"day": (START + timedelta(days=i)).isoformat(),
                                                            "nrs": 6, "activity_minutes": 10})
    r = clinician.post(f"/api/v1/patients/{pid}/trial/decision", json={"proceed": True})
    assert r.status_code == 409 and "below the 50% rule" in r.json()["detail"]
    assert clinician.post(f"/api/v1/patients/{pid}/trial/decision", json={"proceed": False}).status_code == 200
    r = clinician.post(f"/api/v1/patients/{pid}/implant", json={"implant_date": "2026-11-20"})
    assert r.status_code == 409


def test_access_is_checked_and_refusals_logged(clinician, new_client, migrated):
    a = new_patient(clinician, "pat_a", "Ann")
    b = new_patient(clinician, "pat_b", "Bob")
    to_trial(clinician, a)
    pat_b = sign_in(new_client(), "pat_b", "patient-pass-1")
    assert pat_b.get(f"/api/v1/patients/{a}").status_code == 403
    assert pat_b.post(f"/api/v1/patients/{a}/diary", json={"day": START.isoformat(), "nrs": 2,
                                                           "activity_minutes": 0}).status_code == 403
    assert pat_b.get(f"/api/v1/patients/{b}").status_code == 403  # their own clinical record: the clinician's
    assert pat_b.get("/api/v1/patients").status_code == 403  # the patient list is for clinicians
    other = sign_in(new_client(), "drjones", "clinician-pass-2")
    assert other.get(f"/api/v1/patients/{a}").status_code == 403  # not their patient
    assert new_client().get(f"/api/v1/patients/{a}").status_code == 401
    # CSRF: a write without the token is refused even with a valid session
    token = pat_b.headers.pop("X-CSRF-Token")
    assert pat_b.post(f"/api/v1/patients/{b}/amplitude", json={"steps": 1}).status_code == 403
    pat_b.headers["X-CSRF-Token"] = token
    engine = make_engine(migrated, pooled=False)
    with session_factory(engine)() as db:
        refused = db.scalars(select(AuditEntry).where(AuditEntry.allowed.is_(False))).all()
        assert {(r.username, r.patient_id) for r in refused} >= {("pat_b", a), ("drjones", a)}
        assert any("CSRF" in r.detail["why"] for r in refused if r.detail.get("why"))
        assert all(not u.password_hash.endswith("patient-pass-1") and u.password_hash.startswith("$argon2id$")
                   for u in db.scalars(select(User)))
    engine.dispose()
    log = clinician.get("/api/v1/audit").json()
    assert any(e["action"] == "patient.read" and not e["allowed"] for e in log)


def test_validation_names_fields(clinician):
    r = clinician.post("/api/v1/patients", json={"name": "", "birth_year": 1800, "sex": "x", "diagnosis": "crps_i",
                                                 "username": "A!", "password": "short"})
    assert r.status_code == 422
    fields = {e["loc"][-1] for e in r.json()["detail"]}
    assert fields == {"name", "birth_year", "sex", "username", "password"}
    pid = new_patient(clinician)
    r = clinician.put(f"/api/v1/patients/{pid}/painmap", json={"nrs": {"left_sol": 5}})
    assert r.status_code == 422 and "left_sole" in r.text  # names the region and the close match
    r = clinician.put(f"/api/v1/patients/{pid}/painmap", json={"nrs": {"left_sole": 11}})
    assert r.status_code == 422 and "0" in r.text and "10" in r.text
    r = clinician.post(f"/api/v1/patients/{pid}/plan", json={"targets": [{"level": "L9", "side": "left"}]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "level"


def test_one_transaction_per_write(clinician, migrated, monkeypatch):
    """A failure after the first records of a write were added leaves nothing behind."""
    from drgsim.clinic import service

    def broken_audit(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(service, "audit", broken_audit)
    with pytest.raises(RuntimeError):
        new_patient(clinician, "pat_x")
    monkeypatch.undo()
    engine = make_engine(migrated, pooled=False)
    with session_factory(engine)() as db:
        assert db.scalar(select(func.count()).select_from(Patient)) == 0
        assert db.scalar(select(User).where(User.username == "pat_x")) is None
    engine.dispose()


def test_concurrent_device_writes_cannot_both_land(clinician, migrated):
    """Two requests that loaded the same stimulator: the second commit is refused (optimistic lock)."""
    from sqlalchemy.orm.exc import StaleDataError

    from drgsim.clinic.models import Device

    pid = new_patient(clinician)
    to_trial(clinician, pid)
    engine = make_engine(migrated, pooled=False)
    make = session_factory(engine)
    with make() as a, make() as b:
        da, db_ = a.scalar(select(Device)), b.scalar(select(Device))
        da.state = {**da.state, "therapy_on": False, "mri_mode": True}
        db_.state = {**db_.state, "therapy_on": True, "active_program": "P9"}
        a.commit()
        with pytest.raises(StaleDataError):
            b.commit()
    with make() as c:
        assert c.scalar(select(Device)).state["mri_mode"] is True  # the first write stands whole
    engine.dispose()


# ------------------------------------------------------------ issue 17: the pathway cannot be gamed
def diary(client, pid: int, day: date, nrs: int = 0):
    return client.post(f"/api/v1/patients/{pid}/diary", json={"day": day.isoformat(), "nrs": nrs,
                                                              "activity_minutes": 30})


def test_diary_refuses_future_days_and_days_outside_the_trial(clinician, new_client, monkeypatch):
    pid = new_patient(clinician)
    to_trial(clinician, pid)
    patient = sign_in(new_client(), "pat1", "patient-pass-1")
    set_today(monkeypatch, START + timedelta(days=2))
    r = diary(patient, pid, START + timedelta(days=3))  # tomorrow
    assert r.status_code == 422, r.text
    problem = r.json()["detail"][0]
    assert problem["loc"] == ["body", "day"]
    assert problem["msg"] == "day=2026-11-04; allowed: 2026-11-01 to 2026-11-03 (the trial's days up to today)"
    assert diary(patient, pid, START - timedelta(days=1)).status_code == 422  # before the trial
    set_today(monkeypatch, START + timedelta(days=30))
    r = diary(patient, pid, START + timedelta(days=8))  # after the planned end 2026-11-08
    assert r.status_code == 422 and "allowed: 2026-11-01 to 2026-11-08" in r.json()["detail"][0]["msg"]
    assert diary(patient, pid, START + timedelta(days=2)).status_code == 201
    assert clinician.get(f"/api/v1/patients/{pid}/trial").json()["relief"]["days"] == 1  # patients: 403


def test_decision_before_the_planned_end_needs_an_early_end_reason(clinician, new_client, migrated, monkeypatch):
    pid = new_patient(clinician)
    to_trial(clinician, pid)
    patient = sign_in(new_client(), "pat1", "patient-pass-1")
    set_today(monkeypatch, START + timedelta(days=4))
    for i in range(5):
        assert diary(patient, pid, START + timedelta(days=i)).status_code == 201
    r = clinician.post(f"/api/v1/patients/{pid}/trial/decision", json={"proceed": True})
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == ("the trial runs to 2026-11-08 (today is 2026-11-05): the decision is possible from "
                                  "2026-11-08, or end the trial early now with end_early_reason (the clinician's "
                                  "reason, recorded)")
    assert clinician.get(f"/api/v1/patients/{pid}/trial").json()["status"] == "active"
    r = clinician.post(f"/api/v1/patients/{pid}/trial/decision",
                       json={"proceed": True, "end_early_reason": "lead migrated; relief clear after 5 days"})
    assert r.status_code == 200, r.text
    decision = clinician.get(f"/api/v1/patients/{pid}/trial").json()["decision"]
    assert decision["end_early_reason"] == "lead migrated; relief clear after 5 days"
    entry = next(e for e in clinician.get("/api/v1/audit").json() if e["action"] == "trial.decide")
    assert entry["detail"]["ended_early"] and entry["detail"]["end_early_reason"].startswith("lead migrated")


def test_trial_needs_a_screening_and_an_override_after_not_eligible(clinician):
    pid = new_patient(clinician)
    assert clinician.put(f"/api/v1/patients/{pid}/painmap", json={"nrs": FOOT}).status_code == 200
    assert clinician.post(f"/api/v1/patients/{pid}/plan", json={"targets": [{"level": "S1", "side": "left"}]}
                          ).status_code == 200
    trial = {"start_date": START.isoformat(), "baseline_nrs": 8}
    r = clinician.post(f"/api/v1/patients/{pid}/trial", json=trial)
    assert r.status_code == 409 and "screen the candidate before starting a trial" in r.json()["detail"]
    r = clinician.post(f"/api/v1/patients/{pid}/screening", json={"diagnosis": "crps_i"})
    assert r.status_code == 200 and not r.json()["eligible"]
    r = clinician.post(f"/api/v1/patients/{pid}/trial", json=trial)
    assert r.status_code == 409 and "not eligible" in r.json()["detail"]
    assert "screening_override_reason" in r.json()["detail"]
    assert clinician.get(f"/api/v1/patients/{pid}").json()["trial"] is None
    r = clinician.post(f"/api/v1/patients/{pid}/trial",
                       json={**trial, "screening_override_reason": "psychology review booked; MDT agreed"})
    assert r.status_code == 201, r.text
    assert r.json()["screening_override_reason"] == "psychology review booked; MDT agreed"
    entry = next(e for e in clinician.get("/api/v1/audit").json() if e["action"] == "trial.start")
    assert entry["detail"]["screening_override_reason"] == "psychology review booked; MDT agreed"


def test_implant_and_replacement_dates_lie_in_a_window(clinician, new_client, monkeypatch):
    pid = new_patient(clinician)
    to_trial(clinician, pid)
    patient = sign_in(new_client(), "pat1", "patient-pass-1")
    set_today(monkeypatch, date(2026, 12, 7))
    for i in range(7):
        assert diary(patient, pid, START + timedelta(days=i), nrs=2).status_code == 201
    assert clinician.post(f"/api/v1/patients/{pid}/trial/decision", json={"proceed": True}).status_code == 200
    for bad in ("2000-01-01", "9999-12-31"):
        r = clinician.post(f"/api/v1/patients/{pid}/implant", json={"implant_date": bad})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "implant_date"]
        assert r.json()["detail"][0]["msg"] == (f"implant_date={bad}; allowed: 2026-11-01 (the trial's start) to "
                                                f"2027-12-07 (a year after today)")
    assert clinician.get(f"/api/v1/patients/{pid}").json()["implant"] is None
    assert clinician.post(f"/api/v1/patients/{pid}/implant", json={"implant_date": "2026-11-20"}).status_code == 201
    r = clinician.post(f"/api/v1/patients/{pid}/ipg-replacement", json={"replacement_date": "9999-12-31"})
    assert r.status_code == 422 and r.json()["detail"][0]["msg"] == (
        "replacement_date=9999-12-31; allowed: 2026-11-20 (the implant date) to 2027-12-07 (a year after today)")
