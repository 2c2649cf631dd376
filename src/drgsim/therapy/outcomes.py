"""What a program does to a patient: activation, paresthesia, coverage, side effects, energy, posture.

Paresthesia. Each activated A-beta fibre (DRG A-beta neurons; SCS dorsal-column and dorsal-root
fibres) reports from its receptive field in its segment's dermatome. For a group of fibres of one
segment and side, the activated share ``a`` is the number firing over the number modelled. A body
region's paresthesia intensity is ``p = sum over segments of w(segment) * a(segment, side)``, with
``w`` the region's dermatome weights (atlas.json), and the share of its area covered is
``min(1, p / full_coverage_fraction)``: a region feels paresthesia over all of its area once that
share of its afferents fires (receptive fields overlap; ``FULL_COVERAGE_FRACTION`` is a project
default [unverified]).

Pain coverage is the NRS- and area-weighted share of the pain map covered; off-target stimulation
is the share of the paresthesia area that lies outside the pain map (both in percent).

Side effects. Direct C and A-delta activation are counted (Graham et al. 2019: C fibres are not
directly activated by DRG stimulation at clinical amplitudes). Motor activation: ventral-root motor
axons in the DRG model; in the thoracic SCS model, which has no ventral roots, the recruitment of
dorsal-root fibres, which evokes segmental motor responses and sets the discomfort threshold
(Holsheimer 1998, Neurosurgery 42:541; He et al. 1994) [modelling choice]. Perception threshold:
the lowest amplitude that activates an A-beta fibre; discomfort threshold: the lowest that
activates a discomfort cell (DRG: A-delta, C or motor; SCS: dorsal root); the therapeutic window is
their ratio (Holsheimer's usage ratio).

Energy: average current, tissue power and battery longevity from ``drgsim.devices.battery`` with
each lead's configuration impedance from the field solution.

Nociceptive transmission (``therapy.transmission``): the share of ongoing peripheral spikes the C neurons carry to
the cord under the program. It simulates pulse trains of the C neurons the program drives past the screen, so
``evaluate`` adds it only when asked (``transmission=True``). A C neuron simulated for 3 s costs on the order of ten
seconds of kernel time (``drgsim filter`` reports 2-5 s per simulated second per run, three runs); a program that
drives none past the screen (the default patient's) costs its threshold tables only, already computed for the rest.
"""

from __future__ import annotations

import time
from collections import Counter
from functools import cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim import __version__
from drgsim.anatomy.atlas import load_atlas
from drgsim.anatomy.painmap import PainMap
from drgsim.anatomy.posture import Posture
from drgsim.devices.battery import LeadLoad, estimate_battery
from drgsim.devices.program import Program
from drgsim.therapy.model import Implant, Quality, System, TherapyModel, ThresholdTable
from drgsim.therapy.systems import system_spec
from drgsim.therapy.transmission import (
    C_KIND,
    SCREEN_RATIO,
    NociceptiveTransmission,
    combine,
    lead_transmission,
    unchanged,
)

FULL_COVERAGE_FRACTION = 0.5  # share of a region's afferents whose firing covers the whole region [unverified]
ABETA_KINDS = ("abeta", "dorsal_column", "dorsal_root")
_MODEL = ConfigDict(extra="forbid")


def _polygon_area(points) -> float:
    x, y = np.asarray(points, dtype=float).T
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


@cache
def _regions() -> tuple[list[str], np.ndarray, list[tuple[str, str, dict[str, float]]]]:
    atlas = load_atlas()
    ids = [r.id for r in atlas.regions]
    area = np.array([_polygon_area(r.polygon) for r in atlas.regions])
    return ids, area, [(r.id, r.side.value, dict(r.dermatomes)) for r in atlas.regions]


class RegionMap:
    """Maps activated shares of (segment, side) groups to region intensities (a fixed matrix)."""

    def __init__(self, groups: list[tuple[str, str]]):
        ids, self.area, regions = _regions()
        self.ids, self.groups = ids, groups
        self.weights = np.array([[d.get(seg, 0.0) if side == g_side else 0.0 for seg, g_side in groups]
                                 for _, side, d in regions])

    def coverage(self, shares: np.ndarray, full: float = FULL_COVERAGE_FRACTION) -> np.ndarray:
        """Covered share of each region (rows) for group shares (..., n_groups)."""
        return np.minimum(1.0, (np.asarray(shares) @ self.weights.T) / full)

    def pain_weights(self, pain: PainMap) -> np.ndarray:
        nrs = np.array([pain.nrs.get(i, 0) for i in self.ids], dtype=float)
        return nrs * self.area

    def scores(self, covered: np.ndarray, pain: PainMap) -> tuple[np.ndarray, np.ndarray]:
        """Pain coverage (%) and off-target share of the paresthesia area (%) for covered (..., regions)."""
        wp = self.pain_weights(pain)
        outside = wp == 0
        cov = 100.0 * (covered @ wp) / wp.sum()
        off_area, on_area = covered @ (self.area * outside), covered @ (self.area * ~outside)
        area = off_area + on_area  # summed from its parts, so that off_area / area never exceeds 1 by rounding
        off = 100.0 * (off_area / np.where(area > 0, area, 1.0))
        return cov, np.where(area > 0, off, 0.0)


class LimitingCell(BaseModel):
    """The cell whose threshold sets a lead's perception or discomfort threshold: what sets the window."""

    model_config = _MODEL

    kind: str
    diameter_um: float
    segment: str
    side: str
    threshold_ma: float
    initiation_site: str  # the compartment where its decisive spike started

    def describe(self) -> str:
        return (f"{self.kind.replace('_', ' ')} {self.diameter_um:.1f} um ({self.segment} {self.side}), "
                f"{self.threshold_ma:.3g} mA, spike from {self.initiation_site}")


class LeadActivation(BaseModel):
    """One lead's channel in one posture."""

    model_config = _MODEL

    lead: int
    level: str
    side: str
    contacts: str
    amplitude_ma: float
    pulse_width_us: float
    frequency_hz: float
    impedance_ohm: float
    fired: dict[str, int]
    modelled: dict[str, int]
    perception_threshold_ma: float | None  # None: no A-beta fibre fires within the device's range
    discomfort_threshold_ma: float | None
    motor_threshold_ma: float | None
    initiation_sites: dict[str, int]
    perception_cell: LimitingCell | None = None
    discomfort_cell: LimitingCell | None = None
    device_problems: list[str] = Field(default_factory=list)


class PostureOutcome(BaseModel):
    model_config = _MODEL

    posture: Posture
    paresthesia: dict[str, float]  # region -> covered share (0-1), regions with any paresthesia
    pain_coverage_pct: float
    off_target_pct: float
    paresthesia_area_ratio: float  # paresthesia area / pain-map area
    abeta_activated: int
    c_fibers_activated: int
    adelta_activated: int
    motor_activated: bool
    motor_cells_activated: int
    perception_threshold_ma: float | None
    discomfort_threshold_ma: float | None
    therapeutic_window: float | None  # discomfort / perception threshold, smallest over leads
    window_lead: int | None = None  # the lead whose window is the smallest
    average_current_ua: float
    tissue_power_uw: float
    battery_current_ua: float
    battery_years: float
    deliverable: bool  # the device accepts every lead's setting in this posture
    leads: list[LeadActivation]
    nociceptive_transmission: NociceptiveTransmission | None = None  # computed when asked (``evaluate``)


class Outcome(BaseModel):
    """A program's outcome for one patient, in every posture asked for."""

    model_config = _MODEL

    system: System
    patient_id: str
    patient_hash: str
    implant: Implant
    program: Program
    postures: list[PostureOutcome]
    perception_threshold_ma: dict[str, float | None]
    posture_spread_pct: float | None  # (max - min) / mean of the perception threshold across postures
    coverage_spread_pct: float  # max - min pain coverage across postures (percentage points)
    quality: Quality  # meshes and populations (seeds derive from these and the patient hash)
    full_coverage_fraction: float = FULL_COVERAGE_FRACTION
    seconds: float
    drgsim_version: str = __version__

    def posture(self, posture: Posture | str) -> PostureOutcome:
        return next(p for p in self.postures if p.posture == Posture(posture))


def groups_of(model: TherapyModel) -> list[tuple[str, str]]:
    """(segment, side) of every A-beta group the implant's cells belong to, in a fixed order."""
    seen: dict[tuple[str, str], None] = {}
    for k in range(1, len(model.implant.leads) + 1):
        for c in model.site(k, Posture.SUPINE).info:
            if c.kind in ABETA_KINDS:
                seen[(c.segment, c.side)] = None
    return list(seen)


def group_index(model: TherapyModel, lead: int, posture: Posture, groups: list[tuple[str, str]]) -> tuple[
        np.ndarray, np.ndarray]:
    """For one site: the group of each cell (-1 if not A-beta) and the number of A-beta cells per group."""
    info = model.site(lead, posture).info
    where = {g: i for i, g in enumerate(groups)}
    idx = np.array([where[(c.segment, c.side)] if c.kind in ABETA_KINDS else -1 for c in info])
    counts = np.bincount(idx[idx >= 0], minlength=len(groups)).astype(float)
    return idx, counts


def _limiting_cell(table: ThresholdTable, info, mask: np.ndarray) -> LimitingCell | None:
    """The cell of ``mask`` with the lowest threshold (None where none fires within the table's range)."""
    thr = np.where(mask & np.isfinite(table.threshold_ma), table.threshold_ma, np.inf)
    if not np.isfinite(thr).any():
        return None
    i = int(np.argmin(thr))
    c = info[i]
    return LimitingCell(kind=c.kind, diameter_um=round(c.diameter_um, 2), segment=c.segment, side=c.side,
                        threshold_ma=float(thr[i]), initiation_site=str(table.initiation_site[i]))


def lead_tables(model: TherapyModel, program: Program, posture: Posture) -> dict[int, tuple[ThresholdTable, float]]:
    """The full threshold table and configuration impedance of every enabled lead of ``program``."""
    ipg = model.implant.ipg()
    out = {}
    for k, s in sorted(program.enabled_leads().items()):
        site = model.site(k, posture)
        z = site.impedance_ohm(s.contacts)
        out[k] = (site.table(s.contacts, model.lead_waveform(s, z), ipg.amplitude_ma.maximum), z)
    return out


def nociceptive_transmission(model: TherapyModel, program: Program, posture: Posture | str = Posture.SUPINE,
                             duration_s: float = 3.0, ongoing_hz: float = 5.0, dt_us: float = 25.0,
                             screen_ratio: float = SCREEN_RATIO) -> NociceptiveTransmission:
    """The program's C-neuron transmission in ``posture`` (``therapy.transmission``), from the leads' threshold
    tables; for SCS unchanged by construction (it does not act on the ganglion)."""
    posture = Posture(posture)
    if model.system != System.DRG:
        return unchanged(posture, ongoing_hz, duration_s)
    leads = []
    for k, (table, _) in lead_tables(model, program, posture).items():
        c = model.site(k, posture).kinds == C_KIND
        leads.append(lead_transmission(model, k, program.leads[k], posture, table.threshold_ma[c], table.max_ma,
                                       duration_s, ongoing_hz, dt_us, screen_ratio))
    return combine(posture, ongoing_hz, duration_s, leads)


def evaluate_posture(model: TherapyModel, program: Program, posture: Posture | str,
                     transmission: bool = False) -> PostureOutcome:
    """Outcome of ``program`` in one posture (tables from memory, disk or computed); with ``transmission``, its
    nociceptive transmission too (trains of the C neurons the program drives near threshold: seconds to
    minutes, so only when asked)."""
    posture = Posture(posture)
    system, ipg, spec = model.system, model.implant.ipg(), system_spec(model.system)
    _check_leads(model, program)
    groups = groups_of(model)
    region_map = RegionMap(groups)
    shares = np.zeros(len(groups))
    leads, loads = [], []
    counts = Counter()
    deliverable = True
    for k, (table, z) in lead_tables(model, program, posture).items():
        s = program.leads[k]
        site = model.site(k, posture)
        kinds = site.kinds
        fired = table.fires(s.amplitude_ma)
        g_idx, g_n = group_index(model, k, posture, groups)
        ab = g_idx >= 0
        shares += np.bincount(g_idx[ab & fired], minlength=len(groups)) / np.where(g_n > 0, g_n, 1.0)
        sites = Counter(table.initiation_site[i].rsplit(" ", 1)[0] for i in np.flatnonzero(fired))
        problems = ipg.lead_problems(s, impedance_ohm=z, where=f"lead {k}: ")
        deliverable &= not problems
        fired_by_kind = {kd: int((fired & (kinds == kd)).sum()) for kd in sorted(set(kinds))}
        perception, discomfort, motor_cell = (_limiting_cell(table, site.info, np.isin(kinds, group)) for group in
                                              (ABETA_KINDS, spec.discomfort_kinds, spec.motor_kinds))
        counts.update(fired_by_kind)
        leads.append(LeadActivation(
            lead=k, level=site.plan.level.value, side=site.plan.side.value, contacts=table.configuration,
            amplitude_ma=s.amplitude_ma, pulse_width_us=s.pulse_width_us, frequency_hz=s.frequency_hz,
            impedance_ohm=round(z, 1), fired=fired_by_kind,
            modelled={kd: int((kinds == kd).sum()) for kd in sorted(set(kinds))},
            perception_threshold_ma=perception.threshold_ma if perception else None,
            discomfort_threshold_ma=discomfort.threshold_ma if discomfort else None,
            motor_threshold_ma=motor_cell.threshold_ma if motor_cell else None,
            initiation_sites=dict(sites), device_problems=problems, perception_cell=perception,
            discomfort_cell=discomfort))
        loads.append(LeadLoad(amplitude_ma=s.amplitude_ma, pulse_width_us=s.pulse_width_us,
                              frequency_hz=s.frequency_hz, impedance_ohm=z, recharge=s.recharge))
    covered = region_map.coverage(shares)
    cov, off = region_map.scores(covered, model.patient.pain_map)
    pain_area = float(region_map.area[region_map.pain_weights(model.patient.pain_map) > 0].sum())
    battery = estimate_battery(loads, ipg.battery, duty_cycle=program.duty_cycle)
    pts = [x.perception_threshold_ma for x in leads if x.perception_threshold_ma is not None]
    dts = [x.discomfort_threshold_ma for x in leads if x.discomfort_threshold_ma is not None]
    windows = {x.lead: x.discomfort_threshold_ma / x.perception_threshold_ma for x in leads
               if x.discomfort_threshold_ma is not None and x.perception_threshold_ma}
    window_lead = min(windows, key=windows.get) if windows else None
    motor = sum(counts[kd] for kd in system_spec(system).motor_kinds)
    return PostureOutcome(
        posture=posture,
        paresthesia={r: round(float(c), 4) for r, c in zip(region_map.ids, covered) if c > 0},
        pain_coverage_pct=round(float(cov), 2), off_target_pct=round(float(off), 2),
        paresthesia_area_ratio=round(float(covered @ region_map.area) / pain_area, 3),
        abeta_activated=sum(counts[kd] for kd in ABETA_KINDS), c_fibers_activated=counts["c"],
        adelta_activated=counts["adelta"], motor_activated=motor > 0, motor_cells_activated=motor,
        perception_threshold_ma=min(pts) if pts else None, discomfort_threshold_ma=min(dts) if dts else None,
        therapeutic_window=round(windows[window_lead], 3) if windows else None, window_lead=window_lead,
        average_current_ua=round(battery.average_current_ua, 3), tissue_power_uw=round(battery.tissue_power_uw, 3),
        battery_current_ua=round(battery.battery_current_ua, 3), battery_years=round(battery.longevity_years, 2),
        deliverable=deliverable, leads=leads,
        nociceptive_transmission=nociceptive_transmission(model, program, posture) if transmission else None)


class AmplitudeNeeded(BaseModel):
    """The amplitude a posture needs to reach a pain coverage: every enabled lead's programmed amplitude times
    one ``scale``, each rounded up to the device's grid (None where no scale within the device's maximum does)."""

    model_config = _MODEL

    posture: Posture
    target_coverage_pct: float
    scale: float | None
    amplitudes_ma: dict[int, float] | None
    pain_coverage_pct: float | None  # reached there
    motor_activated: bool | None  # at those amplitudes


def amplitude_needed(model: TherapyModel, program: Program, posture: Posture | str,
                     target_coverage_pct: float) -> AmplitudeNeeded:
    """The lowest common scale of the program's amplitudes at which ``posture``'s pain coverage reaches the target,
    as a patient turning the amplitude up or down with the controller would find it. Coverage changes only where
    a fibre's threshold is crossed, and rises with amplitude (but past a block window), so the search bisects
    over those crossings."""
    posture = Posture(posture)
    grid = model.implant.ipg().amplitude_ma
    on = {k: s for k, s in program.enabled_leads().items() if s.amplitude_ma > 0}
    top = min(grid.maximum / s.amplitude_ma for s in on.values()) if on else 0.0
    crossings = {1.0, top} if on else set()
    for k, (table, _) in lead_tables(model, program, posture).items():
        if k in on:
            thr = table.threshold_ma[np.isin(model.site(k, posture).kinds, ABETA_KINDS)]
            crossings |= set((thr[np.isfinite(thr)] / on[k].amplitude_ma).tolist())
    scales = sorted(x for x in crossings if 0 < x <= top)

    @cache  # the bisection's last answer is the one returned
    def at(scale: float) -> tuple[dict[int, float], PostureOutcome]:
        amps = {k: grid.ceil(s.amplitude_ma * scale) for k, s in on.items()}
        scaled = program.model_copy(deep=True)
        for k, a in amps.items():
            scaled.leads[k].amplitude_ma = a
        return amps, evaluate_posture(model, scaled, posture)

    lo, hi = -1, len(scales)  # scales[hi] reaches the target, scales[lo] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(scales[mid])[1].pain_coverage_pct >= target_coverage_pct - 1e-9:
            hi = mid
        else:
            lo = mid
    if hi == len(scales):
        return AmplitudeNeeded(posture=posture, target_coverage_pct=target_coverage_pct, scale=None,
                               amplitudes_ma=None, pain_coverage_pct=None, motor_activated=None)
    amps, out = at(scales[hi])
    return AmplitudeNeeded(posture=posture, target_coverage_pct=target_coverage_pct, scale=round(scales[hi], 4),
                           amplitudes_ma=amps, pain_coverage_pct=out.pain_coverage_pct,
                           motor_activated=out.motor_activated)


def _check_leads(model: TherapyModel, program: Program) -> None:
    """Leads the implant has, each with the device's contact count (other settings the device would refuse
    are reported per lead as ``device_problems``)."""
    n = len(model.implant.leads)
    bad = sorted(k for k in program.leads if not 1 <= k <= n)
    if bad:
        raise ValueError(f"program.leads has lead {bad[0]}; this implant has leads 1-{n}")
    ipg = model.implant.ipg()
    for k, s in sorted(program.leads.items()):
        if (problem := ipg.contacts_problem(s, f"program.leads.{k}.")) is not None:
            raise ValueError(problem)


def spread_pct(values: list[float | None]) -> float | None:
    """(max - min) / mean in percent; None unless every value is known."""
    if not values or any(v is None for v in values):
        return None
    v = np.asarray(values, dtype=float)
    return round(float(100.0 * (v.max() - v.min()) / v.mean()), 2)


def evaluate(model: TherapyModel, program: Program, postures=tuple(Posture), progress=None,
             transmission: bool = False) -> Outcome:
    """Outcome of ``program`` in each posture, with its nociceptive transmission when ``transmission`` (costly:
    ``evaluate_posture``); ``progress(what, done, total)`` hears of each posture."""
    t0 = time.perf_counter()
    per = []
    label = f"{model.system.value.upper()} outcomes (postures)"
    for i, p in enumerate(postures):
        if progress:
            progress(label, i, len(postures))
        per.append(evaluate_posture(model, program, p, transmission))
    if progress:
        progress(label, len(postures), len(postures))
    pt = [p.perception_threshold_ma for p in per]
    return Outcome(system=model.system, patient_id=model.patient.id, patient_hash=model.patient.content_hash(),
                   implant=model.implant, program=program, postures=per, quality=model.quality,
                   perception_threshold_ma={p.posture.value: p.perception_threshold_ma for p in per},
                   posture_spread_pct=spread_pct(pt),
                   coverage_spread_pct=round(max(p.pain_coverage_pct for p in per) -
                                             min(p.pain_coverage_pct for p in per), 2),
                   seconds=round(time.perf_counter() - t0, 3))


def cut_end_initiations(model: TherapyModel, program: Program, postures=tuple(Posture)) -> int:
    """Decisive spikes that started within two internodes of a truncated axon end (model artefacts): the
    cells active at ``program`` in every posture, and on each lead the motor cell that sets the motor limit
    (the lowest motor threshold). The model is built so that this is 0."""
    n = 0
    motor = system_spec(model.system).motor_kinds
    for p in postures:
        for k, (table, _) in lead_tables(model, program, p).items():
            n += int((table.fires(program.leads[k].amplitude_ma) & table.cut_end).sum())
            idx = np.flatnonzero(np.isin(model.site(k, p).kinds, motor) & np.isfinite(table.threshold_ma))
            if idx.size:
                n += int(table.cut_end[idx[np.argmin(table.threshold_ma[idx])]])
    return n


def recruitment(table: ThresholdTable, kinds: np.ndarray, amplitudes_ma: np.ndarray) -> dict[str, np.ndarray]:
    """Share of each kind of cell activated at each amplitude (a recruitment curve, from one table)."""
    fired = np.stack([table.fires(float(a)) for a in np.asarray(amplitudes_ma, dtype=float)])
    return {k: fired[:, kinds == k].mean(axis=1) for k in sorted(set(kinds))}


class SamplingIntervals(BaseModel):
    """95% bootstrap intervals of the headline numbers over the sampling of the populations: each site's
    A-beta cells are redrawn with replacement within their (segment, side) group, its other cells
    within their kind, ``n_resamples`` times, at the same program and thresholds (Efron & Tibshirani
    1993, percentile intervals). They say how much a number owes to which cells were drawn."""

    model_config = _MODEL

    posture: Posture
    n_resamples: int
    pain_coverage_pct: tuple[float, float]
    off_target_pct: tuple[float, float]
    perception_threshold_ma: tuple[float, float] | None


def sampling_intervals(model: TherapyModel, program: Program, posture: Posture | str, n_resamples: int = 1000,
                       seed: int = 0) -> SamplingIntervals:
    """Bootstrap intervals of pain coverage, off-target share and perception threshold in ``posture``."""
    posture = Posture(posture)
    rng = np.random.default_rng(seed)
    groups = groups_of(model)
    region_map = RegionMap(groups)
    shares = np.zeros((n_resamples, len(groups)))
    perception = np.full(n_resamples, np.inf)
    for k, (table, _) in lead_tables(model, program, posture).items():
        kinds = model.site(k, posture).kinds
        g_idx, _ = group_index(model, k, posture, groups)
        strata = np.where(g_idx >= 0, g_idx, len(groups) + np.unique(kinds, return_inverse=True)[1])
        draw = _stratified_resamples(strata, n_resamples, rng)
        fired = table.fires(program.leads[k].amplitude_ma)[draw]  # a redrawn cell keeps its stratum's column
        for g in np.unique(g_idx[g_idx >= 0]):
            shares[:, g] += fired[:, g_idx == g].mean(axis=1)
        thr = np.where(np.isin(kinds, ABETA_KINDS) & np.isfinite(table.threshold_ma), table.threshold_ma, np.inf)
        perception = np.minimum(perception, thr[draw].min(axis=1))
    cov, off = region_map.scores(region_map.coverage(shares), model.patient.pain_map)
    ci = lambda x: tuple(round(float(v), 4) for v in np.percentile(x, [2.5, 97.5]))  # noqa: E731
    finite = np.isfinite(perception)
    return SamplingIntervals(posture=posture, n_resamples=n_resamples, pain_coverage_pct=ci(cov),
                             off_target_pct=ci(off), perception_threshold_ma=ci(perception) if finite.all() else None)


def _stratified_resamples(strata: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` rows of cell indices, each redrawn with replacement within its stratum (stratum sizes kept)."""
    out = np.empty((n, len(strata)), dtype=np.int64)
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        out[:, members] = members[rng.integers(0, len(members), size=(n, len(members)))]
    return out
