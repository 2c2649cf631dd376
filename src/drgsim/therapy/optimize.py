"""Program optimizer: the lowest-energy program on the device's grid that covers the pain map.

Search, for one implant in the programming posture (supine by default):

1. Every lead, every candidate contact configuration (bipoles with the anode one or two contacts
   away, and guarded tripoles ``+-+``) at the reference pulse width: threshold tables of the A-beta
   and motor cells. Each distinct set of activated A-beta fibres is reached first at one amplitude
   (the next grid value above a threshold), which gives one option per threshold: its amplitude,
   the activated share of every dermatome group and its battery drain. Options that activate a
   motor cell (or, for SCS, a dorsal-root fibre; see ``outcomes``), break the compliance limit or
   need a charge-density override are dropped, and a lead may also be left off.
2. Leads combine by superposition of their activated groups (DRG leads act on different ganglia).
   Among combinations whose pain coverage reaches the target, the lowest battery drain wins; within
   ``energy_tolerance`` of it, the one with the least off-target stimulation.
3. The best ``refine_top`` configurations of each lead are re-tabled at the other pulse widths and
   the search repeats over everything tabled.

Nociceptive transmission (``therapy.transmission``), when the user asks for it: as the objective
(``objective="transmission"``: among the combinations reaching the coverage target, the least transmitted share
of ongoing peripheral spikes through the C neurons, then the rule above) or as a constraint
(``max_transmission_pct``: only combinations at or below it). It is costly (pulse trains), so it is evaluated
last and only on the options that survive the cheaper criteria: those of a combination reaching the coverage
target. Each such option's C neurons are tabled up to twice its amplitude (a neuron silent there is below the
screen of ``SCREEN_RATIO`` x threshold and transmits unchanged, without simulation); only the neurons past the
screen are simulated. A lead's transmission depends on its own option alone (DRG leads act on different ganglia),
and a combination's is the C-neuron-weighted mean over its enabled leads, as ``outcomes.nociceptive_transmission``
computes it. Candidate amplitudes stay the A-beta recruitment steps. SCS does not act on the ganglion: 100% by
construction, so a ceiling below 100% cannot be met there.

Frequency does not change a single pulse's threshold, so on energy alone the lowest frequency on
the grid would always win; the search therefore keeps the therapy's frequency fixed (clinical
defaults: 20 Hz DRG as in ACCURATE programming, 50 Hz tonic SCS, within the tonic 30-120 Hz range).
Every value is checked against the device's own grid. When no program reaches the target, the
result is the one with the highest coverage (then the lowest drain) and says so.
"""

from __future__ import annotations

import itertools
import time
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgsim.anatomy.posture import Posture
from drgsim.devices.battery import LeadLoad, estimate_battery
from drgsim.devices.leads import get_lead
from drgsim.devices.program import ContactState, LeadSettings, Program, as_contacts, contacts_label
from drgsim.devices.safety import charge_warnings, max_contact_charge_uc
from drgsim.therapy.model import System, TherapyModel
from drgsim.therapy.outcomes import ABETA_KINDS, RegionMap, group_index, groups_of
from drgsim.therapy.systems import system_spec
from drgsim.therapy.transmission import C_KIND, SCREEN_RATIO, lead_transmission

MAX_COMBINATIONS = 2_000_000


def candidate_configurations(n_contacts: int) -> list[str]:
    """Bipoles (cathode, anode 1 or 2 contacts away, both orders) and guarded tripoles, contact 1 first."""
    out = []
    for c in range(n_contacts):
        for a in range(n_contacts):
            if 1 <= abs(a - c) <= 2:
                cfg = ["0"] * n_contacts
                cfg[c], cfg[a] = "-", "+"
                out.append("".join(cfg))
    for c in range(1, n_contacts - 1):
        cfg = ["0"] * n_contacts
        cfg[c - 1], cfg[c], cfg[c + 1] = "+", "-", "+"
        out.append("".join(cfg))
    return out


class OptimizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target_coverage_pct: float = Field(80.0, gt=0, le=100, description="pain coverage to reach")
    configurations: list[str] | None = Field(None, description="contact configurations to try (default: "
                                             "bipoles and guarded tripoles)")
    pulse_widths_us: list[float] | None = Field(None, min_length=1, description="first is the reference")
    frequency_hz: float | None = Field(None, gt=0)
    energy_tolerance: float = Field(0.05, ge=0, le=1, description="drain within which off-target decides")
    refine_top: int = Field(3, ge=0, le=100, description="configurations per lead re-tabled at other widths")
    posture: Posture = Posture.SUPINE
    objective: Literal["energy", "transmission"] = Field("energy", description="energy: the lowest drain; "
                                                         "transmission: the least nociceptive transmission, then "
                                                         "the lowest drain")
    max_transmission_pct: float | None = Field(None, ge=0, le=100, description="ceiling on nociceptive "
                                               "transmission (%)")
    transmission_duration_s: float = Field(3.0, ge=0.2, le=30, description="trains of each simulated C neuron")

    @property
    def uses_transmission(self) -> bool:
        return self.objective == "transmission" or self.max_transmission_pct is not None

    @model_validator(mode="after")
    def _configs(self):
        for c in self.configurations or []:
            try:
                contacts = as_contacts(c)
            except ValueError:
                raise ValueError(f"configurations entry {c!r}: each contact is '+', '-' or '0'") from None
            if "+" not in contacts_label(contacts) or "-" not in contacts_label(contacts):
                raise ValueError(f"configurations entry {c!r} needs at least one + and one - contact")
        return self


class LeadChoice(BaseModel):
    lead: int
    enabled: bool
    contacts: str | None
    amplitude_ma: float
    pulse_width_us: float | None
    abeta_share: float  # of this lead's A-beta cells
    battery_drain_ua: float


class OptimizationResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: System
    program: Program
    target_coverage_pct: float
    target_met: bool
    pain_coverage_pct: float  # in the programming posture
    off_target_pct: float
    stimulation_drain_ua: float
    leads: list[LeadChoice]
    tables: int
    options: int
    combinations: int
    feasible: int
    nociceptive_transmission_pct: float | None = None  # of the program, when the objective or a ceiling used it
    transmission_met: bool | None = None  # the ceiling held (None without one)
    transmission_options: int = 0  # options whose transmission was evaluated
    c_neurons_simulated: int = 0  # over those options
    explanation: list[str]
    config: OptimizerConfig
    seconds: float


class _Option:
    __slots__ = ("contacts", "pw", "amp", "shares", "drain", "abeta_share")

    def __init__(self, contacts, pw, amp, shares, drain, abeta_share):
        self.contacts, self.pw, self.amp, self.shares = contacts, pw, amp, shares
        self.drain, self.abeta_share = drain, abeta_share


def _lead_options(model: TherapyModel, lead: int, cs: tuple[ContactState, ...], pw: float, f: float,
                  cfg: OptimizerConfig, groups) -> list[_Option]:
    """Every amplitude at which a new set of A-beta fibres fires, below motor activation and the device's
    limits, for one lead configuration (parsed once, by ``optimize``) and pulse width."""
    ipg = model.implant.ipg()
    site = model.site(lead, cfg.posture)
    z = site.impedance_ohm(cs)
    probe = LeadSettings(contacts=cs, amplitude_ma=0.0, pulse_width_us=pw, frequency_hz=f, enabled=False)
    thr, fires = _abeta_and_motor(site, cs, model.lead_waveform(probe, z), model.system, ipg.amplitude_ma)
    g_idx, g_n = group_index(model, lead, cfg.posture, groups)
    ab = g_idx >= 0
    motor = np.isin(site.kinds, system_spec(model.system).motor_kinds)
    area = get_lead(site.spec.geometry.lead_id).contact_area_cm2
    out = []
    for t in np.unique(thr[ab & (thr <= ipg.amplitude_ma.maximum)]):  # each new set of A-beta fibres
        amp = ipg.amplitude_ma.ceil(t)
        on = fires(amp)
        if np.any(on[motor]):
            break  # a clinician stepping up stops at the first motor response
        s = LeadSettings(contacts=cs, amplitude_ma=amp, pulse_width_us=pw, frequency_hz=f, enabled=True)
        if ipg.lead_problems(s, impedance_ohm=z) or charge_warnings(max_contact_charge_uc(cs, amp, pw), area):
            continue
        fired = ab & on
        shares = np.bincount(g_idx[fired], minlength=len(groups)) / np.where(g_n > 0, g_n, 1.0)
        drain = estimate_battery([LeadLoad(amplitude_ma=amp, pulse_width_us=pw, frequency_hz=f, impedance_ohm=z)],
                                 ipg.battery).stimulation_battery_current_ua
        out.append(_Option(cs, pw, amp, shares, drain, float(fired.sum() / max(ab.sum(), 1))))
    return out


def _abeta_and_motor(site, contacts, waveform, system, amplitude_range):
    """Thresholds of a site's A-beta and motor cells (inf elsewhere) and who of them fires at an amplitude.

    The motor cells are tabled first, up to the device's maximum. The optimizer uses nothing at or above
    the lowest grid amplitude at which one of them fires, so the other A-beta cells are tabled only up
    to there: a bound that spares the search of every fibre out of reach and moves no threshold below
    it beyond the search's tolerance."""
    kinds = site.kinds
    motor_kinds = tuple(sorted(set(system_spec(system).motor_kinds) & set(kinds)))
    ceiling, tables = amplitude_range.maximum, []
    if motor_kinds:
        tables.append(site.table(contacts, waveform, ceiling, kinds=motor_kinds))
        ceiling = _first_firing(tables[0], np.isin(kinds, motor_kinds), amplitude_range) or ceiling
    rest = tuple(sorted(set(ABETA_KINDS) & set(kinds) - set(motor_kinds)))
    if rest:
        tables.append(site.table(contacts, waveform, ceiling, kinds=rest))
    masks = [np.isin(kinds, t.kinds) for t in tables]
    thr = np.full(len(kinds), np.inf)
    for t, m in zip(tables, masks):
        thr[m] = t.threshold_ma[m]

    def fires(amplitude_ma: float) -> np.ndarray:
        on = np.zeros(len(kinds), dtype=bool)
        for t, m in zip(tables, masks):
            on[m] = t.fires(amplitude_ma)[m]
        return on

    return thr, fires


def _first_firing(table, cells: np.ndarray, amplitude_range) -> float | None:
    """The lowest amplitude of the device's grid at which one of ``cells`` fires (None: none within it)."""
    thr = table.threshold_ma[cells]
    for t in np.unique(thr[thr <= amplitude_range.maximum]):
        amp = amplitude_range.ceil(t)
        if np.any(table.fires(amp)[cells]):
            return amp
    return None


def _prune(options: list[_Option]) -> list[_Option]:
    """Keep, for every distinct activation pattern, the option with the least drain."""
    best: dict[bytes, _Option] = {}
    for o in options:
        key = np.round(o.shares, 9).tobytes()
        if key not in best or o.drain < best[key].drain:
            best[key] = o
    return list(best.values())


class _Search:
    """Every combination of one option per lead: its options, coverage, off-target share and drain."""

    def __init__(self, per_lead: list[list[_Option | None]], region_map: RegionMap, model: TherapyModel,
                 cfg: OptimizerConfig):
        sizes = [len(x) for x in per_lead]
        n = int(np.prod(sizes))
        if n > MAX_COMBINATIONS:
            raise ValueError(f"{n} lead combinations exceed {MAX_COMBINATIONS}; give fewer configurations or widths")
        self.per_lead, self.cfg, self.n = per_lead, cfg, n
        self.idx = np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64).reshape(n, len(sizes))
        total = np.zeros((n, len(region_map.groups)))
        self.drain = np.zeros(n)
        for k, opts in enumerate(per_lead):
            shares = np.stack([o.shares if o else np.zeros(len(region_map.groups)) for o in opts])
            total += shares[self.idx[:, k]]
            self.drain += np.array([o.drain if o else 0.0 for o in opts])[self.idx[:, k]]
        self.cov, self.off = region_map.scores(region_map.coverage(total), model.patient.pain_map)
        self.feasible = self.cov >= cfg.target_coverage_pct - 1e-9
        self.tx: np.ndarray | None = None

    def survivors(self) -> list[set[int]]:
        """Per lead, the options of a combination reaching the target (of the chosen one where none does)."""
        rows = self.idx[self.feasible] if self.feasible.any() else self.idx[[self.best()]]
        return [set(rows[:, k].tolist()) for k in range(len(self.per_lead))]

    def set_transmission(self, per_option: list[dict[int, tuple[int, float]]]) -> None:
        """Each combination's transmission (%) from its options' (C neurons, %) (NaN where one was not
        evaluated: never a survivor, so never chosen on it)."""
        num, den = np.zeros(self.n), np.zeros(self.n)
        for k, known in enumerate(per_option):
            c = np.array([known.get(i, (np.nan, np.nan))[0] if o else 0.0 for i, o in enumerate(self.per_lead[k])])
            pct = np.array([known.get(i, (np.nan, np.nan))[1] if o else 0.0 for i, o in enumerate(self.per_lead[k])])
            num += (c * pct)[self.idx[:, k]]
            den += c[self.idx[:, k]]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.tx = np.where(den == 0, 100.0, num / np.where(den == 0, 1.0, den))

    def allowed(self) -> np.ndarray:
        """Combinations that reach the target and, when asked, keep transmission at or below the ceiling."""
        ceiling = self.cfg.max_transmission_pct
        if self.tx is None or ceiling is None:
            return self.feasible
        return self.feasible & (self.tx <= ceiling + 1e-9)

    def best(self) -> int:
        """The lowest drain among the allowed (with transmission as the objective: among the least transmitting),
        within ``energy_tolerance`` of it the least off-target; without any allowed, the least transmitting of
        those reaching the target; without any of those, the highest coverage, then the lowest drain."""
        ok = self.allowed()
        if not ok.any() and self.feasible.any():
            ok = self.feasible & (self.tx <= np.nanmin(self.tx[self.feasible]) + 1e-9)
        elif ok.any() and self.tx is not None and self.cfg.objective == "transmission":
            ok = ok & (self.tx <= np.nanmin(self.tx[ok]) + 1e-9)
        if not ok.any():
            return int(np.lexsort((self.drain, -np.round(self.cov, 6)))[0])
        near = ok & (self.drain <= self.drain[ok].min() * (1 + self.cfg.energy_tolerance) + 1e-12)
        return int(np.lexsort((self.drain, self.off, ~near))[0])


def _option_transmission(model: TherapyModel, lead: int, options: list[_Option], f: float,
                         cfg: OptimizerConfig) -> list[tuple[int, float, int]]:
    """(C neurons, transmission %, C neurons simulated) of each option of one lead, configuration and pulse width:
    its C neurons tabled once, up to twice the highest amplitude (the screen's reach) within the device's."""
    ipg = model.implant.ipg()
    o0 = options[0]
    site = model.site(lead, cfg.posture)
    probe = LeadSettings(contacts=o0.contacts, amplitude_ma=0.0, pulse_width_us=o0.pw, frequency_hz=f, enabled=False)
    wf = model.lead_waveform(probe, site.impedance_ohm(o0.contacts))
    ceiling = min(ipg.amplitude_ma.maximum, max(o.amp for o in options) / SCREEN_RATIO)
    c = site.kinds == C_KIND
    thr = site.table(o0.contacts, wf, ceiling, kinds=(C_KIND,)).threshold_ma[c] if c.any() else np.zeros(0)
    out = []
    for o in options:
        s = probe.model_copy(update={"amplitude_ma": o.amp, "enabled": True})
        x = lead_transmission(model, lead, s, cfg.posture, thr, ceiling, cfg.transmission_duration_s)
        out.append((x.c_neurons, x.transmitted_pct, x.simulated))
    return out


def _transmission(search: _Search, model: TherapyModel, f: float, cfg: OptimizerConfig) -> tuple[int, int]:
    """Evaluate the surviving options' transmission into ``search``: (options evaluated, C neurons simulated)."""
    per_option: list[dict[int, tuple[int, float]]] = []
    n_options = n_simulated = 0
    for k, (opts, keep) in enumerate(zip(search.per_lead, search.survivors()), start=1):
        known: dict[int, tuple[int, float]] = {}
        groups: dict[tuple, list[int]] = {}
        for i in sorted(keep):
            if opts[i] is not None:
                groups.setdefault((opts[i].contacts, opts[i].pw), []).append(i)
        for members in groups.values():
            if model.system != System.DRG:  # no DRG neuron: unchanged by construction
                known.update({i: (0, 100.0) for i in members})
                continue
            for i, (n_c, pct, sim) in zip(members, _option_transmission(model, k, [opts[i] for i in members], f,
                                                                        cfg)):
                known[i] = (n_c, pct)
                n_simulated += sim
        n_options += sum(len(m) for m in groups.values())
        per_option.append(known)
    search.set_transmission(per_option)
    return n_options, n_simulated


def optimize(model: TherapyModel, cfg: OptimizerConfig = OptimizerConfig(), progress=None) -> OptimizationResult:
    """The lowest-energy program reaching ``cfg.target_coverage_pct`` without motor activation;
    ``progress(what, done, total)`` hears of every threshold table."""
    t0 = time.perf_counter()
    ipg, system = model.implant.ipg(), model.system
    f = ipg.check_parameter("frequency_hz", cfg.frequency_hz or system_spec(system).frequency_hz, "frequency_hz")
    widths = [ipg.check_parameter("pulse_width_us", w, "pulse_widths_us")
              for w in (cfg.pulse_widths_us or system_spec(system).pulse_widths_us)]
    configs = [tuple(as_contacts(c)) for c in cfg.configurations or candidate_configurations(ipg.contacts_per_lead)]
    for c in configs:
        if len(c) != ipg.contacts_per_lead:
            raise ValueError(f"configurations entry {contacts_label(c)!r} has {len(c)} contacts; "
                             f"allowed: {ipg.contacts_per_lead}")
    groups = groups_of(model)
    region_map = RegionMap(groups)
    n_leads = len(model.implant.leads)
    raw: list[list[_Option]] = [[] for _ in range(n_leads)]
    tabled: set[tuple[int, tuple[ContactState, ...], float]] = set()

    def table_all(jobs, stage):
        label = f"{system.value.upper()} optimizer, {stage}"
        for i, (lead, c, w) in enumerate(jobs):
            if progress:
                progress(label, i, len(jobs))
            raw[lead - 1] += _lead_options(model, lead, c, w, f, cfg, groups)
            tabled.add((lead, c, w))
        if progress and jobs:
            progress(label, len(jobs), len(jobs))

    table_all([(k, c, widths[0]) for k in range(1, n_leads + 1) for c in configs],
              f"configurations at {widths[0]:g} us")
    per_lead = [[None] + _prune(r) for r in raw]
    search = _Search(per_lead, region_map, model, cfg)
    if cfg.refine_top and len(widths) > 1:
        choice = search.idx[search.best()]
        jobs = []
        for k in range(1, n_leads + 1):
            chosen = per_lead[k - 1][choice[k - 1]]
            ranked = sorted((o for o in per_lead[k - 1] if o), key=lambda o: o.drain / max(o.abeta_share, 1e-9))
            picked = list(dict.fromkeys(([chosen.contacts] if chosen else []) + [o.contacts for o in ranked]))
            jobs += [(k, c, w) for c in picked[:cfg.refine_top] for w in widths[1:] if (k, c, w) not in tabled]
        table_all(jobs, "pulse widths")
        per_lead = [[None] + _prune(r) for r in raw]
        search = _Search(per_lead, region_map, model, cfg)
    evaluated = _transmission(search, model, f, cfg) if cfg.uses_transmission else (0, 0)
    return _result(model, cfg, search, search.best(), len(tabled), sum(len(r) for r in raw), f, evaluated,
                   time.perf_counter() - t0)


def _result(model, cfg, search: _Search, best: int, n_tables, n_options, f, evaluated, seconds):
    ipg = model.implant.ipg()
    per_lead, choice, n, n_feasible = search.per_lead, search.idx[best], search.n, int(search.feasible.sum())
    cov, off, drain = float(search.cov[best]), float(search.off[best]), float(search.drain[best])
    leads, choices = {}, []
    off_config = "+-" + "0" * (ipg.contacts_per_lead - 2)
    for k, (opts, i) in enumerate(zip(per_lead, choice), start=1):
        o = opts[i]
        if o is None:
            leads[k] = LeadSettings(contacts=off_config, amplitude_ma=0.0, pulse_width_us=ipg.default_pulse_width_us,
                                    frequency_hz=f, enabled=False)
            choices.append(LeadChoice(lead=k, enabled=False, contacts=None, amplitude_ma=0.0, pulse_width_us=None,
                                      abeta_share=0.0, battery_drain_ua=0.0))
        else:
            leads[k] = LeadSettings(contacts=o.contacts, amplitude_ma=o.amp, pulse_width_us=o.pw, frequency_hz=f,
                                    enabled=True)
            choices.append(LeadChoice(lead=k, enabled=True, contacts=contacts_label(o.contacts), amplitude_ma=o.amp,
                                      pulse_width_us=o.pw, abeta_share=round(o.abeta_share, 4),
                                      battery_drain_ua=round(o.drain, 4)))
    met = cov >= cfg.target_coverage_pct - 1e-9
    program = Program(name=f"{model.system.value}-optimized", leads=leads)
    why = [f"{n_tables} threshold tables ({cfg.posture.value}), {n_options} amplitude options without motor "
           f"activation within the device's limits, {n} lead combinations, {n_feasible} reach "
           f"{cfg.target_coverage_pct:g}% pain coverage."]
    if met:
        why.append(f"Chosen: the lowest battery drain ({drain:.2f} uA for stimulation) among them, and within "
                   f"{100 * cfg.energy_tolerance:g}% of it the least off-target stimulation ({off:.1f}%).")
    else:
        why.append(f"No program reaches {cfg.target_coverage_pct:g}%: chosen the highest coverage ({cov:.1f}%), "
                   f"then the lowest drain ({drain:.2f} uA).")
    tx, tx_met = None, None
    if search.tx is not None:
        tx = round(float(search.tx[best]), 2)
        tx_met = None if cfg.max_transmission_pct is None else bool(search.allowed().any())
        why.append(_transmission_line(cfg, search, tx, tx_met, evaluated, model.system))
    for c, lead in zip(choices, model.implant.leads):
        where = f"lead {c.lead} ({lead.level.value} {lead.side.value})"
        why.append(f"{where}: off, not needed for the target." if not c.enabled else
                   f"{where}: {c.contacts} at {c.amplitude_ma:g} mA, {c.pulse_width_us:g} us, {f:g} Hz activates "
                   f"{100 * c.abeta_share:.0f}% of its A-beta fibres.")
    return OptimizationResult(system=model.system, program=program, target_coverage_pct=cfg.target_coverage_pct,
                              target_met=bool(met), pain_coverage_pct=round(float(cov), 2),
                              off_target_pct=round(float(off), 2), stimulation_drain_ua=round(float(drain), 4),
                              leads=choices, tables=n_tables, options=n_options, combinations=n, feasible=n_feasible,
                              nociceptive_transmission_pct=tx, transmission_met=tx_met,
                              transmission_options=evaluated[0], c_neurons_simulated=evaluated[1],
                              explanation=why, config=cfg, seconds=round(seconds, 2))


def _transmission_line(cfg: OptimizerConfig, search: _Search, tx: float, met: bool | None, evaluated,
                       system: System) -> str:
    """What the transmission criterion did, in words."""
    what = (f"Nociceptive transmission evaluated for {evaluated[0]} options of combinations reaching the target "
            f"({evaluated[1]} C neurons simulated, the others below {SCREEN_RATIO:g} x their threshold); the "
            f"program's: {tx:g}%")
    if system != System.DRG:
        what += " (SCS does not act on the ganglion: unchanged by construction)"
    if cfg.objective == "transmission":
        what += "; chosen among the least transmitting"
    if met is False:
        what += f"; no program reaching the target keeps it at or below {cfg.max_transmission_pct:g}%: chosen the " \
                "least transmitting"
    elif met:
        what += f"; {int(search.allowed().sum())} combinations keep it at or below {cfg.max_transmission_pct:g}%"
    return what + "."
