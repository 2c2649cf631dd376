"""Issue 17's clinic features: the printable session report of a visit, remote programming sessions
(NeuroSphere Virtual Clinic style: join from the phone, heartbeats, a lost link reverts the device), the
patient search of the clinician's list and the NRS chart of the patient page. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from drgsim.clinic import service
from drgsim.clinic.app import create_app
from tests.clinic.test_api import START, diary, new_patient, program_lead, to_trial
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
        shown = re.search(r'name="device_version" value="(\d+)"', phone.get("/patient").text)[1]
        r = set_amplitude(c, pid, 1.075)  # joined: the clinician's change goes to the device
        assert r.status_code == 200 and r.json()["accepted"] and amplitude(c, pid) == 1.075
        r = phone.post("/patient/remote/heartbeat", data={"device_version": shown}, headers=beat)
        assert 'id="controller" hx-swap-oob="true"' in r.text and 'id="amp-1">1.075</span>' in r.text  # redrawn
        shown = re.search(r'name="device_version" value="(\d+)"', r.text)[1]
        r = phone.post("/patient/remote/heartbeat", data={"device_version": shown}, headers=beat)
        assert 'data-status="joined"' in r.text and "hx-swap-oob" not in r.text  # unchanged: not redrawn
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
        r = phone.post("/patient/remote/heartbeat", data={"device_version": shown}, headers=beat)
        assert 'data-status="ended"' in r.text and "link lost" in r.text and "remote-join" not in r.text
        assert 'id="amp-1">1.025</span>' in r.text  # the phone redraws the reverted stimulator
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


def test_two_workers_starting_a_session_at_once_open_one(app, monkeypatch):
    """The database keeps one open session per patient: a start that passed its check while another worker's
    start landed is refused (409 on the panel), not a second session and not a 500."""
    with TestClient(app) as c:
        clinician_pages(c)
        pid = new_patient(c)
        to_trial(c, pid)
        assert c.post(f"/clinician/patients/{pid}/remote", headers=HX).status_code == 200
        monkeypatch.setattr(service, "settle_remote", lambda db, patient_id: None)  # the check saw no session
        r = c.post(f"/clinician/patients/{pid}/remote", headers=HX)
        assert r.status_code == 409 and "already has a remote session open" in r.text
        monkeypatch.undo()
        assert 'data-status="offered"' in c.get(f"/clinician/patients/{pid}/remote/status").text


def test_remote_sessions_refuse_other_clinicians_and_a_bad_timeout_setting(app, migrated, new_client, monkeypatch):
    from tests.clinic.test_pages import page_login

    with TestClient(app) as c:
        clinician_pages(c)
        pid = new_patient(c)
        other = new_client()
        page_login(other, "drjones", "clinician-pass-2")
        assert other.get(f"/clinician/patients/{pid}/remote").status_code == 403
    monkeypatch.setenv(service.REMOTE_TIMEOUT_ENV, "5")
    with pytest.raises(ValueError, match=r"DRGSIM_REMOTE_TIMEOUT_S=5; allowed: 6-600 seconds"):
        create_app(migrated, quality="quick")


# ------------------------------------------------------------ the clinician's list: search
def test_the_list_filters_by_name_id_diagnosis_and_stage(app):
    with TestClient(app) as c:
        clinician_pages(c)
        ann = new_patient(c, "ann1", "Ann Example")
        bob = c.post("/api/v1/patients", json={"name": "Bob Other", "birth_year": 1960, "sex": "male",
                                               "diagnosis": "phantom_limb", "username": "bob1",
                                               "password": "patient-pass-1"}).json()["id"]

        def shown(**query) -> set[int]:
            r = c.get("/clinician/search", params=query, headers=HX)
            assert r.status_code == 200, r.text
            return {int(i) for i in re.findall(r'class="patient-row" data-id="(\d+)"', r.text)}

        assert shown() == {ann, bob}
        assert shown(q="ann") == {ann} and shown(q="OTHER bob") == {bob} and shown(q="ann bob") == set()
        assert shown(q=str(bob)) == {bob} and shown(q=f"#{ann}") == {ann}
        assert shown(q="phantom") == {bob} and shown(q="crps type") == {ann} and shown(q="crps_i") == {ann}
        assert shown(stage="evaluation") == {ann, bob} and shown(stage="implanted") == set()
        assert shown(diagnosis="phantom_limb") == {bob} and shown(q="100%") == set()
        assert "no patient matches the search" in c.get("/clinician/search", params={"q": "zzz"}).text
        page = c.get("/clinician", params={"q": "bob"}).text  # the full page keeps the filter
        assert 'value="bob"' in page and f'data-id="{bob}"' in page and f'data-id="{ann}"' not in page
        assert 'hx-get="/clinician/search" hx-trigger="input delay:300ms, change, submit"' in page
        r = c.get("/clinician/search", params={"stage": "discharged"}, headers=HX)
        assert r.status_code == 422 and 'data-field="stage"' in r.text and "discharged" in r.text
        r = c.get("/clinician/search", params={"q": "x" * 101})
        assert r.status_code == 422 and 'data-field="q"' in r.text
        assert [p["id"] for p in c.get("/api/v1/patients", params={"q": "bob"}).json()] == [bob]
        r = c.get("/api/v1/patients", params={"diagnosis": "flu"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "diagnosis"]


# ------------------------------------------------------------ the session report and the NRS chart
FOLLOW_UP = {"odi_pct": 24, "mobility": 2, "self_care": 1, "usual_activities": 2, "pain_discomfort": 2,
             "anxiety_depression": 1, "eq_vas": 75, "reprogrammed": True, "notes": "paresthesia on the sole"}


def visit_patient(c: TestClient, new_client) -> tuple[int, date]:
    """A trial with a week of diary, P1 programmed today (an impedance check) and a follow-up visit today."""
    from tests.clinic.conftest import sign_in

    pid = new_patient(c)
    to_trial(c, pid)
    patient = sign_in(new_client(), "pat1", "patient-pass-1")
    for i, nrs in enumerate([4, 3, 3, 4, 3, 2, 3]):
        assert diary(patient, pid, START + timedelta(days=i), nrs=nrs).status_code == 201
    assert c.post(f"/api/v1/patients/{pid}/programs", json={"name": "P1"}).status_code == 200
    assert program_lead(c, pid).json()["accepted"]
    today = service.today()
    for visit, nrs in ((today - timedelta(days=3), 5), (today, 3)):
        r = c.post(f"/api/v1/patients/{pid}/followups", json={"visit_date": visit.isoformat(), "nrs": nrs, **FOLLOW_UP})
        assert r.status_code == 201, r.text
    return pid, today


def test_the_session_report_of_a_visit(app, new_client):
    with TestClient(app) as c:
        clinician_pages(c)
        pid, today = visit_patient(c, new_client)
        page = c.get(f"/clinician/patients/{pid}").text
        assert f'href="/clinician/patients/{pid}/report?date={today.isoformat()}"' in page
        r = c.get(f"/clinician/patients/{pid}/report", params={"date": today.isoformat()})
        assert r.status_code == 200
        html = r.text
        assert f"Session report: Ann Example, {today.isoformat()}" in html and "@media print" in html
        lead = re.search(r'<tr class="program-lead" data-program="P1" data-lead="1">(.*?)</tr>', html, re.S)[1]
        assert re.findall(r"<td>([^<]*)</td>", lead) == ["P1", "1", "L5 left", "0+-0", "0.5", "300", "20", "0.3-0.6",
                                                        "yes"]
        assert re.search(r'<tr class="impedance">.*?<td>1</td><td>impedance, configuration 0\+-0</td><td>1000 ohm</td>',
                         html)
        assert 'id="report-diary-days">7 diary days' in html and 'id="report-mean-nrs">3.1<' in html
        assert 'id="report-relief">61%<' in html
        assert html.count('<tr class="followup') == 2 and html.count("this-visit") == 1
        assert "paresthesia on the sole" in html
        events = c.get(f"/api/v1/patients/{pid}/device/events").json()
        todays = [e for e in events if e["time"][:10] == today.isoformat()]
        assert html.count('<tr class="event">') == len(todays) > 0 and "set_contacts" in html
        earlier = c.get(f"/clinician/patients/{pid}/report", params={"date": (today - timedelta(days=3)).isoformat()})
        assert 'id="no-events"' in earlier.text and 'id="no-measurements"' in earlier.text
        assert earlier.text.count('<tr class="followup') == 1 and "this-visit" in earlier.text
        for bad, why in (("2026-13-40", "a date YYYY-MM-DD"), ((today + timedelta(days=1)).isoformat(), "(today)"),
                         ("1800-01-01", "birth year")):
            r = c.get(f"/clinician/patients/{pid}/report", params={"date": bad})
            assert r.status_code == 422 and f"date={bad}" in r.text and why in r.text, r.text
        assert "report.read" in [a["action"] for a in c.get("/api/v1/audit").json()]


def test_the_session_report_is_for_the_patients_clinician_only(app, new_client):
    from tests.clinic.test_pages import page_login

    with TestClient(app) as c:
        clinician_pages(c)
        pid = new_patient(c)
        url = f"/clinician/patients/{pid}/report"
        assert c.get(url).status_code == 200
        patient, other = new_client(), new_client()
        page_login(patient, "pat1", "patient-pass-1")
        page_login(other, "drjones", "clinician-pass-2")
        for who in (patient, other):
            r = who.get(url)
            assert r.status_code == 403 and "Session report" not in r.text


def test_the_patient_page_charts_nrs_over_the_trial_and_the_follow_ups(app, new_client):
    with TestClient(app) as c:
        clinician_pages(c)
        empty = new_patient(c, "pat2", "Bob Other")
        assert 'id="nrs-chart-empty"' in c.get(f"/clinician/patients/{empty}").text
        pid, today = visit_patient(c, new_client)
        html = c.get(f"/clinician/patients/{pid}").text
        chart = re.search(r'<figure id="nrs-chart">(<svg.*?</svg>)</figure>', html, re.S)[1]
        trial = re.findall(r'<circle class="point" data-series="trial" data-date="([^"]+)" data-nrs="([^"]+)"', chart)
        visits = re.findall(r'<circle class="point" data-series="follow-up" data-date="([^"]+)" data-nrs="([^"]+)"',
                            chart)
        assert trial == [((START + timedelta(days=i)).isoformat(), str(n)) for i, n in enumerate([4, 3, 3, 4, 3, 2, 3])]
        assert visits == [((today - timedelta(days=3)).isoformat(), "5"), (today.isoformat(), "3")]
        assert chart.count('class="series"') == 2 and chart.count('class="legend"') == 2
        assert "trial diary" in chart and "follow-up visits" in chart and "NRS (0-10)" in chart
        assert [t for t in re.findall(r'class="y-tick"[^>]*>(\d+)<', chart)] == ["0", "2", "4", "6", "8", "10"]
        ticks = re.findall(r'class="x-tick"[^>]*>([0-9-]+)<', chart)
        assert ticks[0] == START.isoformat() and 2 <= len(ticks) <= 6
        found = re.findall(r'data-date="([^"]+)" data-nrs="[^"]+" cx="[^"]+" cy="([^"]+)"', chart)
        cy = {d: float(y) for d, y in found}
        assert cy[(START + timedelta(days=5)).isoformat()] > cy[START.isoformat()]  # NRS 2 drawn below NRS 4


def report_rows(html: str, table_id: str, row_class: str) -> list[list[str]]:
    """The cells of the report table's rows (tags inside a cell dropped)."""
    table = re.search(rf'<table id="{table_id}">.*?</table>', html, re.S)[0]
    rows = re.findall(rf'<tr class="{row_class}"[^>]*>(.*?)</tr>', table, re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in rows]


def test_the_session_report_lists_the_days_contact_checks_thresholds_and_mapping(app):
    """Issue 17 integration: what the programmer captured on the page that day is on the printed report."""
    from tests.clinic.test_pages import programming_patient
    from tests.clinic.test_programmer import configure, post

    with TestClient(app) as c:
        pid, token, url = programming_patient(c)  # leads of 1000 ohm tissue load
        for _ in range(2):  # the second check reads the same ohms: its event holds only what changed
            assert post(c, f"{url}/P1/leads/1/impedance", token).status_code == 200
        configure(c, token, url)  # 0-+0
        for _ in range(4):
            assert 'class="accepted"' in post(c, f"{url}/P1/leads/1/ramp", token, steps="1").text
        assert post(c, f"{url}/P1/leads/1/thresholds", token, perception_ma="0.1").status_code == 200
        assert post(c, f"{url}/P1/leads/1/thresholds", token, comfort_ma="0.5", discomfort_ma="0.9").status_code == 200
        for region in ("left_sole", "left_heel"):
            assert post(c, f"{url}/P1/mapping/region", token, region=region).status_code == 200
        today = service.today().isoformat()
        html = c.get(f"/clinician/patients/{pid}/report", params={"date": today}).text
        serial = c.get(f"/api/v1/patients/{pid}/device").json()["serial"]
        checks = report_rows(html, "report-contact-checks", "contact-check")
        lead1 = [serial, "1", "; ".join(f"{i}: 1000 ohm" for i in range(1, 5))]
        assert [row[1:] for row in checks] == [lead1, lead1]
        assert html.count('data-flag="ok"') == 8
        thresholds = report_rows(html, "report-thresholds", "threshold")
        assert [row[1:] for row in thresholds] == [[serial, "1", "P1", "0-+0", "40", "60", "0.1", "-", "-"],
                                                   [serial, "1", "P1", "0-+0", "40", "60", "0.1", "0.5", "0.9"]]
        (mapping,) = report_rows(html, "report-mappings", "mapping")
        assert mapping == [serial, "P1", "lead 1 0-+0 0.1 mA 40 us 60 Hz (off); lead 2 0000 0 mA 40 us 60 Hz (off)",
                           "left_heel, left_sole"]
        assert 'id="no-measurements"' not in html and 'id="no-mappings"' not in html
        assert "ramp amplitude" not in html.split('id="report-events"')[0]  # no event is taken for a threshold
        earlier = c.get(f"/clinician/patients/{pid}/report",
                        params={"date": (service.today() - timedelta(days=1)).isoformat()}).text
        assert 'id="no-measurements"' in earlier and 'id="no-mappings"' in earlier
