"""``drgsim validate --quick``: every validation case in one table, the JSON contract and the report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from drgsim.cli import app
from drgsim.neurons.models.drg import SITES


def test_validate_quick_json_and_report(tmp_path):
    report = tmp_path / "validation.html"
    res = CliRunner().invoke(app, ["validate", "--quick", "--json", "--report", str(report)])
    out = json.loads(res.stdout)
    for c in out["cases"]:  # the table, in the test log
        print(f"{c['name']:55s} {c['reference']!s:>12.8} {c['value']!s:>12.8} {c['unit']:>16s} {c['passed']}")
    failed = [c["name"] for c in out["cases"] if not c["passed"]]
    assert res.exit_code == 0 and not failed, failed
    for c in out["cases"]:
        assert {"name", "source", "reference", "value", "unit", "rel_error", "tolerance", "passed"} <= set(c)
    names = {c["name"] for c in out["cases"]}
    assert {f"farooqui2024_initiation_{s}_pct" for s in SITES} <= names
    assert "farooqui2024_median_abeta_soma_ua" in names
    cats = {c["category"] for c in out["cases"]}
    assert cats == {"code verification", "calculation verification", "validation"}
    assert sum(n.startswith("neuron_") for n in names) >= 25 and any(n.startswith("graham2019") for n in names)
    assert sum(n.startswith("gemes2013_") for n in names) == 2
    page = report.read_text()
    assert "Code verification" in page and "Farooqui" in page and out["environment"]["drgsim"] in page
    assert "not a medical device" in page


def test_validate_refuses_a_folder_as_report(tmp_path):
    res = CliRunner().invoke(app, ["validate", "--quick", "--json", "--report", str(tmp_path)])
    assert res.exit_code == 2 and "--report" in json.loads(res.stdout)["error"]
