"""The `drgsim device` CLI contract, on a small app that registers the sub-app as the main CLI will."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from drgsim.devices.cli import app as devices_app

main = typer.Typer()
main.add_typer(devices_app, name="device")
runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "drg_program.yaml"
DRG = ["device", "battery", "--system", "drg", "--leads", "4", "--amplitude-ma", "0.8", "--pulse-width-us", "300",
       "--frequency-hz", "20", "--impedance-ohm", "1000", "--hours-per-day", "24", "--json"]
KEYS = ("average_current_ua", "longevity_years", "charge_per_phase_uc", "charge_density_uc_per_cm2", "shannon_k",
        "warnings")


def run(args):
    return runner.invoke(main, args)


def test_battery_contract_drg():
    res = run(DRG)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for k in KEYS:
        assert k in out
    assert out["average_current_ua"] == pytest.approx(19.2)
    assert out["charge_per_phase_uc"] == pytest.approx(0.24)
    assert out["charge_density_uc_per_cm2"] == pytest.approx(6.1, abs=0.05)
    assert out["shannon_k"] == pytest.approx(0.166, abs=0.01)
    assert out["warnings"] == [] and 1 < out["longevity_years"] < 20 and out["recharge_interval_days"] is None


def test_battery_contract_scs():
    args = ["device", "battery", "--system", "scs", "--leads", "1", "--amplitude-ma", "5", "--pulse-width-us", "300",
            "--frequency-hz", "50", "--impedance-ohm", "1000", "--hours-per-day", "24", "--json"]
    res = run(args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["average_current_ua"] == pytest.approx(75)
    assert out["recharge_interval_days"] > 0 and out["longevity_years"] > 0
    # SCS's wider ranges: 1000 Hz is valid there, not on the DRG IPG
    scs_hf = args[:]
    scs_hf[scs_hf.index("--frequency-hz") + 1] = "1000"
    scs_hf[scs_hf.index("--pulse-width-us") + 1] = "200"
    assert run(scs_hf).exit_code == 0
    drg_hf = DRG[:]
    drg_hf[drg_hf.index("--frequency-hz") + 1] = "1000"
    assert run(drg_hf).exit_code == 2


def test_longevity_falls_with_amplitude_via_cli():
    years = []
    for a in ("0.4", "0.8", "1.6", "3"):
        args = DRG[:]
        args[args.index("--amplitude-ma") + 1] = a
        years.append(json.loads(run(args).stdout)["longevity_years"])
    assert years == sorted(years, reverse=True) and len(set(years)) == 4


@pytest.mark.parametrize("flag,value,expect", [
    ("--amplitude-ma", "7", ["--amplitude-ma=7", "0-6 mA", "0.025 mA", "0.05 mA", "nearest valid value: 6 mA"]),
    ("--pulse-width-us", "30", ["--pulse-width-us=30", "40-720 us", "step 10 us", "nearest valid value: 40 us"]),
    ("--frequency-hz", "101", ["--frequency-hz=101", "4-100 Hz", "step 2 Hz", "nearest valid value: 100 Hz"]),
    ("--amplitude-ma", "0.81", ["--amplitude-ma=0.81", "step grid", "nearest valid values: 0.8 and 0.825 mA"]),
    ("--leads", "5", ["--leads=5", "1-4"]),
    ("--impedance-ohm", "9000", ["--impedance-ohm=9000", "open-circuit"]),
])
def test_bad_values_exit_2_with_range_step_and_nearest(flag, value, expect):
    args = DRG[:]
    args[args.index(flag) + 1] = value
    res = run(args)
    assert res.exit_code == 2
    err = json.loads(res.stdout)["error"]
    for text in expect:
        assert text in err and text in res.stderr


def test_compliance_ceiling_is_a_refusal():
    args = DRG[:]
    args[args.index("--amplitude-ma") + 1] = "4"
    args[args.index("--impedance-ohm") + 1] = "3000"
    res = run(args)
    assert res.exit_code == 2 and "compliance" in res.stderr and "--amplitude-ma <= 3.3" in res.stderr


def test_high_charge_density_is_reported_as_a_warning():
    args = DRG[:]
    args[args.index("--amplitude-ma") + 1] = "6"
    args[args.index("--pulse-width-us") + 1] = "720"
    out = json.loads(run(args).stdout)
    assert out["charge_density_uc_per_cm2"] == pytest.approx(110, abs=0.5)
    assert any("30 uC/cm2" in w and "override" in w for w in out["warnings"])
    assert out["shannon_k"] > 1.85


def test_table_output_without_json():
    res = run(DRG[:-1])
    assert res.exit_code == 0 and "average stimulation current" in res.stdout


def test_program_validate_accepts_the_example():
    res = run(["device", "program", "validate", str(EXAMPLE), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [p["name"] for p in out["programs"]] == ["Foot 20 Hz", "Taper 4 Hz"]
    assert out["programs"][0]["battery"]["average_current_ua"] > 0
    plain = run(["device", "program", "validate", str(EXAMPLE)])
    assert plain.exit_code == 0 and "valid" in plain.stdout


def test_program_validate_rejects_bad_files(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["programs"][0]["leads"][1]["amplitude_ma"] = 0.81
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    res = run(["device", "program", "validate", str(bad), "--json"])
    assert res.exit_code == 2
    assert "programs.0.leads.1.amplitude_ma=0.81" in json.loads(res.stdout)["error"]
    data["programs"][0]["leads"][1].update(amplitude_ma=2.0, pulse_width_us=720)
    dense = tmp_path / "dense.json"
    dense.write_text(json.dumps(data))
    res = run(["device", "program", "validate", str(dense)])
    assert res.exit_code == 2 and "override" in res.stderr
    assert run(["device", "program", "validate", str(tmp_path / "missing.yaml")]).exit_code == 2
    (tmp_path / "junk.yaml").write_text("device: [unclosed")
    assert run(["device", "program", "validate", str(tmp_path / "junk.yaml")]).exit_code == 2
