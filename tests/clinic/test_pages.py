"""Server-rendered pages through the test client: sign-in with CSRF, forms that name bad fields, the
clickable pain map, and the role checks of the pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.clinic.conftest import CLINICIAN


def page_login(client: TestClient, username: str, password: str, *, csrf: str | None = None):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token if csrf is None else csrf}, follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'"X-CSRF-Token": "([^"]+)"', html).group(1)


def test_sign_in_pages(app):
    with TestClient(app) as c:
        assert c.get("/clinician", follow_redirects=False).headers["location"] == "/login"
        assert page_login(c, CLINICIAN[0], "wrong-password").status_code == 401
        assert page_login(c, CLINICIAN[0], CLINICIAN[1], csrf="forged").status_code == 403
        r = page_login(c, *CLINICIAN)
        assert r.status_code == 303 and "drgsim_session" in r.cookies
        assert "HttpOnly" in r.headers["set-cookie"] and "samesite=lax" in r.headers["set-cookie"].lower()
        home = c.get("/clinician")
        assert home.status_code == 200 and "New patient" in home.text
        # a form post without the CSRF token is refused
        assert c.post("/clinician/patients", data={"name": "A"}).status_code == 403
        r = c.post("/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/clinician", follow_redirects=False).status_code == 303


def test_forms_name_bad_fields_and_save_nothing(app):
    with TestClient(app) as c:
        page_login(c, *CLINICIAN)
        token = csrf_of(c.get("/clinician").text)
        r = c.post("/clinician/patients", data={"csrf_token": token, "name": "Ann", "birth_year": "1850",
                                                "sex": "female", "diagnosis": "crps_i", "username": "ann",
                                                "password": "short"})
        assert r.status_code == 422
        assert 'data-field="birth_year"' in r.text and 'data-field="password"' in r.text
        assert "1850" in r.text  # the value the user typed is kept in the form
        assert "no patients yet" in c.get("/clinician").text
        r = c.post("/clinician/patients", data={"csrf_token": token, "name": "Ann", "birth_year": "1970",
                                                "sex": "female", "diagnosis": "crps_i", "username": "ann",
                                                "password": "patient-pass-1"}, follow_redirects=False)
        assert r.status_code == 303
        url = r.headers["location"]
        pid = int(url.rsplit("/", 1)[1])
        r = c.post(f"{url}/painmap/region", data={"region": "left_sole", "nrs": "8"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and 'data-region="left_sole"' in r.text and 'data-nrs="8"' in r.text
        r = c.post(f"{url}/painmap/region", data={"region": "left_sol", "nrs": "0"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 422 and "left_sole" in r.text  # names the bad region and the close match
        assert "painmap.save" in c.get(url).text  # the patient page shows the audit trail
        r = c.post(f"{url}/trial", data={"csrf_token": token, "start_date": "2026-11-01", "baseline_nrs": "12"})
        assert r.status_code == 422 and 'data-field="baseline_nrs"' in r.text
        r = c.post(f"{url}/trial", data={"csrf_token": token, "start_date": "2026-11-01", "baseline_nrs": "8"})
        assert r.status_code == 409 and "plan" in r.text  # no plan yet: nothing started
        patient = c.get(f"/api/v1/patients/{pid}").json()
        assert patient["trial"] is None and patient["pain_map"] == {"left_sole": 8}
        # the patient signs in: the controller, never the clinician pages
        with TestClient(app) as p:
            assert page_login(p, "ann", "patient-pass-1").headers["location"] == "/"
            assert p.get("/", follow_redirects=False).headers["location"] == "/patient"
            assert "no stimulator yet" in p.get("/patient").text
            assert p.get("/clinician").status_code == 403
            assert p.get(f"/clinician/patients/{pid}").status_code == 403


def test_openapi_lists_the_api(app):
    with TestClient(app) as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/api/v1/session", "/api/v1/patients", "/api/v1/patients/{pid}/amplitude",
                "/api/v1/patients/{pid}/trial/decision"} <= set(paths)
        assert not any(p.startswith("/clinician") for p in paths)


def test_comparison_figures_on_the_patient_page(app, migrated):
    """The patient page runs drgsim.therapy.compare for the patient's pain map (the default patient's
    foot pain, so the therapy tests reuse its cached fields and tables) and shows numbers and figures."""
    import json
    import time

    import pytest

    from drgsim.clinic.reports import report_dir

    if not migrated.startswith("sqlite"):
        pytest.skip("the comparison does not depend on the database; run once")
    with TestClient(app) as c:
        page_login(c, *CLINICIAN)
        token = csrf_of(c.get("/clinician").text)
        c.headers["X-CSRF-Token"] = token
        pid = c.post("/api/v1/patients", json={"name": "Ann", "birth_year": 1970, "sex": "female",
                                               "diagnosis": "crps_i", "username": "ann",
                                               "password": "patient-pass-1"}).json()["id"]
        assert c.post(f"/clinician/patients/{pid}/compare").status_code == 409  # no pain map yet
        c.put(f"/api/v1/patients/{pid}/painmap", json={"nrs": {"left_sole": 8, "left_heel": 7,
                                                               "left_foot_dorsum": 6}})
        r = c.post(f"/clinician/patients/{pid}/compare")
        assert r.status_code == 200 and ("computing" in r.text or "compare-table" in r.text)
        deadline = time.monotonic() + 2400  # a cold quick comparison: about 15 min on 2 cores
        while "compare-table" not in (r := c.get(f"/clinician/patients/{pid}/compare")).text:
            assert "failed" not in r.text and time.monotonic() < deadline, r.text
            time.sleep(2)
        summary = json.loads((report_dir(pid) / "summary.json").read_text())
        assert summary["quality"] == "quick" and summary["pain"]["left_sole"] == 8
        assert f"{summary['drg']['pain_coverage_pct']:.0f}" in r.text
        figures = sorted(f.name for f in report_dir(pid).glob("*.png"))
        shown = re.findall(r"<img src='([^']+\.png)'", (report_dir(pid) / "report.html").read_text())
        assert len(figures) >= 7 and figures == sorted(shown)  # every figure of the report, none left over
        assert all(f in r.text for f in figures)
        img = c.get(f"/clinician/patients/{pid}/reports/{figures[0]}")
        assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
        assert c.get(f"/clinician/patients/{pid}/reports/..%2Fclinic.sqlite3").status_code == 404


# ------------------------------------------------------------ issue 17: the pathway cannot be gamed
def clinician_pages(c: TestClient) -> str:
    """Sign in on the pages; the API calls of the same client carry the CSRF token too."""
    page_login(c, *CLINICIAN)
    token = csrf_of(c.get("/clinician").text)
    c.headers["X-CSRF-Token"] = token
    return token


def test_plan_form_offers_both_sides_of_a_bilateral_map(app):
    from tests.clinic.test_api import new_patient

    with TestClient(app) as c:
        token = clinician_pages(c)
        pid = new_patient(c)
        bilateral = {"left_sole": 8, "right_sole": 8, "left_heel": 7, "right_heel": 7}
        assert c.put(f"/api/v1/patients/{pid}/painmap", json={"nrs": bilateral}).status_code == 200
        recommended = {(t["level"], t["side"]) for t in c.get(f"/api/v1/patients/{pid}/plan/recommended").json()}
        assert {side for _, side in recommended} == {"left", "right"}
        form = re.search(r'<form[^>]*id="plan-form".*?</form>', c.get(f"/clinician/patients/{pid}").text, re.S)[0]
        offered = re.findall(r'name="([A-Z0-9]+:(?:left|right))" checked', form)
        assert {tuple(k.split(":")) for k in offered} == recommended
        assert 'name="S1:right"' in form and 'name="S1:left"' in form  # every level on each side can be ticked
        r = c.post(f"/clinician/patients/{pid}/plan", data={"csrf_token": token, **{k: "on" for k in offered}},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        plan = c.get(f"/api/v1/patients/{pid}").json()["plan"]
        assert {(t["level"], t["side"]) for t in plan} == recommended  # saved as offered: nothing dropped


def test_screening_form_starts_blank_and_the_trial_needs_it(app):
    from tests.clinic.test_api import FOOT, new_patient

    with TestClient(app) as c:
        token = clinician_pages(c)
        pid = new_patient(c)
        c.put(f"/api/v1/patients/{pid}/painmap", json={"nrs": FOOT})
        c.post(f"/api/v1/patients/{pid}/plan", json={"targets": [{"level": "S1", "side": "left"}]})
        page = c.get(f"/clinician/patients/{pid}").text
        assert 'id="trial-form"' not in page and 'id="trial-needs-screening"' in page
        form = re.search(r'<form[^>]*/screening".*?</form>', page, re.S)[0]
        assert " checked" not in form and not re.search(r'type="number"[^>]*value="[^"]', form)
        r = c.post(f"/clinician/patients/{pid}/screening", data={"csrf_token": token, "diagnosis": "crps_i"},
                   follow_redirects=False)  # the form as offered: nothing documented, so not eligible
        assert r.status_code == 303
        page = c.get(f"/clinician/patients/{pid}").text
        assert '<strong id="eligible">not eligible</strong>' in page and 'name="screening_override_reason"' in page
        r = c.post(f"/clinician/patients/{pid}/trial", data={"csrf_token": token, "start_date": "2026-11-01",
                                                              "baseline_nrs": "8"})
        assert r.status_code == 409 and "screening_override_reason" in r.text
        assert c.get(f"/api/v1/patients/{pid}").json()["trial"] is None


def test_pages_refuse_future_diary_days_early_decisions_and_far_dates(app, monkeypatch):
    from datetime import date, timedelta

    from tests.clinic.test_api import START, diary, new_patient, set_today, to_trial

    with TestClient(app) as c, TestClient(app) as phone:
        token = clinician_pages(c)
        pid = new_patient(c)
        to_trial(c, pid)
        set_today(monkeypatch, START + timedelta(days=4))
        page_login(phone, "pat1", "patient-pass-1")
        phone_token = csrf_of(phone.get("/patient").text)
        r = phone.post("/patient/diary", data={"day": "2026-11-07", "nrs": "0", "activity_minutes": "30"},
                       headers={"X-CSRF-Token": phone_token})
        assert r.status_code == 422 and 'data-field="day"' in r.text
        assert "day=2026-11-07; allowed: 2026-11-01 to 2026-11-05" in r.text
        for i in range(5):
            assert diary(c, pid, START + timedelta(days=i)).status_code == 201
        page = c.get(f"/clinician/patients/{pid}").text
        assert 'name="end_early_reason"' in page
        r = c.post(f"/clinician/patients/{pid}/decision", data={"csrf_token": token, "proceed": "true"})
        assert r.status_code == 409 and "possible from 2026-11-08" in r.text
        set_today(monkeypatch, date(2026, 12, 7))
        r = c.post(f"/clinician/patients/{pid}/decision", data={"csrf_token": token, "proceed": "true"},
                   follow_redirects=False)
        assert r.status_code == 303
        r = c.post(f"/clinician/patients/{pid}/implant", data={"csrf_token": token, "implant_date": "9999-12-31"})
        assert r.status_code == 422 and 'data-field="implant_date"' in r.text
        assert "implant_date=9999-12-31; allowed: 2026-11-01" in r.text
        assert c.get(f"/api/v1/patients/{pid}").json()["implant"] is None


def lead_fields(token: str, **kw) -> dict[str, str]:
    """The programming page's lead-1 form as a browser posts it (ticked boxes present, unticked absent)."""
    data = {"csrf_token": token, "c1": "0", "c2": "+", "c3": "-", "c4": "0", "amplitude_ma": "0.5",
            "pulse_width_us": "300", "frequency_hz": "20", "min_amplitude_ma": "0.3", "max_amplitude_ma": "0.6",
            "enabled": "on", **kw}
    return {k: v for k, v in data.items() if v is not None}


def programming_patient(c: TestClient) -> tuple[int, str, str]:
    """A patient in a trial with program P1 on the trial stimulator: (pid, CSRF token, programming URL)."""
    from tests.clinic.test_api import new_patient, to_trial

    token = clinician_pages(c)
    pid = new_patient(c)
    to_trial(c, pid)
    url = f"/clinician/patients/{pid}/programming"
    assert c.post(url, data={"csrf_token": token, "name": "P1"}).status_code == 200
    return pid, token, url


def test_programming_stages_changes_until_apply_and_undo_restores(app):
    """Issue 17 defect 6: no field posts on change; apply writes the whole lead form; undo re-reads the device."""
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        page = c.get(f"{url}?program=P1").text
        form = re.search(r'<form[^>]*id="lead-1".*?</form>', page, re.S)[0]
        assert "hx-trigger" not in form and 'id="apply-1"' in form and 'id="undo-1"' in form
        r = c.post(f"{url}/P1/leads/1", data=lead_fields(token))
        assert r.status_code == 200 and 'class="accepted"' in r.text
        lead1 = c.get(f"/api/v1/patients/{pid}/device").json()["programs"]["P1"]["leads"]["1"]
        assert (lead1["amplitude_ma"], lead1["pulse_width_us"], lead1["enabled"]) == (0.5, 300, True)
        panel = c.get(f"{url}/P1/panel")  # undo: the form again from the device's settings
        assert panel.status_code == 200 and 'name="amplitude_ma"' in panel.text and 'value="0.5"' in panel.text
        assert 'value="300' in panel.text and "device-result" not in panel.text


def test_charge_density_override_applies_with_the_settings_it_approves(app):
    """Issue 17 defect 6: the override goes in the same POST as the settings and comes back ticked."""
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        high = {"pulse_width_us": "720", "amplitude_ma": "4", "max_amplitude_ma": "4", "min_amplitude_ma": "0"}
        r = c.post(f"{url}/P1/leads/1", data=lead_fields(token, **high))
        assert 'class="refused"' in r.text and "Shannon k" in r.text and "explicit clinician override" in r.text
        lead1 = c.get(f"/api/v1/patients/{pid}/device").json()["programs"]["P1"]["leads"]["1"]
        assert lead1["approved_charge_per_phase_uc"] is None
        r = c.post(f"{url}/P1/leads/1", data=lead_fields(token, override="on", **high))
        assert 'class="accepted"' in r.text and "accepted by clinician override" in r.text, r.text
        lead1 = c.get(f"/api/v1/patients/{pid}/device").json()["programs"]["P1"]["leads"]["1"]
        assert (lead1["amplitude_ma"], lead1["pulse_width_us"], lead1["enabled"]) == (4, 720, True)
        assert re.search(r'<input type="checkbox" name="override" checked', r.text)


def test_stop_stimulation_is_always_on_the_programming_page(app):
    """Issue 17 defect 6: one button turns therapy off through the device, audited; on every state of the page."""
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        assert c.post(f"{url}/P1/leads/1", data=lead_fields(token)).status_code == 200
        r = c.post(f"{url}/P1/activate", data={"csrf_token": token})
        assert "therapy on" in r.text
        assert c.get(f"/api/v1/patients/{pid}/device").json()["status"]["therapy_on"] is True
        for page in (c.get(url).text, c.post(url, data={"csrf_token": token, "name": "bad name!"}).text):
            assert 'id="stop-stimulation"' in page and f'action="{url}/stop"' in page
        r = c.post(f"{url}/stop", data={"csrf_token": token, "program": "P1"}, headers={"HX-Request": "true"})
        assert r.status_code == 200 and "therapy off" in r.text and 'id="programming-panel"' in r.text
        assert c.get(f"/api/v1/patients/{pid}/device").json()["status"]["therapy_on"] is False
        entries = c.get("/api/v1/audit").json()
        assert any(e["action"] == "therapy" and e["detail"]["on"] is False for e in entries), entries[:3]
        r = c.post(f"{url}/stop", data={"csrf_token": token}, follow_redirects=False)  # without HTMX: the page
        assert r.status_code == 303 and r.headers["location"] == url


def test_form_urls_reload_to_their_page_and_conflicts_keep_the_layout(app):
    """Issue 17 defect 7: a reload (GET) of a form's URL after an error goes to its page, never a bare
    'Method Not Allowed'; a 409 shows the navigation and the patient's header with the reason."""
    from tests.clinic.test_api import new_patient

    with TestClient(app) as c:
        token = clinician_pages(c)
        pid = new_patient(c)
        r = c.post(f"/clinician/patients/{pid}/trial", data={"csrf_token": token, "start_date": "2026-11-01",
                                                              "baseline_nrs": "8"})
        assert r.status_code == 409 and "save a plan" in r.text  # no plan yet
        assert 'id="patient-name"' in r.text and '<a href="/clinician">patients</a>' in r.text
        for posted, page in ((f"/clinician/patients/{pid}/trial", f"/clinician/patients/{pid}"),
                             ("/clinician/patients", "/clinician"),
                             (f"/clinician/patients/{pid}/programming/P1/leads/1",
                              f"/clinician/patients/{pid}/programming?program=P1"),
                             (f"/clinician/patients/{pid}/programming/stop", f"/clinician/patients/{pid}/programming")):
            r = c.get(posted, follow_redirects=False)
            assert (r.status_code, r.headers.get("location")) == (303, page), posted
        assert "Method Not Allowed" not in c.get(f"/clinician/patients/{pid}/screening").text
        assert c.get(f"/api/v1/patients/{pid}/trial/decision").status_code == 405  # the API answers as before
        r = c.get(f"/clinician/patients/{pid}/programming")  # no stimulator yet: 409 inside the page layout
        assert r.status_code == 409 and "no stimulator yet" in r.text
        assert f'<a href="/clinician/patients/{pid}">' in r.text and '<a href="/clinician">patients</a>' in r.text


def test_ipg_replacement_needs_its_confirmation_box(app, monkeypatch):
    """Issue 17 defect 7: recording an IPG replacement needs the ticked 'confirm' box, checked on the server."""
    from datetime import date, timedelta

    from tests.clinic.test_api import START, diary, new_patient, set_today, to_trial

    with TestClient(app) as c:
        token = clinician_pages(c)
        pid = new_patient(c)
        to_trial(c, pid)
        set_today(monkeypatch, date(2026, 12, 7))
        for i in range(7):
            assert diary(c, pid, START + timedelta(days=i), nrs=2).status_code == 201
        assert c.post(f"/api/v1/patients/{pid}/trial/decision", json={"proceed": True}).status_code == 200
        assert c.post(f"/api/v1/patients/{pid}/implant", json={"implant_date": "2026-11-20"}).status_code == 201
        serial = c.get(f"/api/v1/patients/{pid}").json()["implant"]["device"]
        form = re.search(r'<form[^>]*id="replacement-form".*?</form>', c.get(f"/clinician/patients/{pid}").text,
                         re.S)[0]
        assert re.search(r'<input type="checkbox" name="confirm" required>', form)
        url = f"/clinician/patients/{pid}/ipg-replacement"
        r = c.post(url, data={"csrf_token": token, "replacement_date": "2026-12-07"})
        assert r.status_code == 422 and 'data-field="confirm"' in r.text and "confirm=unticked" in r.text
        assert c.get(f"/api/v1/patients/{pid}").json()["implant"]["device"] == serial  # nothing recorded
        r = c.post(url, data={"csrf_token": token, "replacement_date": "2026-12-07", "confirm": "on"},
                   follow_redirects=False)
        assert r.status_code == 303
        assert c.get(f"/api/v1/patients/{pid}").json()["implant"]["device"] != serial
