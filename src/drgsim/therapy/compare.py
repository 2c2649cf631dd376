"""DRG versus SCS on one virtual patient: both planned, optimized and evaluated in every posture.

The claims of DRG stimulation against SCS (targeted coverage, lower energy, stability across postures,
less paresthesia; and the longer battery life that lower energy is said to buy) become numbers from the
two outcomes:
- targeted coverage: off-target share of the paresthesia at the optimized programs;
- lower energy: average stimulation current;
- longer battery life: years until each system's own IPG must be replaced (the DRG IPG's primary cell;
  the SCS IPG's rechargeable cell, whose recharge interval is stated beside as its burden); the
  like-for-like reading, the SCS program on the DRG IPG's primary cell, is stated too;
- positional stability: spread of the perception threshold across postures (with the coverage in every
  posture at the programmed amplitude and the amplitude each posture needs, ``amplitude_needed``);
- less paresthesia: paresthesia area relative to the pain map's area;
- holding the dose through a day (when a day of postures is given, ``therapy.closedloop``): time in the
  therapeutic window open loop, the way both systems are sold; closed loop, for each, stated beside.
Beside them, the predicted nociceptive transmission through the ganglion in the programming posture (SCS: unchanged
by construction) and, for the DRG program, transmission against stimulation frequency (``transmission_sweep``).
A claim is "supported" when the DRG number is the better one; the numbers stand either way.
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim import __version__
from drgsim.anatomy.painmap import PainMap
from drgsim.anatomy.patient import Patient
from drgsim.anatomy.posture import Posture
from drgsim.devices.battery import LeadLoad, estimate_battery
from drgsim.provenance import provenance
from drgsim.therapy.closedloop import Day, DayOutcome, simulate_day
from drgsim.therapy.model import Implant, Quality, System, TherapyModel, plan_implant, quality
from drgsim.therapy.optimize import OptimizationResult, OptimizerConfig, optimize
from drgsim.therapy.outcomes import (
    AmplitudeNeeded,
    Outcome,
    SamplingIntervals,
    amplitude_needed,
    cut_end_initiations,
    evaluate,
    lead_tables,
    nociceptive_transmission,
    recruitment,
    sampling_intervals,
)
from drgsim.therapy.systems import system_spec
from drgsim.therapy.transmission import NociceptiveTransmission, ProgramSweep, program_sweep

# The frequency sweep's trains per quality (seconds, ongoing peripheral rate in Hz): short at quick (about 10 s of CPU
# for the five frequencies, 0 once cached), the therapy's own (``nociceptive_transmission``) otherwise (about 6x).
SWEEP_TRAINS = {"quick": (0.5, 10.0)}
SWEEP_DEFAULT = (3.0, 5.0)


class RecruitmentCurve(BaseModel):
    """Share of each kind of cell activated against amplitude, for one lead's programmed configuration."""

    lead: int
    level: str
    contacts: str
    pulse_width_us: float
    programmed_ma: float
    amplitudes_ma: list[float]
    shares: dict[str, list[float]]


class SystemResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: System
    implant: Implant
    optimization: OptimizationResult
    outcome: Outcome
    recruitment: list[RecruitmentCurve]  # programming posture
    primary_cell_years: float  # the DRG IPG's primary cell running this program (like-for-like)
    recharge_interval_days: float | None  # for a rechargeable IPG
    cut_end_initiations: int  # decisive spikes next to a truncated axon end (active cells, limiting motor cell)
    intervals: SamplingIntervals  # population sampling uncertainty of the headline numbers (programming posture)
    amplitude_needed: list[AmplitudeNeeded] = Field(default_factory=list)  # per posture, for the optimizer's target
    nociceptive_transmission: NociceptiveTransmission  # programming posture; SCS: unchanged by construction
    closed_loop: DayOutcome | None = None  # the day of postures open and closed loop; None: no day was given

    def summary(self) -> dict:
        """The numbers of the CLI contract (programming posture for the single-posture ones)."""
        ref = self.outcome.posture(self.optimization.config.posture)
        return {"program": self.optimization.program.model_dump(mode="json"),
                "target_met": self.optimization.target_met,
                "pain_coverage_pct": ref.pain_coverage_pct, "off_target_pct": ref.off_target_pct,
                "paresthesia_area_ratio": ref.paresthesia_area_ratio,
                "c_fibers_activated": ref.c_fibers_activated, "adelta_activated": ref.adelta_activated,
                "motor_activated": ref.motor_activated, "average_current_ua": ref.average_current_ua,
                "battery_years": ref.battery_years, "primary_cell_years": self.primary_cell_years,
                "recharge_interval_days": self.recharge_interval_days,
                "cut_end_initiations": self.cut_end_initiations,
                "perception_threshold_ma": self.outcome.perception_threshold_ma,
                "intervals": self.intervals.model_dump(mode="json"),
                "posture_spread_pct": self.outcome.posture_spread_pct,
                "pain_coverage_pct_by_posture": {p.posture.value: p.pain_coverage_pct for p in self.outcome.postures},
                "therapeutic_window": {p.posture.value: p.therapeutic_window for p in self.outcome.postures},
                "amplitude_needed": {a.posture.value: a.model_dump(mode="json", exclude={"posture"})
                                     for a in self.amplitude_needed},
                "nociceptive_transmission_pct": self.nociceptive_transmission.transmitted_pct,
                "nociceptive_transmission_basis": self.nociceptive_transmission.basis,
                "closed_loop": self.closed_loop.model_dump(mode="json") if self.closed_loop else None}


class Claim(BaseModel):
    claim: str
    measure: str
    drg: float | None
    scs: float | None
    unit: str
    supported: bool | None  # None when a number is missing
    statement: str


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: str
    patient_hash: str
    pain_map: PainMap
    quality: str
    population_scale: float = 1.0
    quality_config: Quality  # meshes, populations (seeds are derived from these and the patient hash)
    optimizer: OptimizerConfig
    drg: SystemResult
    scs: SystemResult
    transmission_sweep: ProgramSweep | None = None  # the DRG program's (``transmission_sweep``)
    claims: list[Claim]
    seconds: dict[str, float]
    drgsim_version: str = __version__
    provenance: dict = Field(default_factory=provenance)  # commit, date, dependency versions (``drgsim.provenance``)

    def summary(self) -> dict:
        return {"patient": self.patient_id, "patient_hash": self.patient_hash, "quality": self.quality,
                "population_scale": self.population_scale,
                "quality_config": self.quality_config.model_dump(mode="json"),
                "drg": self.drg.summary(), "scs": self.scs.summary(),
                "transmission_sweep": self.transmission_sweep.model_dump(mode="json") if self.transmission_sweep
                else None,
                "claims": [c.model_dump(mode="json") for c in self.claims],
                "optimizer": self.optimizer.model_dump(mode="json"), "seconds": self.seconds,
                "drgsim_version": self.drgsim_version, "provenance": self.provenance}


def _loads(outcome: Outcome, posture: Posture) -> list[LeadLoad]:
    return [LeadLoad(amplitude_ma=x.amplitude_ma, pulse_width_us=x.pulse_width_us, frequency_hz=x.frequency_hz,
                     impedance_ohm=x.impedance_ohm, recharge=outcome.program.leads[x.lead].recharge)
            for x in outcome.posture(posture).leads]


def _primary_cell_years(outcome: Outcome, posture: Posture) -> float:
    cell = system_spec(System.DRG).device().battery
    return round(estimate_battery(_loads(outcome, posture), cell, duty_cycle=outcome.program.duty_cycle)
                 .longevity_years, 2)


def run_system(patient: Patient, system: System, q: Quality, cfg: OptimizerConfig, progress=None,
               day: Day | None = None) -> tuple[SystemResult, dict[str, float]]:
    """One system planned, optimized and evaluated; with ``day``, also through that day open and closed loop (the
    loop's target set in the programming posture): seconds per stage beside."""
    t0 = time.perf_counter()
    model = TherapyModel(patient, plan_implant(patient, system), q)
    model.solve_fields(progress)
    t_fields = time.perf_counter()
    opt = optimize(model, cfg, progress)
    t1 = time.perf_counter()
    outcome = evaluate(model, opt.program, progress=progress)
    t2 = time.perf_counter()
    ipg = model.implant.ipg()
    est = None
    if ipg.battery.chemistry == "rechargeable":
        est = estimate_battery(_loads(outcome, cfg.posture), ipg.battery, duty_cycle=opt.program.duty_cycle)
    result = SystemResult(system=system, implant=model.implant, optimization=opt, outcome=outcome,
                          recruitment=recruitment_curves(model, opt.program, cfg.posture),
                          primary_cell_years=_primary_cell_years(outcome, cfg.posture),
                          recharge_interval_days=round(est.recharge_interval_days, 1) if est else None,
                          cut_end_initiations=cut_end_initiations(model, opt.program),
                          intervals=sampling_intervals(model, opt.program, cfg.posture),
                          amplitude_needed=[amplitude_needed(model, opt.program, p, cfg.target_coverage_pct)
                                            for p in Posture],
                          nociceptive_transmission=nociceptive_transmission(model, opt.program, cfg.posture))
    seconds = {f"{system.value}_fields": round(t_fields - t0, 2), f"{system.value}_optimize": round(t1 - t_fields, 2),
               f"{system.value}_evaluate": round(t2 - t1, 2)}
    if day is not None:
        t3 = time.perf_counter()
        result.closed_loop = simulate_day(model, opt.program, day, programming_posture=cfg.posture,
                                          progress=progress).outcome
        seconds[f"{system.value}_closed_loop"] = round(time.perf_counter() - t3, 2)
    return result, seconds


def transmission_sweep(drg: SystemResult, quality_name: str) -> ProgramSweep | None:
    """Transmission against frequency for a representative drg_c neuron at the DRG program's highest C amplitude
    ratio (an upper bound where every C neuron is silent up to the device's maximum) and that lead's pulse width;
    None when no lead is on. Trains per ``SWEEP_TRAINS``; cached (``program_sweep``)."""
    leads = drg.nociceptive_transmission.leads
    if not leads:
        return None
    top = max(leads, key=lambda x: x.c_ratio_max)
    duration_s, ongoing_hz = SWEEP_TRAINS.get(quality_name, SWEEP_DEFAULT)
    return program_sweep(top.c_ratio_max, drg.optimization.program.leads[top.lead].pulse_width_us, duration_s,
                         ongoing_hz)


def recruitment_curves(model: TherapyModel, program, posture: Posture, n: int = 61) -> list[RecruitmentCurve]:
    """Curves from 0 to three times the programmed amplitude (within the device's range), from the tables."""
    out = []
    top = model.implant.ipg().amplitude_ma.maximum
    for k, (table, _) in lead_tables(model, program, posture).items():
        s = program.leads[k]
        amps = np.linspace(0.0, min(top, 3 * max(s.amplitude_ma, 0.1)), n)
        shares = recruitment(table, model.site(k, posture).kinds, amps)
        out.append(RecruitmentCurve(lead=k, level=model.implant.leads[k - 1].level.value, contacts=table.configuration,
                                    pulse_width_us=s.pulse_width_us, programmed_ma=s.amplitude_ma,
                                    amplitudes_ma=[round(float(a), 4) for a in amps],
                                    shares={kd: [round(float(v), 4) for v in x] for kd, x in shares.items()}))
    return out


def _claim(claim, measure, drg, scs, unit, lower_is_better: bool, text) -> Claim:
    supported = None if drg is None or scs is None else (drg < scs if lower_is_better else drg > scs)
    verdict = {True: "supported", False: "not supported", None: "undecided (a number is missing)"}[supported]
    return Claim(claim=claim, measure=measure, drg=drg, scs=scs, unit=unit, supported=supported,
                 statement=f"{text}: DRG {_fmt(drg)} vs SCS {_fmt(scs)} {unit} — {verdict}.")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _battery_claim(drg: SystemResult, scs: SystemResult, posture: Posture) -> Claim:
    """Each system on its own device; the rechargeable's burden and the like-for-like reading stated beside."""
    years = {r.system: r.outcome.posture(posture).battery_years for r in (drg, scs)}
    claim = _claim("longer battery life", "battery_years", years[System.DRG], years[System.SCS], "years", False,
                   "Years until the IPG must be replaced, each system on its own device")
    burden = []
    for r in (drg, scs):
        name = r.system.value.upper()
        burden.append(f"{name}: recharged every {r.recharge_interval_days:g} days" if r.recharge_interval_days
                      else f"{name}: primary cell, no recharging")
    like = (f"Like for like, on the DRG IPG's primary cell: DRG {_fmt(drg.primary_cell_years)} vs SCS "
            f"{_fmt(scs.primary_cell_years)} years.")
    return claim.model_copy(update={"statement": f"{claim.statement} ({'; '.join(burden)}.) {like}"})


def _day_claim(drg: SystemResult, scs: SystemResult) -> list[Claim]:
    """Open loop, as both systems are sold; closed loop, which only SCS devices offer, stated beside."""
    if drg.closed_loop is None or scs.closed_loop is None:
        return []
    d, s = drg.closed_loop, scs.closed_loop
    claim = _claim("holds its dose through a day", "time_in_window_pct", d.open_loop.time_in_window_pct,
                   s.open_loop.time_in_window_pct, "% of the day", False,
                   f"Time in the therapeutic window through the day '{d.day}', open loop")
    beside = (f"Closed loop ({d.mode}): DRG {_fmt(d.closed_loop.time_in_window_pct)} vs SCS "
              f"{_fmt(s.closed_loop.time_in_window_pct)} % of the day.")
    return [claim.model_copy(update={"statement": f"{claim.statement} {beside}"})]


def claims(drg: SystemResult, scs: SystemResult, posture: Posture) -> list[Claim]:
    d, s = drg.outcome.posture(posture), scs.outcome.posture(posture)
    return [
        _claim("targeted coverage", "off_target_pct", d.off_target_pct, s.off_target_pct, "% of paresthesia area",
               True, "Paresthesia outside the pain map"),
        _claim("lower energy", "average_current_ua", d.average_current_ua, s.average_current_ua, "uA", True,
               "Average stimulation current"),
        _battery_claim(drg, scs, posture),
        _claim("positional stability", "posture_spread_pct", drg.outcome.posture_spread_pct,
               scs.outcome.posture_spread_pct, "%", True,
               "Spread of the perception threshold across supine, prone, sitting and standing"),
        _claim("less paresthesia", "paresthesia_area_ratio", d.paresthesia_area_ratio, s.paresthesia_area_ratio,
               "x pain-map area", True, "Paresthesia area relative to the pain map"),
        *_day_claim(drg, scs),
    ]


def compare(patient: Patient, quality_name: str = "standard", cfg: OptimizerConfig = OptimizerConfig(),
            progress=None, population_scale: float = 1.0, day: Day | None = None) -> Comparison:
    """Plan, optimize and evaluate both systems on ``patient``; ``population_scale`` multiplies every
    population of the quality (a convergence check: the numbers should barely move at 2); ``day``: also run both
    through that day of postures, open and closed loop (ECAP growth curves in every posture of the day: costly)."""
    q = quality(quality_name).scaled(population_scale)
    drg, t_drg = run_system(patient, System.DRG, q, cfg, progress, day)
    scs, t_scs = run_system(patient, System.SCS, q, cfg, progress, day)
    t0 = time.perf_counter()
    sweep = transmission_sweep(drg, quality_name)
    return Comparison(patient_id=patient.id, patient_hash=patient.content_hash(), pain_map=patient.pain_map,
                      quality=quality_name, population_scale=population_scale, quality_config=q, optimizer=cfg,
                      drg=drg, scs=scs, transmission_sweep=sweep, claims=claims(drg, scs, cfg.posture),
                      seconds={**t_drg, **t_scs, "transmission_sweep": round(time.perf_counter() - t0, 2)})
