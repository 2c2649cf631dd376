"""Stimulation safety per contact: charge per phase, charge density, Shannon k, compliance.

- Charge per phase Q = I * PW.
- Charge density D = Q / contact area, per phase.
- Shannon (1992): log10(D) = k - log10(Q), so k = log10(D) + log10(Q); tissue damage was observed
  for k >= 1.85.
- 30 uC/cm2 per phase is a common warning limit (Boston Scientific Vercise programmer warns and
  lets the clinician continue): above it drgsim warns and the device needs an explicit clinician
  override. The Shannon limit is treated the same way.
- Compliance: the load voltage I * Z must stay under the IPG's compliance voltage; above it the
  device cannot deliver the current and the setting is refused (a hardware limit).

Current split [assumption]: contacts of the same polarity share the lead's current equally (the
real split follows each contact's interface impedance). A contact carrying the whole amplitude is
the worst case.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from drgsim.devices.program import ContactState
from drgsim.devices.ranges import fmt

WARNING_CHARGE_DENSITY_UC_PER_CM2 = 30.0
SHANNON_K_LIMIT = 1.85


def charge_per_phase_uc(amplitude_ma: float, pulse_width_us: float) -> float:
    """Q = I * PW; mA * us = nC, so divide by 1000 for uC."""
    return amplitude_ma * pulse_width_us * 1e-3


def charge_density_uc_per_cm2(charge_uc: float, area_cm2: float) -> float:
    return charge_uc / area_cm2


def shannon_k(charge_uc: float, area_cm2: float) -> float | None:
    """k = log10(D) + log10(Q) with D = Q / area; None when no charge flows."""
    if charge_uc <= 0:
        return None
    return math.log10(charge_uc / area_cm2) + math.log10(charge_uc)


def contact_currents_ma(contacts: list[ContactState], amplitude_ma: float) -> list[float]:
    """Signed current of each contact in the leading phase: cathodes sink (negative), anodes source."""
    n_c = sum(c == ContactState.CATHODE for c in contacts)
    n_a = sum(c == ContactState.ANODE for c in contacts)
    out = []
    for c in contacts:
        if c == ContactState.CATHODE:
            out.append(-amplitude_ma / n_c)
        elif c == ContactState.ANODE:
            out.append(amplitude_ma / n_a)
        else:
            out.append(0.0)
    return out


def max_contact_charge_uc(contacts: list[ContactState], amplitude_ma: float, pulse_width_us: float) -> float:
    currents = contact_currents_ma(contacts, amplitude_ma)
    return charge_per_phase_uc(max((abs(i) for i in currents), default=0.0), pulse_width_us)


def charge_warnings(charge_uc: float, area_cm2: float, where: str = "") -> list[str]:
    """Warnings (each needs a clinician override) for one contact's charge per phase."""
    out = []
    d = charge_density_uc_per_cm2(charge_uc, area_cm2)
    k = shannon_k(charge_uc, area_cm2)
    at = f" on {where}" if where else ""
    if d > WARNING_CHARGE_DENSITY_UC_PER_CM2:
        out.append(f"charge density {d:.1f} uC/cm2 per phase{at} exceeds the "
                   f"{fmt(WARNING_CHARGE_DENSITY_UC_PER_CM2)} uC/cm2 warning limit")
    if k is not None and k >= SHANNON_K_LIMIT:
        out.append(f"Shannon k = {k:.2f}{at} is at or above {SHANNON_K_LIMIT} (tissue damage observed, Shannon 1992)")
    return out


class ContactSafety(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: int  # from 1 (distal)
    polarity: ContactState
    current_ma: float  # magnitude in the leading phase
    charge_per_phase_uc: float
    charge_density_uc_per_cm2: float
    shannon_k: float | None


class LeadSafety(BaseModel):
    """Safety of one lead's setting: per active contact and the worst contact; warnings, refusals."""

    model_config = ConfigDict(extra="forbid")

    lead: int | None = None
    amplitude_ma: float
    pulse_width_us: float
    contact_area_cm2: float
    contacts: list[ContactSafety]
    charge_per_phase_uc: float
    charge_density_uc_per_cm2: float
    shannon_k: float | None
    impedance_ohm: float | None = None
    load_voltage_v: float | None = None
    compliance_v: float | None = None
    warnings: list[str]
    refusals: list[str]

    @property
    def level(self) -> str:
        return "refused" if self.refusals else "warning" if self.warnings else "ok"


def assess_lead(contacts: list[ContactState], amplitude_ma: float, pulse_width_us: float, area_cm2: float, *,
                impedance_ohm: float | None = None, compliance_v: float | None = None,
                lead: int | None = None) -> LeadSafety:
    """Charge, density and Shannon k per active contact; warnings above 30 uC/cm2 or k >= 1.85;
    a refusal when I * Z exceeds the compliance voltage."""
    name = f"lead {lead} " if lead is not None else ""
    rows = []
    for i, (c, cur) in enumerate(zip(contacts, contact_currents_ma(contacts, amplitude_ma)), start=1):
        if c == ContactState.OFF:
            continue
        q = charge_per_phase_uc(abs(cur), pulse_width_us)
        rows.append(ContactSafety(contact=i, polarity=c, current_ma=abs(cur), charge_per_phase_uc=q,
                                  charge_density_uc_per_cm2=charge_density_uc_per_cm2(q, area_cm2),
                                  shannon_k=shannon_k(q, area_cm2)))
    worst = max(rows, key=lambda r: r.charge_per_phase_uc, default=None)
    q_max = worst.charge_per_phase_uc if worst else 0.0
    warnings = charge_warnings(q_max, area_cm2, f"{name}contact {worst.contact}") if worst else []
    refusals = []
    load_v = None
    if impedance_ohm is not None:
        load_v = amplitude_ma * 1e-3 * impedance_ohm
        if compliance_v is not None and load_v > compliance_v * (1 + 1e-9):
            refusals.append(f"{name}load voltage I*Z = {fmt(amplitude_ma)} mA x {fmt(impedance_ohm)} ohm = "
                            f"{load_v:.2f} V "
                            f"exceeds the compliance voltage {fmt(compliance_v)} V (amplitude ceiling "
                            f"{fmt(1e3 * compliance_v / impedance_ohm)} mA at this impedance)")
    return LeadSafety(lead=lead, amplitude_ma=amplitude_ma, pulse_width_us=pulse_width_us, contact_area_cm2=area_cm2,
                      contacts=rows, charge_per_phase_uc=q_max,
                      charge_density_uc_per_cm2=charge_density_uc_per_cm2(q_max, area_cm2),
                      shannon_k=shannon_k(q_max, area_cm2), impedance_ohm=impedance_ohm, load_voltage_v=load_v,
                      compliance_v=compliance_v, warnings=warnings, refusals=refusals)
