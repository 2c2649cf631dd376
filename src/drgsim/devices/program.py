"""Programs: named sets of per-lead settings, with clinician-set patient limits per lead.

A DRG IPG drives up to 4 leads, each an independent channel at its own level "for each body
region" (NCT01923285); a program holds one ``LeadSettings`` per implanted lead. These models are
device-agnostic containers; the device rules (ranges, steps, impedance, compliance, safety) are
enforced by ``drgsim.devices.hardware.IPGModel`` and the ``Neurostimulator`` that owns them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from drgsim.devices.closedloop import Controller


class ContactState(StrEnum):
    """Each contact is +, - or off (Axium Clinical Programmer manual MN20700-03, p.10)."""

    ANODE = "+"
    CATHODE = "-"
    OFF = "off"


_CONTACT_LIST = TypeAdapter(list[ContactState])


class Recharge(StrEnum):
    """Second phase of the charge-balanced biphasic pulse."""

    PASSIVE = "passive"  # coupling capacitor discharges through the tissue; no battery charge
    ACTIVE = "active"  # driven, equal and opposite; drawn from the battery like the first phase


def parse_contacts(value):
    """Accept ['-', '+', 'off', 'off'] or the compact '-+00'; YAML 1.1 reads a bare `off` as False."""
    if isinstance(value, str):
        value = [c for c in value.replace(" ", "")]
    if not isinstance(value, (list, tuple)):
        return value
    out = []
    for c in value:
        if c is False or c is None or c in ("0", 0, "o", "off", "OFF", "Off"):
            out.append(ContactState.OFF)
        else:
            out.append(c)
    return out


def as_contacts(value) -> list[ContactState]:
    """Contacts in any form ``parse_contacts`` accepts, as states (a ValidationError, a ValueError, if not)."""
    return _CONTACT_LIST.validate_python(parse_contacts(value))


def config_is_valid(contacts: list[ContactState]) -> bool:
    """A lead needs at least one + and one - to be enabled (MN20700-03, p.10)."""
    return ContactState.ANODE in contacts and ContactState.CATHODE in contacts


def contacts_label(contacts: list[ContactState]) -> str:
    """Compact form, contact 1 first: '-+00'."""
    return "".join("0" if c == ContactState.OFF else c.value for c in contacts)


class PatientLimits(BaseModel):
    """The amplitude window the patient controller may move within (clinician-set, per lead)."""

    model_config = ConfigDict(extra="forbid")

    min_amplitude_ma: float = Field(ge=0)
    max_amplitude_ma: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_amplitude_ma > self.max_amplitude_ma:
            raise ValueError(f"min_amplitude_ma={self.min_amplitude_ma} is above "
                             f"max_amplitude_ma={self.max_amplitude_ma}; allowed: min <= max")
        return self


class LeadSettings(BaseModel):
    """One lead's channel in a program.

    ``approved_charge_per_phase_uc`` records a clinician override of the charge-density / Shannon
    warning: the largest per-contact charge per phase the clinician accepted for this
    configuration. It is cleared with any configuration change, as is ``closed_loop``: the lead's closed-loop
    controller (``drgsim.devices.closedloop``; None: open loop), which moves the amplitude within the patient limits.
    """

    model_config = ConfigDict(extra="forbid")

    contacts: list[ContactState] = Field(min_length=1, max_length=32)
    amplitude_ma: float = Field(0.0, ge=0)
    pulse_width_us: float = Field(gt=0)
    frequency_hz: float = Field(gt=0)
    recharge: Recharge = Recharge.PASSIVE
    enabled: bool = False
    patient_limits: PatientLimits | None = None
    approved_charge_per_phase_uc: float | None = Field(None, ge=0)
    closed_loop: Controller | None = None

    _parse_contacts = field_validator("contacts", mode="before")(parse_contacts)

    @property
    def config_valid(self) -> bool:
        return config_is_valid(self.contacts)


class Program(BaseModel):
    """A named program: settings per implanted lead (keys are lead numbers from 1) and cycling."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    leads: dict[int, LeadSettings]
    cycle_on_s: float | None = Field(None, gt=0, le=3600)
    cycle_off_s: float | None = Field(None, ge=0, le=3600)

    @model_validator(mode="after")
    def _cycling_pair(self):
        if (self.cycle_on_s is None) != (self.cycle_off_s is None):
            raise ValueError("cycle_on_s and cycle_off_s go together (both set for cycling, both null for continuous)")
        return self

    @property
    def duty_cycle(self) -> float:
        """Fraction of time stimulating: on / (on + off), 1 when continuous."""
        if self.cycle_on_s is None:
            return 1.0
        return self.cycle_on_s / (self.cycle_on_s + self.cycle_off_s)

    def enabled_leads(self) -> dict[int, LeadSettings]:
        return {k: s for k, s in self.leads.items() if s.enabled}
