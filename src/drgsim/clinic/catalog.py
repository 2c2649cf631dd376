"""The devices the clinic implants, chosen from drgsim.devices' catalog: the DRG trial stimulator and IPG
with their leads. Device facts (leads per IPG, contacts per lead) are read from the catalog, never
written in the clinic."""

from __future__ import annotations

from drgsim.devices.hardware import IPGModel, get_ipg_model

TRIAL_MODEL = "drg_trial"
TRIAL_LEAD = "drg_temp"
IPG_MODEL = "drg_ipg"
IPG_LEAD = "drg"


def clinic_ipg() -> IPGModel:
    """The catalog entry of the IPG the clinic implants."""
    return get_ipg_model(IPG_MODEL)
