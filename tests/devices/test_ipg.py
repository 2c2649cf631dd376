"""The device rules: configuration, impedance, ranges, compliance, safety override, MRI, battery, trial."""

from __future__ import annotations

import pytest
import yaml

from drgsim.devices import (
    ClinicianProgrammer,
    ImplantedLead,
    ImplantedPulseGenerator,
    IPGModel,
    Neurostimulator,
    PatientController,
    TrialStimulator,
)
from drgsim.devices.events import Actor
from drgsim.devices.ipg import SYSTEM, DeviceState

from .conftest import BIPOLE, drg_ipg, program_all_leads


def fresh(n_leads=1, impedance_ohm=1000.0):
    dev = drg_ipg(n_leads, impedance_ohm)
    cp = ClinicianProgrammer(dev, "dr-a")
    cp.create_program("P").raise_if_rejected()
    return dev, cp


def lead(dev, program="P", k=1):
    return dev.state.programs[program].leads[k]


def test_new_program_uses_device_defaults_with_every_lead_off():
    dev, _ = fresh(n_leads=3)
    prog = dev.state.programs["P"]
    assert sorted(prog.leads) == [1, 2, 3]
    s = prog.leads[1]
    assert (s.amplitude_ma, s.pulse_width_us, s.frequency_hz, s.enabled) == (0, 40, 60, False)
    assert [c.value for c in s.contacts] == ["off"] * 4


def test_amplitude_needs_a_plus_and_a_minus_and_a_measured_impedance():
    dev, cp = fresh()
    r = cp.set_amplitude("P", 1, 0.5)
    assert not r.accepted and "at least one + and one -" in r.reason
    cp.set_contacts("P", 1, ["-", "off", "off", "off"]).raise_if_rejected()
    assert "at least one + and one -" in cp.set_amplitude("P", 1, 0.5).reason
    assert "at least one + and one -" in cp.enable_lead("P", 1).reason
    assert not cp.measure_impedance("P", 1).accepted
    cp.set_contacts("P", 1, BIPOLE).raise_if_rejected()
    r = cp.set_amplitude("P", 1, 0.5)
    assert not r.accepted and "impedance" in r.reason and "measure" in r.reason
    assert not cp.enable_lead("P", 1).accepted
    cp.measure_impedance("P", 1).raise_if_rejected()
    cp.set_amplitude("P", 1, 0.5).raise_if_rejected()
    cp.enable_lead("P", 1).raise_if_rejected()
    assert lead(dev).enabled and lead(dev).amplitude_ma == 0.5


def test_configuration_change_disables_the_lead_and_zeroes_the_amplitude(programmed):
    dev, cp, _ = programmed
    assert lead(dev, "A").enabled and lead(dev, "A").amplitude_ma == 0.8
    r = cp.set_contacts("A", 1, ["+", "-", "off", "off"])
    assert r.accepted
    s = lead(dev, "A")
    assert not s.enabled and s.amplitude_ma == 0 and s.approved_charge_per_phase_uc is None
    assert r.event.before["programs.A.leads.1.enabled"] is True and r.event.after["programs.A.leads.1.enabled"] is False
    assert r.event.after["programs.A.leads.1.amplitude_ma"] == 0
    # the new configuration has not been measured: amplitude is refused until it is
    assert "impedance" in cp.set_amplitude("A", 1, 0.8).reason


def test_impedance_is_stored_per_configuration():
    dev = Neurostimulator("drg_ipg", [ImplantedLead(lead=1, lead_model="drg",
                                                    contact_impedance_ohm=[400, 600, 500, 800])])
    cp = ClinicianProgrammer(dev)
    cp.create_program("P")
    cp.set_contacts("P", 1, "-+00")
    cp.measure_impedance("P", 1).raise_if_rejected()
    assert dev.measured_impedance(1, lead(dev).contacts) == pytest.approx(1000)
    cp.set_contacts("P", 1, "+-+0")  # guarded cathode: 600 + (400 || 500)
    assert dev.measured_impedance(1, lead(dev).contacts) is None
    cp.measure_impedance("P", 1).raise_if_rejected()
    assert dev.measured_impedance(1, lead(dev).contacts) == pytest.approx(600 + 1 / (1 / 400 + 1 / 500))


@pytest.mark.parametrize("action,value,text", [
    ("set_amplitude", 0.81, "nearest valid values: 0.8 and 0.825 mA"),
    ("set_amplitude", 7, "nearest valid value: 6 mA"),
    ("set_pulse_width", 30, "pulse_width_us=30 us is outside the allowed range; allowed: 40-720 us, step 10 us"),
    ("set_pulse_width", 305, "nearest valid values: 300 and 310 us"),
    ("set_frequency", 101, "allowed: 4-100 Hz, step 2 Hz; nearest valid value: 100 Hz"),
    ("set_frequency", 21, "nearest valid values: 20 and 22 Hz"),
])
def test_off_grid_settings_are_refused_with_the_nearest_values(programmed, action, value, text):
    dev, cp, _ = programmed
    before = dev.snapshot()
    r = getattr(cp, action)("A", 1, value)
    assert not r.accepted and text in r.reason
    assert dev.snapshot() == before


def test_amplitude_ceiling_follows_compliance_and_impedance():
    dev, cp = fresh(impedance_ohm=2000)  # 10 V / 2000 ohm = 5 mA
    cp.set_contacts("P", 1, BIPOLE)
    cp.measure_impedance("P", 1)
    assert dev.amplitude_ceiling_ma("P", 1) == pytest.approx(5.0)
    r = cp.set_amplitude("P", 1, 5.05)
    assert not r.accepted and "compliance" in r.reason and "amplitude_ma <= 5" in r.reason
    cp.set_amplitude("P", 1, 5.0).raise_if_rejected()
    low = fresh(impedance_ohm=400)[0]
    assert low.model.amplitude_ceiling_ma(400) == pytest.approx(6.0)  # the device maximum, not 25 mA


def test_open_circuit_lead_cannot_stimulate():
    dev, cp = fresh(impedance_ohm=5000)
    cp.set_contacts("P", 1, BIPOLE)
    r = cp.measure_impedance("P", 1)
    assert r.accepted and any("open-circuit" in w for w in r.warnings)
    assert "open-circuit" in cp.set_amplitude("P", 1, 0.1).reason


def test_higher_impedance_on_remeasure_disables_leads_it_makes_undeliverable(programmed):
    dev, cp, pc = programmed
    cp.set_patient_limits("A", 1, 0.4, 3.0).raise_if_rejected()
    pc.amplitude_up(1, steps=40)  # 0.8 -> 1.8 mA
    assert lead(dev, "A").amplitude_ma == pytest.approx(1.8)
    dev.change_tissue(ImplantedLead(lead=1, lead_model="drg", impedance_ohm=6000))  # ceiling 1.65 mA
    assert lead(dev, "A").enabled  # nothing changes until the clinician measures
    r = cp.measure_impedance("A", 1)
    assert r.accepted and any("lead disabled" in w for w in r.warnings)
    assert not lead(dev, "A").enabled and lead(dev, "A").amplitude_ma == 0
    assert lead(dev, "A", 2).enabled  # the other lead is untouched


def test_charge_density_above_30_needs_an_explicit_clinician_override():
    dev, cp = fresh()
    cp.set_contacts("P", 1, BIPOLE)
    cp.measure_impedance("P", 1)
    cp.set_pulse_width("P", 1, 720).raise_if_rejected()
    cp.set_amplitude("P", 1, 2.0).raise_if_rejected()  # disabled lead: not yet stimulating
    r = cp.enable_lead("P", 1)
    assert not r.accepted and "exceeds the 30 uC/cm2 warning limit" in r.reason and "override" in r.reason
    r = cp.enable_lead("P", 1, override=True)
    assert r.accepted and any("accepted by clinician override" in w for w in r.warnings)
    assert r.event.params["override"] is True
    assert lead(dev).approved_charge_per_phase_uc == pytest.approx(1.44)
    # going further than what was approved asks again
    assert not cp.set_amplitude("P", 1, 2.5).accepted
    cp.set_amplitude("P", 1, 2.5, override=True).raise_if_rejected()
    # patient limits count at their maximum: a window above the approval also needs an override
    assert not cp.set_patient_limits("P", 1, 2.0, 3.0).accepted
    cp.set_patient_limits("P", 1, 2.0, 2.5).raise_if_rejected()


def test_hardware_limits_are_refused_even_with_override():
    dev, cp = fresh(impedance_ohm=2000)
    cp.set_contacts("P", 1, BIPOLE)
    cp.measure_impedance("P", 1)
    assert not cp.set_amplitude("P", 1, 6.5, override=True).accepted
    assert not cp.set_amplitude("P", 1, 5.5, override=True).accepted  # compliance at 2000 ohm


def test_patient_cannot_override_or_program(programmed):
    dev, _, pc = programmed
    patient = Actor(role="patient", name="pt-1")
    before = dev.snapshot()
    for r in (dev.set_amplitude(patient, "A", 1, 1.0, override=True), dev.create_program(patient, "mine"),
              dev.set_contacts(patient, "A", 1, BIPOLE), dev.measure_impedance(patient, "A", 1)):
        assert not r.accepted and "a patient cannot do it" in r.reason
    assert dev.snapshot() == before


def test_patient_steps_stay_within_the_clinician_limits(programmed):
    dev, cp, pc = programmed
    for _ in range(30):
        pc.amplitude_up()
    assert lead(dev, "A", 1).amplitude_ma == pytest.approx(1.2)
    r = pc.amplitude_up(1)
    assert not r.accepted and "clinician limits 0.4-1.2 mA" in r.reason
    for _ in range(40):
        pc.amplitude_down(2)
    assert lead(dev, "A", 2).amplitude_ma == pytest.approx(0.4) and lead(dev, "A", 1).amplitude_ma == pytest.approx(1.2)
    pc.amplitude_down(1, steps=2).raise_if_rejected()
    assert lead(dev, "A", 1).amplitude_ma == pytest.approx(1.15)


def test_patient_step_sizes_follow_the_device_grid():
    dev = drg_ipg(1)
    program_all_leads(dev, amplitude_ma=1.95, limits=(1.0, 3.0))
    pc = PatientController(dev)
    pc.select_program("A"), pc.therapy_on()
    got = []
    for _ in range(4):
        pc.amplitude_up().raise_if_rejected()
        got.append(lead(dev, "A").amplitude_ma)
    assert got == pytest.approx([1.975, 2.0, 2.05, 2.1])


def test_mri_mode_stops_stimulation_and_blocks_it(programmed):
    dev, _, pc = programmed
    r = pc.mri_mode(True)
    assert r.accepted and r.event.after == {"mri_mode": True, "therapy_on": False}
    assert "MRI mode" in pc.therapy_on().reason
    assert "MRI mode" in pc.amplitude_up().reason
    pc.mri_mode(False).raise_if_rejected()
    pc.therapy_on().raise_if_rejected()


def test_program_selection_and_therapy_rules(programmed):
    dev, cp, pc = programmed
    cp.create_program("empty").raise_if_rejected()
    assert "no enabled lead" in pc.select_program("empty").reason  # while running
    assert not pc.select_program("nope").accepted
    assert "running" in cp.delete_program("A").reason
    pc.therapy_off()
    pc.select_program("empty").raise_if_rejected()
    assert "no enabled lead" in pc.therapy_on().reason
    assert "stimulation is off" in pc.amplitude_up().reason
    for i in range(dev.model.max_programs - 2):
        cp.create_program(f"p{i}").raise_if_rejected()
    r = cp.create_program("one too many")
    assert not r.accepted and f"at most {dev.model.max_programs}" in r.reason
    assert not cp.create_program("A").accepted  # duplicate name


def test_battery_drains_and_a_depleted_primary_cell_stops_therapy(programmed):
    dev, _, pc = programmed
    full = pc.battery_status()
    assert full.percent_remaining == pytest.approx(100) and full.days_remaining > 100
    dev.advance(24 * 30)
    month = pc.battery_status()
    expected = month.battery_current_ua * 1e-3 * 24 * 30
    assert dev.model.battery.usable_mah - month.remaining_mah == pytest.approx(expected, rel=1e-6)
    dev.advance(24 * 365 * 30)
    assert pc.battery_status().depleted and not dev.state.therapy_on
    assert [e.action for e in dev.log if e.actor.role == "system"] == ["battery_depleted"]
    assert "depleted" in pc.therapy_on().reason
    assert "no replaceable battery" in pc.replace_battery().reason


def test_trial_stimulator_has_a_replaceable_battery_and_a_trial_period():
    dev = TrialStimulator("drg_trial", [ImplantedLead(lead=1, lead_model="drg_temp", impedance_ohm=900)])
    program_all_leads(dev)
    pc = PatientController(dev)
    pc.select_program("A"), pc.therapy_on()
    dev.advance(24 * 8)
    assert dev.status().trial_elapsed and dev.status().trial_day == pytest.approx(8)
    elapsed = [e for e in dev.log if e.action == "trial_period_elapsed"]
    assert len(elapsed) == 1 and elapsed[0].time == dev.trial_ends_at
    dev.advance(24 * 365 * 5)
    assert pc.battery_status().depleted
    pc.replace_battery().raise_if_rejected()
    assert pc.battery_status().percent_remaining == pytest.approx(100)
    pc.therapy_on().raise_if_rejected()
    with pytest.raises(ValueError, match="kind"):
        TrialStimulator("drg_ipg", [ImplantedLead(lead=1, lead_model="drg", impedance_ohm=900)])


def test_rechargeable_scs_ipg_recharges_and_reports_it():
    dev = ImplantedPulseGenerator("scs_ipg", [ImplantedLead(lead=1, lead_model="scs8", impedance_ohm=800)])
    program_all_leads(dev, amplitude_ma=5.0, pulse_width_us=300, frequency_hz=50, limits=(3.0, 7.0),
                      contacts=["-", "+"] + ["off"] * 6)
    pc = PatientController(dev)
    pc.select_program("A"), pc.therapy_on()
    est = dev.battery_estimate()
    assert est.average_current_ua == pytest.approx(75) and est.recharge_interval_days > 1
    dev.advance(24 * 10)
    low = pc.battery_status().remaining_mah
    r = pc.recharge(4)
    assert r.accepted and any("battery full" in w for w in r.warnings)
    assert low < dev.model.battery.usable_mah
    assert pc.battery_status().remaining_mah == pytest.approx(dev.model.battery.usable_mah)
    assert "primary cell" in PatientController(drg_ipg(1)).recharge(1).reason


def test_implant_must_fit_the_device():
    with pytest.raises(ValueError, match="does not fit"):
        Neurostimulator("drg_ipg", [ImplantedLead(lead=1, lead_model="scs8", impedance_ohm=900)])
    with pytest.raises(ValueError, match="1 to 4"):
        drg_ipg(5)


def test_state_and_configs_round_trip_through_json_and_yaml(programmed):
    dev, _, pc = programmed
    pc.amplitude_up(2)
    state = dev.state
    assert DeviceState.model_validate_json(state.model_dump_json()) == state
    assert DeviceState.model_validate(yaml.safe_load(yaml.safe_dump(state.model_dump(mode="json")))) == state
    assert IPGModel.model_validate_json(dev.model.model_dump_json()) == dev.model
    assert dev.rule_problems() == []


def test_waveform_of_a_programmed_lead(programmed):
    dev, _, _ = programmed
    w = dev.waveform("A", 1, n_pulses=2)
    assert w.shape == "asymmetric" and w.frequency_hz == 20 and w.pulse_width_us == 300


def test_restore_continues_state_clock_and_event_chain():
    """A device stored (state, clock, last event) and restored behaves as the original and keeps one chain."""
    from drgsim.devices.events import EventLog

    implant = [ImplantedLead(lead=1, lead_model="drg", impedance_ohm=1000.0)]
    dev = Neurostimulator("drg_ipg", implant, serial="X1")
    clin = Actor(role="clinician", name="c")
    dev.create_program(clin, "P1").raise_if_rejected()
    dev.set_contacts(clin, "P1", 1, "-+00").raise_if_rejected()
    dev.measure_impedance(clin, "P1", 1).raise_if_rejected()
    dev.advance(5.0)
    first = list(dev.log.events)
    back = Neurostimulator.restore("drg_ipg", implant, serial="X1", started=dev.started, now=dev.now,
                                   state=dev.snapshot(), last_event=first[-1])
    assert back.state == dev.state and back.now == dev.now
    for d in (dev, back):  # the same action on both gives the same result and event
        d.set_amplitude(clin, "P1", 1, 0.5).raise_if_rejected()
    assert back.state == dev.state and back.log.events[0].after == dev.log.events[-1].after
    assert back.log.events[0].seq == len(first) and back.log.events[0].digest == dev.log.events[-1].digest
    whole = EventLog.from_jsonl("".join(e.model_dump_json() + "\n" for e in first + list(back.log.events)))
    assert whole.verify()
    tampered = back.log.events[0].model_copy(update={"prev_digest": "0" * 64})
    with pytest.raises(ValueError, match="chain is broken"):
        EventLog.from_jsonl("".join(e.model_dump_json() + "\n" for e in first + [tampered]))


def test_import_programs_arrive_disabled_and_need_a_measurement():
    clin = Actor(role="clinician", name="c")
    old = drg_ipg(n_leads=1)
    old.create_program(clin, "P1").raise_if_rejected()
    old.set_contacts(clin, "P1", 1, "-+00").raise_if_rejected()
    old.measure_impedance(clin, "P1", 1).raise_if_rejected()
    old.set_amplitude(clin, "P1", 1, 0.8).raise_if_rejected()
    old.enable_lead(clin, "P1", 1).raise_if_rejected()
    new = drg_ipg(n_leads=1)
    patient = Actor(role="patient", name="p")
    assert not new.import_programs(patient, old.state.programs).accepted  # clinicians only
    new.import_programs(clin, old.state.programs).raise_if_rejected()
    ls = new.program("P1").leads[1]
    assert (ls.contacts, ls.enabled, ls.amplitude_ma) == (old.program("P1").leads[1].contacts, False, 0.0)
    assert not new.enable_lead(clin, "P1", 1).accepted  # impedance not measured on this device yet
    new.measure_impedance(clin, "P1", 1).raise_if_rejected()
    new.set_amplitude(clin, "P1", 1, 0.8).raise_if_rejected()
    new.enable_lead(clin, "P1", 1).raise_if_rejected()
    assert new.program("P1") == old.program("P1")
    assert "already has programs" in new.import_programs(clin, old.state.programs).reason


def test_revert_programs_goes_back_to_saved_settings_for_the_system_only(programmed):
    """A remote session's end: the saved programs, selection and therapy state come back in one system event;
    impedances stay; no clinician or patient can trigger it; a saved state the rules refuse is not applied."""
    dev, cp, pc = programmed
    snap = dev.snapshot()
    saved = {k: snap[k] for k in ("programs", "active_program", "therapy_on")}
    pc.amplitude_up().raise_if_rejected()
    cp.create_program("B").raise_if_rejected()
    pc.therapy_off().raise_if_rejected()
    for actor in (Actor(role="clinician", name="dr-a"), Actor(role="patient", name="pt-1")):
        r = dev.revert_programs(actor, saved, "link lost")
        assert not r.accepted and "cannot do it" in r.reason
    r = dev.revert_programs(SYSTEM, saved, "link lost")
    assert r.accepted and r.warnings == ["link lost"] and r.event.params == {"reason": "link lost", "programs": ["A"]}
    assert dev.snapshot()["programs"] == saved["programs"] and dev.state.therapy_on and dev.state.impedances
    pc.mri_mode(True).raise_if_rejected()  # the saved 'therapy on' cannot come back in MRI mode
    assert dev.revert_programs(SYSTEM, saved, "ended").accepted and not dev.state.therapy_on
    broken = {**saved, "active_program": "gone"}
    r = dev.revert_programs(SYSTEM, broken, "ended")
    assert not r.accepted and "'gone' does not exist" in r.reason and dev.state.active_program == "A"


def test_contact_check_measures_each_contact_and_flags_open_and_short():
    """Each contact as cathode against the others as anode; outside 200-4000 ohm it is flagged, never refused."""
    dev = ImplantedPulseGenerator("drg_ipg", [ImplantedLead(lead=1, lead_model="drg",
                                                            contact_impedance_ohm=[60, 80, 900, 9000])])
    res = dev.check_contacts(Actor(role="clinician", name="dr-a"), 1)
    check = dev.state.contact_checks[1]
    par = lambda *rs: 1 / sum(1 / r for r in rs)  # noqa: E731
    assert check.impedance_ohm == pytest.approx([60 + par(80, 900, 9000), 80 + par(60, 900, 9000),
                                                 900 + par(60, 80, 9000), 9000 + par(60, 80, 900)])
    assert check.flags == ["short", "short", None, "open"] and res.accepted  # contacts 1 and 2 touch
    assert any("contact 2" in w and "short (allowed 200-4000 ohm)" in w for w in res.warnings)
    assert res.event.after["contact_checks.1.flags.3"] == "open"
    assert not dev.check_contacts(Actor(role="patient", name="p"), 1).accepted  # a clinician's check
    assert "lead=3 is not implanted" in dev.check_contacts(Actor(role="clinician", name="dr-a"), 3).reason


def test_clinician_ramp_steps_on_the_grid_and_refuses_past_the_compliance_ceiling():
    dev, cp = fresh(impedance_ohm=3000.0)  # 10 V / 3000 ohm: ceiling 3.3 mA
    a = Actor(role="clinician", name="dr-a")
    dev.set_contacts(a, "P", 1, BIPOLE).raise_if_rejected()
    dev.measure_impedance(a, "P", 1).raise_if_rejected()
    dev.set_amplitude(a, "P", 1, 1.975).raise_if_rejected()
    assert [dev.ramp_amplitude(a, "P", 1, 1).accepted for _ in range(2)] == [True, True]
    assert lead(dev).amplitude_ma == 2.05  # 0.025 mA steps below 2 mA, 0.05 mA above
    dev.set_amplitude(a, "P", 1, 3.3).raise_if_rejected()
    res = dev.ramp_amplitude(a, "P", 1, 1)
    assert not res.accepted and "compliance voltage" in res.reason and lead(dev).amplitude_ma == 3.3
    assert "steps=0" in dev.ramp_amplitude(a, "P", 1, 0).reason
