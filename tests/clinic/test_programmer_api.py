"""The programmer's JSON API (contact check, amplitude ramp, threshold capture, mapping log): the same service
functions as the programming page, so what one writes the other shows; bad input answers 422 naming the field,
the value and the allowed range; a patient and another clinician are refused. SQLite and PostgreSQL."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from drgsim.clinic import service
from tests.clinic.conftest import sign_in
from tests.clinic.test_api import program_lead
from tests.clinic.test_pages import programming_patient
from tests.clinic.test_programmer import events, impedance_rows, thresholds_rows, trial_at

API = "/api/v1/patients"


def problem(r, field: str) -> dict:
    """The 422 answer's one problem, which must name ``field``."""
    assert r.status_code == 422, r.text
    (p,) = r.json()["detail"]
    assert p["loc"][-1] == field, p
    return p


def test_the_contact_check_reads_each_contact_as_the_page_does(app):
    with TestClient(app) as c:
        pid, token, url = trial_at(c, 5000.0)
        r = c.post(f"{API}/{pid}/device/leads/1/contact-check")
        assert r.status_code == 200 and r.json()["accepted"], r.text
        assert r.json()["contacts"] == [{"contact": i, "impedance_ohm": 5000.0, "flag": "open"} for i in range(1, 5)]
        assert "lead 1 contact 1: 5000 ohm open (allowed 200-4000 ohm)" in r.json()["warnings"]
        (check,) = events(c, pid, "check_contacts")
        assert check["actor"]["role"] == "clinician" and check["params"] == {"lead": 1}
        assert impedance_rows(c.get(f"{url}?program=P1").text)[0] == ("1", "5000", "open: above 4000 ohm")
        r = c.post(f"{API}/{pid}/device/leads/1/contact-check", params={"program": "P1"})
        assert r.status_code == 200 and events(c, pid, "measure_impedance") == []  # P1 has no + and - yet
        assert c.post(f"{API}/{pid}/device/leads/7/contact-check").status_code == 404
        assert c.post(f"{API}/{pid}/device/leads/1/contact-check", params={"program": "P9"}).status_code == 404
        assert c.post(f"{API}/{pid}/device/leads/x/contact-check").status_code == 422
        assert c.post(f"{API}/{pid}/device/leads/{10**20}/contact-check").status_code == 404
        assert len(events(c, pid, "check_contacts")) == 2  # nothing logged for an unknown lead or program
        report = c.get(f"/clinician/patients/{pid}/report", params={"date": service.today().isoformat()}).text
        assert report.count('data-flag="open"') == 8  # both checks on the session report
        assert "impedance.check" in [a["action"] for a in c.get("/api/v1/audit").json()]


def test_the_ramp_moves_by_device_steps_and_names_bad_steps(app):
    with TestClient(app) as c:
        pid, _, _ = programming_patient(c)
        ramp = f"{API}/{pid}/programs/P1/leads/1/ramp"
        r = c.post(ramp, json={"steps": 1})
        assert r.status_code == 409 and "a lead needs at least one + and one - contact" in r.json()["reason"]
        assert program_lead(c, pid, min_amplitude_ma=0, max_amplitude_ma=0).json()["accepted"]  # no patient range
        r = c.post(ramp, json={"steps": 2})
        assert r.status_code == 200 and r.json()["amplitude_ma"] == 0.55, r.text
        r = c.post(ramp, json={"steps": -10})
        assert r.status_code == 200 and r.json()["amplitude_ma"] == 0.3
        assert c.post(ramp, json={"steps": -10}).json()["amplitude_ma"] == 0.05
        r = c.post(ramp, json={"steps": -3})  # past 0 mA: refused, not clamped
        assert r.status_code == 409 and "-3 step(s) from 0.05 mA leaves the device range 0-6 mA" in r.json()["reason"]
        assert c.get(f"{API}/{pid}/device").json()["programs"]["P1"]["leads"]["1"]["amplitude_ma"] == 0.05
        for body, field, words in (({"steps": 11}, "steps", "less than or equal to 10"),
                                   ({"steps": -11}, "steps", "greater than or equal to -10"),
                                   ({"steps": 0}, "steps", "steps=0: a non-zero number of device steps, -10 to 10"),
                                   ({"steps": "up"}, "steps", "integer"), ({}, "steps", "required"),
                                   ({"steps": 1, "lead": 2}, "lead", "not permitted")):
            p = problem(c.post(ramp, json=body), field)
            assert words in p["msg"] and p.get("input") == body.get(field, p.get("input")), p
        assert c.post(f"{API}/{pid}/programs/P9/leads/1/ramp", json={"steps": 1}).status_code == 404
        assert c.post(f"{API}/{pid}/programs/P1/leads/7/ramp", json={"steps": 1}).status_code == 404
        assert [e["accepted"] for e in events(c, pid, "ramp_amplitude")] == [False, True, True, True, False]


def test_thresholds_are_captured_merged_and_listed_as_on_the_page(app):
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        assert program_lead(c, pid, amplitude_ma=0.5).json()["accepted"]
        capture = f"{API}/{pid}/programs/P1/leads/1/thresholds"
        r = c.post(capture, json={"perception_ma": 0.2})
        assert r.status_code == 201, r.text
        first = r.json()
        assert {k: first[k] for k in ("program", "lead", "contacts", "pulse_width_us", "frequency_hz",
                                      "perception_ma", "comfort_ma", "discomfort_ma")} == \
            {"program": "P1", "lead": 1, "contacts": "0+-0", "pulse_width_us": 300, "frequency_hz": 20,
             "perception_ma": 0.2, "comfort_ma": None, "discomfort_ma": None}
        r = c.post(capture, json={"comfort_ma": 0.5, "discomfort_ma": 0.9})
        assert r.status_code == 201 and (r.json()["perception_ma"], r.json()["comfort_ma"]) == (0.2, 0.5)
        listed = c.get(f"{API}/{pid}/thresholds").json()
        assert [t["id"] for t in listed] == [r.json()["id"], first["id"]]  # newest first
        assert thresholds_rows(c.get(f"{url}?program=P1").text)[0] == ["P1", "0+-0", "300", "20", "0.2", "0.5", "0.9"]
        bad = {"comfort_ma": (0.1, "comfort_ma=0.1 mA; allowed: perception_ma <= comfort_ma <= discomfort_ma"),
               "discomfort_ma": (6.5, "discomfort_ma=6.5 mA; allowed:"),
               "perception_ma": (0.01, "is not on the device's step grid")}
        for name, (value, words) in bad.items():
            p = problem(c.post(capture, json={name: value}), name)
            assert words in p["msg"] and p["input"] == f"{value} mA", p
        assert "0-6 mA" in problem(c.post(capture, json={"discomfort_ma": 6.5}), "discomfort_ma")["msg"]
        assert "greater than or equal to 0" in problem(c.post(capture, json={"perception_ma": -1}), "perception_ma")[
            "msg"]
        r = c.post(capture, json={})
        assert r.status_code == 422 and "give at least one of perception_ma, comfort_ma, discomfort_ma" in r.text
        assert problem(c.post(capture, json={"perception_ma": "NaN"}), "perception_ma")
        assert len(c.get(f"{API}/{pid}/thresholds").json()) == 2  # no refused capture stored
        assert c.post(f"{API}/{pid}/programs/P1/leads/7/thresholds", json={"perception_ma": 0.2}).status_code == 404
        audit = [e for e in c.get("/api/v1/audit").json() if e["action"] == "thresholds.capture"]
        assert len(audit) == 2


def test_the_mapping_log_is_recorded_and_listed_as_on_the_page(app):
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        assert program_lead(c, pid, amplitude_ma=0.5).json()["accepted"]
        mappings = f"{API}/{pid}/programs/P1/mappings"
        r = c.post(mappings, json={"regions": ["left_sole", "left_heel", "left_sole"]})
        assert r.status_code == 200, r.text
        entry = r.json()
        assert entry["regions"] == ["left_heel", "left_sole"] and entry["day"] == service.today().isoformat()
        assert entry["configuration"]["1"] == {"contacts": "0+-0", "amplitude_ma": 0.5, "pulse_width_us": 300,
                                               "frequency_hz": 20, "enabled": True}
        r = c.post(mappings, json={"regions": ["left_calf"]})  # the same day and configuration: replaced
        assert r.json()["id"] == entry["id"] and r.json()["regions"] == ["left_calf"]
        r = c.post(f"{url}/P1/mapping/region", data={"region": "left_heel"}, headers={"HX-Request": "true"})
        assert sorted(re.findall(r'class="reported" data-region="([^"]+)"', r.text)) == ["left_calf", "left_heel"]
        (listed,) = c.get(f"{API}/{pid}/mappings").json()  # the page's click changed the API's entry
        assert listed["regions"] == ["left_calf", "left_heel"]
        p = problem(c.post(mappings, json={"regions": ["left_calf", "left_foot"]}), "regions")
        assert p["input"] == "'left_foot'" and "close matches" in p["msg"], p
        problem(c.post(mappings, json={"regions": "left_calf"}), "regions")
        problem(c.post(mappings, json={"regions": ["x"] * 201}), "regions")
        assert c.post(f"{API}/{pid}/programs/P9/mappings", json={"regions": []}).status_code == 404
        assert c.get(f"{API}/{pid}/mappings").json()[0]["regions"] == ["left_calf", "left_heel"]  # unchanged
        audit = [e for e in c.get("/api/v1/audit").json() if e["action"] == "mapping.save"]
        assert len(audit) == 3 and audit[0]["detail"]["old"] == ["left_calf"]
        report = c.get(f"/clinician/patients/{pid}/report").text
        assert re.search(r'<tr class="mapping">.*?<td>left_calf, left_heel</td></tr>', report, re.S)


def test_the_programmer_api_is_for_the_patients_clinician(app, new_client):
    with TestClient(app) as c:
        pid, _, _ = programming_patient(c)
        assert program_lead(c, pid, amplitude_ma=0.5).json()["accepted"]
        calls = [("post", f"{API}/{pid}/device/leads/1/contact-check", None),
                 ("post", f"{API}/{pid}/programs/P1/leads/1/ramp", {"steps": 1}),
                 ("post", f"{API}/{pid}/programs/P1/leads/1/thresholds", {"perception_ma": 0.2}),
                 ("get", f"{API}/{pid}/thresholds", None),
                 ("post", f"{API}/{pid}/programs/P1/mappings", {"regions": ["left_sole"]}),
                 ("get", f"{API}/{pid}/mappings", None)]
        patient = sign_in(new_client(), "pat1", "patient-pass-1")
        other = sign_in(new_client(), "drjones", "clinician-pass-2")
        for method, url, body in calls:
            kw = {"json": body} if body is not None else {}
            for who in (patient, other):
                assert getattr(who, method)(url, **kw).status_code == 403, (url, who)
            assert getattr(new_client(), method)(url, **kw).status_code == 401, url
        token = c.headers.pop("X-CSRF-Token")
        for method, url, body in calls:
            if method == "post":  # a write without the CSRF token is refused even with a valid session
                assert c.post(url, **({"json": body} if body is not None else {})).status_code == 403, url
        c.headers["X-CSRF-Token"] = token
        assert events(c, pid, "check_contacts") == [] and events(c, pid, "ramp_amplitude") == []
        assert c.get(f"{API}/{pid}/thresholds").json() == [] and c.get(f"{API}/{pid}/mappings").json() == []
        refused = [e for e in c.get("/api/v1/audit").json() if not e["allowed"]]
        assert {"impedance.check", "amplitude.ramp", "thresholds.capture", "thresholds.read", "mapping.save",
                "mapping.read"} <= {e["action"] for e in refused}
