"""``drgsim filter``: the JSON contract (transmission in 1 s bins, following_hz), sweeps and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from drgsim.cli import app


def test_filter_json_contract_and_a_sweep(tmp_path):
    fig = tmp_path / "sweep.png"
    res = CliRunner().invoke(app, ["filter", "--cell", "drg_c", "--frequency-hz", "40", "--duration-s", "1.2",
                                   "--amplitude-ratio", "0.9", "--ongoing-hz", "5", "--sweep-hz", "4",
                                   "--figure", str(fig), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [b["t_s"] for b in out["transmission"]] == [0.0, 1.0]
    assert all(set(b) == {"t_s", "fraction"} for b in out["transmission"])
    assert [b["fraction"] for b in out["transmission_without_stimulation"]] == [1.0, 1.0]
    # Subthreshold for the cord, the pulses start spikes in the peripheral axon that collide with the ongoing ones.
    assert out["transmission"][0]["fraction"] < 0.5 and out["stimulation_spikes_at_cord"] == 0
    assert 10.0 < out["following_hz"] < 60.0
    assert out["sweep"][0]["frequency_hz"] == 4.0 and fig.stat().st_size > 1000


@pytest.mark.parametrize("cell", ["drg_abeta", "drg_adelta"])
def test_myelinated_neurons_carry_every_peripheral_spike(cell):
    """The peripheral spikes of an A-type neuron start at a node of Ranvier (current into an internode, under the
    myelin, started none: transmission and following were 0) and all reach the cord; it follows far above the C
    neuron (Gemes et al. 2013: C-type units filter most)."""
    res = CliRunner().invoke(app, ["filter", "--cell", cell, "--duration-s", "1.2", "--amplitude-ratio", "0.5",
                                   "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["peripheral_spikes"] == 6
    assert [b["fraction"] for b in out["transmission_without_stimulation"]] == [1.0, 1.0]
    assert out["following_hz"] > 100.0


@pytest.mark.parametrize(("args", "needle"), [(["--cell", "mrg"], "cell"), (["--frequency-hz", "0"], "frequency"),
                                              (["--pattern", "bursts"], "pattern"), (["--source", "lead"], "source"),
                                              (["--sweep-hz", "4,x"], "sweep-hz"), (["--figure", "a.png"], "figure"),
                                              (["--duration-s", "601"], "duration")])
def test_filter_bad_input_exits_2_naming_the_field(args, needle):
    res = CliRunner().invoke(app, ["filter", *args, "--json"])
    assert res.exit_code == 2
    assert needle in json.loads(res.stdout)["error"]
