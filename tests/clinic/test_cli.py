"""``drgsim clinic`` and ``drgsim serve``: --json output and exit status 2 on bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from drgsim.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_add_clinician_and_migrate(tmp_path, monkeypatch):
    monkeypatch.setenv("DRGSIM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DRGSIM_DATABASE_URL", raising=False)
    r = run("clinic", "add-clinician", "--username", "drsmith", "--password", "long-enough-1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"id": 1, "username": "drsmith"}
    assert (tmp_path / "clinic.sqlite3").exists()
    r = run("clinic", "add-clinician", "--username", "drsmith", "--password", "long-enough-1", "--json")
    assert r.exit_code == 2 and "taken" in json.loads(r.stdout)["error"]
    r = run("clinic", "add-clinician", "--username", "Dr Smith!", "--password", "long-enough-1", "--json")
    assert r.exit_code == 2 and "--username='Dr Smith!'" in json.loads(r.stdout)["error"]
    r = run("clinic", "add-clinician", "--username", "drjones", "--password", "short", "--json")
    assert r.exit_code == 2 and "at least 10" in json.loads(r.stdout)["error"]
    r = run("clinic", "migrate", "--revision", "base", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"before": "0003", "after": None}
    r = run("clinic", "migrate", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["after"] == "0003"
    r = run("clinic", "migrate", "--revision", "nonsense", "--json")
    assert r.exit_code == 2 and "--revision='nonsense'" in json.loads(r.stdout)["error"]


def test_serve_rejects_bad_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("DRGSIM_DATA_DIR", str(tmp_path))
    r = run("serve", "--port", "70000", "--json")
    assert r.exit_code == 2 and "--port=70000" in json.loads(r.stdout)["error"]
    r = run("serve", "--quality", "best", "--json")
    assert r.exit_code == 2 and "standard, quick" in json.loads(r.stdout)["error"]
    r = run("serve", "--database-url", "::nonsense::", "--json")
    assert r.exit_code == 2 and "--database-url" in json.loads(r.stdout)["error"]
