"""The devices the clinic implants: the DRG system's entry in ``therapy.systems`` names its trial stimulator
and IPG in drgsim.devices' catalog, each with its default lead model. Device facts (leads per IPG, contacts per
lead) are read from the catalog, never written in the clinic."""

from __future__ import annotations

from drgsim.devices.hardware import IPGModel, System
from drgsim.therapy.systems import system_spec

_DRG = system_spec(System.DRG)
TRIAL_MODEL = _DRG.device("trial").id
TRIAL_LEAD = _DRG.device("trial").default_lead_model.id
IPG_MODEL = _DRG.device("ipg").id
IPG_LEAD = _DRG.device("ipg").default_lead_model.id


def clinic_ipg() -> IPGModel:
    """The catalog entry of the IPG the clinic implants."""
    return _DRG.device("ipg")
