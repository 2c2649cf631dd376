"""Issue 17's clinician programmer on the programming page: the lead drawing's contacts, the impedance check,
the amplitude ramp with threshold capture, the paresthesia mapping log, and a refused apply keeping the form."""

from __future__ import annotations

import re
from html import unescape
from types import SimpleNamespace

from fastapi.testclient import TestClient

from drgsim.clinic.routes import programming
from tests.clinic.test_api import FOOT, START, new_patient
from tests.clinic.test_pages import clinician_pages, lead_fields, programming_patient


def post(c: TestClient, url: str, token: str, **data: str):
    """An HTMX post of the page (the CSRF token in the header, as base.html sends it)."""
    return c.post(url, data=data, headers={"X-CSRF-Token": token, "HX-Request": "true"})


def states(html: str, lead: int = 1) -> str:
    """The lead drawing's contact states, contact 1 first ('-', '+', 'off')."""
    return " ".join(re.findall(rf'id="lead-{lead}-contact-\d" data-state="([^"]+)"', html))


def lead1(c: TestClient, pid: int) -> dict:
    return c.get(f"/api/v1/patients/{pid}/device").json()["programs"]["P1"]["leads"]["1"]


def events(c: TestClient, pid: int, action: str) -> list[dict]:
    """The device log's ``action`` events, oldest first."""
    return [e for e in c.get(f"/api/v1/patients/{pid}/device/events").json() if e["action"] == action][::-1]


def field_errors(html: str) -> dict[str, str]:
    return {k: unescape(v) for k, v in re.findall(r'<span class="error" data-field="([^"]+)">([^<]*)</span>', html)}


def configure(c: TestClient, token: str, url: str) -> None:
    """Lead 1 of P1 set to 0-+0 by clicks on the drawing (contact 2 once, contact 3 twice)."""
    for contact in (2, 3, 3):
        assert post(c, f"{url}/P1/leads/1/contacts/{contact}", token).status_code == 200


def test_a_click_on_a_contact_cycles_it_through_the_lead_edit_path(app):
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        page = c.get(f"{url}?program=P1").text
        assert 'id="lead-drawing-1"' in page and 'id="lead-drawing-2"' in page
        assert states(page) == "off off off off"
        assert f'hx-post="{url}/P1/leads/1/contacts/2"' in page
        seen = []
        for _ in range(3):
            r = post(c, f"{url}/P1/leads/1/contacts/2", token)
            assert r.status_code == 200 and 'class="accepted"' in r.text
            seen.append(states(r.text).split()[1])
        assert seen == ["-", "+", "off"]
        configure(c, token, url)
        r = c.get(f"{url}?program=P1")
        assert states(r.text) == "off - + off"
        assert re.search(r'<select name="c2"[^>]*>\s*<option value="0" >off</option><option value="\+" >\+</option>'
                         r'<option value="-" selected', r.text)  # the form shows what the drawing set
        assert lead1(c, pid)["contacts"] == ["off", "-", "+", "off"]
        sets = events(c, pid, "set_contacts")
        assert len(sets) == 6 and all(e["accepted"] for e in sets)
        assert sets[0]["after"]["programs.P1.leads.1.contacts.1"] == "-"  # contact 2 (index 1) went off -> -
        assert any(e["action"] == "program.edit" for e in c.get("/api/v1/audit").json())  # the form's audit path
        r = post(c, f"{url}/P1/leads/1/contacts/9", token)
        assert r.status_code == 422 and "contact=9; allowed: 1-4" in r.text
        assert post(c, f"{url}/P9/leads/1/contacts/1", token).status_code == 404


def test_a_reconfigured_lead_starts_disabled_at_zero(app):
    """A click changes the configuration as the device rule says: the lead is disabled and its amplitude zeroed."""
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        assert post(c, f"{url}/P1/leads/1", token, **lead_fields(token)).status_code == 200
        assert (lead1(c, pid)["enabled"], lead1(c, pid)["amplitude_ma"]) == (True, 0.5)
        r = post(c, f"{url}/P1/leads/1/contacts/1", token)
        assert "lead disabled and amplitude set to 0" in r.text
        assert (lead1(c, pid)["contacts"], lead1(c, pid)["enabled"], lead1(c, pid)["amplitude_ma"]) == \
            (["-", "+", "-", "off"], False, 0)
        assert lead1(c, pid)["patient_limits"] == {"min_amplitude_ma": 0.3, "max_amplitude_ma": 0.6}


def trial_at(c: TestClient, impedance_ohm: float) -> tuple[int, str, str]:
    """A patient in a trial whose temporary leads measure ``impedance_ohm``, program P1 created."""
    token = clinician_pages(c)
    pid = new_patient(c)
    assert c.put(f"/api/v1/patients/{pid}/painmap", json={"nrs": FOOT}).status_code == 200
    r = c.post(f"/api/v1/patients/{pid}/screening", json={
        "diagnosis": "crps_i", "neuropathic": True, "pain_duration_months": 18, "failed_drug_classes": 3,
        "failed_injections": True, "failed_therapy": True, "psych_screened": True, "bdi_ii": 14})
    assert r.json()["eligible"]
    assert c.post(f"/api/v1/patients/{pid}/plan", json={"targets": [{"level": "L5", "side": "left"}]}).status_code \
        == 200
    r = c.post(f"/api/v1/patients/{pid}/trial", json={"start_date": START.isoformat(), "baseline_nrs": 8,
                                                        "impedance_ohm": impedance_ohm})
    assert r.status_code == 201, r.text
    url = f"/clinician/patients/{pid}/programming"
    assert post(c, url, token, name="P1").status_code == 200
    return pid, token, url


def impedance_rows(html: str) -> list[tuple[str, str, str]]:
    table = re.search(r'<table class="impedance" id="impedance-table-1">.*?</table>', html, re.S)[0]
    return [(n, z, re.sub(r"<[^>]+>", "", flag)) for n, z, flag in
            re.findall(r'<tr data-contact="(\d)"[^>]*><td>\d</td><td>(\d+)</td>\s*<td>(.*?)</td></tr>', table, re.S)]


def test_the_impedance_check_flags_each_contact_and_is_a_device_event(app):
    with TestClient(app) as c:
        pid, token, url = trial_at(c, 150.0)
        assert 'id="impedance-table-1"' not in c.get(f"{url}?program=P1").text  # none until asked
        r = post(c, f"{url}/P1/leads/1/impedance", token)
        assert r.status_code == 200 and 'class="accepted"' in r.text
        assert impedance_rows(r.text) == [(str(i), "150", "short: below 200 ohm") for i in range(1, 5)]
        assert "in range 200-4000 ohm" in r.text
        assert "lead 1 contact 1: 150 ohm short (allowed 200-4000 ohm)" in r.text
        (check,) = events(c, pid, "check_contacts")
        assert check["accepted"] and check["after"]["contact_checks.1.impedance_ohm.0"] == 150.0
        assert check["after"]["contact_checks.1.flags.3"] == "short"
        assert events(c, pid, "measure_impedance") == []  # no +/- configuration: only the contacts are checked
        configure(c, token, url)
        r = post(c, f"{url}/P1/leads/1/impedance", token)
        assert "this configuration 150 ohm" in r.text and len(events(c, pid, "measure_impedance")) >= 1
        assert len(events(c, pid, "check_contacts")) == 2
        assert post(c, f"{url}/P1/leads/7/impedance", token).status_code == 404


def test_an_open_lead_is_flagged_open(app):
    with TestClient(app) as c:
        pid, token, url = trial_at(c, 5000.0)
        r = post(c, f"{url}/P1/leads/1/impedance", token)
        assert impedance_rows(r.text)[0] == ("1", "5000", "open: above 4000 ohm")
        assert events(c, pid, "check_contacts")[0]["after"]["contact_checks.1.flags.0"] == "open"


def amp(html: str) -> str:
    return re.search(r'id="ramp-amp-1">([^<]+)<', html)[1]


def test_the_ramp_moves_by_device_steps_and_refuses_past_the_limits(app):
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        r = post(c, f"{url}/P1/leads/1/ramp", token, steps="1")
        assert 'class="refused"' in r.text and "a lead needs at least one + and one - contact" in r.text
        configure(c, token, url)
        r = post(c, f"{url}/P1/leads/1/ramp", token, steps="1")
        assert 'class="accepted"' in r.text and amp(r.text) == "0.025" and lead1(c, pid)["amplitude_ma"] == 0.025
        assert "0-6 mA, step 0.025 mA from 0 to 2 mA and 0.05 mA from 2 to 6 mA" in r.text
        assert amp(post(c, f"{url}/P1/leads/1/ramp", token, steps="-1").text) == "0"
        r = post(c, f"{url}/P1/leads/1/ramp", token, steps="-1")  # below the device range: refused, not clamped
        assert 'class="refused"' in r.text and "leaves the device range 0-6 mA" in r.text and amp(r.text) == "0"
        fields = lead_fields(token, amplitude_ma="2", enabled=None, min_amplitude_ma="0", max_amplitude_ma="0")
        assert 'class="accepted"' in post(c, f"{url}/P1/leads/1", token, **fields).text
        assert amp(post(c, f"{url}/P1/leads/1/ramp", token, steps="1").text) == "2.05"  # the coarser step above 2
        fields["amplitude_ma"] = "6"
        assert 'class="accepted"' in post(c, f"{url}/P1/leads/1", token, **fields).text
        r = post(c, f"{url}/P1/leads/1/ramp", token, steps="1")
        assert 'class="refused"' in r.text and "+1 step(s) from 6 mA leaves the device range" in r.text
        assert lead1(c, pid)["amplitude_ma"] == 6
        ramps = events(c, pid, "ramp_amplitude")
        assert [e["accepted"] for e in ramps] == [False, True, True, False, True, False]
        for bad in ("0", "x", "11"):
            r = post(c, f"{url}/P1/leads/1/ramp", token, steps=bad)
            assert r.status_code == 422 and "steps" in r.text, bad
        assert len(events(c, pid, "ramp_amplitude")) == 6


def thresholds_rows(html: str) -> list[list[str]]:
    table = re.search(r'<table class="thresholds" id="thresholds-table-1">.*?</table>', html, re.S)[0]
    return [re.findall(r"<td>([^<]*)</td>", row)[1:] for row in re.findall(r"<tr><td>.*?</tr>", table, re.S)]


def test_thresholds_are_captured_per_configuration_validated_and_listed(app):
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        configure(c, token, url)
        for _ in range(4):
            post(c, f"{url}/P1/leads/1/ramp", token, steps="1")
        page = c.get(f"{url}?program=P1").text
        assert """hx-vals='{"perception_ma": "0.1"}'""" in page  # the capture buttons carry the present amplitude
        r = post(c, f"{url}/P1/leads/1/thresholds", token, perception_ma="0.1")
        assert r.status_code == 200 and thresholds_rows(r.text) == [["P1", "0-+0", "40", "60", "0.1", "-", "-"]]
        r = post(c, f"{url}/P1/leads/1/thresholds", token, perception_ma="", comfort_ma="0.5", discomfort_ma="0.9")
        assert r.status_code == 200
        assert thresholds_rows(r.text)[0] == ["P1", "0-+0", "40", "60", "0.1", "0.5", "0.9"]  # merged, newest first
        bad = {"comfort_ma": ("0.05", "perception_ma <= comfort_ma <= discomfort_ma"),
               "discomfort_ma": ("6.5", "is outside the allowed range"),
               "perception_ma": ("0.01", "is not on the device's step grid")}
        for name, (value, why) in bad.items():
            r = post(c, f"{url}/P1/leads/1/thresholds", token, **{name: value})
            assert r.status_code == 422, name
            errors = field_errors(r.text)
            assert list(errors) == [name] and f"{name}={value} mA" in errors[name] and why in errors[name], errors
            assert f'name="{name}" type="number" step="0.025" min="0" value="{value}"' in r.text  # kept in the form
            assert f"{name}: {name}=" not in r.text  # the field is named once, in the result line too
        r = post(c, f"{url}/P1/leads/1/thresholds", token, perception_ma="abc")
        assert r.status_code == 422 and "perception_ma" in field_errors(r.text)
        r = post(c, f"{url}/P1/leads/1/thresholds", token)
        assert r.status_code == 422 and "give at least one of perception_ma" in r.text
        assert len(thresholds_rows(c.get(f"{url}?program=P1").text)) == 2  # no refused capture was stored
        post(c, f"{url}/P1/leads/1/contacts/1", token)  # another configuration: its own thresholds
        r = post(c, f"{url}/P1/leads/1/thresholds", token, perception_ma="0.05")
        assert r.status_code == 200 and thresholds_rows(r.text)[0][1:] == ["--+0", "40", "60", "0.05", "-", "-"]
        audit = [e for e in c.get("/api/v1/audit").json() if e["action"] == "thresholds.capture"]
        assert len(audit) == 3 and audit[0]["detail"]["contacts"] == "--+0"


def test_the_mapping_log_keeps_where_the_patient_feels_each_configuration(app, monkeypatch):
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        configure(c, token, url)
        page = c.get(f"{url}?program=P1").text
        assert 'id="mapping"' in page and "nothing mapped yet" in page
        assert f'hx-post="{url}/P1/mapping/region"' in page and 'id="mapping-region-left_sole"' in page
        ids = re.findall(r' id="([^"]+)"', page)
        assert len(ids) == len(set(ids))  # two body maps on one page, no id twice
        for region in ("left_sole", "left_heel", "left_sole", "left_calf"):
            r = post(c, f"{url}/P1/mapping/region", token, region=region)
            assert r.status_code == 200 and r.text.startswith('<section id="mapping">')
        assert sorted(re.findall(r'class="reported" data-region="([^"]+)"', r.text)) == ["left_calf", "left_heel"]
        log = re.search(r'<table id="mapping-log">.*?</table>', r.text, re.S)[0]
        assert log.count("<tr><td>") == 1 and "left_calf, left_heel" in log and "lead 1 0-+0 0 mA" in log
        post(c, f"{url}/P1/leads/1/ramp", token, steps="1")  # another configuration: a new entry
        r = post(c, f"{url}/P1/mapping/region", token, region="left_shin")
        log = re.search(r'<table id="mapping-log">.*?</table>', r.text, re.S)[0]
        assert log.count("<tr><td>") == 2 and "lead 1 0-+0 0.025 mA" in log
        assert re.findall(r'class="reported" data-region="([^"]+)"', r.text) == ["left_shin"]
        r = post(c, f"{url}/P1/mapping/region", token, region="left_foot")
        assert r.status_code == 422 and 'data-field="region"' in r.text and "close matches" in r.text
        audit = [e for e in c.get("/api/v1/audit").json() if e["action"] == "mapping.save"]
        assert len(audit) == 5 and audit[-1]["detail"]["old"] == []  # every click, with the regions before it

        ready = SimpleNamespace(status="ready", paresthesia={"left_sole": 0.8}, pain_coverage_pct=40.0,
                                off_target_pct=None, motor=False, adelta_c_cells=0, quality="quick")
        monkeypatch.setattr(programming, "prediction", lambda *a, **k: ready)  # the drawing, not the model
        r = c.get(f"{url}/P1/prediction")
        assert r.status_code == 200 and 'class="paresthesia" data-region="left_sole"' in r.text
        assert 'class="reported" data-region="left_shin"' in r.text and "reported by the patient" in r.text
        assert "predicted paresthesia" in r.text


def test_a_refused_apply_keeps_what_was_typed(app):
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)
        r = post(c, f"{url}/P1/leads/1", token, **lead_fields(token, amplitude_ma="7.3", pulse_width_us="310"))
        assert r.status_code == 200 and 'class="refused"' in r.text
        form = re.search(r'<form[^>]*id="lead-1".*?</form>', r.text, re.S)[0]
        assert 'name="amplitude_ma"' in form and 'value="7.3"' in form and 'value="310"' in form
        assert re.search(r'<option value="\+" selected>', form) and 'name="enabled" checked' in form
        errors = field_errors(form)
        assert "amplitude_ma=7.3 mA is outside the allowed range" in errors["amplitude_ma"]
        assert "pulse_width_us" not in errors and "frequency_hz" not in errors  # only the fields the device named
        other = re.search(r'<form[^>]*id="lead-2".*?</form>', r.text, re.S)[0]
        assert 'value="7.3"' not in other  # only the form that was sent
        r = post(c, f"{url}/P1/leads/1", token, **lead_fields(token, amplitude_ma="0.55", frequency_hz="fast"))
        assert r.status_code == 422 and "frequency_hz" in field_errors(r.text)
        form = re.search(r'<form[^>]*id="lead-1".*?</form>', r.text, re.S)[0]
        assert 'value="0.55"' in form and 'value="fast"' in form
        assert lead1(c, pid)["amplitude_ma"] == 0  # nothing applied
        high = {"pulse_width_us": "720", "amplitude_ma": "4", "max_amplitude_ma": "4", "min_amplitude_ma": "0"}
        r = post(c, f"{url}/P1/leads/1", token, **lead_fields(token, **high))
        errors = field_errors(r.text)
        assert "needs an explicit clinician override" in errors["override"] and 'value="720"' in r.text
        undo = c.get(f"{url}/P1/panel").text  # undo: the device's values again
        assert 'value="7.3"' not in undo and "data-field" not in undo
