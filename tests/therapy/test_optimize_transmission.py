"""Nociceptive transmission in the optimizer (issue 15): the user picks it as the objective or a ceiling; it is
evaluated last, only for the options that survive the cheaper criteria, and the optimizer's number is the one
``outcomes.nociceptive_transmission`` computes for the chosen program."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from drgsim.cli import app
from drgsim.neurons.solver import SimulationSettings
from drgsim.populations.drg import DRGPopulationConfig
from drgsim.therapy.model import Implant, TherapyModel
from drgsim.therapy.optimize import OptimizerConfig, optimize
from drgsim.therapy.outcomes import nociceptive_transmission

runner = CliRunner()
SEARCH = dict(target_coverage_pct=1.0, configurations=["0-+0"], pulse_widths_us=[720.0], transmission_duration_s=1.0)


@pytest.fixture(scope="module")
def rim_model(patient, drg_model):
    """The L5 lead alone, over a population of A-beta and C neurons near the ganglion's dorsal rim without motor
    axons (so every amplitude up to the device's limits is a candidate), at a coarse step: the quick fields, with
    C neurons as close to the lead as the anatomy allows and tables of a few seconds. With 720 us pulses its
    nearest C neuron fires at 4.2 mA."""
    plan = drg_model.implant
    implant = Implant(system=plan.system, ipg_model=plan.ipg_model, leads=[plan.leads[1]])
    q = drg_model.quality.model_copy(update={
        "drg_population": DRGPopulationConfig(n_neurons=12, n_motor=0, fractions=(0.5, 0.0, 0.5),
                                              rim_fraction=(0.9, 0.99), dorsal_share=1.0),
        "settings": SimulationSettings(dt_us=25.0), "rel_tol": 0.05})
    return TherapyModel(patient, implant, q)


@pytest.fixture(scope="module")
def energy(rim_model):
    return optimize(rim_model, OptimizerConfig(**SEARCH))


def test_transmission_as_objective_is_evaluated_on_the_survivors_and_matches_the_outcome(rim_model, energy):
    """Energy alone evaluates no transmission. As the objective, every option of a combination reaching the target
    is screened, and the chosen program's transmission is the outcome's, computed on its own (full tables). Within
    the device's charge limits no option drives a C neuron to half its threshold, so none is simulated and the
    choice is the energy one: the model's answer for this anatomy."""
    assert energy.nociceptive_transmission_pct is None and energy.transmission_options == 0
    res = optimize(rim_model, OptimizerConfig(**SEARCH, objective="transmission"))
    assert res.transmission_options == energy.feasible > 1  # one lead: one option per combination reaching 1%
    tx = nociceptive_transmission(rim_model, res.program, res.config.posture, duration_s=1.0)
    assert res.nociceptive_transmission_pct == tx.transmitted_pct == 100.0
    (lead,) = tx.leads
    assert lead.simulated == res.c_neurons_simulated == 0 and 0 < lead.c_ratio_max < 0.5
    assert res.program == energy.program
    assert any("chosen among the least transmitting" in line for line in res.explanation)


def test_a_ceiling_is_kept_or_reported_unmet(rim_model, energy):
    """A ceiling of 100% holds; one of 80% cannot be kept (nothing reaches a C neuron): the result says so, keeps
    the coverage target and the least transmitting, lowest-drain program."""
    kept = optimize(rim_model, OptimizerConfig(**SEARCH, max_transmission_pct=100.0))
    assert kept.transmission_met is True and kept.nociceptive_transmission_pct <= 100.0
    unmet = optimize(rim_model, OptimizerConfig(**SEARCH, max_transmission_pct=80.0))
    assert unmet.transmission_met is False and unmet.target_met and unmet.program == energy.program
    assert any("keeps it at or below 80%" in line for line in unmet.explanation)


@pytest.mark.parametrize("args, message", [
    (["--objective", "fast"], "--objective='fast': Input should be 'energy' or 'transmission'"),
    (["--max-transmission-pct", "120"], "--max-transmission-pct=120.0: Input should be less than or equal to 100"),
    (["--max-transmission-pct", "-1"], "--max-transmission-pct=-1.0: Input should be greater than or equal to 0"),
    (["--target-coverage-pct", "0"], "--target-coverage-pct=0.0: Input should be greater than 0"),
    (["--quality", "best"], "--quality='best': allowed: standard, quick"),
])
def test_optimize_cli_bad_input_exits_2_naming_the_flag(args, message):
    res = runner.invoke(app, ["optimize", "--system", "drg", *args, "--json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout) == {"error": message}


def test_optimize_cli_contract(comparison):  # comparison: its tables are in the cache
    res = runner.invoke(app, ["optimize", "--system", "drg", "--quality", "quick", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["program"] == comparison.drg.optimization.program.model_dump(mode="json")
    assert out["config"]["objective"] == "energy" and out["config"]["max_transmission_pct"] is None
    assert out["nociceptive_transmission_pct"] is None and out["transmission_met"] is None
    assert out["explanation"] and out["pain_coverage_pct"] >= 80.0


def test_simulate_reports_transmission_only_when_asked(comparison, drg_model, tmp_path):
    """``drgsim simulate --transmission``: each posture's outcome carries the program's transmission, as
    ``nociceptive_transmission`` computes it; without the flag none is computed."""
    program = comparison.drg.optimization.program
    path = tmp_path / "program.json"
    path.write_text(json.dumps({"system": "drg", "program": program.model_dump(mode="json"),
                                "postures": ["supine", "sitting"]}))
    args = ["simulate", "--program", str(path), "--quality", "quick", "--json"]
    plain = json.loads(runner.invoke(app, args).stdout)
    assert all(p["nociceptive_transmission"] is None for p in plain["postures"])
    res = runner.invoke(app, [*args, "--transmission"])
    assert res.exit_code == 0, res.output
    for p in json.loads(res.stdout)["postures"]:
        expected = nociceptive_transmission(drg_model, program, p["posture"])
        assert p["nociceptive_transmission"] == expected.model_dump(mode="json")
