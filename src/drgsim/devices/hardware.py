"""IPG and trial stimulator models: the programmable ranges and limits a real device enforces.

Loaded from ``drgsim/data/ipg_models.json`` (sources per field; [unverified] values marked there):

- ``drg_ipg``: Abbott Proclaim DRG (model 3664) with the Axium ranges: up to 4 leads x 4 contacts;
  amplitude 0-6 mA in 25 uA steps below 2 mA and 50 uA steps above; pulse width 40-720 us in
  10 us steps; frequency 4-100 Hz in 2 Hz steps (MN0700 p.20, MN0100 p.4); primary cell.
- ``drg_trial``: the external trial stimulator, same ranges, replaceable battery, about one week.
- ``scs_ipg`` / ``scs_trial``: rechargeable SCS comparator with Intellis-like ranges [unverified].

``ecap_sensing``: whether the model records the evoked compound action potential and so may run a closed-loop
controller (``drgsim.devices.closedloop``). SCS IPGs that do exist (Saluda Evoke, Mekhail et al. 2020 Lancet
Neurol; Medtronic Inceptiv, Medtronic 2023); no DRG IPG does. drgsim's DRG IPG senses as a what-if, so that the
twin can put DRG and SCS side by side open and closed loop (``drgsim closedloop --system drg``); the DRG trial
stimulator does not [drgsim's choice, stated in the catalogue].

The one check of settings against a device: ``IPGModel.settings_problems`` (one lead, no impedance needed:
every parameter on its grid, the configuration rule, the pulse fitting in the period, the patient limits),
``IPGModel.load_problems`` (with the measured impedance: open circuit, compliance ceiling),
``IPGModel.lead_problems`` (both) and ``IPGModel.program_problems`` (every lead of a program, no impedance).
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drgsim.devices.battery import BatterySpec
from drgsim.devices.leads import LeadModel, get_lead
from drgsim.devices.program import LeadSettings, PatientLimits, Program, Recharge, contacts_label
from drgsim.devices.ranges import ParameterError, SteppedRange, fmt


class System(StrEnum):
    """The stimulation systems of the catalog."""

    DRG = "drg"
    SCS = "scs"


class IPGModel(BaseModel):
    """A device model: channels, ranges, output limits, battery (see the catalog for sources)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    system: System
    kind: Literal["ipg", "trial"]
    max_leads: int = Field(ge=1, le=8)
    contacts_per_lead: int = Field(ge=1, le=32)
    lead_models: list[str] = Field(min_length=1)
    amplitude_ma: SteppedRange
    pulse_width_us: SteppedRange
    frequency_hz: SteppedRange
    default_amplitude_ma: float
    default_pulse_width_us: float
    default_frequency_hz: float
    recharge_modes: list[Recharge] = Field(min_length=1)
    interphase_gap_us: float = Field(ge=0)
    coupling_capacitance_uf: float = Field(gt=0)
    compliance_v: float = Field(gt=0)
    open_circuit_ohm: float = Field(gt=0)
    short_circuit_ohm: float = Field(gt=0)
    patient_max_amplitude_ma: float = Field(gt=0)
    max_programs: int = Field(ge=1)
    trial_days: float | None = Field(None, gt=0)
    ecap_sensing: bool
    battery: BatterySpec
    sources: dict[str, str] = Field(default_factory=dict)

    @property
    def unverified(self) -> list[str]:
        return sorted(k for k, v in self.sources.items() if "[unverified]" in v)

    @property
    def default_lead_model(self) -> LeadModel:
        return get_lead(self.lead_models[0])

    def ranges(self) -> dict[str, SteppedRange]:
        return {"amplitude_ma": self.amplitude_ma, "pulse_width_us": self.pulse_width_us,
                "frequency_hz": self.frequency_hz}

    def amplitude_ceiling_ma(self, impedance_ohm: float) -> float:
        """Largest amplitude on the grid with I * Z <= compliance voltage (and <= the device maximum)."""
        raw = 1e3 * self.compliance_v / impedance_ohm
        return self.amplitude_ma.floor(min(raw, self.amplitude_ma.maximum) * (1 + 1e-12)) or 0.0

    def impedance_range(self) -> str:
        """The impedances a contact check reads as in range, as the flags name them."""
        return f"{fmt(self.short_circuit_ohm)}-{fmt(self.open_circuit_ohm)} ohm"

    def impedance_flag(self, impedance_ohm: float) -> str | None:
        """'open' above the open-circuit limit, 'short' below the short-circuit limit, None in range."""
        if impedance_ohm > self.open_circuit_ohm:
            return "open"
        if impedance_ohm < self.short_circuit_ohm:
            return "short"
        return None

    def check_parameter(self, name: str, value: float, label: str | None = None) -> float:
        """Raise ParameterError (naming ``label`` or ``name``) unless ``value`` is on the device grid."""
        return self.ranges()[name].check(value, label or name)

    def pulse_fits_problem(self, pulse_width_us: float, frequency_hz: float, recharge: Recharge) -> str | None:
        """The driven phase(s) must end within the period."""
        phases = 2 if recharge == Recharge.ACTIVE else 1
        busy = phases * pulse_width_us + (self.interphase_gap_us if phases == 2 else 0.0)
        period = 1e6 / frequency_hz
        if busy >= period:
            return (f"pulse_width_us={fmt(pulse_width_us)} with {recharge.value} recharge takes {fmt(busy)} us, not "
                    f"shorter than the period {period:.1f} us at frequency_hz={fmt(frequency_hz)}; allowed "
                    f"frequency_hz < {1e6 / busy:.1f}")
        return None

    def limits_problems(self, limits: PatientLimits, where: str = "") -> list[str]:
        out = []
        for name in ("min_amplitude_ma", "max_amplitude_ma"):
            value = getattr(limits, name)
            try:
                self.amplitude_ma.check(value, f"{where}patient_limits.{name}")
            except ParameterError as err:
                out.append(str(err))
                continue
            if value > self.patient_max_amplitude_ma + 1e-9:
                out.append(f"{where}patient_limits.{name}={fmt(value)} mA is above the patient-adjustable maximum "
                           f"{fmt(self.patient_max_amplitude_ma)} mA")
        return out

    def closed_loop_problems(self, s: LeadSettings, where: str = "") -> list[str]:
        """A closed-loop controller needs a model that senses ECAPs and a clinician window (the patient limits)
        for it to move the amplitude within."""
        out = []
        if not self.ecap_sensing:
            out.append(f"{where}closed_loop.mode={s.closed_loop.mode!r}: {self.id} does not sense ECAPs; allowed: "
                       f"open loop (closed_loop null) on this model")
        if s.patient_limits is None:
            out.append(f"{where}closed_loop needs a clinician window: set patient limits (min_amplitude_ma, "
                       f"max_amplitude_ma) for it to move within, or turn closed loop off first")
        return out

    def contacts_problem(self, s: LeadSettings, where: str = "") -> str | None:
        """One state per contact of this device's lead."""
        if len(s.contacts) != self.contacts_per_lead:
            return (f"{where}contacts has {len(s.contacts)} entries; allowed: {self.contacts_per_lead} (the contacts "
                    f"of a {self.id} lead)")
        return None

    def settings_problems(self, s: LeadSettings, where: str = "") -> list[str]:
        """What makes one lead's settings undeliverable whatever the impedance: the contact count, every
        parameter on its grid, the recharge mode, the pulse fitting in the period, the patient limits and
        the +/- configuration a powered lead needs. Each problem names the field, the value and what is allowed."""
        out = [p] if (p := self.contacts_problem(s, where)) else []
        for name in ("amplitude_ma", "pulse_width_us", "frequency_hz"):
            try:
                self.ranges()[name].check(getattr(s, name), f"{where}{name}")
            except ParameterError as err:
                out.append(str(err))
        if s.recharge not in self.recharge_modes:
            out.append(f"{where}recharge={s.recharge.value!r} is not available on {self.id}; allowed: "
                       f"{', '.join(m.value for m in self.recharge_modes)}")
        if (p := self.pulse_fits_problem(s.pulse_width_us, s.frequency_hz, s.recharge)) is not None:
            out.append(where + p)
        if s.patient_limits is not None:
            out += self.limits_problems(s.patient_limits, where)
        if (s.enabled or s.amplitude_ma > 0) and not s.config_valid:
            what = "be enabled" if s.enabled else "have an amplitude"
            out.append(f"{where}contacts={contacts_label(s.contacts)!r}: a lead needs at least one + and one - "
                       f"contact to {what}")
        if s.closed_loop is not None:
            out += self.closed_loop_problems(s, where)
        if s.enabled and s.patient_limits is not None:
            lo, hi = s.patient_limits.min_amplitude_ma, s.patient_limits.max_amplitude_ma
            if not lo - 1e-9 <= s.amplitude_ma <= hi + 1e-9:
                out.append(f"{where}amplitude_ma={fmt(s.amplitude_ma)} is outside the patient limits "
                           f"{fmt(lo)}-{fmt(hi)} mA of this enabled lead")
        return out

    def load_problems(self, s: LeadSettings, impedance_ohm: float | None, where: str = "") -> list[str]:
        """What the measured impedance of a powered lead's configuration forbids (None: not measured, which a
        powered lead needs): an open circuit, or an amplitude beyond the compliance voltage."""
        if not ((s.enabled or s.amplitude_ma > 0) and s.config_valid):
            return []
        if impedance_ohm is None:
            return [f"{where}impedance of this configuration has not been measured; measure it before "
                    f"setting the amplitude or enabling the lead"]
        if impedance_ohm > self.open_circuit_ohm:
            return [f"{where}impedance_ohm={fmt(impedance_ohm)} is above the open-circuit limit "
                    f"{fmt(self.open_circuit_ohm)} ohm; the lead cannot stimulate"]
        volts = s.amplitude_ma * 1e-3 * impedance_ohm
        if volts > self.compliance_v * (1 + 1e-9):
            return [f"{where}amplitude_ma={fmt(s.amplitude_ma)} needs {volts:.2f} V at {fmt(impedance_ohm)} ohm, "
                    f"above the compliance voltage {fmt(self.compliance_v)} V; allowed: amplitude_ma <= "
                    f"{fmt(self.amplitude_ceiling_ma(impedance_ohm))}"]
        return []

    def lead_problems(self, s: LeadSettings, *, impedance_ohm: float | None, where: str = "") -> list[str]:
        """Everything that makes this lead setting undeliverable (empty when the device accepts it): its
        settings, and their load at ``impedance_ohm``, the measured impedance of the configuration."""
        return self.settings_problems(s, where) + self.load_problems(s, impedance_ohm, where)

    def program_problems(self, program: Program, where: str = "program.leads.") -> list[str]:
        """Each lead's settings in ``program`` (no impedance known), the lead named ``{where}{number}.``."""
        return [p for k, s in sorted(program.leads.items()) for p in self.settings_problems(s, f"{where}{k}.")]


@lru_cache(maxsize=1)
def ipg_catalog() -> dict[str, IPGModel]:
    """All catalog devices by id."""
    raw = json.loads(resources.files("drgsim.data").joinpath("ipg_models.json").read_text())
    return {d["id"]: IPGModel.model_validate(d) for d in raw["models"]}


def get_ipg_model(model_id: str) -> IPGModel:
    catalog = ipg_catalog()
    if model_id not in catalog:
        raise KeyError(f"device model {model_id!r} is not in the catalog; allowed: {', '.join(sorted(catalog))}")
    return catalog[model_id]


def default_model_id(system: str, kind: str = "ipg") -> str:
    """The catalog's first device of ``system`` and ``kind`` (``ipg`` or ``trial``)."""
    for model in ipg_catalog().values():
        if model.system == system and model.kind == kind:
            return model.id
    raise KeyError(f"no {kind} device of system {system!r} in the catalog")
