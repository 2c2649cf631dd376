"""Issue 17's smaller page defects: the pain-map brush, the list's trial status, the phone's amplitudes and
taps, the DRG-versus-SCS panel and the trial programs on the new IPG."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.clinic.test_api import START, diary, new_patient, set_today, to_trial
from tests.clinic.test_pages import clinician_pages


def test_the_brush_keeps_its_intensity_across_clicks(app):
    with TestClient(app) as c:
        clinician_pages(c)
        pid = new_patient(c)
        r = c.post(f"/clinician/patients/{pid}/painmap/region", data={"region": "left_sole", "nrs": "3"})
        assert r.status_code == 200 and 'data-nrs="3"' in r.text
        assert re.search(r'<option value="3"\s+selected>', r.text)  # the next click paints 3 again, not 7
        assert not re.search(r'<option value="7"\s+selected>', r.text)
        page = c.get(f"/clinician/patients/{pid}").text
        assert re.search(r'<option value="7"\s+selected>', page)  # a fresh page starts at the default


def test_the_list_never_shows_a_day_past_the_trial(app, monkeypatch):
    with TestClient(app) as c:
        clinician_pages(c)
        pid = new_patient(c)
        to_trial(c, pid)
        set_today(monkeypatch, START + timedelta(days=2))
        assert "trial day 3/7" in c.get("/clinician").text
        set_today(monkeypatch, START + timedelta(days=9))
        for i in range(8):
            assert diary(c, pid, START + timedelta(days=i), nrs=3).status_code == 201
        text = c.get("/clinician").text
        assert "trial ended (7 days), decision due, 8 diary days" in text and "day 8/7" not in text


def phone_with_program(c: TestClient, phone: TestClient, pid: int, **limits) -> str:
    """A trial stimulator running P1 at 1.025 mA in the range 1-1.1 mA; the phone signed in (its CSRF token)."""
    from tests.clinic.test_api import program_lead
    from tests.clinic.test_pages import csrf_of, page_login

    to_trial(c, pid)
    assert c.post(f"/api/v1/patients/{pid}/programs", json={"name": "P1"}).status_code == 200
    settings = {"amplitude_ma": 1.025, "min_amplitude_ma": 1.0, "max_amplitude_ma": 1.1, **limits}
    assert program_lead(c, pid, **settings).json()["accepted"]
    assert c.post(f"/api/v1/patients/{pid}/therapy", json={"on": True, "program": "P1"}).status_code == 200
    page_login(phone, "pat1", "patient-pass-1")
    return csrf_of(phone.get("/patient").text)


def test_the_phone_shows_the_device_resolution_and_the_lower_limit(app):
    with TestClient(app) as c, TestClient(app) as phone:
        clinician_pages(c)
        pid = new_patient(c)
        token = phone_with_program(c, phone, pid)
        page = phone.get("/patient").text
        assert '<span class="amp" id="amp-1">1.025</span>' in page and "(your range 1-1.1 mA)" in page
        r = phone.post("/patient/amplitude", data={"steps": "-1"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and 'id="amp-1">1</span>' in r.text
        r = phone.post("/patient/amplitude", data={"steps": "-1"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and 'class="refused"' in r.text
        assert "you are at your lower limit, 1 mA" in r.text and 'id="amp-1">1</span>' in r.text


def test_a_tap_that_loses_the_race_is_shown(app, migrated, monkeypatch):
    from drgsim.clinic import service
    from drgsim.clinic.db import make_engine, session_factory
    from drgsim.clinic.models import Device

    real = service.step_amplitude

    def raced(db, user, patient_id, data):
        """Another tap's write lands between this tap's read and its commit."""
        mine = service.active_device(db, service.patient_for(db, user, patient_id, "amplitude.step"))
        engine = make_engine(migrated, pooled=False)
        with session_factory(engine)() as other:
            row = other.get(Device, service.active_device(other, other.get(service.Patient, patient_id)).id)
            row.state = {**row.state, "mri_mode": True}
            other.commit()
        engine.dispose()
        out = real(db, user, patient_id, data)
        assert mine.id is not None  # this tap read the version the other one replaced
        return out

    with TestClient(app) as c, TestClient(app) as phone:
        clinician_pages(c)
        pid = new_patient(c)
        token = phone_with_program(c, phone, pid)
        monkeypatch.setattr(service, "step_amplitude", raced)
        r = phone.post("/patient/amplitude", data={"steps": "1"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and 'class="refused"' in r.text and "this tap was not applied" in r.text
        assert 'id="amp-1">1.025</span>' in r.text  # the current amplitude, not the lost step's
        assert 'hx-disabled-elt="#amp-down, #amp-up, #toggle"' in r.text  # no second tap while one is in flight


def test_the_comparison_panel_reads_as_text(app):
    """A finished comparison (its summary.json as ``therapy.report.write_outputs`` writes it) shown without
    codes or dict reprs, figures at a readable width, each battery on its own cell and like for like."""
    import json

    from drgsim.clinic.reports import report_dir

    with TestClient(app) as c:
        clinician_pages(c)
        pid = new_patient(c)
        out = report_dir(pid)
        out.mkdir(parents=True)
        side = {"pain_coverage_pct": 91.2, "off_target_pct": 12.0, "paresthesia_area_ratio": 1.4,
                "average_current_ua": 35.5, "program": {"leads": {"1": {"amplitude_ma": 0.6}}},
                "intervals": {"pain_coverage_pct": [88.0, 94.0]}}
        claim = ("Years until the IPG must be replaced, each system on its own device: DRG 9.1 vs SCS 10.2 years "
                 "(DRG: primary cell, no recharging; SCS: recharged every 12 days.) Like for like, on the DRG IPG's "
                 "primary cell: DRG 9.1 vs SCS 2.3 years.")
        summary = {"pain": {"left_sole": 8, "left_heel": 7}, "quality": "quick",
                   "drg": {**side, "battery_years": 9.1, "primary_cell_years": 9.1, "recharge_interval_days": None},
                   "scs": {**side, "battery_years": 10.2, "primary_cell_years": 2.3, "recharge_interval_days": 12.0},
                   "claims": [{"measure": "battery_years", "statement": claim}]}
        (out / "summary.json").write_text(json.dumps(summary))
        (out / "energy.png").write_bytes(b"\x89PNG\r\n")
        text = c.get(f"/clinician/patients/{pid}/compare").text
        assert "CRPS type I" in text and "crps_i" not in text
        assert "left sole 8, left heel 7" in text and "{" not in text.split('id="compare"')[1].split("hx-post")[0]
        assert "9.1 years on its primary cell (no recharging)" in text
        assert "10.2 years between replacements (rechargeable, recharged every 12 days)" in text
        assert "like for like" in text and "2.3" in text and "Like for like, on the DRG IPG&#39;s" in text
        assert re.search(r'<img src="[^"]+/energy.png"[^>]*style="width:100%', text)
        assert "CRPS type I" in c.get("/clinician").text


def test_the_trial_programs_are_offered_on_the_new_ipg(app, monkeypatch):
    from tests.clinic.test_api import program_lead

    with TestClient(app) as c:
        token = clinician_pages(c)
        pid = new_patient(c)
        to_trial(c, pid)
        assert c.post(f"/api/v1/patients/{pid}/programs", json={"name": "Trial A"}).status_code == 200
        assert program_lead(c, pid, program="Trial A", amplitude_ma=0.5).json()["accepted"]
        set_today(monkeypatch, START + timedelta(days=7))
        for i in range(7):
            assert diary(c, pid, START + timedelta(days=i), nrs=2).status_code == 201
        r = c.post(f"/clinician/patients/{pid}/decision", data={"csrf_token": token, "proceed": "true"},
                   follow_redirects=False)
        assert r.status_code == 303
        r = c.post(f"/clinician/patients/{pid}/implant", data={"csrf_token": token, "implant_date": "2026-11-20"},
                   follow_redirects=False)
        assert r.status_code == 303
        dev = c.get(f"/api/v1/patients/{pid}/device").json()
        assert dev["serial"].startswith("IPG") and "Trial A" in dev["programs"]
        lead1 = dev["programs"]["Trial A"]["leads"]["1"]
        kept = (lead1["contacts"], lead1["pulse_width_us"], lead1["frequency_hz"])
        assert kept == (["off", "+", "-", "off"], 300, 20)
        assert (lead1["enabled"], lead1["amplitude_ma"]) == (False, 0.0)  # set and enabled on the permanent leads
        assert lead1["patient_limits"] == {"min_amplitude_ma": 0.3, "max_amplitude_ma": 0.6}
        assert "Trial A" in c.get(f"/clinician/patients/{pid}").text
