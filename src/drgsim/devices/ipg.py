"""The stimulator as a state machine: programs, impedance, therapy, MRI mode, battery, event log.

Every action goes through ``Neurostimulator._act``: it applies the change to a copy of the state,
checks the whole copy against the device rules (``IPGModel.lead_problems``, the safety override
rule, therapy rules) and then either commits it or leaves the state untouched; either way it
appends one event (who, when, what, before/after, or why not) to the append-only log.

Device rules (Axium Clinical Programmer manual MN20700-03 unless noted):
- each contact +, - or off; a lead needs at least one + and one - before an amplitude can be set
  or the lead enabled; any configuration change disables the lead and zeroes its amplitude;
- the impedance of a lead's configuration must be measured before an amplitude is set or the
  lead enabled; the amplitude ceiling follows the compliance voltage and the measured impedance;
- amplitude, pulse width and frequency only on the device's grid (``drgsim.devices.hardware``);
- charge density above 30 uC/cm2 per phase or Shannon k >= 1.85 (at the larger of the amplitude
  and the patient maximum) needs an explicit clinician override (safety.py); patients can never
  override;
- entering MRI mode stops stimulation; therapy cannot be started in MRI mode (Proclaim IPG clinician manual).

Closed loop (Evoke: Mekhail et al. 2020 Lancet Neurol; Inceptiv: Medtronic 2023): a clinician programs a lead's
controller (``set_closed_loop``) only on a model that senses ECAPs and on a lead with patient limits, the window
the controller moves the amplitude in (``IPGModel.closed_loop_problems``); its adjustments are ``loop_amplitude``
system events. A configuration change turns it off with the rest of the lead's settings [drgsim's rule: the
target was an ECAP of the old configuration].

Clinician programmer checks (Abbott clinician programmer app, Boston Scientific Bionic Navigator: a per-contact
impedance check, amplitude stepped on the device grid while the patient reports thresholds) [drgsim's model]:
a contact check measures each contact as the cathode against the lead's other contacts together as the anode
and flags it open or short outside ``IPGModel.impedance_range``; a clinician ramp moves one lead's amplitude by
device steps and is refused, never clamped, at the end of the device range or the compliance ceiling.

drgsim's own rules [unverified device behaviour]: a new impedance measurement that puts a lead
above its compliance ceiling or open-circuit limit disables that lead and zeroes its amplitude,
and the event says so; a depleted battery stops therapy (system event).

The ``time`` of events is simulated: the device has its own clock, moved only by ``advance``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drgsim.devices.battery import BatteryEstimate, LeadLoad, estimate_battery
from drgsim.devices.closedloop import Controller, as_controller
from drgsim.devices.events import Actor, Event, EventLog, diff
from drgsim.devices.hardware import IPGModel, get_ipg_model
from drgsim.devices.leads import get_lead
from drgsim.devices.program import (
    ContactState,
    LeadSettings,
    PatientLimits,
    Program,
    Recharge,
    as_contacts,
    contacts_label,
)
from drgsim.devices.ranges import ParameterError, fmt
from drgsim.devices.safety import LeadSafety, assess_lead, charge_warnings, max_contact_charge_uc

DEFAULT_START = datetime(2024, 1, 1, tzinfo=timezone.utc)
SYSTEM = Actor(role="system", name="device")
PATIENT_ROLES = ("patient", "clinician")
CLINICIAN_ROLES = ("clinician",)


class Rejected(Exception):
    """Raised inside an action to refuse it; the message is the event's reason."""


class ImplantedLead(BaseModel):
    """A lead connected to the stimulator, and the tissue load it sees.

    Give either ``impedance_ohm`` (every configuration of this lead measures that value) or
    ``contact_impedance_ohm`` (one access impedance per contact: a configuration measures its
    cathodes in parallel in series with its anodes in parallel).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead: int = Field(ge=1, le=8)
    lead_model: str
    label: str = ""
    impedance_ohm: float | None = Field(None, gt=0, le=100_000)
    contact_impedance_ohm: list[float] | None = None

    @model_validator(mode="after")
    def _one_load(self):
        if (self.impedance_ohm is None) == (self.contact_impedance_ohm is None):
            raise ValueError(f"lead {self.lead}: give exactly one of impedance_ohm and contact_impedance_ohm")
        get_lead(self.lead_model)
        if self.contact_impedance_ohm is not None:
            n = get_lead(self.lead_model).n_contacts
            if len(self.contact_impedance_ohm) != n or min(self.contact_impedance_ohm) <= 0:
                raise ValueError(f"lead {self.lead}: contact_impedance_ohm needs {n} positive values")
        return self

    def impedance_of(self, contacts: list[ContactState]) -> float:
        """What an impedance check of this configuration measures."""
        if self.impedance_ohm is not None:
            return self.impedance_ohm
        z = self.contact_impedance_ohm
        par = lambda rs: 1.0 / sum(1.0 / r for r in rs)  # noqa: E731
        return (par([z[i] for i, c in enumerate(contacts) if c == ContactState.CATHODE])
                + par([z[i] for i, c in enumerate(contacts) if c == ContactState.ANODE]))

    def contact_impedances(self) -> list[float]:
        """What a contact check measures: each contact as the cathode against the other contacts as the anode."""
        n = get_lead(self.lead_model).n_contacts
        return [self.impedance_of([ContactState.CATHODE if j == i else ContactState.ANODE for j in range(n)])
                for i in range(n)]


class ContactCheck(BaseModel):
    """The last contact check of a lead: ohms per contact (contact 1 first) and each one's flag."""

    model_config = ConfigDict(extra="forbid")

    lead: int
    impedance_ohm: list[float]
    flags: list[Literal["open", "short"] | None]
    time: datetime


class ImpedanceRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead: int
    contacts: str  # compact configuration, contact 1 first, e.g. '-+00'
    impedance_ohm: float
    time: datetime


class BatteryState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    used_mah: float = Field(0.0, ge=0)  # drawn from the usable capacity since full / new
    depleted: bool = False
    replacements: int = 0
    recharges: int = 0


class DeviceState(BaseModel):
    """Everything an action can change."""

    model_config = ConfigDict(extra="forbid")

    programs: dict[str, Program] = Field(default_factory=dict)
    active_program: str | None = None
    therapy_on: bool = False
    mri_mode: bool = False
    impedances: dict[str, ImpedanceRecord] = Field(default_factory=dict)  # key 'lead:config'
    contact_checks: dict[int, ContactCheck] = Field(default_factory=dict)  # key: lead
    battery: BatteryState = Field(default_factory=BatteryState)
    trial_elapsed: bool = False


class ActionResult(BaseModel):
    accepted: bool
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    event: Event

    def raise_if_rejected(self) -> "ActionResult":
        if not self.accepted:
            raise DeviceActionRejected(f"{self.event.action}: {self.reason}")
        return self


class DeviceActionRejected(RuntimeError):
    pass


class BatteryStatus(BaseModel):
    chemistry: str
    replaceable: bool
    percent_remaining: float
    remaining_mah: float
    depleted: bool
    battery_current_ua: float  # at the present state
    days_remaining: float | None  # at the present state; None when nothing drains


class DeviceStatus(BaseModel):
    model: str
    serial: str
    time: datetime
    therapy_on: bool
    active_program: str | None
    programs: list[str]
    mri_mode: bool
    battery: BatteryStatus
    trial_day: float | None = None
    trial_days: float | None = None
    trial_elapsed: bool = False


def _impedance_key(lead: int, contacts: list[ContactState]) -> str:
    return f"{lead}:{contacts_label(contacts)}"


class Neurostimulator:
    """An IPG or external trial stimulator of a catalog model with its implanted leads."""

    kinds: tuple[str, ...] = ("ipg", "trial")

    def __init__(self, model: str | IPGModel, implant: list[ImplantedLead], *, serial: str = "SIM-0001",
                 start: datetime = DEFAULT_START) -> None:
        self.model = get_ipg_model(model) if isinstance(model, str) else model
        if self.model.kind not in self.kinds:
            raise ValueError(f"{type(self).__name__} needs a device of kind {self.kinds}, not {self.model.kind!r}")
        leads = [ImplantedLead.model_validate(x) for x in implant]
        numbers = [x.lead for x in leads]
        if not leads or len(set(numbers)) != len(numbers) or max(numbers) > self.model.max_leads:
            raise ValueError(f"implant leads {numbers}: allowed 1 to {self.model.max_leads} distinct leads numbered "
                             f"1-{self.model.max_leads}")
        for x in leads:
            if x.lead_model not in self.model.lead_models:
                raise ValueError(f"lead {x.lead}: lead model {x.lead_model!r} does not fit {self.model.id}; allowed: "
                                 f"{', '.join(self.model.lead_models)}")
        self.implant = {x.lead: x for x in sorted(leads, key=lambda x: x.lead)}
        self.serial = serial
        self.started = start
        self.now = start
        self.log = EventLog()
        self._state = DeviceState()

    @classmethod
    def restore(cls, model: str | IPGModel, implant: list[ImplantedLead], *, serial: str, started: datetime,
                now: datetime, state: dict[str, Any], last_event: Event | None) -> "Neurostimulator":
        """A device as it was stored: its state (validated), clock, and an event log continuing the stored chain."""
        dev = cls(model, implant, serial=serial, start=started)
        dev.now = now
        dev._state = DeviceState.model_validate(state)
        dev.log = EventLog(after=last_event)
        return dev

    def change_tissue(self, lead: ImplantedLead) -> None:
        """The body changes (encapsulation, lead migration): what the next impedance check of ``lead.lead``
        measures. Not a device action: stored measurements stay until the clinician re-measures."""
        lead = ImplantedLead.model_validate(lead)
        old = self.implant.get(lead.lead)
        if old is None or old.lead_model != lead.lead_model:
            raise ValueError(f"lead {lead.lead} with model {lead.lead_model!r} is not implanted")
        self.implant[lead.lead] = lead

    # ------------------------------------------------------------------ queries
    @property
    def state(self) -> DeviceState:
        """A copy of the state (changing it changes nothing on the device)."""
        return self._state.model_copy(deep=True)

    def snapshot(self) -> dict[str, Any]:
        return self._state.model_dump(mode="json")

    def contact_area_cm2(self, lead: int) -> float:
        return get_lead(self.implant[lead].lead_model).contact_area_cm2

    def measured_impedance(self, lead: int, contacts: list[ContactState],
                           state: DeviceState | None = None) -> float | None:
        rec = (state or self._state).impedances.get(_impedance_key(lead, contacts))
        return rec.impedance_ohm if rec else None

    def program(self, name: str) -> Program:
        if name not in self._state.programs:
            raise KeyError(f"no program {name!r}; programs: {sorted(self._state.programs)}")
        return self._state.programs[name].model_copy(deep=True)

    def amplitude_ceiling_ma(self, program: str, lead: int) -> float | None:
        s = self._state.programs[program].leads[lead]
        z = self.measured_impedance(lead, s.contacts)
        return None if z is None else self.model.amplitude_ceiling_ma(z)

    def safety_report(self, program: str, *, at_patient_max: bool = False) -> list[LeadSafety]:
        """Per lead of ``program``: charge, density, Shannon k, load voltage, warnings, refusals."""
        out = []
        for lead, s in self.program(program).leads.items():
            amp = s.amplitude_ma
            if at_patient_max and s.patient_limits is not None:
                amp = max(amp, s.patient_limits.max_amplitude_ma)
            out.append(assess_lead(s.contacts, amp, s.pulse_width_us, self.contact_area_cm2(lead),
                                   impedance_ohm=self.measured_impedance(lead, s.contacts),
                                   compliance_v=self.model.compliance_v, lead=lead))
        return out

    def _loads(self, prog: Program, state: DeviceState) -> list[LeadLoad]:
        loads = []
        for lead, s in prog.enabled_leads().items():
            z = self.measured_impedance(lead, s.contacts, state)
            if s.amplitude_ma > 0 and z is not None:
                loads.append(LeadLoad(amplitude_ma=s.amplitude_ma, pulse_width_us=s.pulse_width_us,
                                      frequency_hz=s.frequency_hz, impedance_ohm=z, recharge=s.recharge))
        return loads

    def battery_estimate(self, program: str | None = None, *, hours_per_day: float = 24.0) -> BatteryEstimate:
        """Drain and longevity if ``program`` (default: the active one, if therapy is on) ran ``hours_per_day``."""
        name = program if program is not None else (self._state.active_program if self._state.therapy_on else None)
        if name is None:
            return estimate_battery([], self.model.battery, hours_per_day=hours_per_day)
        prog = self._state.programs[name]
        return estimate_battery(self._loads(prog, self._state), self.model.battery, duty_cycle=prog.duty_cycle,
                                hours_per_day=hours_per_day)

    def _present_current_ua(self) -> float:
        st = self._state
        if st.battery.depleted:
            return 0.0
        stimulating = st.therapy_on and not st.mri_mode and st.active_program is not None
        return self.battery_estimate(st.active_program if stimulating else None).battery_current_ua if stimulating \
            else estimate_battery([], self.model.battery).battery_current_ua

    def battery_status(self) -> BatteryStatus:
        spec, b = self.model.battery, self._state.battery
        remaining = max(spec.usable_mah - b.used_mah, 0.0)
        current = self._present_current_ua()
        days = remaining / (current * 1e-3) / 24.0 if current > 0 and not b.depleted else None
        return BatteryStatus(chemistry=spec.chemistry, replaceable=spec.replaceable,
                             percent_remaining=100.0 * remaining / spec.usable_mah, remaining_mah=remaining,
                             depleted=b.depleted, battery_current_ua=current, days_remaining=days)

    @property
    def trial_ends_at(self) -> datetime | None:
        days = self.model.trial_days
        return None if days is None else self.started + timedelta(days=days)

    def status(self) -> DeviceStatus:
        st = self._state
        trial_day = (self.now - self.started).total_seconds() / 86400.0 if self.model.trial_days else None
        return DeviceStatus(model=self.model.id, serial=self.serial, time=self.now, therapy_on=st.therapy_on,
                            active_program=st.active_program, programs=sorted(st.programs), mri_mode=st.mri_mode,
                            battery=self.battery_status(), trial_day=trial_day, trial_days=self.model.trial_days,
                            trial_elapsed=st.trial_elapsed)

    def waveform(self, program: str, lead: int, n_pulses: int = 1):
        """The lead's pulse as a ``drgsim.neurons.stimulus.Waveform`` (needs a measured impedance)."""
        from drgsim.devices.waveform import device_waveform

        s = self._state.programs[program].leads[lead]
        z = self.measured_impedance(lead, s.contacts)
        if z is None:
            raise ValueError(f"program {program!r} lead {lead}: impedance not measured")
        return device_waveform(s, self.model, z, n_pulses=n_pulses)

    # ------------------------------------------------------------------ the rule check
    def rule_problems(self) -> list[str]:
        """What the device rules find wrong with the present state (always empty: every commit is checked)."""
        return self._validate(self.state, SYSTEM, False)[0]

    def _validate(self, s: DeviceState, actor: Actor, override: bool) -> tuple[list[str], list[str]]:
        """Problems (the action is refused) and warnings (accepted) of a candidate state.

        Approves, in place, the charge of leads that need a clinician override when one is given.
        """
        m = self.model
        problems: list[str] = []
        warnings: list[str] = []
        if len(s.programs) > m.max_programs:
            problems.append(f"{len(s.programs)} programs; the device holds at most {m.max_programs}")
        if s.active_program is not None and s.active_program not in s.programs:
            problems.append(f"active program {s.active_program!r} does not exist")
        if s.therapy_on and s.mri_mode:
            problems.append("stimulation cannot be on in MRI mode")
        if s.therapy_on and s.battery.depleted:
            problems.append("the battery is depleted")
        for name, prog in s.programs.items():
            if set(prog.leads) != set(self.implant):
                problems.append(f"program {name!r} has leads {sorted(prog.leads)}; implanted: {sorted(self.implant)}")
                continue
            for lead, ls in prog.leads.items():
                where = f"program {name!r} lead {lead}: "
                z = self.measured_impedance(lead, ls.contacts, s)
                problems += m.lead_problems(ls, impedance_ohm=z, where=where)
                if not (ls.enabled and ls.config_valid):
                    continue
                worst = ls.amplitude_ma
                if ls.patient_limits is not None:
                    worst = max(worst, ls.patient_limits.max_amplitude_ma)
                q = max_contact_charge_uc(ls.contacts, worst, ls.pulse_width_us)
                w = charge_warnings(q, self.contact_area_cm2(lead), f"program {name!r} lead {lead}")
                approved = ls.approved_charge_per_phase_uc
                if w and (approved is None or q > approved * (1 + 1e-9)):
                    if override and actor.role == "clinician":
                        ls.approved_charge_per_phase_uc = q
                        warnings += [f"{x}; accepted by clinician override ({fmt(q)} uC per phase at "
                                     f"{fmt(worst)} mA)" for x in w]
                    else:
                        problems += [f"{x} at {fmt(worst)} mA; needs an explicit clinician override" for x in w]
        return problems, warnings

    # ------------------------------------------------------------------ the action wrapper
    def _act(self, actor: Actor, action: str, params: dict[str, Any], mutate: Callable[[DeviceState], list[str] | None],
             roles: tuple[str, ...], override: bool = False) -> ActionResult:
        actor = Actor.model_validate(actor)
        reason = None
        warnings: list[str] = []
        cand = self._state.model_copy(deep=True)
        if actor.role not in roles and actor.role != "system":
            reason = f"{action} is for {' or '.join(roles)}; a {actor.role} cannot do it"
        else:
            try:
                warnings = list(mutate(cand) or [])
            except Rejected as err:
                reason = str(err)
            except (ParameterError, ValidationError, ValueError, KeyError, TypeError) as err:
                reason = str(err)
            else:
                problems, more = self._validate(cand, actor, override)
                warnings += more
                if problems:
                    reason = "; ".join(problems)
        if override:
            params = {**params, "override": True}
        if reason is not None:
            event = self.log.append(time=self.now, device=self.serial, actor=actor, action=action, params=params,
                                    accepted=False, reason=reason)
            return ActionResult(accepted=False, reason=reason, event=event)
        before, after = diff(self._state.model_dump(mode="json"), cand.model_dump(mode="json"))
        self._state = cand
        event = self.log.append(time=self.now, device=self.serial, actor=actor, action=action, params=params,
                                accepted=True, warnings=warnings, before=before, after=after)
        return ActionResult(accepted=True, warnings=warnings, event=event)

    # ------------------------------------------------------------------ helpers for actions
    @staticmethod
    def _prog(s: DeviceState, name: str) -> Program:
        if name not in s.programs:
            raise Rejected(f"program={name!r} does not exist; programs: {sorted(s.programs)}")
        return s.programs[name]

    def _lead(self, s: DeviceState, program: str, lead: int) -> LeadSettings:
        prog = self._prog(s, program)
        if lead not in prog.leads:
            raise Rejected(f"lead={lead!r} is not implanted; leads: {sorted(prog.leads)}")
        return prog.leads[lead]

    @staticmethod
    def _number(name: str, value: Any) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise Rejected(f"{name}={value!r} is not a number") from None

    # ------------------------------------------------------------------ clinician actions
    def create_program(self, actor: Actor, name: str) -> ActionResult:
        """A new program with every implanted lead off (device defaults for amplitude, pulse width, frequency)."""
        def mutate(s):
            if name in s.programs:
                raise Rejected(f"program {name!r} already exists")
            m = self.model
            leads = {k: LeadSettings(contacts=[ContactState.OFF] * m.contacts_per_lead,
                                     amplitude_ma=m.default_amplitude_ma, pulse_width_us=m.default_pulse_width_us,
                                     frequency_hz=m.default_frequency_hz, recharge=m.recharge_modes[0])
                     for k in self.implant}
            s.programs[name] = Program(name=name, leads=leads)
        return self._act(actor, "create_program", {"name": name}, mutate, CLINICIAN_ROLES)

    def delete_program(self, actor: Actor, name: str) -> ActionResult:
        def mutate(s):
            self._prog(s, name)
            if s.active_program == name:
                if s.therapy_on:
                    raise Rejected(f"program {name!r} is running; stop therapy first")
                s.active_program = None
            del s.programs[name]
        return self._act(actor, "delete_program", {"name": name}, mutate, CLINICIAN_ROLES)

    def set_contacts(self, actor: Actor, program: str, lead: int, contacts) -> ActionResult:
        """Change a lead's configuration: the lead is disabled and its amplitude zeroed (MN20700-03 p.10)."""
        def mutate(s):
            ls = self._lead(s, program, lead)
            try:
                new = as_contacts(contacts)
            except ValidationError:
                raise Rejected(f"contacts={contacts!r}: each contact is '+', '-' or 'off'") from None
            if len(new) != self.model.contacts_per_lead:
                raise Rejected(f"contacts={contacts!r} has {len(new)} entries; the lead has "
                               f"{self.model.contacts_per_lead} contacts")
            notes = ["configuration changed: lead disabled and amplitude set to 0"]
            if ls.closed_loop is not None:
                notes.append("closed loop off: its target was for the old configuration")
            ls.contacts = new
            ls.enabled = False
            ls.amplitude_ma = 0.0
            ls.approved_charge_per_phase_uc = None
            ls.closed_loop = None
            return notes
        return self._act(actor, "set_contacts", {"program": program, "lead": lead, "contacts": contacts}, mutate,
                         CLINICIAN_ROLES)

    def import_programs(self, actor: Actor, programs: dict[str, Program]) -> ActionResult:
        """Load the programs of the stimulator this one replaces (same leads): every lead arrives disabled at
        0 mA without a charge-density approval, to be measured, set and enabled on this device [drgsim's rule]."""
        def mutate(s):
            if s.programs:
                raise Rejected(f"this device already has programs {sorted(s.programs)}; import needs an empty one")
            for name, prog in programs.items():
                prog = Program.model_validate(prog).model_copy(deep=True)
                for ls in prog.leads.values():
                    ls.enabled = False
                    ls.amplitude_ma = 0.0
                    ls.approved_charge_per_phase_uc = None
                s.programs[name] = prog
            return [f"{len(programs)} program(s) imported; leads disabled at 0 mA until measured and enabled"]
        return self._act(actor, "import_programs", {"programs": sorted(programs)}, mutate, CLINICIAN_ROLES)

    def measure_impedance(self, actor: Actor, program: str, lead: int) -> ActionResult:
        """Impedance check of the lead's configuration in ``program``; the value is stored on the device."""
        def mutate(s):
            ls = self._lead(s, program, lead)
            if not ls.config_valid:
                raise Rejected(f"program {program!r} lead {lead}: an impedance check needs at least one + and one - "
                               f"contact (contacts {contacts_label(ls.contacts)})")
            z = self.implant[lead].impedance_of(ls.contacts)
            key = _impedance_key(lead, ls.contacts)
            s.impedances[key] = ImpedanceRecord(lead=lead, contacts=contacts_label(ls.contacts), impedance_ohm=z,
                                                time=self.now)
            notes = [f"lead {lead} configuration {contacts_label(ls.contacts)}: {fmt(z)} ohm"]
            if z > self.model.open_circuit_ohm:
                notes.append(f"lead {lead}: {fmt(z)} ohm is above the open-circuit limit "
                             f"{fmt(self.model.open_circuit_ohm)} ohm")
            ceiling = self.model.amplitude_ceiling_ma(z)
            for pname, prog in s.programs.items():  # leads using this configuration
                other = prog.leads[lead]
                if _impedance_key(lead, other.contacts) != key or not (other.enabled or other.amplitude_ma > 0):
                    continue
                if z > self.model.open_circuit_ohm or other.amplitude_ma > ceiling + 1e-9:
                    notes.append(f"program {pname!r} lead {lead}: {fmt(other.amplitude_ma)} mA cannot be delivered "
                                 f"at {fmt(z)} ohm (ceiling {fmt(ceiling)} mA); lead disabled and amplitude set to 0")
                    other.enabled = False
                    other.amplitude_ma = 0.0
            return notes
        return self._act(actor, "measure_impedance", {"program": program, "lead": lead}, mutate, CLINICIAN_ROLES)

    def check_contacts(self, actor: Actor, lead: int) -> ActionResult:
        """Contact check of ``lead``: ohms per contact, flagged open or short outside the device's range; the last
        check is kept on the device."""
        def mutate(s):
            if lead not in self.implant:
                raise Rejected(f"lead={lead!r} is not implanted; leads: {sorted(self.implant)}")
            ohms = self.implant[lead].contact_impedances()
            flags = [self.model.impedance_flag(z) for z in ohms]
            s.contact_checks[lead] = ContactCheck(lead=lead, impedance_ohm=ohms, flags=flags, time=self.now)
            return [f"lead {lead} contact {i}: {fmt(z)} ohm {flag} (allowed {self.model.impedance_range()})"
                    for i, (z, flag) in enumerate(zip(ohms, flags), start=1) if flag]
        return self._act(actor, "check_contacts", {"lead": lead}, mutate, CLINICIAN_ROLES)

    def ramp_amplitude(self, actor: Actor, program: str, lead: int, steps: int) -> ActionResult:
        """Move one lead's amplitude by ``steps`` device steps (a threshold ramp); refused, not clamped, past
        the end of the device range (the compliance ceiling and every other rule are checked as for any change)."""
        def mutate(s):
            if isinstance(steps, bool) or not isinstance(steps, int) or steps == 0:
                raise Rejected(f"steps={steps!r}: a non-zero whole number of device steps")
            ls = self._lead(s, program, lead)
            new = self.model.amplitude_ma.step_from(ls.amplitude_ma, steps)
            if new is None:
                raise Rejected(f"amplitude_ma: {steps:+d} step(s) from {fmt(ls.amplitude_ma)} mA leaves the device "
                               f"range {self.model.amplitude_ma.describe()}")
            ls.amplitude_ma = new
        return self._act(actor, "ramp_amplitude", {"program": program, "lead": lead, "steps": steps}, mutate,
                         CLINICIAN_ROLES)

    def _set_field(self, actor, action, program, lead, field, value, override) -> ActionResult:
        def mutate(s):
            ls = self._lead(s, program, lead)
            setattr(ls, field, self._number(field, value))
        return self._act(actor, action, {"program": program, "lead": lead, field: value}, mutate, CLINICIAN_ROLES,
                         override)

    def set_amplitude(self, actor: Actor, program: str, lead: int, amplitude_ma: float, *,
                      override: bool = False) -> ActionResult:
        return self._set_field(actor, "set_amplitude", program, lead, "amplitude_ma", amplitude_ma, override)

    def set_pulse_width(self, actor: Actor, program: str, lead: int, pulse_width_us: float, *,
                        override: bool = False) -> ActionResult:
        return self._set_field(actor, "set_pulse_width", program, lead, "pulse_width_us", pulse_width_us, override)

    def set_frequency(self, actor: Actor, program: str, lead: int, frequency_hz: float) -> ActionResult:
        return self._set_field(actor, "set_frequency", program, lead, "frequency_hz", frequency_hz, False)

    def set_recharge(self, actor: Actor, program: str, lead: int, recharge: Recharge | str) -> ActionResult:
        def mutate(s):
            ls = self._lead(s, program, lead)
            try:
                ls.recharge = Recharge(recharge)
            except ValueError:
                raise Rejected(f"recharge={recharge!r}: allowed 'passive' or 'active'") from None
        return self._act(actor, "set_recharge", {"program": program, "lead": lead, "recharge": str(recharge)},
                         mutate, CLINICIAN_ROLES)

    def enable_lead(self, actor: Actor, program: str, lead: int, *, override: bool = False) -> ActionResult:
        def mutate(s):
            self._lead(s, program, lead).enabled = True
        return self._act(actor, "enable_lead", {"program": program, "lead": lead}, mutate, CLINICIAN_ROLES, override)

    def disable_lead(self, actor: Actor, program: str, lead: int) -> ActionResult:
        def mutate(s):
            self._lead(s, program, lead).enabled = False
        return self._act(actor, "disable_lead", {"program": program, "lead": lead}, mutate, CLINICIAN_ROLES)

    def set_patient_limits(self, actor: Actor, program: str, lead: int, min_amplitude_ma: float | None,
                           max_amplitude_ma: float | None, *, override: bool = False) -> ActionResult:
        """The window the patient may move this lead's amplitude in; both None removes patient control."""
        def mutate(s):
            ls = self._lead(s, program, lead)
            if min_amplitude_ma is None and max_amplitude_ma is None:
                ls.patient_limits = None
                return
            ls.patient_limits = PatientLimits(min_amplitude_ma=self._number("min_amplitude_ma", min_amplitude_ma),
                                              max_amplitude_ma=self._number("max_amplitude_ma", max_amplitude_ma))
        return self._act(actor, "set_patient_limits", {"program": program, "lead": lead,
                                                       "min_amplitude_ma": min_amplitude_ma,
                                                       "max_amplitude_ma": max_amplitude_ma},
                         mutate, CLINICIAN_ROLES, override)

    def set_closed_loop(self, actor: Actor, program: str, lead: int,
                        controller: Controller | dict[str, Any] | None) -> ActionResult:
        """Program the lead's closed-loop controller (a ``PIControl`` or ``CeilingControl``, or its fields with
        ``mode``), or with None go back to open loop: refused, never clamped, for a setting out of its range (the
        message names the field, the value and the bound), on a model without ECAP sensing, or on a lead without
        patient limits (the window the controller moves within)."""
        def mutate(s):
            self._lead(s, program, lead).closed_loop = None if controller is None else as_controller(controller)
        setting = controller.model_dump() if isinstance(controller, BaseModel) else controller
        return self._act(actor, "set_closed_loop", {"program": program, "lead": lead, "closed_loop": setting}, mutate,
                         CLINICIAN_ROLES)

    def set_cycling(self, actor: Actor, program: str, cycle_on_s: float | None,
                    cycle_off_s: float | None) -> ActionResult:
        """Cycle stimulation on and off (both None: continuous)."""
        def mutate(s):
            prog = self._prog(s, program)
            s.programs[program] = Program.model_validate({**prog.model_dump(), "cycle_on_s": cycle_on_s,
                                                          "cycle_off_s": cycle_off_s})
        return self._act(actor, "set_cycling", {"program": program, "cycle_on_s": cycle_on_s,
                                                "cycle_off_s": cycle_off_s}, mutate, CLINICIAN_ROLES)

    def revert_programs(self, actor: Actor, saved: dict[str, Any], reason: str) -> ActionResult:
        """Go back to ``saved`` settings (programs, the selected program, therapy on or off; a ``snapshot``'s keys),
        as the IPG does when a remote programming session ends or loses its link before the changes were saved
        (NeuroSphere Virtual Clinic, Abbott 2021). Impedance records and the battery stay; the system only."""
        def mutate(s):
            s.programs = {name: Program.model_validate(prog) for name, prog in saved["programs"].items()}
            s.active_program = saved["active_program"]
            s.therapy_on = bool(saved["therapy_on"]) and not s.mri_mode and not s.battery.depleted
            return [reason]
        return self._act(actor, "revert_programs", {"reason": reason, "programs": sorted(saved["programs"])}, mutate,
                         ())

    # ------------------------------------------------------------------ patient (and clinician) actions
    def therapy_on(self, actor: Actor) -> ActionResult:
        def mutate(s):
            if s.mri_mode:
                raise Rejected("MRI mode is on; exit MRI mode before starting stimulation")
            if s.battery.depleted:
                raise Rejected("the battery is depleted")
            if s.active_program is None:
                raise Rejected("no program selected")
            if not s.programs[s.active_program].enabled_leads():
                raise Rejected(f"program {s.active_program!r} has no enabled lead")
            s.therapy_on = True
        return self._act(actor, "therapy_on", {}, mutate, PATIENT_ROLES)

    def therapy_off(self, actor: Actor) -> ActionResult:
        def mutate(s):
            s.therapy_on = False
        return self._act(actor, "therapy_off", {}, mutate, PATIENT_ROLES)

    def select_program(self, actor: Actor, name: str) -> ActionResult:
        def mutate(s):
            prog = self._prog(s, name)
            if s.therapy_on and not prog.enabled_leads():
                raise Rejected(f"program {name!r} has no enabled lead")
            s.active_program = name
        return self._act(actor, "select_program", {"name": name}, mutate, PATIENT_ROLES)

    def step_amplitude(self, actor: Actor, steps: int, lead: int | None = None) -> ActionResult:
        """Move the amplitude of one lead (or every enabled lead) of the running program by device steps,
        only within the clinician's patient limits (and the compliance ceiling)."""
        def mutate(s):
            if not isinstance(steps, int) or steps == 0:
                raise Rejected(f"steps={steps!r}: a non-zero whole number of device steps")
            if s.mri_mode:
                raise Rejected("MRI mode is on; amplitude cannot be changed")
            if not s.therapy_on or s.active_program is None:
                raise Rejected("stimulation is off; start therapy to adjust the amplitude")
            prog = s.programs[s.active_program]
            targets = [lead] if lead is not None else sorted(prog.enabled_leads())
            if not targets:
                raise Rejected(f"program {s.active_program!r} has no enabled lead")
            for k in targets:
                if k not in prog.leads:
                    raise Rejected(f"lead={k!r} is not implanted; leads: {sorted(prog.leads)}")
                ls = prog.leads[k]
                if not ls.enabled:
                    raise Rejected(f"lead {k} is disabled in program {s.active_program!r}")
                if ls.patient_limits is None:
                    raise Rejected(f"lead {k}: the clinician has set no patient range")
                new = self.model.amplitude_ma.step_from(ls.amplitude_ma, steps)
                lo, hi = ls.patient_limits.min_amplitude_ma, ls.patient_limits.max_amplitude_ma
                if new is None:
                    raise Rejected(f"lead {k}: {fmt(ls.amplitude_ma)} mA is at the end of the device range "
                                   f"{self.model.amplitude_ma.describe()}")
                if not lo - 1e-9 <= new <= hi + 1e-9:
                    raise Rejected(f"lead {k}: {fmt(new)} mA would leave the clinician limits {fmt(lo)}-{fmt(hi)} mA "
                                   f"(now {fmt(ls.amplitude_ma)} mA)")
                ls.amplitude_ma = new
        return self._act(actor, "step_amplitude", {"steps": steps, "lead": lead}, mutate, PATIENT_ROLES)

    def loop_amplitude(self, program: str, lead: int, amplitude_ma: float, *, controller: str,
                       ecap_uv: float) -> ActionResult:
        """The closed-loop controller (``drgsim.devices.closedloop``) moves one lead's delivered amplitude to
        ``amplitude_ma`` after measuring ``ecap_uv`` (the system acts): only while ``program`` runs, on an enabled
        lead with a clinician window (patient limits), on the device grid and inside that window and the compliance
        ceiling; refused, never clamped, otherwise."""
        def mutate(s):
            if not s.therapy_on or s.active_program != program:
                raise Rejected(f"program {program!r} is not running; closed loop acts on the running program")
            ls = self._lead(s, program, lead)
            if not ls.enabled or ls.patient_limits is None:
                raise Rejected(f"lead {lead}: closed loop needs an enabled lead with a clinician window "
                               f"(patient limits)")
            ls.amplitude_ma = self.model.amplitude_ma.check(self._number("amplitude_ma", amplitude_ma),
                                                            "amplitude_ma")
        return self._act(SYSTEM, "loop_amplitude", {"program": program, "lead": lead, "amplitude_ma": amplitude_ma,
                                                    "controller": controller, "ecap_uv": round(ecap_uv, 3)},
                         mutate, ())

    def set_mri_mode(self, actor: Actor, on: bool) -> ActionResult:
        """Entering MRI mode stops stimulation (the event shows therapy_on going to False)."""
        def mutate(s):
            s.mri_mode = bool(on)
            if on and s.therapy_on:
                s.therapy_on = False
                return ["stimulation stopped for MRI mode"]
        return self._act(actor, "set_mri_mode", {"on": bool(on)}, mutate, PATIENT_ROLES)

    def replace_battery(self, actor: Actor) -> ActionResult:
        def mutate(s):
            if not self.model.battery.replaceable:
                raise Rejected(f"{self.model.id} has no replaceable battery")
            s.battery = BatteryState(replacements=s.battery.replacements + 1, recharges=s.battery.recharges)
        return self._act(actor, "replace_battery", {}, mutate, PATIENT_ROLES)

    def recharge(self, actor: Actor, hours: float) -> ActionResult:
        """Recharge for ``hours`` (rechargeable models): the clock moves on by ``hours`` while the device
        keeps running; charging stops when the cell is full, and the event says how much went in."""
        spec = self.model.battery
        reason = (f"{self.model.id} has a primary cell" if spec.chemistry != "rechargeable" else
                  None if isinstance(hours, (int, float)) and 0 < hours <= 48 else f"hours={hours!r}: allowed 0-48 h")
        if reason is not None:
            def refuse(s):
                raise Rejected(reason)
            return self._act(actor, "recharge", {"hours": hours}, refuse, PATIENT_ROLES)
        self.advance(hours)

        def mutate(s):
            gained = min(spec.charge_current_ma * spec.charge_efficiency * hours, s.battery.used_mah)
            s.battery.used_mah -= gained
            s.battery.depleted = False
            s.battery.recharges += 1
            note = [f"charged {gained:.1f} mAh in {fmt(hours)} h"]
            if s.battery.used_mah <= 1e-9:
                note.append("battery full; charging stopped")
            return note
        return self._act(actor, "recharge", {"hours": hours}, mutate, PATIENT_ROLES)

    # ------------------------------------------------------------------ time
    def advance(self, hours: float) -> None:
        """Let ``hours`` of device time pass: the battery drains at the present consumption; a depleted
        battery stops therapy and the end of a trial period is logged (system events)."""
        if hours < 0:
            raise ValueError(f"hours={hours}: time only moves forward")
        spec = self.model.battery
        remaining = float(hours)
        while remaining > 1e-12:
            st = self._state
            current_ma = self._present_current_ua() * 1e-3
            dt = remaining
            if current_ma > 0 and not st.battery.depleted:
                dt = min(dt, max(spec.usable_mah - st.battery.used_mah, 0.0) / current_ma)
            end = self.trial_ends_at
            if end is not None and not st.trial_elapsed:
                dt = min(dt, max((end - self.now).total_seconds() / 3600.0, 0.0))
            st.battery.used_mah = min(st.battery.used_mah + current_ma * dt, spec.usable_mah)
            self.now += timedelta(hours=dt)
            remaining -= dt
            if not st.battery.depleted and st.battery.used_mah >= spec.usable_mah - 1e-9:
                def depleted(s):
                    s.battery.depleted = True
                    s.therapy_on = False
                    return ["battery depleted: stimulation stopped"]
                self._act(SYSTEM, "battery_depleted", {}, depleted, ())
            if end is not None and not self._state.trial_elapsed and self.now >= end - timedelta(microseconds=1):
                def elapsed(s):
                    s.trial_elapsed = True
                    return [f"trial period of {fmt(self.model.trial_days)} days has elapsed"]
                self._act(SYSTEM, "trial_period_elapsed", {}, elapsed, ())


class ImplantedPulseGenerator(Neurostimulator):
    """A fully implanted pulse generator (DRG: primary cell; SCS comparator: rechargeable)."""

    kinds = ("ipg",)


class TrialStimulator(Neurostimulator):
    """The external trial stimulator: the same programming model, a replaceable battery, a trial period."""

    kinds = ("trial",)
