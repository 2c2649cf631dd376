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
        assert len(figures) == 6 and all(f in r.text for f in figures)
        img = c.get(f"/clinician/patients/{pid}/reports/{figures[0]}")
        assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
        assert c.get(f"/clinician/patients/{pid}/reports/..%2Fclinic.sqlite3").status_code == 404
