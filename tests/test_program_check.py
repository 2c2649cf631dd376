"""One program check: the device layer's ``IPGModel.settings_problems`` is what the therapy CLI, the
therapy outcomes, the clinic's predictions and the device CLI call, and each refusal names the field,
the value and the allowed range."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from drgsim.anatomy.levels import Level, Side
from drgsim.anatomy.patient import default_patient
from drgsim.devices.cli import app as device_app
from drgsim.devices.hardware import IPGModel, get_ipg_model
from drgsim.devices.program import LeadSettings, Program
from drgsim.therapy.model import Implant, LeadPlan, System, TherapyModel, quality

TOO_WIDE = {"contacts": "-+00", "amplitude_ma": 1.0, "pulse_width_us": 1000, "frequency_hz": 20, "enabled": True}
NAMED = ("pulse_width_us=1000 us", "allowed: 40-720 us")


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Where the one check was asked from (the ``where`` each user gives it)."""
    seen: list[str] = []
    check = IPGModel.settings_problems

    def spy(self, s, where=""):
        seen.append(where)
        return check(self, s, where)
    monkeypatch.setattr(IPGModel, "settings_problems", spy)
    return seen


def _model() -> TherapyModel:
    implant = Implant(system=System.DRG, ipg_model="drg_ipg", leads=[LeadPlan(level=Level.S1, side=Side.LEFT)])
    return TherapyModel(default_patient(), implant, quality("quick"))


def test_the_device_layer_names_field_value_and_range():
    problems = get_ipg_model("drg_ipg").settings_problems(LeadSettings(**TOO_WIDE), "program.leads.1.")
    assert any(all(t in p for t in ("program.leads.1.",) + NAMED) for p in problems), problems


def test_therapy_cli_uses_the_one_check(calls):
    from drgsim.therapy.cli import _device_check

    problems = _device_check(_model(), Program(name="p", leads={1: LeadSettings(**TOO_WIDE)}))
    assert calls == ["program.leads.1."] and all(t in "; ".join(problems) for t in NAMED)


def test_therapy_outcomes_use_the_one_check(monkeypatch):
    """Outcomes refuse a lead the fields cannot be computed for (its contact count) before any computing; the
    rest of the check (``lead_problems``, with the impedance) marks a lead undeliverable."""
    from drgsim.therapy.outcomes import evaluate_posture

    seen = []
    check = IPGModel.contacts_problem
    monkeypatch.setattr(IPGModel, "contacts_problem",
                        lambda self, s, where="": seen.append(where) or check(self, s, where))
    bad = Program(name="p", leads={1: LeadSettings(**{**TOO_WIDE, "contacts": "-+000000"})})
    with pytest.raises(ValueError, match=r"program.leads.1.contacts has 8 entries; allowed: 4"):
        evaluate_posture(_model(), bad, "supine")
    assert seen == ["program.leads.1."]


def test_clinic_predictions_use_the_one_check(calls):
    from drgsim.clinic.predict import LeadAt, PredictionRequest, prepare

    req = PredictionRequest(pain={"left_sole": 8}, leads=[LeadAt(lead=1, level="S1", side="left")],
                            program=Program(name="p", leads={1: LeadSettings(**TOO_WIDE)}))
    with pytest.raises(ValueError) as info:
        prepare(req)
    assert calls == ["program.leads.1."] and all(t in str(info.value) for t in NAMED)


def test_device_cli_uses_the_one_check(calls):
    res = CliRunner().invoke(device_app, ["battery", "--amplitude-ma", "1", "--pulse-width-us", "1000",
                                          "--frequency-hz", "20", "--json"])
    assert res.exit_code == 2 and calls == [""]
    assert all(t in json.loads(res.stdout)["error"] for t in ("--pulse-width-us=1000 us", "allowed: 40-720 us"))
