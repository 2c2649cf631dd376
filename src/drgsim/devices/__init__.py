"""The device system: leads, stimulators, programs, safety, battery, controllers and the event log.

The modelled system (Abbott Proclaim DRG, FDA PMA P150004; Axium Clinical Programmer manual MN20700-03;
NCT01923285): an implanted pulse generator with up to four
thin 4-contact DRG leads, a patient controller and a clinician programmer, preceded by a
one-week trial on an external stimulator; a rechargeable SCS IPG with 8-contact leads is the
comparator. Every program drgsim simulates passes the rules the real device enforces.

Modules: ``ranges`` (stepped parameter grids), ``leads`` (catalog), ``hardware`` (IPG models),
``program``, ``safety``, ``battery``, ``events``, ``ipg`` (the stimulator state machine),
``controller``, ``closedloop`` (ECAP-controlled amplitude), ``waveform`` (the neurons stimulus),
``programfile``, ``cli``.
"""

from drgsim.devices.battery import (
                                    BatteryEstimate,
                                    BatterySpec,
                                    LeadLoad,
                                    estimate_battery,
                                    stimulation_current_ua,
                                    tissue_power_uw,
)
from drgsim.devices.controller import ClinicianProgrammer, PatientController
from drgsim.devices.events import Actor, Event, EventLog
from drgsim.devices.hardware import IPGModel, get_ipg_model, ipg_catalog
from drgsim.devices.ipg import (
                                    ActionResult,
                                    DeviceActionRejected,
                                    ImplantedLead,
                                    ImplantedPulseGenerator,
                                    Neurostimulator,
                                    TrialStimulator,
)
from drgsim.devices.leads import LeadModel, get_lead, lead_catalog
from drgsim.devices.program import ContactState, LeadSettings, PatientLimits, Program, Recharge
from drgsim.devices.programfile import ProgramFile, load_program_file, validate_program_file
from drgsim.devices.ranges import ParameterError, SteppedRange
from drgsim.devices.safety import LeadSafety, assess_lead, charge_density_uc_per_cm2, charge_per_phase_uc, shannon_k

__all__ = [
    "ActionResult", "Actor", "BatteryEstimate", "BatterySpec", "ClinicianProgrammer", "ContactState",
    "DeviceActionRejected", "Event", "EventLog", "IPGModel", "ImplantedLead", "ImplantedPulseGenerator", "LeadLoad",
    "LeadModel", "LeadSafety", "LeadSettings", "Neurostimulator", "ParameterError", "PatientController",
    "PatientLimits", "Program", "ProgramFile", "Recharge", "SteppedRange", "TrialStimulator", "assess_lead",
    "charge_density_uc_per_cm2", "charge_per_phase_uc", "estimate_battery", "get_ipg_model", "get_lead",
    "ipg_catalog", "lead_catalog", "load_program_file", "shannon_k", "stimulation_current_ua", "tissue_power_uw",
    "validate_program_file",
]
