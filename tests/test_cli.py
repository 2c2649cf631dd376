"""The CLI contract: flags named in the issues, --json output, exit status 2 on bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from drgsim.cli import app

runner = CliRunner()
CONTRACT = ["threshold", "--model", "mrg", "--diameter-um", "10", "--nodes", "41", "--source", "point",
            "--distance-mm", "1.0", "--resistivity-ohm-cm", "500", "--pulse-width-us", "100", "--waveform",
            "monophasic", "--polarity", "cathodic", "--json"]


def test_threshold_contract_prints_one_json_object():
    res = runner.invoke(app, CONTRACT)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["threshold_ma"] > 0
    assert out["polarity"] == "cathodic"
    assert out["initiation_site"] == "node 20"  # the node under the source
    for key in ("n_simulations", "dt_us", "seconds"):
        assert out[key] > 0
    assert out["config"]["distance_mm"] == 1.0  # the configuration is echoed


def test_anodic_threshold_is_higher():
    cath = json.loads(runner.invoke(app, CONTRACT).stdout)["threshold_ma"]
    anod = json.loads(runner.invoke(app, CONTRACT[:-2] + ["anodic", "--json"]).stdout)["threshold_ma"]
    assert anod > 2 * cath


@pytest.mark.parametrize("flag,value,expect", [
    ("--diameter-um", "30", "--diameter-um"),
    ("--distance-mm", "-1", "--distance-mm"),
    ("--pulse-width-us", "0", "--pulse-width-us"),
    ("--nodes", "40", "--nodes"),
    ("--waveform", "square", "--waveform"),
    ("--source", "magic", "--source"),
])
def test_bad_flags_exit_2_naming_the_flag(flag, value, expect):
    args = list(CONTRACT)
    args[args.index(flag) + 1] = value
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert expect in res.output


def test_drg_neuron_threshold_reports_where_the_spike_starts():
    res = runner.invoke(app, ["threshold", "--model", "drg_abeta", "--distance-mm", "1.0", "--pulse-width-us",
                              "300", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["threshold_ma"] > 0 and out["initiation_site"] != "none"


@pytest.mark.parametrize("distance,pw,expected", [("1", "1000", 0.0496), ("1", "500", 0.0564), ("0.5", "100", 0.045)])
def test_issue_commands_find_neurons_thresholds(distance, pw, expected):
    """The cases the bracketing search got wrong (1.906, 1.64 mA, a traceback): NEURON's values
    (data/reference/neuron_windows.json) from the command's own defaults."""
    args = ["threshold", "--model", "mrg", "--diameter-um", "10", "--nodes", "51", "--source", "point",
            "--distance-mm", distance, "--resistivity-ohm-cm", "500", "--pulse-width-us", pw, "--waveform",
            "monophasic", "--polarity", "cathodic", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["threshold_ma"] == pytest.approx(expected, rel=0.02)
    assert out["block_ma"] is not None and out["block_ma"] > 5 * out["threshold_ma"]  # the block window above
    assert out["initiation_site"] == "node 25" and not out["anode_break"]


def test_a_cell_that_never_fires_exits_1_with_one_line():
    res = runner.invoke(app, ["threshold", "--model", "drg_c", "--distance-mm", "5", "--max-ma", "2", "--json"])
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert "did not fire at the ceiling of 2 mA" in out["error"] and "\n" not in out["error"]
    assert "Traceback" not in res.output
