"""CLI contract of the therapy commands: demo, compare --json, simulate --json; bad input exits 2."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from drgsim.cli import app

runner = CliRunner()
PROGRAM = {"system": "drg", "program": {"name": "foot", "leads": {
    1: {"contacts": "0-+0", "amplitude_ma": 0.6, "pulse_width_us": 300, "frequency_hz": 20, "enabled": True},
    2: {"contacts": "-+00", "amplitude_ma": 0.5, "pulse_width_us": 300, "frequency_hz": 20, "enabled": True}}}}


@pytest.fixture(scope="module")
def files(tmp_path_factory, patient, comparison):  # comparison: fills the cache first
    d = tmp_path_factory.mktemp("therapy-cli")
    (d / "patient.json").write_text(patient.model_dump_json())
    (d / "program.yaml").write_text(yaml.safe_dump(PROGRAM))
    return d


def test_compare_contract(files):
    res = runner.invoke(app, ["compare", "--patient", "default", "--quality", "quick", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for system in ("drg", "scs"):
        s = out[system]
        for key in ("program", "pain_coverage_pct", "off_target_pct", "c_fibers_activated", "motor_activated",
                    "average_current_ua", "battery_years", "perception_threshold_ma", "posture_spread_pct",
                    "cut_end_initiations", "intervals"):
            assert key in s, key
        assert set(s["perception_threshold_ma"]) == {"supine", "prone", "sitting", "standing"}
        assert s["cut_end_initiations"] == 0  # no decisive spike next to a truncated axon end (issue 12)
    assert out["drg"]["program"]["leads"]["1"]["contacts"]
    assert out["quality"] == "quick" and out["patient"] == "default-crps-left-foot" and out["population_scale"] == 1.0
    # standard error is no terminal here: each stage is a plain line as it starts and ends, not a silent bar
    assert "DRG optimizer, configurations at 300 us: started (24)" in res.stderr
    assert "SCS outcomes (postures): done in" in res.stderr


def test_simulate_contract(files):
    res = runner.invoke(app, ["simulate", "--patient", str(files / "patient.json"), "--program",
                              str(files / "program.yaml"), "--quality", "quick", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [p["posture"] for p in out["postures"]] == ["supine", "prone", "sitting", "standing"]
    supine = out["postures"][0]
    assert [x["lead"] for x in supine["leads"]] == [1, 2]
    assert supine["leads"][0]["contacts"] == "0-+0" and supine["leads"][0]["amplitude_ma"] == 0.6
    assert out["program"]["name"] == "foot"  # the input is echoed, and how it was computed
    assert out["quality"]["drg_population"]["n_neurons"] == 60 and out["quality"]["mesh"]["order"] == 1


def test_demo_writes_report_figures_and_summary(files, tmp_path):
    res = runner.invoke(app, ["demo", "--quality", "quick", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    for name in ("report.html", "summary.json", "comparison.json", "pain_map.png", "recruitment.png"):
        assert (tmp_path / "out" / name).is_file(), name
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["drg"]["pain_coverage_pct"] >= 80 and summary["optimizer"]["target_coverage_pct"] == 80
    assert "DRG versus SCS" in res.stdout


def test_compare_out_writes_what_demo_writes_and_demo_takes_a_patient_file(files, tmp_path):
    res = runner.invoke(app, ["compare", "--quality", "quick", "--out", str(tmp_path / "c"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert json.loads(res.stdout) == summary and summary["report"] == str(tmp_path / "c" / "report.html")
    assert {"commit", "date_utc", "dependencies"} <= set(summary["provenance"]) and len(summary["runs"]) == 1
    res = runner.invoke(app, ["demo", "--patient", str(files / "patient.json"), "--quality", "quick", "--out",
                              str(tmp_path / "d"), "--json"])
    assert res.exit_code == 0, res.output
    demo = json.loads(res.stdout)
    assert demo["patient"] == "default-crps-left-foot" and (tmp_path / "d" / "report.html").is_file()
    assert demo["drg"]["pain_coverage_pct"] == summary["drg"]["pain_coverage_pct"]


@pytest.mark.parametrize("args,message", [
    (["demo", "--patient", "/no/such.json"], "--patient='/no/such.json'"),
    (["compare", "--out", "/proc/version/x"], "--out='/proc/version/x'"),
    (["compare", "--quality", "best"], "--quality='best': allowed: standard, quick"),
    (["compare", "--patient", "/no/such.json"], "--patient='/no/such.json'"),
    (["compare", "--target-coverage-pct", "0"], "--target-coverage-pct=0.0: allowed: > 0 and <= 100"),
    (["demo", "--target-coverage-pct", "120"], "--target-coverage-pct=120.0"),
    (["compare", "--population-scale", "0"], "--population-scale=0.0: allowed: 0.1-10"),
    (["compare", "--day", "/no/such.yaml"], "--day='/no/such.yaml': No such file or directory"),
])
def test_bad_input_exits_2(args, message):
    res = runner.invoke(app, args + ["--json"])
    assert res.exit_code == 2, res.output
    assert message in json.loads(res.stdout)["error"]


@pytest.mark.parametrize("change,message", [
    (lambda p: p["program"]["leads"][1].update(amplitude_ma=0.61), "program.leads.1.amplitude_ma=0.61 mA is not on"),
    (lambda p: p["program"]["leads"].update({3: p["program"]["leads"][1]}),
     "program.leads.3: this implant has leads 1-2"),
    (lambda p: p.update(system="tens"), "system='tens'"),
    (lambda p: p.update(ipg_model="scs_ipg"), "ipg_model='scs_ipg' is a scs device"),
])
def test_bad_program_file_exits_2(files, tmp_path, change, message):
    prog = json.loads(json.dumps(PROGRAM))
    prog["program"]["leads"] = {int(k): v for k, v in prog["program"]["leads"].items()}
    change(prog)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(prog))
    res = runner.invoke(app, ["simulate", "--program", str(path), "--quality", "quick", "--json"])
    assert res.exit_code == 2, res.output
    assert message in json.loads(res.stdout)["error"]


def test_a_field_that_cannot_be_meshed_is_reported_with_its_site(files, monkeypatch):
    """Not bad input: exit 1 with the lead, level and posture whose field failed."""
    def broken(spec, **kwargs):
        raise RuntimeError("meshing the drg model failed")

    monkeypatch.setattr("drgsim.therapy.model.solve", broken)
    res = runner.invoke(app, ["simulate", "--program", str(files / "program.yaml"), "--quality", "quick", "--json"])
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["error"] == "lead 1 (S1 left), supine: meshing the drg model failed"
