"""Issue 16 item 4 on the programming page: a lead's closed-loop controller (a PI target as Evoke, a ceiling as
Inceptiv) programmed through the device, with its window (the patient range); refusals beside the field on the page,
422 (invalid setting) or 409 (device refusal) in the API; every attempt a device event."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from fastapi.testclient import TestClient

from tests.clinic.test_api import START, new_patient, program_lead, to_trial
from tests.clinic.test_pages import clinician_pages, lead_fields, programming_patient
from tests.clinic.test_programmer import events, field_errors, lead1, post


def implanted_patient(c: TestClient) -> tuple[int, str, str]:
    """A patient with the DRG IPG (it senses ECAPs, drgsim's what-if) and program P1's lead 1 at 0.5 mA in a
    0.3-0.6 mA patient range: (pid, CSRF token, programming URL)."""
    token = clinician_pages(c)
    pid = new_patient(c)
    to_trial(c, pid)
    for i in range(7):
        day = (START + timedelta(days=i)).isoformat()
        entry = {"day": day, "nrs": 3, "medication": "none", "activity_minutes": 30}
        assert c.post(f"/api/v1/patients/{pid}/diary", json=entry).status_code == 201
    assert c.post(f"/api/v1/patients/{pid}/trial/decision", json={"proceed": True}).status_code == 200
    assert c.post(f"/api/v1/patients/{pid}/implant", json={"implant_date": "2026-11-20"}).status_code == 201
    assert c.post(f"/api/v1/patients/{pid}/programs", json={"name": "P1"}).status_code == 200
    assert program_lead(c, pid).json()["accepted"]
    return pid, token, f"/clinician/patients/{pid}/programming"


def loop_section(html: str, lead: int = 1) -> str:
    return re.search(rf'<div class="closed-loop" id="closed-loop-{lead}">.*?</div>', html, re.S)[0]


def test_the_page_programs_a_pi_target_through_the_device_and_shows_the_event(app):
    with TestClient(app) as c:
        pid, token, url = implanted_patient(c)
        page = c.get(f"{url}?program=P1").text
        section = loop_section(page)
        assert 'data-loop="off"' in section and 'id="loop-badge-1"' in page and "open loop" in section
        assert "window: 0.3-0.6 mA, the patient range" in section
        assert 'name="ki_ma_per_uv_s" type="number" step="any" value="0.005"' in section  # the device's defaults
        assert 'name="restore_ma_per_s" type="number" step="any" value="0.05"' in section
        r = post(c, f"{url}/P1/leads/1/closed-loop", token, mode="pi", target_uv="40", deadband_uv="1.5",
                 ceiling_uv="999999")  # a ceiling-mode field is not part of a PI setting
        assert r.status_code == 200 and 'class="accepted"' in r.text, r.text
        section = loop_section(r.text)
        assert 'data-loop="pi"' in section and "holds the ECAP at 40 uV" in section
        assert re.search(r'id="loop-event-1">device event #\d+ at [\d-]+ [\d:]+: set_closed_loop accepted', section)
        assert "closed loop (pi)" in r.text
        assert lead1(c, pid)["closed_loop"] == {"mode": "pi", "target_uv": 40.0, "ki_ma_per_uv_s": 0.005,
                                                "kp_ma_per_uv": 0.0, "deadband_uv": 1.5}
        (event,) = events(c, pid, "set_closed_loop")
        assert event["accepted"] and event["actor"]["role"] == "clinician"
        section = loop_section(c.get(f"{url}?program=P1").text)  # saved with the device, shown in the form
        assert "holds the ECAP at 40 uV" in section and '<option value="pi" selected>' in section
        assert 'name="target_uv" type="number" step="any" value="40"' in section
        assert 'name="deadband_uv" type="number" step="any" value="1.5"' in section
        # the window stays while the controller needs it: removing the patient range is refused, nothing changes
        r = post(c, f"{url}/P1/leads/1", token, **lead_fields(token, min_amplitude_ma="0", max_amplitude_ma="0"))
        assert "closed_loop needs a clinician window" in r.text and lead1(c, pid)["patient_limits"] is not None
        r = post(c, f"{url}/P1/leads/1/closed-loop", token, mode="off", target_uv="40")
        assert r.status_code == 200 and 'data-loop="off"' in loop_section(r.text)
        assert lead1(c, pid)["closed_loop"] is None and len(events(c, pid, "set_closed_loop")) == 2


def test_invalid_settings_are_form_errors_beside_their_field(app):
    with TestClient(app) as c:
        pid, token, url = implanted_patient(c)
        r = post(c, f"{url}/P1/leads/1/closed-loop", token, mode="ceiling", ceiling_uv="-5", restore_ma_per_s="20")
        assert r.status_code == 422
        errors = field_errors(r.text)
        assert errors["ceiling_uv"] == "ceiling_uv: Input should be greater than 0 (got '-5')"
        assert errors["restore_ma_per_s"] == "restore_ma_per_s: Input should be less than or equal to 10 (got '20')"
        section = loop_section(r.text)
        assert 'name="ceiling_uv" type="number" step="any" value="-5"' in section  # what was typed stays
        assert '<option value="ceiling" selected>' in section
        r = post(c, f"{url}/P1/leads/1/closed-loop", token, mode="pi")
        assert r.status_code == 422 and field_errors(r.text)["target_uv"] == "target_uv: Field required"
        r = post(c, f"{url}/P1/leads/1/closed-loop", token, mode="pid", target_uv="40")
        assert r.status_code == 422 and "'off', 'pi', 'ceiling'" in field_errors(r.text)["mode"]
        assert lead1(c, pid)["closed_loop"] is None and events(c, pid, "set_closed_loop") == []


def test_the_device_refuses_a_lead_without_a_window_and_a_stimulator_without_sensing(app):
    with TestClient(app) as c:
        pid, token, url = programming_patient(c)  # on the trial stimulator, lead 1 without a patient range
        section = loop_section(c.get(f"{url}?program=P1").text)
        assert 'closed loop needs a window: set the patient range in <a href="#lead-1">' in section
        assert "drg_trial does not sense ECAPs, so it runs open loop only" in section
        r = post(c, f"{url}/P1/leads/1/closed-loop", token, mode="pi", target_uv="40")
        assert r.status_code == 200 and 'class="refused"' in r.text
        reason = field_errors(r.text)["form"]
        assert "closed_loop.mode='pi': drg_trial does not sense ECAPs" in reason
        assert "closed_loop needs a clinician window" in reason
        assert "set_closed_loop refused: program 'P1' lead 1: closed_loop" in unescape(loop_section(r.text))
        assert post(c, f"{url}/P1/leads/1", token, **lead_fields(token)).status_code == 200  # the range is set
        r = post(c, f"{url}/P1/leads/1/closed-loop", token, mode="pi", target_uv="40")
        assert "drg_trial does not sense ECAPs" in r.text and "clinician window" not in field_errors(r.text)["form"]
        (first, second) = events(c, pid, "set_closed_loop")
        assert not first["accepted"] and not second["accepted"] and lead1(c, pid)["closed_loop"] is None


def test_the_api_twin_answers_422_for_an_invalid_setting_and_409_for_a_device_refusal(app):
    with TestClient(app) as c:
        pid, _, _ = implanted_patient(c)
        api = f"/api/v1/patients/{pid}/programs/P1/leads"
        r = c.put(f"{api}/1/closed-loop", json={"closed_loop": {"mode": "pi", "target_uv": 20_000}})
        assert r.status_code == 422
        (problem,) = r.json()["detail"]
        assert problem["loc"] == ["body", "closed_loop", "pi", "target_uv"] and problem["input"] == 20_000
        assert problem["msg"] == "Input should be less than or equal to 10000"
        r = c.put(f"{api}/1/closed-loop", json={"closed_loop": {"mode": "pi", "target_uv": 30, "gain": 1}})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "gain"
        r = c.put(f"{api}/2/closed-loop", json={"closed_loop": {"mode": "ceiling", "ceiling_uv": 60}})
        assert r.status_code == 409 and "lead 2: closed_loop needs a clinician window" in r.json()["reason"]
        r = c.put(f"{api}/1/closed-loop", json={"closed_loop": {"mode": "ceiling", "ceiling_uv": 60}})
        assert r.status_code == 200 and r.json()["closed_loop"]["ceiling_uv"] == 60.0, r.text
        assert c.put(f"{api}/9/closed-loop", json={"closed_loop": {"mode": "off"}}).status_code == 404
        assert [e["accepted"] for e in events(c, pid, "set_closed_loop")] == [False, True]
        audit = [a for a in c.get("/api/v1/audit").json() if a["action"] == "closed_loop.set"]
        assert len(audit) == 2 and audit[0]["detail"]["closed_loop"]["mode"] == "ceiling"
