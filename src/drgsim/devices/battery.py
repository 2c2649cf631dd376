"""Battery: average stimulation current, tissue energy, battery drain, longevity and recharging.

Model (charge and energy bookkeeping; the manufacturer's energy-factor method, Proclaim IPG clinician
manual, App. C, is what it approximates):

- Average stimulation current, per lead: I_avg = I * PW * f, doubled for an active recharge (the
  second phase is drawn from the battery too; a passive recharge returns the coupling capacitor's
  charge through the tissue). The sum over leads is scaled by the duty cycle and hours per day.
  Worked examples: DRG 4 leads x 0.8 mA x 300 us x 20 Hz = 19.2 uA; tonic SCS 5 mA x 300 us x
  50 Hz = 75 uA; 10 kHz 2.5 mA x 30 us = 750 uA.
- Energy delivered to tissue per second (TEED, Koss 2005): P_tissue = I^2 * R * PW * f.
- The output stage runs from a supply that follows the load ([unverified] adaptive rail): the
  current source needs I*Z plus a headroom voltage, so it delivers P_out = P_tissue + I_avg *
  V_headroom, and a converter of efficiency eta draws P_out / eta from the cell. Battery current
  = P_out / (eta * V_cell) + quiescent + telemetry + self-discharge. The reference's simpler
  form, I_avg / eta + quiescent + telemetry, is the special case I*Z + V_headroom = V_cell; this
  one also makes longevity fall with impedance, as the manufacturer's tables (indexed by
  impedance, Proclaim IPG clinician manual App. C) imply.
- Primary cell: longevity = usable capacity / battery current. Rechargeable: recharge interval =
  usable capacity / battery current; recharge time = usable capacity / (charge current * charge
  efficiency); service life bounded by the labelled life and the cycle life.

All battery parameters are properties of an IPG model in ``drgsim/data/ipg_models.json``; the
capacity of the DRG IPG's primary cell is not published ([unverified] parameter).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgsim.devices.program import Recharge

HOURS_PER_YEAR = 24 * 365.25


class BatterySpec(BaseModel):
    """The cell and the power budget of one device model (values and sources in the catalog)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chemistry: Literal["primary", "rechargeable"]
    replaceable: bool = False
    capacity_mah: float = Field(gt=0, le=100_000)
    usable_fraction: float = Field(0.9, gt=0, le=1)
    nominal_voltage_v: float = Field(gt=0, le=20)
    converter_efficiency: float = Field(gt=0, le=1)
    output_headroom_v: float = Field(1.0, ge=0, le=20)
    quiescent_ua: float = Field(ge=0)
    telemetry_active_ua: float = Field(0.0, ge=0)
    telemetry_minutes_per_day: float = Field(0.0, ge=0, le=1440)
    self_discharge_percent_per_year: float = Field(0.0, ge=0, le=100)
    charge_current_ma: float | None = Field(None, gt=0)
    charge_efficiency: float | None = Field(None, gt=0, le=1)
    cycle_life: int | None = Field(None, gt=0)
    service_life_years: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _rechargeable_fields(self):
        if self.chemistry == "rechargeable":
            missing = [k for k in ("charge_current_ma", "charge_efficiency", "cycle_life", "service_life_years")
                       if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a rechargeable battery needs {', '.join(missing)}")
        return self

    @property
    def usable_mah(self) -> float:
        return self.capacity_mah * self.usable_fraction

    @property
    def telemetry_ua(self) -> float:
        """Telemetry current averaged over the day."""
        return self.telemetry_active_ua * self.telemetry_minutes_per_day / 1440.0

    @property
    def self_discharge_ua(self) -> float:
        return self.capacity_mah * self.self_discharge_percent_per_year / 100.0 / HOURS_PER_YEAR * 1e3


class LeadLoad(BaseModel):
    """What one active lead asks of the battery."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amplitude_ma: float = Field(ge=0)
    pulse_width_us: float = Field(gt=0)
    frequency_hz: float = Field(gt=0)
    impedance_ohm: float = Field(gt=0)
    recharge: Recharge = Recharge.PASSIVE

    @property
    def phases(self) -> int:
        """Phases drawn from the battery per pulse."""
        return 2 if self.recharge == Recharge.ACTIVE else 1


def stimulation_current_ua(amplitude_ma: float, pulse_width_us: float, frequency_hz: float,
                           recharge: Recharge = Recharge.PASSIVE) -> float:
    """I * PW * f (x2 for active recharge): mA * us * Hz = 1e-3 uA."""
    phases = 2 if recharge == Recharge.ACTIVE else 1
    return amplitude_ma * pulse_width_us * frequency_hz * 1e-3 * phases


def tissue_power_uw(amplitude_ma: float, pulse_width_us: float, frequency_hz: float, impedance_ohm: float,
                    recharge: Recharge = Recharge.PASSIVE) -> float:
    """TEED per second, I^2 R PW f (Koss 2005): mA^2 * ohm * us * Hz = 1e-6 uW (x2 for active recharge)."""
    phases = 2 if recharge == Recharge.ACTIVE else 1
    return amplitude_ma ** 2 * impedance_ohm * pulse_width_us * frequency_hz * 1e-6 * phases


class BatteryEstimate(BaseModel):
    """Average currents (uA) and what they mean for the cell."""

    model_config = ConfigDict(extra="forbid")

    chemistry: Literal["primary", "rechargeable"]
    average_current_ua: float  # stimulation current delivered to the tissue, averaged over the day
    tissue_power_uw: float
    output_power_uw: float
    stimulation_battery_current_ua: float
    quiescent_ua: float
    telemetry_ua: float
    self_discharge_ua: float
    battery_current_ua: float
    usable_capacity_mah: float
    longevity_years: float
    longevity_limited_by: Literal["capacity", "service life", "cycle life"]
    recharge_interval_days: float | None = None
    recharge_time_hours: float | None = None


def estimate_battery(loads: list[LeadLoad], spec: BatterySpec, *, duty_cycle: float = 1.0,
                     hours_per_day: float = 24.0) -> BatteryEstimate:
    """Battery drain and longevity for leads stimulating ``duty_cycle`` of ``hours_per_day``."""
    if not 0 <= duty_cycle <= 1:
        raise ValueError(f"duty_cycle={duty_cycle}: allowed 0-1")
    if not 0 <= hours_per_day <= 24:
        raise ValueError(f"hours_per_day={hours_per_day}: allowed 0-24")
    on = duty_cycle * hours_per_day / 24.0
    i_avg = on * sum(stimulation_current_ua(x.amplitude_ma, x.pulse_width_us, x.frequency_hz, x.recharge)
                     for x in loads)
    p_tissue = on * sum(tissue_power_uw(x.amplitude_ma, x.pulse_width_us, x.frequency_hz, x.impedance_ohm, x.recharge)
                        for x in loads)
    p_out = p_tissue + i_avg * spec.output_headroom_v
    i_stim = p_out / (spec.converter_efficiency * spec.nominal_voltage_v)
    total = i_stim + spec.quiescent_ua + spec.telemetry_ua + spec.self_discharge_ua
    hours = spec.usable_mah / (total * 1e-3)
    common = dict(chemistry=spec.chemistry, average_current_ua=i_avg, tissue_power_uw=p_tissue, output_power_uw=p_out,
                  stimulation_battery_current_ua=i_stim, quiescent_ua=spec.quiescent_ua,
                  telemetry_ua=spec.telemetry_ua, self_discharge_ua=spec.self_discharge_ua,
                  battery_current_ua=total, usable_capacity_mah=spec.usable_mah)
    if spec.chemistry == "primary":
        return BatteryEstimate(**common, longevity_years=hours / HOURS_PER_YEAR, longevity_limited_by="capacity")
    interval_days = hours / 24.0
    recharges_per_year = 365.25 / interval_days
    cycle_years = spec.cycle_life / (recharges_per_year * spec.usable_fraction)  # full-equivalent cycles
    limit = "service life" if spec.service_life_years <= cycle_years else "cycle life"
    return BatteryEstimate(**common, longevity_years=min(spec.service_life_years, cycle_years),
                           longevity_limited_by=limit, recharge_interval_days=interval_days,
                           recharge_time_hours=spec.usable_mah / (spec.charge_current_ma * spec.charge_efficiency))
