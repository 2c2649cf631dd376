"""Shared builders for the device tests: implanted devices and a programmed DRG IPG."""

from __future__ import annotations

import pytest

from drgsim.devices import ClinicianProgrammer, ImplantedLead, Neurostimulator, PatientController

BIPOLE = ["-", "+", "off", "off"]


def drg_ipg(n_leads: int = 2, impedance_ohm: float = 1000.0, model: str = "drg_ipg"):
    return Neurostimulator(model, [ImplantedLead(lead=k, lead_model="drg", impedance_ohm=impedance_ohm)
                                   for k in range(1, n_leads + 1)])


def program_all_leads(dev, name: str = "A", amplitude_ma: float = 0.8, pulse_width_us: float = 300,
                      frequency_hz: float = 20, limits=(0.4, 1.2), contacts=BIPOLE) -> ClinicianProgrammer:
    """Create ``name`` with every implanted lead configured, measured, set, limited and enabled."""
    cp = ClinicianProgrammer(dev, "dr-test")
    cp.create_program(name).raise_if_rejected()
    for lead in dev.implant:
        cp.set_contacts(name, lead, contacts).raise_if_rejected()
        cp.measure_impedance(name, lead).raise_if_rejected()
        cp.set_pulse_width(name, lead, pulse_width_us).raise_if_rejected()
        cp.set_frequency(name, lead, frequency_hz).raise_if_rejected()
        cp.set_amplitude(name, lead, amplitude_ma).raise_if_rejected()
        if limits is not None:
            cp.set_patient_limits(name, lead, *limits).raise_if_rejected()
        cp.enable_lead(name, lead).raise_if_rejected()
    return cp


@pytest.fixture
def programmed():
    """A 2-lead DRG IPG with program 'A' (0.8 mA, 300 us, 20 Hz, patient 0.4-1.2 mA), running."""
    dev = drg_ipg()
    cp = program_all_leads(dev)
    pc = PatientController(dev, "pt-1")
    pc.select_program("A").raise_if_rejected()
    pc.therapy_on().raise_if_rejected()
    return dev, cp, pc
