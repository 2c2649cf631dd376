"""The system registry: each system's entry, the implant's lead models, and the lead reaching the field."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from drgsim.devices import hardware, leads
from drgsim.devices.hardware import System, ipg_catalog
from drgsim.devices.leads import get_lead, lead_catalog
from drgsim.devices.program import LeadSettings, as_contacts
from drgsim.therapy.model import QUALITY, Implant, LeadPlan, TherapyModel, plan_implant
from drgsim.therapy.systems import SYSTEMS, system_spec


def test_every_system_has_one_entry_with_its_catalog_devices_and_leads():
    assert set(SYSTEMS) == set(System) == {m.system for m in ipg_catalog().values()}
    for system, spec in SYSTEMS.items():
        for kind in ("ipg", "trial"):
            device = spec.device(kind)
            assert (device.system, device.kind) == (system, kind)
            assert all(get_lead(m).system == system for m in device.lead_models)
        assert spec.motor_kinds and spec.discomfort_kinds and spec.pulse_widths_us
        population = getattr(QUALITY["quick"], spec.population_quality)
        doubled = getattr(QUALITY["quick"].scaled(2), spec.population_quality)
        assert all(getattr(doubled, c) == 2 * getattr(population, c) for c in spec.population_counts)
    with pytest.raises(ValueError, match="system='tens'; allowed: drg, scs"):
        system_spec("tens")


def test_the_implant_takes_each_lead_model_from_its_device_and_refuses_others(patient):
    trial = plan_implant(patient, "drg", kind="trial")
    assert trial.ipg_model == "drg_trial" and {lead.lead_model for lead in trial.leads} == {"drg_temp"}
    assert {lead.lead_model for lead in plan_implant(patient, "scs").leads} == {"scs8"}
    filled = Implant(system="drg", ipg_model="drg_ipg", leads=[{"level": "L5", "side": "left"}])
    assert filled.leads[0].lead_model == "drg"
    with pytest.raises(ValidationError, match=r"leads.0.lead_model='drg_temp'; allowed for drg_ipg: drg"):
        Implant(system="drg", ipg_model="drg_ipg", leads=[LeadPlan(level="L5", side="left", lead_model="drg_temp")])
    with pytest.raises(ValidationError, match="ipg_model='scs_ipg' is a scs device; allowed: a drg device"):
        Implant(system="drg", ipg_model="scs_ipg", leads=[{"level": "L5", "side": "left"}])
    with pytest.raises(ValidationError, match="leads: 3 given; allowed: 1-2 for scs_ipg"):
        Implant(system="scs", ipg_model="scs_ipg", leads=[{"level": "T10", "side": "left"}] * 3)


def test_the_implants_lead_model_reaches_the_field(patient):
    for system in ("drg", "scs"):
        implant = plan_implant(patient, system, kind="trial")
        site = TherapyModel(patient, implant, QUALITY["quick"]).site(1, "supine")
        temporary = {"drg": "drg_temp", "scs": "scs8_temp"}[system]
        assert site.spec.geometry.lead_id == implant.leads[0].lead_model == temporary


def test_another_catalog_lead_changes_the_field_and_the_thresholds(patient, drg_model, monkeypatch):
    """A DRG lead with 2.5 mm contacts (added to the catalog here) gives another field and other thresholds
    than the catalog's 1.25 mm lead at the same place: the implant's lead, not a default, is simulated."""
    long = get_lead("drg").model_copy(update={"id": "drg_long", "contact_length_mm": 2.5})
    monkeypatch.setattr(leads, "lead_catalog", lambda: {**lead_catalog(), "drg_long": long})
    ipg = hardware.get_ipg_model("drg_ipg")
    monkeypatch.setattr(hardware, "ipg_catalog", lambda: {
        **ipg_catalog(), "drg_ipg": ipg.model_copy(update={"lead_models": ["drg", "drg_long"]})})
    plan = drg_model.implant.leads[0].model_copy(update={"lead_model": "drg_long"})
    model = TherapyModel(patient, Implant(system="drg", ipg_model="drg_ipg", leads=[plan]), QUALITY["quick"])
    sites = [m.site(1, "supine") for m in (drg_model, model)]
    assert sites[0].spec.key() != sites[1].spec.key()
    contacts = as_contacts("+-00")
    z = [s.impedance_ohm(contacts) for s in sites]
    assert z[1] < 0.9 * z[0]  # twice the contact area
    probe = LeadSettings(contacts=contacts, amplitude_ma=0.0, pulse_width_us=300.0, frequency_hz=20.0, enabled=False)
    tables = [s.table(contacts, m.lead_waveform(probe, zz), 6.0, kinds=("abeta",))
              for s, m, zz in zip(sites, (drg_model, model), z)]
    a, b = (t.threshold_ma for t in tables)
    both = np.isfinite(a) & np.isfinite(b)
    assert both.sum() >= 5 and not np.allclose(a[both], b[both], rtol=0.01)

