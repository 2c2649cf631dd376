"""Issue 17's clinic features: the printable session report of a visit, remote programming sessions
(NeuroSphere Virtual Clinic style: join from the phone, heartbeats, a lost link reverts the device), the
patient search of the clinician's list and the NRS chart of the patient page. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from drgsim.clinic import service
from drgsim.clinic.app import create_app
from tests.clinic.test_api import new_patient, program_lead
from tests.clinic.test_pages import clinician_pages
from tests.clinic.test_pages_small import phone_with_program

HX = {"HX-Request": "true"}


class Clock:
    """The clinic's remote-session clock (``service.now``), moved by the test instead of sleeping."""

    def __init__(self, monkeypatch):
        self.t = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
        monkeypatch.setattr(service, "now", lambda: self.t)

    def wait(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def amplitude(c: TestClient, pid: int) -> float:
    return c.get(f"/api/v1/patients/{pid}/device").json()["programs"]["P1"]["leads"]["1"]["amplitude_ma"]


def set_amplitude(c: TestClient, pid: int, amplitude_ma: float):
    return program_lead(c, pid, amplitude_ma=amplitude_ma, min_amplitude_ma=1.0, max_amplitude_ma=1.1)


# ------------------------------------------------------------ remote programming
def test_remote_session_join_heartbeat_and_a_lost_link_reverts(app, migrated, monkeypatch):
    clock = Clock(monkeypatch)
    other_worker = create_app(migrated, quality="quick")  # the phone's requests land on another worker
    with TestClient(app) as c, TestClient(other_worker) as phone:
        clinician_pages(c)
        pid = new_patient(c)
        token = phone_with_program(c, phone, pid)  # P1 running at 1.025 mA, patient range 1-1.1 mA
        beat = {"X-CSRF-Token": token, **HX}
        assert "remote-join" not in phone.get("/patient/remote").text
        assert phone.post(f"/clinician/patients/{pid}/remote", headers=beat).status_code == 403
        r = c.post(f"/clinician/patients/{pid}/remote", headers=HX)
        assert r.status_code == 200 and 'data-status="offered"' in r.text
        assert c.post(f"/clinician/patients/{pid}/remote", headers=HX).status_code == 409  # one open session
        r = set_amplitude(c, pid, 1.05)  # no link yet: the change does not reach the stimulator
        assert r.status_code == 409 and "not joined" in r.json()["reason"] and amplitude(c, pid) == 1.025
        offer = phone.get("/patient/remote").text
        assert 'id="remote-join"' in offer and "Dr Smith offers" in offer
        r = phone.post("/patient/remote/join", headers=beat)
        assert r.status_code == 200 and 'data-status="joined"' in r.text
        assert 'hx-post="/patient/remote/heartbeat" hx-trigger="every 3s"' in r.text
        r = set_amplitude(c, pid, 1.075)  # joined: the clinician's change goes to the device
        assert r.status_code == 200 and r.json()["accepted"] and amplitude(c, pid) == 1.075
        for _ in range(3):  # heartbeats keep the link across more than the timeout
            clock.wait(10)
            assert 'data-status="joined"' in phone.post("/patient/remote/heartbeat", headers=beat).text
        assert 'data-status="joined"' in c.get(f"/clinician/patients/{pid}/remote/status").text
        clock.wait(service.REMOTE_TIMEOUT_S + 1)  # the phone went silent
        panel = c.get(f"/clinician/patients/{pid}/remote/status").text
        assert 'id="remote-ended"' in panel and "link lost: no heartbeat from the phone for 16 s" in panel
        assert amplitude(c, pid) == 1.025  # back to the settings saved when the patient joined
        last = c.get(f"/api/v1/patients/{pid}/device/events").json()[0]
        assert (last["action"], last["actor"]["role"], last["accepted"]) == ("revert_programs", "system", True)
        assert "link lost" in last["params"]["reason"] and last["before"] == {"programs.P1.leads.1.amplitude_ma": 1.075}
        r = phone.post("/patient/remote/heartbeat", headers=beat)
        assert 'data-status="ended"' in r.text and "link lost" in r.text and "remote-join" not in r.text
        assert 'hx-get="/patient/remote"' in r.text  # the phone goes back to looking for an offer


def test_saved_settings_survive_the_end_of_a_remote_session(app, monkeypatch):
    clock = Clock(monkeypatch)
    with TestClient(app) as c, TestClient(app) as phone:
        clinician_pages(c)
        pid = new_patient(c)
        beat = {"X-CSRF-Token": phone_with_program(c, phone, pid), **HX}
        assert c.post(f"/clinician/patients/{pid}/remote/save", headers=HX).status_code == 409  # nothing to save
        c.post(f"/clinician/patients/{pid}/remote", headers=HX)
        phone.post("/patient/remote/join", headers=beat)
        assert set_amplitude(c, pid, 1.075).json()["accepted"]
        r = c.post(f"/clinician/patients/{pid}/remote/save", headers=HX)
        assert r.status_code == 200 and "Saved settings from 12:00:00 UTC" in r.text
        assert set_amplitude(c, pid, 1.1).json()["accepted"]
        clock.wait(2)
        r = phone.post("/patient/remote/end", headers=beat)  # the patient leaves: the unsaved 1.1 mA reverts
        assert 'data-status="ended"' in r.text and "ended by the patient" in r.text
        assert amplitude(c, pid) == 1.075
        events = c.get(f"/api/v1/patients/{pid}/device/events").json()
        assert events[0]["action"] == "revert_programs" and events[0]["params"]["reason"] == "ended by the patient"
        assert phone.post("/patient/remote/end", headers=beat).status_code == 409
        # a clinician ending an offer nobody joined reverts nothing (no remote change was possible)
        c.post(f"/clinician/patients/{pid}/remote", headers=HX)
        r = c.post(f"/clinician/patients/{pid}/remote/end", headers=HX)
        assert "ended by the clinician" in r.text and 'id="remote-start"' in r.text
        assert c.get(f"/api/v1/patients/{pid}/device/events").json()[0]["seq"] == events[0]["seq"]
        audit = [a["action"] for a in c.get("/api/v1/audit").json() if a["patient_id"] == pid]
        assert {"remote.start", "remote.join", "remote.save", "remote.end"} <= set(audit)


def test_remote_sessions_refuse_other_clinicians_and_a_bad_timeout_setting(app, migrated, new_client, monkeypatch):
    from tests.clinic.test_pages import page_login

    with TestClient(app) as c:
        clinician_pages(c)
        pid = new_patient(c)
        other = new_client()
        page_login(other, "drjones", "clinician-pass-2")
        assert other.get(f"/clinician/patients/{pid}/remote").status_code == 403
    monkeypatch.setenv(service.REMOTE_TIMEOUT_ENV, "0.5")
    with pytest.raises(ValueError, match=r"DRGSIM_REMOTE_TIMEOUT_S=0.5; allowed: 2-600 seconds"):
        create_app(migrated, quality="quick")
