"""A day of postures, open loop against closed loop: time in the therapeutic window, overstimulation, energy.

The day (a YAML file, ``examples/day.yaml``) is a series of segments, each holding a posture for some minutes and
entered from the previous posture by a linear transition of ``transition_s`` seconds (counted in the segment).
Per posture the physics gives a ``PostureResponse``: the ECAP growth curve of the controlled lead (peak-to-peak
uV against amplitude; ``drgsim.therapy.ecap``) and that lead's perception and discomfort thresholds (the twin's
outcomes, ``drgsim.therapy.outcomes``: the lowest amplitude that fires an A-beta fibre, and the lowest that fires
a discomfort cell). During a transition the responses are interpolated linearly between the two postures: the
ECAP at a given amplitude and both thresholds.

Open loop delivers the programmed amplitude all day. Closed loop programs a device controller
(``drgsim.devices.closedloop``) on the lead (``set_closed_loop``, a clinician action in the device log) and runs
it: ``pi`` holds the ECAP at the response of the programmed amplitude in the programming posture (sitting by
default, as EVOKE's programming visits; Evoke; Mekhail et al. 2020, 2022, 2024), ``ceiling`` lowers the current
while the ECAP is above that response and restores the programmed amplitude when it is not (Inceptiv; Medtronic
2023). Controller settings [drgsim's programming rule]: the integral gain corrects ``LOOP_RATE_PER_S`` of the ECAP
error per second at the programming posture's growth slope; the deadband is half the largest ECAP change of one
device step at the target over the day's postures, so that the loop can rest on the grid; the ceiling mode restores
``RESTORE_STEPS_PER_S`` device steps per second.

Outcomes, per loop, over the simulated ticks (1 s):
- ``time_in_window_pct``: share of the day with perception <= delivered amplitude <= discomfort, both thresholds
  of the posture at that time (measured in amplitude against each posture's thresholds; EVOKE reports the same
  quantity as "time in the therapeutic window", Mekhail 2022: median 93.9% closed loop);
- ``overstimulation_events``: entries from at or below discomfort to above it (a day that starts above counts one);
- ``average_current_ua``: the program's stimulation current averaged over the day (I * PW * f, every enabled lead,
  ``drgsim.devices.battery``); ``battery_mah_per_day``: what the device's battery gave over the day, per 24 h.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drgsim.anatomy.posture import Posture
from drgsim.devices.battery import stimulation_current_ua
from drgsim.devices.closedloop import MODES, CeilingControl, Controller, LoopTrace, PIControl, loop_bounds, run_loop
from drgsim.devices.controller import ClinicianProgrammer
from drgsim.devices.hardware import get_ipg_model
from drgsim.devices.ipg import ImplantedLead, Neurostimulator
from drgsim.devices.program import ContactState, PatientLimits, Program, config_is_valid
from drgsim.devices.programfile import LeadSpec, ProgramFile, ProgramSpec, build_device
from drgsim.errors import validation_message
from drgsim.therapy.ecap import growth_curves, stimulating_lead
from drgsim.therapy.model import TherapyModel
from drgsim.therapy.outcomes import evaluate_posture

TICK_S = 1.0  # the day's simulation step (s)
LOOP_RATE_PER_S = 0.5  # share of the ECAP error the PI loop corrects per second [drgsim's setting]
RESTORE_STEPS_PER_S = 1  # ceiling mode: device steps per second back toward the programmed amplitude [drgsim]
MAX_DAY_MIN = 1440.0
_MODEL = ConfigDict(extra="forbid")


class DaySegment(BaseModel):
    """One posture held for ``minutes``, entered over ``transition_s`` seconds (part of the minutes)."""

    model_config = _MODEL

    posture: Posture
    minutes: float = Field(gt=0, le=MAX_DAY_MIN)
    transition_s: float = Field(0.0, ge=0, le=600)

    @model_validator(mode="after")
    def _transition_fits(self):
        if self.transition_s > 60 * self.minutes:
            raise ValueError(f"transition_s={self.transition_s:g} is longer than the segment ({self.minutes:g} "
                             f"minutes); allowed: 0-{60 * self.minutes:g} s")
        return self


class Day(BaseModel):
    """A day as postures over time; segments add up to at most 24 h."""

    model_config = _MODEL

    name: str = Field("day", min_length=1, max_length=80)
    segments: list[DaySegment] = Field(min_length=1)

    @model_validator(mode="after")
    def _at_most_a_day(self):
        total = sum(s.minutes for s in self.segments)
        if total > MAX_DAY_MIN + 1e-9:
            raise ValueError(f"segments add up to {total:g} minutes; allowed: at most {MAX_DAY_MIN:g} (24 h)")
        return self

    @property
    def minutes(self) -> float:
        return sum(s.minutes for s in self.segments)

    def postures(self) -> list[Posture]:
        """The postures of the day, each once, in order of first appearance."""
        return list(dict.fromkeys(s.posture for s in self.segments))


def load_day(path: str | Path) -> Day:
    """Read a day file; a ValueError names the field, the value and what is allowed."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ValueError(err.strerror) from None
    except yaml.YAMLError as err:
        raise ValueError(f"not YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError("a day file is a mapping with 'segments' (a list of posture, minutes, "
                         "transition_s)")
    try:
        return Day.model_validate(data)
    except ValidationError as err:
        raise ValueError(validation_message(err)) from None


class PostureResponse(BaseModel):
    """The controlled lead in one posture: its ECAP growth curve and its perception and discomfort thresholds
    (None: no discomfort cell fires within the device's range)."""

    model_config = _MODEL

    amplitudes_ma: list[float] = Field(min_length=2)
    ecap_uv: list[float] = Field(min_length=2)
    perception_threshold_ma: float = Field(gt=0)
    discomfort_threshold_ma: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _curve(self):
        a, e = np.asarray(self.amplitudes_ma), np.asarray(self.ecap_uv)
        if len(a) != len(e):
            raise ValueError(f"ecap_uv has {len(e)} values; allowed: one per amplitude ({len(a)})")
        if np.any(np.diff(a) <= 0) or a[0] < 0:
            raise ValueError("amplitudes_ma: allowed: increasing values >= 0")
        if np.any(e < 0) or not np.all(np.isfinite(e)):
            raise ValueError("ecap_uv: allowed: finite values >= 0")
        if self.discomfort_threshold_ma is not None and self.discomfort_threshold_ma <= self.perception_threshold_ma:
            raise ValueError(f"discomfort_threshold_ma={self.discomfort_threshold_ma:g}: allowed: above "
                             f"perception_threshold_ma={self.perception_threshold_ma:g}")
        return self

    def ecap_at(self, amplitude_ma: np.ndarray) -> np.ndarray:
        return np.interp(amplitude_ma, self.amplitudes_ma, self.ecap_uv)


@dataclass(frozen=True)
class Timeline:
    """Per tick: the posture moved from, the posture moved to, and how far (0-1) the move has gone."""

    tick_s: float
    frm: np.ndarray
    to: np.ndarray
    w: np.ndarray
    postures: list[Posture]

    @property
    def n(self) -> int:
        return len(self.w)

    def mix(self, per_posture: np.ndarray) -> np.ndarray:
        """Values per posture (postures first) interpolated to every tick (inf, no threshold, stays inf)."""
        v = np.asarray(per_posture, dtype=float)
        with np.errstate(invalid="ignore"):  # 0 * inf in the branch np.where drops
            return np.where(self.w >= 1, v[self.to], (1 - self.w) * v[self.frm] + self.w * v[self.to])


def timeline(day: Day, tick_s: float = TICK_S) -> Timeline:
    """The day on ticks of ``tick_s``: segment edges on the tick grid, transitions linear in time."""
    postures = day.postures()
    idx = {p: i for i, p in enumerate(postures)}
    edges = np.rint(np.cumsum([0.0] + [60 * s.minutes for s in day.segments]) / tick_s).astype(int)
    n = int(edges[-1])
    if n < 1:
        raise ValueError(f"the day lasts {60 * day.minutes:g} s; allowed: at least one tick of {tick_s:g} s")
    frm, to, w = np.empty(n, dtype=int), np.empty(n, dtype=int), np.ones(n)
    prev = idx[day.segments[0].posture]
    for seg, a, b in zip(day.segments, edges[:-1], edges[1:]):
        frm[a:b], to[a:b] = prev, idx[seg.posture]
        t = (np.arange(a, b) - a + 0.5) * tick_s  # the middle of each tick
        w[a:b] = np.clip(t / seg.transition_s, 0, 1) if seg.transition_s > 0 else 1.0
        prev = idx[seg.posture]
    return Timeline(tick_s=tick_s, frm=frm, to=to, w=w, postures=postures)


class LoopOutcome(BaseModel):
    """One loop's day (see the module docstring for each number)."""

    model_config = _MODEL

    time_in_window_pct: float
    below_perception_pct: float
    above_discomfort_pct: float
    overstimulation_events: int
    average_current_ua: float
    battery_mah_per_day: float
    mean_amplitude_ma: float
    ecap_error_uv: float  # mean |ECAP - target| over the day
    adjustments: int  # device events of the controller (0 open loop)


class DayOutcome(BaseModel):
    """Open loop against closed loop on one device, program and day (the ``drgsim closedloop`` contract)."""

    model_config = _MODEL

    system: str
    day: str
    hours: float
    tick_s: float
    lead: int
    programmed_amplitude_ma: float
    programming_posture: Posture
    target_uv: float
    mode: str
    controller: dict
    bounds_ma: tuple[float, float]
    open_loop: LoopOutcome
    closed_loop: LoopOutcome


@dataclass(frozen=True)
class DayRun:
    """The outcome and what the figure draws: per tick, the thresholds and both loops' amplitude and ECAP."""

    outcome: DayOutcome
    timeline: Timeline
    perception_ma: np.ndarray
    discomfort_ma: np.ndarray
    open_loop: LoopTrace
    closed_loop: LoopTrace
    responses: dict[Posture, PostureResponse]
    device: Neurostimulator  # the closed loop's device, its log holding every adjustment


def window_stats(amplitude_ma: np.ndarray, perception_ma: np.ndarray,
                 discomfort_ma: np.ndarray) -> tuple[float, float, float, int]:
    """Time in the window, below it and above it (%), and the entries above discomfort."""
    below = amplitude_ma < perception_ma - 1e-9
    above = amplitude_ma > discomfort_ma + 1e-9
    inside = ~below & ~above
    entries = int(above[0]) + int(np.count_nonzero(above[1:] & ~above[:-1]))
    pct = lambda x: round(100.0 * float(np.mean(x)), 3)  # noqa: E731
    return pct(inside), pct(below), pct(above), entries


def programmed_device(ipg_model: str, implant: list[ImplantedLead], program: Program, lead: int,
                      limits_ma: tuple[float, float]) -> Neurostimulator:
    """A device with ``program`` set by a clinician (charge-density warnings accepted), ``lead`` given the
    closed-loop window ``limits_ma`` as its patient limits, the program selected and therapy on."""
    specs = {k: LeadSpec(contacts=s.contacts, amplitude_ma=s.amplitude_ma, pulse_width_us=s.pulse_width_us,
                         frequency_hz=s.frequency_hz, recharge=s.recharge, enabled=s.enabled,
                         patient_limits=PatientLimits(min_amplitude_ma=limits_ma[0],
                                                      max_amplitude_ma=limits_ma[1]) if k == lead else None,
                         density_override=True) for k, s in program.leads.items()}
    pf = ProgramFile(device=ipg_model, implant=implant, programs=[ProgramSpec(name=program.name, leads=specs,
                     cycle_on_s=program.cycle_on_s, cycle_off_s=program.cycle_off_s)])
    dev, problems = build_device(pf, clinician="closed-loop programming")
    cp = ClinicianProgrammer(dev, "closed-loop programming")
    for step in (lambda: cp.select_program(program.name), cp.therapy_on):
        if not problems and not (res := step()).accepted:
            problems.append(f"{res.event.action} refused: {res.reason}")
    if problems:
        raise ValueError("the device refuses the program: " + "; ".join(problems))
    return dev


def _controller(mode: str, resp: list[PostureResponse], prog_idx: int, allowed: np.ndarray,
                programmed: float) -> tuple[Controller, float]:
    """The controller a clinician would program (see the module docstring) and its target (uV)."""
    ref = resp[prog_idx]
    target = float(ref.ecap_at(programmed))
    if target <= 0:
        raise ValueError(f"the programmed amplitude {programmed:g} mA evokes no ECAP in the programming posture "
                         f"(ECAP threshold above it); closed loop needs a measurable response to hold")
    step = round(float(np.min(np.diff(allowed))), 9)
    slope = (ref.ecap_at(programmed + step) - ref.ecap_at(programmed - step)) / (2 * step)
    jumps = []
    for r in resp:
        e = r.ecap_at(allowed)
        k = int(np.searchsorted(e, target))
        if 0 < k < len(e):
            jumps.append(e[k] - e[k - 1])
    deadband = 0.5 * max(jumps, default=0.0) * (1 + 1e-6)
    ki = LOOP_RATE_PER_S / max(slope, 1e-9)
    if mode == "pi":
        return PIControl(target_uv=target, ki_ma_per_uv_s=min(ki, 10.0), deadband_uv=deadband), target
    return CeilingControl(ceiling_uv=target, k_down_ma_per_uv_s=min(ki, 10.0), deadband_uv=deadband,
                          restore_ma_per_s=RESTORE_STEPS_PER_S * step), target


def run_day(day: Day, responses: dict[Posture | str, PostureResponse], program: Program, ipg_model: str,
            implant: list[ImplantedLead], *, lead: int | None = None, mode: str = "pi",
            programming_posture: Posture | str = Posture.SITTING, limits_ma: tuple[float, float] | None = None,
            tick_s: float = TICK_S) -> DayRun:
    """``program`` through ``day`` open loop and closed loop (``mode`` pi or ceiling) on ``lead`` (default: the
    first enabled lead), whose clinician window is ``limits_ma`` (default: from the device's minimum to the highest
    amplitude every growth curve reaches, on the device grid)."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: allowed: {', '.join(MODES)}")
    responses = {Posture(p): PostureResponse.model_validate(r) for p, r in responses.items()}
    programming_posture = Posture(programming_posture)
    tl = timeline(day, tick_s)
    missing = [p.value for p in {*tl.postures, programming_posture} if p not in responses]
    if missing:
        raise ValueError(f"responses: no response for posture(s) {', '.join(sorted(missing))}")
    lead = stimulating_lead(program, lead)
    grid = get_ipg_model(ipg_model).amplitude_ma
    top = min(responses[p].amplitudes_ma[-1] for p in {*tl.postures, programming_posture})
    limits_ma = limits_ma or (grid.minimum, grid.floor(min(top, grid.maximum)))
    dev = programmed_device(ipg_model, implant, program, lead, limits_ma)
    lo, hi = loop_bounds(dev, program.name, lead)
    allowed = grid.grid[(grid.grid >= lo - 1e-9) & (grid.grid <= hi + 1e-9)]
    order = [*tl.postures, programming_posture]
    resp = [responses[p] for p in order]
    for p, r in zip(order, resp):
        if r.amplitudes_ma[-1] < hi - 1e-9 or r.amplitudes_ma[0] > lo + 1e-9:
            raise ValueError(f"responses.{p.value}.amplitudes_ma spans {r.amplitudes_ma[0]:g}-"
                             f"{r.amplitudes_ma[-1]:g} mA; allowed: covering the loop's range {lo:g}-{hi:g} mA")
    programmed = program.leads[lead].amplitude_ma
    controller, target = _controller(mode, resp, len(order) - 1, allowed, programmed)
    ClinicianProgrammer(dev, "closed-loop programming").set_closed_loop(program.name, lead,
                                                                        controller).raise_if_rejected()
    table = np.array([r.ecap_at(allowed) for r in resp[:-1]])  # ECAP per posture at every deliverable amplitude
    where = {float(a): j for j, a in enumerate(allowed)}
    frm, to, w = tl.frm.tolist(), tl.to.tolist(), tl.w.tolist()
    rows = table.tolist()

    def measure(i: int, amplitude_ma: float) -> float:
        j = where[amplitude_ma]
        return (1 - w[i]) * rows[frm[i]][j] + w[i] * rows[to[i]][j]

    closed = run_loop(dev, program.name, lead, measure, tl.n, tick_s)
    open_dev = programmed_device(ipg_model, implant, program, lead, limits_ma)
    open_dev.advance(tl.n * tick_s / 3600.0)
    opened = LoopTrace(tick_s=tick_s, amplitude_ma=np.full(tl.n, programmed),
                       ecap_uv=tl.mix(table[:, where[programmed]]), bounds_ma=(programmed, programmed), events=0)
    perception = tl.mix([r.perception_threshold_ma for r in resp[:-1]])
    discomfort = tl.mix([np.inf if r.discomfort_threshold_ma is None else r.discomfort_threshold_ma
                         for r in resp[:-1]])
    outcome = DayOutcome(
        system=dev.model.system.value, day=day.name, hours=round(tl.n * tick_s / 3600, 4), tick_s=tick_s, lead=lead,
        programmed_amplitude_ma=programmed, programming_posture=programming_posture, target_uv=round(target, 3),
        mode=mode, controller=controller.model_dump(), bounds_ma=(lo, hi),
        open_loop=_loop_outcome(opened, open_dev, program, lead, perception, discomfort, target),
        closed_loop=_loop_outcome(closed, dev, program, lead, perception, discomfort, target))
    return DayRun(outcome=outcome, timeline=tl, perception_ma=perception, discomfort_ma=discomfort,
                  open_loop=opened, closed_loop=closed, responses=dict(zip(order, resp)), device=dev)


def _loop_outcome(trace: LoopTrace, dev: Neurostimulator, program: Program, lead: int, perception: np.ndarray,
                  discomfort: np.ndarray, target: float) -> LoopOutcome:
    inside, below, above, entries = window_stats(trace.amplitude_ma, perception, discomfort)
    current = sum(stimulation_current_ua(trace.amplitude_ma if k == lead else s.amplitude_ma, s.pulse_width_us,
                                         s.frequency_hz, s.recharge) for k, s in program.enabled_leads().items())
    hours = len(trace.amplitude_ma) * trace.tick_s / 3600.0
    return LoopOutcome(
        time_in_window_pct=inside, below_perception_pct=below, above_discomfort_pct=above,
        overstimulation_events=entries,
        average_current_ua=round(float(np.mean(current)) * program.duty_cycle, 3),
        battery_mah_per_day=round(dev.state.battery.used_mah * 24.0 / hours, 4),
        mean_amplitude_ma=round(float(np.mean(trace.amplitude_ma)), 4),
        ecap_error_uv=round(float(np.mean(np.abs(trace.ecap_uv - target))), 3), adjustments=trace.events)


def day_figure(run: DayRun, path: Path) -> Path:
    """ECAP and delivered current against time, open and closed loop, over the posture thresholds; and the ECAP
    growth curve of each posture with its perception and discomfort thresholds."""
    from drgsim.therapy.report import _figure

    o = run.outcome
    hours = (np.arange(run.timeline.n) + 0.5) * run.timeline.tick_s / 3600.0
    fig = _figure((11, 7.5))
    ecap_ax, amp_ax, growth_ax = fig.subplots(3, 1, height_ratios=(1, 1, 1.2))
    for trace, label, colour in ((run.open_loop, "open loop", "tab:grey"), (run.closed_loop, f"closed loop "
                                 f"({o.mode})", "tab:blue")):
        ecap_ax.plot(hours, trace.ecap_uv, color=colour, linewidth=0.9, label=label)
        amp_ax.plot(hours, trace.amplitude_ma, color=colour, linewidth=0.9, label=label)
    ecap_ax.axhline(o.target_uv, color="black", linestyle=":", linewidth=1, label=f"target {o.target_uv:.3g} uV")
    ecap_ax.set_ylabel("ECAP (uV p-p)")
    ecap_ax.set_title(f"{o.system.upper()} lead {o.lead} through '{o.day}': time in window "
                      f"{o.open_loop.time_in_window_pct:.1f}% open loop, {o.closed_loop.time_in_window_pct:.1f}% "
                      f"closed loop")
    top = 1.25 * max(run.closed_loop.amplitude_ma.max(), run.open_loop.amplitude_ma.max(), run.perception_ma.max())
    amp_ax.fill_between(hours, run.perception_ma, np.minimum(run.discomfort_ma, top), color="tab:green", alpha=0.15,
                        label="therapeutic window (perception-discomfort)")
    amp_ax.set_ylim(0, top)
    amp_ax.set_ylabel("current (mA)")
    amp_ax.set_xlabel("time of day (h)")
    for ax in (ecap_ax, amp_ax):
        ax.legend(fontsize=7, loc="upper right")
    for posture, r in run.responses.items():
        line, = growth_ax.plot(r.amplitudes_ma, r.ecap_uv, label=posture.value)
        growth_ax.axvline(r.perception_threshold_ma, color=line.get_color(), linestyle=":", linewidth=1)
        if r.discomfort_threshold_ma is not None:
            growth_ax.axvline(r.discomfort_threshold_ma, color=line.get_color(), linestyle="--", linewidth=1)
    growth_ax.set_xlim(0, max(o.bounds_ma[1], o.programmed_amplitude_ma) * 1.05)
    growth_ax.set_xlabel("amplitude (mA); dotted: perception, dashed: discomfort")
    growth_ax.set_ylabel("ECAP (uV p-p)")
    growth_ax.set_title("ECAP growth curve per posture")
    growth_ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    return path


def implant_of(model: TherapyModel, program: Program, posture: Posture) -> list[ImplantedLead]:
    """The implant as the device sees it: each lead with the impedance of its configuration in ``program`` in
    ``posture`` (a lead without a + and a -: its contacts 1 and 2 as a bipole)."""
    out = []
    for k, plan in enumerate(model.implant.leads, start=1):
        contacts = program.leads[k].contacts
        if not config_is_valid(contacts):
            contacts = [ContactState.CATHODE, ContactState.ANODE] + [ContactState.OFF] * (len(contacts) - 2)
        out.append(ImplantedLead(lead=k, lead_model=plan.lead_model,
                                 impedance_ohm=model.site(k, posture).impedance_ohm(contacts)))
    return out


def simulate_day(model: TherapyModel, program: Program, day: Day, *, mode: str = "pi",
                 programming_posture: Posture | str = Posture.SITTING, lead: int | None = None,
                 progress=None) -> DayRun:
    """``program`` on ``model``'s patient through ``day``, open and closed loop on ``lead`` (default its first
    enabled lead), the loop's target set in ``programming_posture``: each posture's response from the physics
    (``responses_for``; ``progress`` hears of its growth curves), the device as implanted (``implant_of``), then
    ``run_day``."""
    programming_posture = Posture(programming_posture)
    lead = stimulating_lead(program, lead)
    postures = list(dict.fromkeys([*day.postures(), programming_posture]))
    return run_day(day, responses_for(model, program, postures, lead, progress), program, model.implant.ipg_model,
                   implant_of(model, program, programming_posture), lead=lead, mode=mode,
                   programming_posture=programming_posture)


def responses_for(model: TherapyModel, program: Program, postures: list[Posture], lead: int,
                  progress=None) -> dict[Posture, PostureResponse]:
    """Each posture's response of ``lead``: its ECAP growth curve (``drgsim.therapy.ecap.growth_curves``, the ECAP
    physics of issue 16 part 1; 0 uV at 0 mA added in front) and its perception and discomfort thresholds
    (``evaluate_posture``)."""
    growth = growth_curves(model, program, postures=postures, lead=lead, progress=progress)
    out = {}
    for p in postures:
        la = next(x for x in evaluate_posture(model, program, p).leads if x.lead == lead)
        if la.perception_threshold_ma is None:
            raise ValueError(f"lead {lead} in {p.value}: no A-beta fibre fires within the device's range, so there "
                             f"is no therapeutic window to stay in")
        g = growth.postures[p.value]
        start = [] if g.amplitudes_ma[0] == 0 else [0.0]  # no stimulus, no ECAP
        out[p] = PostureResponse(amplitudes_ma=start + g.amplitudes_ma, ecap_uv=start + g.ecap_uv,
                                 perception_threshold_ma=la.perception_threshold_ma,
                                 discomfort_threshold_ma=la.discomfort_threshold_ma)
    return out
