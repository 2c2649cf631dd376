"""Property tests (hypothesis) of the device rules over random action sequences.

- No sequence of patient-controller actions leaves the clinician limits or the device ranges.
- A configuration change always disables the lead and zeroes its amplitude.
- A rejected action leaves the state and the log untouched except for its own rejection event;
  every committed state passes the full rule check.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from drgsim.devices import ClinicianProgrammer, ImplantedLead, Neurostimulator, PatientController, get_ipg_model
from drgsim.devices.events import Actor

MODEL = "drg_ipg"
CONTACT = st.sampled_from(["+", "-", "off"])
CONFIG = st.lists(CONTACT, min_size=4, max_size=4)
GRID = st.integers(0, 160)  # index into the DRG amplitude grid
LEAD = st.sampled_from([None, None, 1, 1, 2, 2, 3])  # 3 is not implanted
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def amp(dev, i):
    return float(dev.model.amplitude_ma.grid[i])


@st.composite
def scenario(draw):
    """An impedance, a patient window [lo, hi] and a start amplitude inside it, all deliverable."""
    z = draw(st.floats(300, 3000))
    model = get_ipg_model(MODEL)
    top = int(np.searchsorted(model.amplitude_ma.grid, model.amplitude_ceiling_ma(z) + 1e-9)) - 1
    lo, hi = sorted(draw(st.lists(st.integers(0, top), min_size=2, max_size=2)))
    start = draw(st.integers(lo, hi))
    pw = draw(st.sampled_from([40, 120, 300, 500]))
    return z, lo, hi, start, pw


PATIENT_ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("up"), LEAD, st.integers(1, 3)),
    st.tuples(st.just("down"), LEAD, st.integers(1, 3)),
    st.tuples(st.just("up"), LEAD, st.integers(4, 40)),
    st.tuples(st.just("down"), LEAD, st.integers(4, 40)),
    st.tuples(st.sampled_from(["on", "off", "mri_on", "mri_off", "status"])),
    st.tuples(st.just("select"), st.sampled_from(["A", "B", "missing"])),
), min_size=15, max_size=40)


def build(z, lo, hi, start, pw):
    """Two leads; programs A and B fully programmed (overrides given where the window needs them); A running."""
    dev = Neurostimulator(MODEL, [ImplantedLead(lead=k, lead_model="drg", impedance_ohm=z) for k in (1, 2)])
    cp = ClinicianProgrammer(dev)
    for name in ("A", "B"):
        cp.create_program(name).raise_if_rejected()
        for k in (1, 2):
            cp.set_contacts(name, k, ["-", "+", "off", "off"]).raise_if_rejected()
            cp.measure_impedance(name, k).raise_if_rejected()
            cp.set_pulse_width(name, k, pw).raise_if_rejected()
            cp.set_amplitude(name, k, amp(dev, start), override=True).raise_if_rejected()
            cp.set_patient_limits(name, k, amp(dev, lo), amp(dev, hi), override=True).raise_if_rejected()
            cp.enable_lead(name, k, override=True).raise_if_rejected()
    pc = PatientController(dev)
    pc.select_program("A").raise_if_rejected()
    pc.therapy_on().raise_if_rejected()
    return dev, cp, pc


def check_invariants(dev):
    """Every enabled lead within its limits, on the device grid and under the compliance ceiling."""
    m = dev.model
    st_ = dev.state
    for prog in st_.programs.values():
        for k, s in prog.leads.items():
            assert m.amplitude_ma.contains(s.amplitude_ma)
            assert m.pulse_width_us.contains(s.pulse_width_us) and m.frequency_hz.contains(s.frequency_hz)
            if s.enabled:
                z = dev.measured_impedance(k, s.contacts)
                assert z is not None and s.amplitude_ma * z * 1e-3 <= m.compliance_v + 1e-9
                if s.patient_limits is not None:
                    assert s.patient_limits.min_amplitude_ma - 1e-9 <= s.amplitude_ma
                    assert s.amplitude_ma <= s.patient_limits.max_amplitude_ma + 1e-9
    assert not (st_.therapy_on and st_.mri_mode)
    assert dev.rule_problems() == []


def apply_and_check(dev, call):
    """Run one action; a rejection must change nothing but append its own event."""
    before_state = dev.snapshot()
    before_log = dev.log.events
    result = call()
    if result is None:  # a query
        assert dev.snapshot() == before_state and dev.log.events == before_log
        return None
    assert len(dev.log) == len(before_log) + 1 and dev.log.events[:-1] == before_log
    last = dev.log[-1]
    event(f"{last.action} {'accepted' if last.accepted else 'rejected'}")
    assert last.accepted == result.accepted
    if not result.accepted:
        assert dev.snapshot() == before_state
        assert last.reason and last.before == {} and last.after == {}
    assert dev.log.verify()
    check_invariants(dev)
    return result


@FAST
@given(scenario(), PATIENT_ACTIONS)
def test_patient_actions_never_leave_limits_or_ranges(setup, actions):
    dev, cp, pc = build(*setup)
    limits = {}
    for name, prog in dev.state.programs.items():
        for k, s in prog.leads.items():
            limits[(name, k)] = (s.patient_limits, s.enabled)
    for a in actions:
        calls = {"up": lambda: pc.amplitude_up(a[1], a[2]) if a[0] == "up" else None,
                 "down": lambda: pc.amplitude_down(a[1], a[2]) if a[0] == "down" else None,
                 "on": pc.therapy_on, "off": pc.therapy_off, "mri_on": lambda: pc.mri_mode(True),
                 "mri_off": lambda: pc.mri_mode(False), "status": lambda: (pc.battery_status(), None)[1],
                 "select": lambda: pc.select_program(a[1]) if a[0] == "select" else None}
        apply_and_check(dev, calls[a[0]])
    # the patient can change amplitudes, never the limits themselves
    for name, prog in dev.state.programs.items():
        for k, s in prog.leads.items():
            assert s.patient_limits == limits[(name, k)][0]


@st.composite
def clinician_and_patient_actions(draw):
    amp_value = st.one_of(GRID.map(lambda i: ("grid", i)),  # anywhere on the grid
                          st.integers(-4, 4).map(lambda k: ("rel", k)),  # k grid steps from the present amplitude
                          st.one_of(st.floats(-1, 8), st.just(float("nan"))).map(lambda v: ("raw", v)))
    prog = st.sampled_from(["A", "A", "B", "C"])
    lead = st.sampled_from([1, 1, 2, 2, 5])
    return draw(st.lists(st.one_of(
        st.tuples(st.just("contacts"), prog, lead, st.one_of(
            CONFIG, st.just(["-", "+", "off", "off"]), st.lists(CONTACT, max_size=6), st.just(["x"] * 4))),
        st.tuples(st.just("measure"), prog, lead),
        st.tuples(st.just("amplitude"), prog, lead, amp_value, st.booleans()),
        st.tuples(st.just("pulse_width"), prog, lead, st.sampled_from([30, 40, 305, 300, 720, 730]), st.booleans()),
        st.tuples(st.just("frequency"), prog, lead, st.sampled_from([2, 4, 21, 20, 100, 101])),
        st.tuples(st.just("limits"), prog, lead, amp_value, amp_value, st.booleans()),
        st.tuples(st.just("enable"), prog, lead, st.booleans()),
        st.tuples(st.just("disable"), prog, lead),
        st.tuples(st.just("create"), prog),
        st.tuples(st.just("delete"), prog),
        st.tuples(st.just("select"), prog),
        st.tuples(st.sampled_from(["on", "off", "mri_on", "mri_off"])),
        st.tuples(st.just("step"), st.sampled_from([None, 1, 2]), st.integers(-8, 8)),
        st.tuples(st.just("as_patient_amplitude"), prog, lead, amp_value),
    ), min_size=15, max_size=45))


@FAST
@given(scenario(), clinician_and_patient_actions())
def test_rejected_actions_change_nothing_and_configuration_changes_disable(setup, actions):
    dev, cp, pc = build(*setup)
    patient = Actor(role="patient", name="p")

    def value(v, program, lead, sign=1):
        if v[0] == "grid":
            return amp(dev, v[1])
        if v[0] == "raw":
            return v[1]
        try:
            now = dev.state.programs[program].leads[lead].amplitude_ma
        except KeyError:
            return 0.0
        return dev.model.amplitude_ma.step_from(now, sign * abs(v[1])) or now

    for a in actions:
        kind = a[0]
        if kind == "contacts":
            r = apply_and_check(dev, lambda: cp.set_contacts(a[1], a[2], a[3]))
            if r.accepted:
                s = dev.state.programs[a[1]].leads[a[2]]
                assert not s.enabled and s.amplitude_ma == 0 and s.approved_charge_per_phase_uc is None
            continue
        call = {
            "measure": lambda: cp.measure_impedance(a[1], a[2]),
            "amplitude": lambda: cp.set_amplitude(a[1], a[2], value(a[3], a[1], a[2]), override=a[4]),
            "pulse_width": lambda: cp.set_pulse_width(a[1], a[2], a[3], override=a[4]),
            "frequency": lambda: cp.set_frequency(a[1], a[2], a[3]),
            "limits": lambda: cp.set_patient_limits(a[1], a[2], value(a[3], a[1], a[2], -1),
                                                    value(a[4], a[1], a[2], +1), override=a[5]),
            "enable": lambda: cp.enable_lead(a[1], a[2], override=a[3]),
            "disable": lambda: cp.disable_lead(a[1], a[2]),
            "create": lambda: cp.create_program(a[1]),
            "delete": lambda: cp.delete_program(a[1]),
            "select": lambda: pc.select_program(a[1]),
            "on": pc.therapy_on, "off": pc.therapy_off,
            "mri_on": lambda: pc.mri_mode(True), "mri_off": lambda: pc.mri_mode(False),
            "step": lambda: dev.step_amplitude(patient, a[2], a[1]) if a[0] == "step" else None,
            "as_patient_amplitude": lambda: dev.set_amplitude(patient, a[1], a[2], value(a[3], a[1], a[2]),
                                                              override=True),
        }[kind]
        r = apply_and_check(dev, call)
        if kind == "as_patient_amplitude":
            assert not r.accepted
