"""The clinic's device facts (contacts per lead, leads per IPG) come from drgsim.devices' catalog."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drgsim.clinic import schemas
from drgsim.clinic.catalog import clinic_ipg
from drgsim.clinic.routes.programming import lead_form

LEAD = {"amplitude_ma": 0.5, "pulse_width_us": 300, "frequency_hz": 20, "enabled": True}
TARGETS = [{"level": lv, "side": "left"} for lv in ("L3", "L4", "L5", "S1", "S2")]


@pytest.fixture
def eight_contacts_two_leads(monkeypatch):
    """A catalog whose clinic IPG has 2 leads of 8 contacts."""
    from drgsim.devices import hardware

    ipg = clinic_ipg().model_copy(update={"contacts_per_lead": 8, "max_leads": 2})
    catalog = {**hardware.ipg_catalog(), ipg.id: ipg}
    monkeypatch.setattr(hardware, "ipg_catalog", lambda: catalog)
    return ipg


def test_the_catalog_counts_are_the_clinic_limits():
    ipg = clinic_ipg()
    n = ipg.contacts_per_lead
    assert schemas.LeadIn(contacts="-+" + "0" * (n - 2), **LEAD)
    with pytest.raises(ValidationError, match=f"has {n + 1} characters; allowed: {n}"):
        schemas.LeadIn(contacts="-+" + "0" * (n - 1), **LEAD)
    with pytest.raises(ValidationError, match=f"targets has 5 entries; allowed: 1-{ipg.max_leads}"):
        schemas.PlanIn(targets=TARGETS[:ipg.max_leads + 1])
    with pytest.raises(ValidationError, match=f"lead={ipg.max_leads + 1}; allowed: 1-{ipg.max_leads}"):
        schemas.StepIn(steps=1, lead=ipg.max_leads + 1)


def test_another_catalog_changes_the_clinic(eight_contacts_two_leads):
    assert schemas.LeadIn(contacts="-+000000", **LEAD).contacts == "-+000000"
    with pytest.raises(ValidationError, match="has 4 characters; allowed: 8"):
        schemas.LeadIn(contacts="-+00", **LEAD)
    with pytest.raises(ValidationError, match="targets has 3 entries; allowed: 1-2"):
        schemas.PlanIn(targets=TARGETS[:3])
    form = {f"c{i}": "0" for i in range(1, 9)} | {"c8": "+", "c1": "-", "enabled": "on"}
    assert lead_form(form)["contacts"] == "-000000+"
