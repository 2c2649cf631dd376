"""Closed-loop controllers inside the device rules: a clinician programs one on a lead (``set_closed_loop``, one
event accepted or refused), they converge, stay on the grid and in the clinician window, refuse bad settings, and
every change of the delivered amplitude is one event in the device log."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from drgsim.devices import Actor, ClinicianProgrammer, PatientController
from drgsim.devices.closedloop import CeilingControl, ClosedLoopError, PIControl, run_loop

from .conftest import drg_ipg, program_all_leads

PI = PIControl(target_uv=40.0, ki_ma_per_uv_s=0.004, deadband_uv=1.5)


def running(limits=(0.2, 3.0), amplitude_ma=0.8, impedance_ohm=1000.0, therapy=True):
    """A 1-lead DRG IPG running program 'A' with the clinician window ``limits``."""
    dev = drg_ipg(1, impedance_ohm)
    program_all_leads(dev, amplitude_ma=amplitude_ma, pulse_width_us=150, limits=limits)
    pc = PatientController(dev, "pt")
    pc.select_program("A").raise_if_rejected()
    if therapy:
        pc.therapy_on().raise_if_rejected()
    return dev


def loop(dev, controller, measure, n_ticks, lead=1):
    """Program ``controller`` on ``lead`` of the running program 'A' as a clinician does, then run it."""
    ClinicianProgrammer(dev, "dr-loop").set_closed_loop("A", lead, controller).raise_if_rejected()
    return run_loop(dev, "A", lead, measure, n_ticks)


def growth(gain_of_tick):
    """A synthetic monotone growth curve, 100 uV/mA above 0.4 mA, scaled per tick (a posture change)."""
    return lambda i, a: max(0.0, 100.0 * (gain_of_tick(i) * a - 0.4))


def test_pi_converges_to_the_target_after_each_change_of_the_growth_curve():
    dev = running()
    tr = loop(dev, PI, growth(lambda i: 1.0 if i < 300 else 0.7), 600)
    for settled in (slice(250, 300), slice(550, 600)):
        assert np.all(np.abs(tr.ecap_uv[settled] - 40.0) <= 1.5 + 1e-9)
    # 40 uV needs gain * amplitude = 0.8: 0.8 mA at gain 1; 0.8 / 0.7 = 1.143 mA at 0.7, within a 25 uA grid step
    assert tr.amplitude_ma[299] == 0.8 and abs(tr.amplitude_ma[-1] - 0.8 / 0.7) < 0.025
    assert tr.ecap_uv[300] == pytest.approx(100 * (0.7 * 0.8 - 0.4))  # the change is measured before it is corrected


def test_the_loop_stays_on_the_grid_in_the_window_and_under_the_compliance_ceiling():
    dev = running(limits=(0.5, 1.5))
    tr = loop(dev, PIControl(target_uv=500.0, ki_ma_per_uv_s=0.01), growth(lambda i: 1.0), 100)
    grid = dev.model.amplitude_ma
    assert all(grid.contains(a) for a in tr.amplitude_ma)
    assert tr.amplitude_ma.max() == 1.5 and tr.bounds_ma == (0.5, 1.5)  # the target needs 5.4 mA: it stops at 1.5
    tr = loop(dev, PIControl(target_uv=1.0, ki_ma_per_uv_s=0.01), lambda i, a: 100.0 * a, 100)
    assert tr.amplitude_ma.min() == 0.5  # and at the window's floor going down
    dev = running(limits=(0.2, 6.0), impedance_ohm=4000.0)  # 10 V / 4 kOhm: a 2.5 mA ceiling
    tr = loop(dev, PIControl(target_uv=900.0, ki_ma_per_uv_s=0.01), growth(lambda i: 1.0), 100)
    assert tr.bounds_ma == (0.2, 2.5) and tr.amplitude_ma.max() == 2.5


def test_every_change_of_the_delivered_amplitude_is_one_event_in_the_log():
    dev = running()
    tr = loop(dev, PI, growth(lambda i: [1.0, 0.6, 1.3, 0.8][i // 100]), 400)
    programmed = [e.action for e in dev.log.events].index("set_closed_loop")
    events = dev.log.events[programmed + 1:]
    changes = np.flatnonzero(np.diff(tr.amplitude_ma)) + 1  # ticks delivering a new amplitude
    assert tr.events == len(changes) == len(events) > 4
    assert all(e.action == "loop_amplitude" and e.accepted and e.actor.role == "system" for e in events)
    assert [e.after["programs.A.leads.1.amplitude_ma"] for e in events] == [tr.amplitude_ma[i] for i in changes]
    start = dev.started
    assert [(e.time - start).total_seconds() for e in events] == pytest.approx([float(i) for i in changes])
    assert dev.log.verify() and (dev.now - start).total_seconds() == pytest.approx(400)
    assert dev.state.programs["A"].leads[1].amplitude_ma == tr.amplitude_ma[-1]


def test_ceiling_mode_lowers_above_the_ceiling_and_restores_the_programmed_amplitude():
    dev = running(amplitude_ma=1.0)
    ctl = CeilingControl(ceiling_uv=70.0, k_down_ma_per_uv_s=0.004, restore_ma_per_s=0.025, deadband_uv=1.5)
    tr = loop(dev, ctl, growth(lambda i: 1.5 if 100 <= i < 200 else 1.0), 400)
    assert np.all(tr.amplitude_ma[:100] == 1.0)  # 60 uV: under the ceiling, the programmed amplitude
    assert tr.amplitude_ma[150:200].max() < 0.75 and np.all(tr.ecap_uv[150:200] <= 70.0 + 1.5)
    assert tr.amplitude_ma[-1] == 1.0 and tr.amplitude_ma.max() == 1.0  # restored, never above it


def test_bad_controller_settings_are_refused_naming_the_field():
    with pytest.raises(ValidationError, match="target_uv"):
        PIControl(target_uv=-5, ki_ma_per_uv_s=0.01)
    with pytest.raises(ValidationError, match="ki_ma_per_uv_s"):
        PIControl(target_uv=5, ki_ma_per_uv_s=0)
    with pytest.raises(ValidationError, match="restore_ma_per_s"):
        CeilingControl(ceiling_uv=5, k_down_ma_per_uv_s=0.01, restore_ma_per_s=-1)


def test_the_loop_needs_a_running_program_and_a_clinician_window():
    with pytest.raises(ClosedLoopError, match="patient limits"):
        run_loop(running(limits=None), "A", 1, growth(lambda i: 1.0), 10)
    with pytest.raises(ClosedLoopError, match="therapy on"):
        loop(running(therapy=False), PI, growth(lambda i: 1.0), 10)
    with pytest.raises(ClosedLoopError, match="n_ticks=0"):
        loop(running(), PI, growth(lambda i: 1.0), 0)
    with pytest.raises(ClosedLoopError, match="lead=3"):
        run_loop(running(), "A", 3, growth(lambda i: 1.0), 10)
    with pytest.raises(ClosedLoopError, match="lead=1: runs open loop in program 'A'"):
        run_loop(running(), "A", 1, growth(lambda i: 1.0), 10)


def test_the_device_refuses_a_loop_amplitude_off_the_grid_or_outside_the_window():
    dev = running(limits=(0.4, 1.2))
    off_grid = dev.loop_amplitude("A", 1, 0.81, controller="pi", ecap_uv=10)
    assert not off_grid.accepted and "amplitude_ma=0.81" in off_grid.reason and "step grid" in off_grid.reason
    outside = dev.loop_amplitude("A", 1, 1.5, controller="pi", ecap_uv=10)
    assert not outside.accepted and "outside the patient limits 0.4-1.2 mA" in outside.reason
    assert dev.state.programs["A"].leads[1].amplitude_ma == 0.8  # nothing clamped, nothing changed
    assert [e.accepted for e in dev.log.events[-2:]] == [False, False]  # and both refusals are in the log


def only_event(dev, before: int):
    """The one event an action added to the log."""
    (event,) = dev.log.events[before:]
    return event


def test_a_clinician_programs_closed_loop_on_a_lead_as_one_event_kept_in_the_state():
    dev = running()
    cp, before = ClinicianProgrammer(dev, "dr-loop"), len(dev.log)
    res = cp.set_closed_loop("A", 1, {"mode": "ceiling", "ceiling_uv": 60})
    event = only_event(dev, before)
    assert res.accepted and event.action == "set_closed_loop" and event.actor.name == "dr-loop"
    assert event.params["closed_loop"] == {"mode": "ceiling", "ceiling_uv": 60}
    assert event.after["programs.A.leads.1.closed_loop.ceiling_uv"] == 60.0
    stored = dev.snapshot()["programs"]["A"]["leads"]["1"]["closed_loop"]
    assert stored == {"mode": "ceiling", "ceiling_uv": 60.0, "k_down_ma_per_uv_s": 0.005, "restore_ma_per_s": 0.05,
                      "deadband_uv": 0.0}  # the defaults are part of what the device keeps
    assert cp.set_closed_loop("A", 1, None).accepted and dev.state.programs["A"].leads[1].closed_loop is None
    assert dev.log.verify()


@pytest.mark.parametrize("setting, reason", [
    ({"mode": "pi", "target_uv": -5}, "closed_loop.target_uv=-5: Input should be greater than 0"),
    ({"mode": "pi", "target_uv": 40, "ki_ma_per_uv_s": 11}, "closed_loop.ki_ma_per_uv_s=11: Input should be less than "
                                                            "or equal to 10"),
    ({"mode": "ceiling", "ceiling_uv": 40, "deadband_uv": -1}, "closed_loop.deadband_uv=-1: Input should be greater "
                                                               "than or equal to 0"),
    ({"mode": "pid", "target_uv": 40}, "closed_loop.mode='pid': allowed: 'pi', 'ceiling'"),
])
def test_an_invalid_setting_is_refused_naming_the_field_the_value_and_the_bound(setting, reason):
    dev = running()
    before = len(dev.log)
    res = ClinicianProgrammer(dev, "dr").set_closed_loop("A", 1, setting)
    assert not res.accepted and reason in res.reason
    assert not only_event(dev, before).accepted and dev.state.programs["A"].leads[1].closed_loop is None


def test_closed_loop_is_refused_without_a_window_or_sensing_and_kept_by_the_window_rule():
    dev = running(limits=None)
    cp = ClinicianProgrammer(dev, "dr")
    res = cp.set_closed_loop("A", 1, PI)
    assert not res.accepted and "lead 1: closed_loop needs a clinician window: set patient limits" in res.reason
    assert dev.log.events[-1].action == "set_closed_loop" and not dev.log.events[-1].accepted
    trial = drg_ipg(1, model="drg_trial")
    assert not trial.model.ecap_sensing and dev.model.ecap_sensing  # catalogue facts, with their sources
    assert "ecap_sensing" in trial.model.sources and "what-if" in dev.model.sources["ecap_sensing"]
    program_all_leads(trial)
    res = ClinicianProgrammer(trial, "dr").set_closed_loop("A", 1, PI)
    assert not res.accepted and "closed_loop.mode='pi': drg_trial does not sense ECAPs" in res.reason
    dev = running()
    cp = ClinicianProgrammer(dev, "dr")
    cp.set_closed_loop("A", 1, PI).raise_if_rejected()
    res = cp.set_patient_limits("A", 1, None, None)  # the window goes only once closed loop is off
    assert not res.accepted and "turn closed loop off first" in res.reason
    refused = dev.set_closed_loop(Actor(role="patient", name="pt"), "A", 1, None)  # clinicians only
    assert refused.reason == "set_closed_loop is for clinician; a patient cannot do it"
    assert dev.state.programs["A"].leads[1].closed_loop == PI


def test_a_new_configuration_turns_closed_loop_off_and_says_so():
    dev = running()
    cp = ClinicianProgrammer(dev, "dr")
    cp.set_closed_loop("A", 1, PI).raise_if_rejected()
    res = cp.set_contacts("A", 1, "+-00")
    assert res.accepted and "closed loop off: its target was for the old configuration" in res.warnings
    assert dev.state.programs["A"].leads[1].closed_loop is None
