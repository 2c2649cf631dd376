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
