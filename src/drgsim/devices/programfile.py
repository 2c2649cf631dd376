"""Program files (YAML/JSON): a device, its implanted leads and named programs, checked as a device would.

Validation has two stages:
1. the pydantic schema (types, the device's parameter grids, with the nearest valid values);
2. replay through a simulated device by a clinician programmer (configure, impedance check,
   pulse width, frequency, amplitude, patient limits, enable): every rule the device enforces
   applies, and a setting that needs a safety override is refused unless the lead says
   ``density_override: true``.
A file that passes describes programs the device could deliver; the report gives, per lead,
charge, charge density, Shannon k and the load voltage, and per program the battery estimate.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drgsim.devices.battery import BatteryEstimate
from drgsim.devices.controller import ClinicianProgrammer
from drgsim.devices.hardware import get_ipg_model, ipg_catalog
from drgsim.devices.ipg import ImplantedLead, Neurostimulator
from drgsim.devices.program import (
    ContactState,
    PatientLimits,
    Recharge,
    config_is_valid,
    contacts_label,
    parse_contacts,
)
from drgsim.devices.ranges import ParameterError
from drgsim.devices.safety import LeadSafety


class LeadSpec(BaseModel):
    """One lead of a program as a clinician writes it."""

    model_config = ConfigDict(extra="forbid")

    contacts: list[ContactState]
    amplitude_ma: float = Field(0.0, ge=0)
    pulse_width_us: float | None = Field(None, gt=0)  # None: the device default
    frequency_hz: float | None = Field(None, gt=0)
    recharge: Recharge | None = None
    enabled: bool = True
    patient_limits: PatientLimits | None = None
    density_override: bool = False  # the clinician accepts a charge-density / Shannon warning

    _parse_contacts = field_validator("contacts", mode="before")(parse_contacts)


class ProgramSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    leads: dict[int, LeadSpec]  # leads not listed stay off
    cycle_on_s: float | None = Field(None, gt=0, le=3600)
    cycle_off_s: float | None = Field(None, ge=0, le=3600)


class UsageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours_per_day: float = Field(24.0, ge=0, le=24)


class ProgramFile(BaseModel):
    """Schema of a program file; off-grid or out-of-range settings fail here with the nearest valid values."""

    model_config = ConfigDict(extra="forbid")

    device: str
    implant: list[ImplantedLead] = Field(min_length=1)
    programs: list[ProgramSpec] = Field(min_length=1)
    usage: UsageSpec = Field(default_factory=UsageSpec)

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if v not in ipg_catalog():
            raise ValueError(f"device={v!r} is not in the catalog; allowed: {', '.join(sorted(ipg_catalog()))}")
        return v

    @model_validator(mode="after")
    def _on_device_grid(self):
        model = get_ipg_model(self.device)
        problems = []
        names = [p.name for p in self.programs]
        if len(set(names)) != len(names):
            problems.append(f"programs: names must be unique ({names})")
        implanted = {x.lead for x in self.implant}
        for i, prog in enumerate(self.programs):
            for lead, spec in prog.leads.items():
                where = f"programs.{i}.leads.{lead}."
                if lead not in implanted:
                    problems.append(f"programs.{i}.leads: lead {lead} is not in the implant "
                                    f"(leads {sorted(implanted)})")
                if len(spec.contacts) != model.contacts_per_lead:
                    problems.append(f"{where}contacts has {len(spec.contacts)} entries; the lead has "
                                    f"{model.contacts_per_lead}")
                for name in ("amplitude_ma", "pulse_width_us", "frequency_hz"):
                    value = getattr(spec, name)
                    if value is None:
                        continue
                    try:
                        model.check_parameter(name, value, where + name)
                    except ParameterError as err:
                        problems.append(str(err))
                if spec.patient_limits is not None:
                    problems += model.limits_problems(spec.patient_limits, where)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LeadReport(BaseModel):
    lead: int
    contacts: str
    enabled: bool
    amplitude_ma: float
    pulse_width_us: float
    frequency_hz: float
    recharge: Recharge
    impedance_ohm: float | None
    amplitude_ceiling_ma: float | None
    patient_limits: PatientLimits | None
    safety: LeadSafety
    safety_at_patient_max: LeadSafety | None = None


class ProgramReport(BaseModel):
    name: str
    duty_cycle: float
    leads: list[LeadReport]
    battery: BatteryEstimate
    warnings: list[str]


class ProgramFileReport(BaseModel):
    device: str
    device_name: str
    system: str
    hours_per_day: float
    programs: list[ProgramReport]
    warnings: list[str]
    unverified: list[str]  # device parameters behind the numbers that are [unverified]
    events: int  # device actions replayed


class ProgramFileError(ValueError):
    """The device refused part of the file; one message per refused action."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def load_program_file(path: str | Path) -> ProgramFile:
    """Parse a YAML or JSON program file (raises pydantic.ValidationError or ValueError)."""
    text = Path(path).read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a program file is a mapping with device, implant and programs")
    return ProgramFile.model_validate(data)


def build_device(pf: ProgramFile, *, clinician: str = "program-file") -> tuple[Neurostimulator, list[str]]:
    """Replay the file on a simulated device; returns the device and the refusals (empty: all accepted)."""
    dev = Neurostimulator(pf.device, pf.implant)
    cp = ClinicianProgrammer(dev, clinician)
    problems: list[str] = []
    for i, prog in enumerate(pf.programs):
        res = cp.create_program(prog.name)
        if not res.accepted:
            problems.append(f"programs.{i} ({prog.name!r}): create_program refused: {res.reason}")
            continue
        for lead, spec in sorted(prog.leads.items()):
            if lead not in dev.implant:
                continue
            ov = spec.density_override
            steps = [("set_contacts", lambda: cp.set_contacts(prog.name, lead, spec.contacts))]
            if config_is_valid(spec.contacts):
                steps.append(("measure_impedance", lambda: cp.measure_impedance(prog.name, lead)))
            if spec.recharge is not None:
                steps.append(("set_recharge", lambda: cp.set_recharge(prog.name, lead, spec.recharge)))
            if spec.pulse_width_us is not None:
                steps.append(("set_pulse_width", lambda: cp.set_pulse_width(prog.name, lead, spec.pulse_width_us,
                                                                            override=ov)))
            if spec.frequency_hz is not None:
                steps.append(("set_frequency", lambda: cp.set_frequency(prog.name, lead, spec.frequency_hz)))
            steps.append(("set_amplitude", lambda: cp.set_amplitude(prog.name, lead, spec.amplitude_ma, override=ov)))
            if spec.patient_limits is not None:
                lim = spec.patient_limits
                steps.append(("set_patient_limits", lambda: cp.set_patient_limits(
                    prog.name, lead, lim.min_amplitude_ma, lim.max_amplitude_ma, override=ov)))
            if spec.enabled:
                steps.append(("enable_lead", lambda: cp.enable_lead(prog.name, lead, override=ov)))
            for action, call in steps:
                res = call()
                if not res.accepted:
                    problems.append(f"programs.{i} ({prog.name!r}) lead {lead}: {action} refused: {res.reason}")
                    break
        if prog.cycle_on_s is not None or prog.cycle_off_s is not None:
            res = cp.set_cycling(prog.name, prog.cycle_on_s, prog.cycle_off_s)
            if not res.accepted:
                problems.append(f"programs.{i} ({prog.name!r}): set_cycling refused: {res.reason}")
    return dev, problems


def validate_program_file(pf: ProgramFile) -> ProgramFileReport:
    """The safety and battery report of a valid file; raises ProgramFileError when the device refuses it."""
    dev, problems = build_device(pf)
    if problems:
        raise ProgramFileError(problems)
    reports, all_warnings = [], []
    for prog_spec in pf.programs:
        prog = dev.program(prog_spec.name)
        now = {s.lead: s for s in dev.safety_report(prog.name)}
        top = {s.lead: s for s in dev.safety_report(prog.name, at_patient_max=True)}
        leads, warnings = [], []
        for lead, s in prog.leads.items():
            z = dev.measured_impedance(lead, s.contacts)
            at_max = top[lead] if s.patient_limits is not None else None
            leads.append(LeadReport(lead=lead, contacts=contacts_label(s.contacts), enabled=s.enabled,
                                    amplitude_ma=s.amplitude_ma, pulse_width_us=s.pulse_width_us,
                                    frequency_hz=s.frequency_hz, recharge=s.recharge, impedance_ohm=z,
                                    amplitude_ceiling_ma=None if z is None else dev.model.amplitude_ceiling_ma(z),
                                    patient_limits=s.patient_limits, safety=now[lead], safety_at_patient_max=at_max))
            if s.enabled:
                for w in now[lead].warnings + (at_max.warnings if at_max else []):
                    text = f"program {prog.name!r}: {w} (clinician override in the file)"
                    if text not in warnings:
                        warnings.append(text)
        battery = dev.battery_estimate(prog.name, hours_per_day=pf.usage.hours_per_day)
        reports.append(ProgramReport(name=prog.name, duty_cycle=prog.duty_cycle, leads=leads, battery=battery,
                                     warnings=warnings))
        all_warnings += warnings
    unverified = sorted(set(dev.model.unverified) | {f"lead:{x.lead_model}.{k}" for x in pf.implant
                                                     for k in _lead_unverified(x.lead_model)})
    return ProgramFileReport(device=dev.model.id, device_name=dev.model.name, system=dev.model.system,
                             hours_per_day=pf.usage.hours_per_day, programs=reports, warnings=all_warnings,
                             unverified=unverified, events=len(dev.log))


def _lead_unverified(lead_model: str) -> list[str]:
    from drgsim.devices.leads import get_lead

    return get_lead(lead_model).unverified
