"""CLI: ``drgsim demo``, ``compare``, ``optimize``, ``simulate``, ``ecap`` and ``closedloop`` (registered in
``drgsim.cli``)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from drgsim.anatomy.patient import Patient, load_patient
from drgsim.anatomy.posture import Posture
from drgsim.clierrors import fail
from drgsim.devices.program import Program
from drgsim.errors import flag, validation_message
from drgsim.therapy.compare import Comparison, compare
from drgsim.therapy.ecap import EcapGrowth, RecordingChain, growth_curves
from drgsim.therapy.model import (
    POPULATION_SCALE_RANGE,
    QUALITY,
    Implant,
    LeadPlan,
    System,
    TherapyModel,
    plan_implant,
    quality,
)
from drgsim.therapy.optimize import OptimizationResult, OptimizerConfig, optimize
from drgsim.therapy.outcomes import Outcome, evaluate
from drgsim.therapy.report import display_value

console = Console(stderr=True)
QualityName = Annotated[str, typer.Option("--quality", help=f"Meshes and population sizes: {', '.join(QUALITY)}.")]
TargetOption = Annotated[float, typer.Option(help="Pain coverage the optimizer must reach (%).")]
COMPARE_STAGES = 8  # per system: fields, optimizer (configurations, pulse widths), outcomes


class _Bars:
    """``progress(what, done, total)`` on rich progress bars, one bar per stage under an overall bar of
    ``stages`` stages with the time left; where standard error is no terminal (redirected), a plain line as each
    stage starts and ends instead."""

    def __init__(self, progress: Progress, stages: int):
        self.progress, self.tasks, self.stages = progress, {}, stages
        self.live = progress.console.is_terminal
        self.overall = progress.add_task("overall (stages)", total=stages) if self.live else None
        self.started: dict[str, float] = {}
        self.ended: set[str] = set()

    def __call__(self, what: str, done: int, total: int) -> None:
        if what not in self.tasks:
            for name, task in self.tasks.items():
                self._finish(name, task)
            self.tasks[what] = self.progress.add_task(what, total=total, visible=self.live)
            self.started[what] = time.perf_counter()
            if not self.live:
                self.progress.console.print(f"{what}: started ({total})", highlight=False)
        self.progress.update(self.tasks[what], completed=done, total=total)
        if self.live:
            self.progress.update(self.overall, completed=len(self.tasks) - 1 + (done / total if total else 1.0))
        if done == total and not self.live:
            self._finish(what, self.tasks[what])

    def _finish(self, what: str, task) -> None:
        if what in self.ended:
            return
        self.ended.add(what)
        self.progress.update(task, completed=self.progress.tasks[task].total)
        if not self.live:
            self.progress.console.print(f"{what}: done in {time.perf_counter() - self.started[what]:.0f} s",
                                        highlight=False)

    def close(self) -> None:
        for name, task in self.tasks.items():
            self._finish(name, task)
        if self.live:
            self.progress.update(self.overall, completed=self.stages)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn(), console=console, transient=False)


@contextlib.contextmanager
def _bars(stages: int):
    """Progress bars, with the library's warnings (a mesh that needed a retry) printed above them."""
    handler = RichHandler(console=console, show_time=False, show_path=False)
    logger = logging.getLogger("drgsim")
    logger.addHandler(handler)
    try:
        with _progress() as progress:
            bars = _Bars(progress, stages)
            yield bars
            bars.close()
    finally:
        logger.removeHandler(handler)


def _patient(source: str, as_json: bool) -> Patient:
    try:
        return load_patient(source)
    except (ValueError, OSError, yaml.YAMLError) as err:
        fail(f"--patient={source!r}: {err}".replace("\n", " "), as_json)


def _check_quality(name: str, as_json: bool) -> None:
    if name not in QUALITY:
        fail(f"--quality={name!r}: allowed: {', '.join(QUALITY)}", as_json)


def _checked(name: str, target: float, as_json: bool) -> tuple[str, OptimizerConfig]:
    _check_quality(name, as_json)
    try:
        return name, OptimizerConfig(target_coverage_pct=target)
    except ValidationError:
        fail(f"--target-coverage-pct={target}: allowed: > 0 and <= 100", as_json)


def _failed(err: RuntimeError, as_json: bool) -> None:
    """A computation that could not be done (not bad input): say what and exit 1."""
    if as_json:
        print(json.dumps({"error": str(err)}))
    console.print(f"[red]failed:[/red] {escape(str(err))}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _run_compare(patient: Patient, name: str, cfg: OptimizerConfig, as_json: bool,
                 population_scale: float = 1.0, day=None) -> Comparison:
    with _bars(COMPARE_STAGES) as bars:
        try:
            return compare(patient, name, cfg, progress=bars, population_scale=population_scale, day=day)
        except RuntimeError as err:
            _failed(err, as_json)
        except ValueError as err:
            fail(str(err), as_json)


def summary_table(cmp: Comparison) -> Table:
    d, s = cmp.drg.summary(), cmp.scs.summary()
    table = Table(title=f"DRG versus SCS: {cmp.patient_id}")
    table.add_column("measure")
    table.add_column("DRG", justify="right")
    table.add_column("SCS", justify="right")
    for key in ("pain_coverage_pct", "off_target_pct", "paresthesia_area_ratio", "c_fibers_activated",
                "motor_activated", "average_current_ua", "battery_years", "primary_cell_years",
                "recharge_interval_days", "posture_spread_pct"):
        table.add_row(key, display_value(d[key]), display_value(s[key]))
    for p in Posture:
        table.add_row(f"perception_threshold_ma ({p.value})", _r(d["perception_threshold_ma"][p.value]),
                      _r(s["perception_threshold_ma"][p.value]))
    if cmp.drg.closed_loop and cmp.scs.closed_loop:
        for loop in ("open_loop", "closed_loop"):
            table.add_row(f"time_in_window_pct ({loop.replace('_', ' ')}, day)",
                          *[display_value(getattr(r.closed_loop, loop).time_in_window_pct) for r in (cmp.drg, cmp.scs)])
    for c in cmp.claims:
        table.add_row(f"claim: {c.claim}", "supported" if c.supported else "not supported" if c.supported is False
                      else "undecided", c.measure)
    return table


def _r(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


PatientOption = Annotated[str, typer.Option(help="'default' or a JSON/YAML patient file (drgsim patient --out).")]


def _writable(out: Path, as_json: bool) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"--out={str(out)!r}: {err.strerror}", as_json)


def _write(cmp: Comparison, out: Path, t0: float, as_json: bool) -> dict:
    """report.html, figures, summary.json and comparison.json in ``out`` (``therapy.report.write_outputs``)."""
    from drgsim.therapy.report import write_outputs

    report, summary = write_outputs(cmp, out, time.perf_counter() - t0)
    if not as_json:
        console.print(f"report: {report}")
    return summary


def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("drgsim-out"),
    patient: PatientOption = "default",
    quality_name: QualityName = "standard",
    target_coverage_pct: TargetOption = 80.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json.")] = False,
) -> None:
    """The main job: DRG and SCS planned, optimized and simulated on a patient (default: the embedded one); writes
    report.html, figures, summary.json and comparison.json."""
    name, cfg = _checked(quality_name, target_coverage_pct, as_json)
    pat = _patient(patient, as_json)
    _writable(out, as_json)
    t0 = time.perf_counter()
    cmp = _run_compare(pat, name, cfg, as_json)
    summary = _write(cmp, out, t0, as_json)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        Console().print(summary_table(cmp))


def compare_cmd(
    patient: PatientOption = "default",
    quality_name: QualityName = "standard",
    target_coverage_pct: TargetOption = 80.0,
    out: Annotated[Optional[Path], typer.Option(help="Also write report.html, figures, summary.json and "
                                                     "comparison.json here.")] = None,
    population_scale: Annotated[float, typer.Option(help="Multiply every population of the quality (2: a "
                                                         "convergence check). Allowed: 0.1-10.")] = 1.0,
    day: Annotated[Optional[Path], typer.Option(help="Also run both systems through this YAML day of postures "
                                                     "(examples/day.yaml), open and closed loop (ECAP growth "
                                                     "curves in every posture: minutes).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """DRG versus SCS on one patient: optimized programs, coverage, energy, posture spread and the claims."""
    from drgsim.therapy.closedloop import load_day

    name, cfg = _checked(quality_name, target_coverage_pct, as_json)
    lo, hi = POPULATION_SCALE_RANGE
    if not lo <= population_scale <= hi:
        fail(f"--population-scale={population_scale}: allowed: {lo:g}-{hi:g}", as_json)
    pat = _patient(patient, as_json)
    try:
        schedule = load_day(day) if day is not None else None
    except ValueError as err:
        fail(f"--day={str(day)!r}: {err}", as_json)
    if out is not None:
        _writable(out, as_json)
    t0 = time.perf_counter()
    cmp = _run_compare(pat, name, cfg, as_json, population_scale, schedule)
    summary = _write(cmp, out, t0, as_json) if out is not None else cmp.summary()
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        Console().print(summary_table(cmp))


def optimize_cmd(
    system: Annotated[System, typer.Option(help="drg or scs.")],
    patient: PatientOption = "default",
    quality_name: QualityName = "standard",
    target_coverage_pct: TargetOption = 80.0,
    posture: Annotated[Posture, typer.Option(help="Programming posture.")] = Posture.SUPINE,
    objective: Annotated[str, typer.Option(help="energy: the lowest battery drain; transmission: the least "
                                                "nociceptive transmission through the ganglion (simulated C "
                                                "neurons), then the lowest drain.")] = "energy",
    max_transmission_pct: Annotated[Optional[float], typer.Option(help="Keep nociceptive transmission at or below "
                                                                       "this (%, 0-100).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the OptimizationResult as one JSON object (program, "
                                                         "pain_coverage_pct, stimulation_drain_ua, "
                                                         "nociceptive_transmission_pct, transmission_met, "
                                                         "explanation, ...).")] = False,
) -> None:
    """The optimizer alone: the program it chooses for one system, why, and (when asked for as the objective or
    a ceiling) its nociceptive transmission."""
    _check_quality(quality_name, as_json)
    try:
        cfg = OptimizerConfig(target_coverage_pct=target_coverage_pct, posture=posture, objective=objective,
                              max_transmission_pct=max_transmission_pct)
    except ValidationError as err:
        fail(validation_message(err, flag), as_json)
    pat = _patient(patient, as_json)
    model = TherapyModel(pat, plan_implant(pat, system), quality(quality_name))
    with _bars(1) as bars:
        try:
            result = optimize(model, cfg, bars)
        except RuntimeError as err:
            _failed(err, as_json)
        except ValueError as err:
            fail(str(err), as_json)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        Console().print(optimization_table(result))


def optimization_table(result: OptimizationResult) -> Table:
    table = Table(title=f"{result.system.value.upper()} optimizer ({result.config.objective})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("target_met", "pain_coverage_pct", "off_target_pct", "stimulation_drain_ua",
                "nociceptive_transmission_pct", "transmission_met"):
        table.add_row(key, display_value(getattr(result, key)))
    for c in result.leads:
        table.add_row(f"lead {c.lead}", f"{c.contacts} {c.amplitude_ma:g} mA {c.pulse_width_us:g} us" if c.enabled
                      else "off")
    for line in result.explanation:
        table.add_row("", escape(line))
    return table


class SimulationRequest(BaseModel):
    """A program file for ``drgsim simulate``: the system, optionally where its leads lie (default: as
    planned from the patient's pain map), and the program (a ``drgsim.devices`` Program)."""

    model_config = ConfigDict(extra="forbid")

    system: System
    ipg_model: str | None = None
    leads: list[LeadPlan] | None = Field(None, min_length=1)
    program: Program
    postures: list[Posture] = Field(default_factory=lambda: list(Posture), min_length=1)


def _request(path: Path, as_json: bool) -> SimulationRequest:
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return SimulationRequest.model_validate(data)
    except OSError as err:
        fail(f"--program={str(path)!r}: {err.strerror}", as_json)
    except (ValueError, yaml.YAMLError) as err:
        fail(f"--program={str(path)!r}: " + _errors(err), as_json)


def _errors(err) -> str:
    if isinstance(err, ValidationError):
        return validation_message(err)
    return str(err).replace("\n", " ")


def _device_check(model: TherapyModel, program: Program) -> list[str]:
    """Leads the implant does not have, or settings the device refuses (``IPGModel.program_problems``): bad input."""
    n = len(model.implant.leads)
    missing = [f"program.leads.{k}: this implant has leads 1-{n}" for k in sorted(program.leads) if not 1 <= k <= n]
    return missing or model.implant.ipg().program_problems(program)


def simulate(
    program: Annotated[Path, typer.Option(help="JSON/YAML file: system, leads (optional), program.")],
    patient: Annotated[str, typer.Option(help="'default' or a JSON/YAML patient file.")] = "default",
    quality_name: QualityName = "standard",
    transmission: Annotated[bool, typer.Option("--transmission", help="Also the nociceptive transmission through "
                                                                      "the ganglion in each posture (simulates "
                                                                      "the C neurons the program drives near "
                                                                      "threshold: can take minutes).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Outcomes of one given program in every posture: paresthesia, coverage, side effects, energy."""
    pat = _patient(patient, as_json)
    req = _request(program, as_json)
    _check_quality(quality_name, as_json)
    planned = plan_implant(pat, req.system)
    try:
        implant = Implant(system=req.system, ipg_model=req.ipg_model or planned.ipg_model,
                          leads=req.leads or planned.leads)
    except ValidationError as err:
        fail(f"--program={str(program)!r}: " + _errors(err), as_json)
    model = TherapyModel(pat, implant, quality(quality_name))
    if problems := _device_check(model, req.program):
        fail(f"--program={str(program)!r}: " + "; ".join(problems), as_json)
    with _bars(1) as bars:
        try:
            outcome = evaluate(model, req.program, req.postures, progress=bars, transmission=transmission)
        except RuntimeError as err:
            _failed(err, as_json)
    if as_json:
        print(outcome.model_dump_json(indent=2))
    else:
        Console().print(outcome_table(outcome))


def outcome_table(outcome: Outcome) -> Table:
    table = Table(title=f"{outcome.system.value.upper()} program '{outcome.program.name}' on {outcome.patient_id}")
    table.add_column("measure")
    for p in outcome.postures:
        table.add_column(p.posture.value, justify="right")
    for key in ("pain_coverage_pct", "off_target_pct", "abeta_activated", "c_fibers_activated", "adelta_activated",
                "motor_activated", "perception_threshold_ma", "discomfort_threshold_ma", "therapeutic_window",
                "average_current_ua", "battery_years", "deliverable"):
        table.add_row(key, *[_r(v) if isinstance(v := getattr(p, key), float) or v is None else display_value(v)
                             for p in outcome.postures])
    if any(p.nociceptive_transmission for p in outcome.postures):
        table.add_row("nociceptive_transmission_pct", *[display_value(p.nociceptive_transmission.transmitted_pct)
                                                        for p in outcome.postures])
    return table


def ecap(
    system: Annotated[System, typer.Option(help="drg or scs.")],
    patient: PatientOption = "default",
    program: Annotated[Optional[Path], typer.Option(help="JSON/YAML file as for simulate (its system must be "
                                                         "--system); default: the optimized program.")] = None,
    lead: Annotated[Optional[int], typer.Option(help="Stimulating lead (default: the program's first enabled "
                                                     "lead).")] = None,
    recording_contact: Annotated[Optional[int], typer.Option(help="Off contact of that lead to record on "
                                                                  "(default: the farthest from the cathodes).")] = None,
    reference_contact: Annotated[Optional[int], typer.Option(help="Off contact as reference (default: the IPG "
                                                                  "case).")] = None,
    n_amplitudes: Annotated[int, typer.Option(help="Amplitudes per growth curve (2-200).")] = 20,
    posture: Annotated[Optional[list[Posture]], typer.Option(help="Posture (repeat for several; default: "
                                                                  "all).")] = None,
    quality_name: QualityName = "standard",
    target_coverage_pct: TargetOption = 80.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: {\"postures\": {name: "
                                                         "[{\"amplitude_ma\", \"ecap_uv\"}...]}, ...}.")] = False,
) -> None:
    """ECAP growth curves per posture: what a lead's off contact records as the amplitude rises (therapy.ecap)."""
    name, cfg = _checked(quality_name, target_coverage_pct, as_json)
    if not 2 <= n_amplitudes <= 200:
        fail(f"--n-amplitudes={n_amplitudes}: allowed: 2-200", as_json)
    try:
        chain = RecordingChain(recording_contact=recording_contact, reference_contact=reference_contact)
    except ValidationError as err:
        fail(validation_message(err, flag), as_json)
    pat = _patient(patient, as_json)
    req = _request(program, as_json) if program is not None else None
    if req is not None and req.system != system:
        fail(f"--program={str(program)!r}: system {req.system.value}; allowed: --system {system.value}", as_json)
    planned = plan_implant(pat, system)
    try:
        implant = Implant(system=system, ipg_model=(req and req.ipg_model) or planned.ipg_model,
                          leads=(req and req.leads) or planned.leads)
    except ValidationError as err:
        fail(f"--program={str(program)!r}: " + _errors(err), as_json)
    model = TherapyModel(pat, implant, quality(name))
    if req is not None and (problems := _device_check(model, req.program)):
        fail(f"--program={str(program)!r}: " + "; ".join(problems), as_json)
    with _bars(1) as bars:
        try:
            chosen = req.program if req is not None else optimize(model, cfg, bars).program
            growth = growth_curves(model, chosen, postures=tuple(posture or Posture), lead=lead, chain=chain,
                                   n_amplitudes=n_amplitudes, progress=bars)
        except RuntimeError as err:
            _failed(err, as_json)
        except ValueError as err:
            fail(str(err), as_json)
    if as_json:
        print(json.dumps(growth.contract(), indent=2))
    else:
        Console().print(ecap_table(growth))


def ecap_table(growth: EcapGrowth) -> Table:
    table = Table(title=f"{growth.system.value.upper()} ECAP, lead {growth.lead} {growth.contacts}, recorded on "
                        f"contact {growth.recording_contact} against the {growth.reference}")
    table.add_column("measure")
    for p in growth.postures:
        table.add_column(p, justify="right")
    curves = list(growth.postures.values())
    for key in ("perception_threshold_ma", "ecap_threshold_ma", "latency_ms", "growth_slope_uv_per_ma"):
        table.add_row(key, *[_r(getattr(c, key)) for c in curves])
    for i, a in enumerate(curves[0].amplitudes_ma):
        table.add_row(f"ECAP at {a:.3g} mA (uV)", *[_r(c.ecap_uv[i]) for c in curves])
def closedloop(
    day: Annotated[Path, typer.Option(help="YAML day of postures (examples/day.yaml).")],
    system: Annotated[str, typer.Option(help="scs or drg.")] = "scs",
    patient: PatientOption = "default",
    mode: Annotated[str, typer.Option(help="Closed-loop controller: pi (Evoke-like) or ceiling (Inceptiv-like).")]
    = "pi",
    quality_name: QualityName = "standard",
    program_posture: Annotated[Posture, typer.Option(help="Posture the program is optimized and the loop's target "
                                                          "set in (EVOKE programmed sitting).")] = Posture.SITTING,
    out: Annotated[Optional[Path], typer.Option(help="Also write the figure closedloop.png here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A day of postures open loop and closed loop: the optimized program (programmed sitting), time in the
    therapeutic window, overstimulation events, current and battery (``drgsim.therapy.closedloop``)."""
    from drgsim.therapy.closedloop import MODES, day_figure, load_day, simulate_day

    if system not in [s.value for s in System]:
        fail(f"--system={system!r}: allowed: {', '.join(s.value for s in System)}", as_json)
    if mode not in MODES:
        fail(f"--mode={mode!r}: allowed: {', '.join(MODES)}", as_json)
    _check_quality(quality_name, as_json)
    pat = _patient(patient, as_json)
    try:
        schedule = load_day(day)
    except ValueError as err:
        fail(f"--day={str(day)!r}: {err}", as_json)
    if out is not None:
        _writable(out, as_json)
    model = TherapyModel(pat, plan_implant(pat, system), quality(quality_name))
    with _bars(1) as bars:
        try:
            program = optimize(model, OptimizerConfig(posture=program_posture), progress=bars).program
            run = simulate_day(model, program, schedule, mode=mode, programming_posture=program_posture,
                               progress=bars)
        except (RuntimeError, ValueError) as err:
            _failed(err, as_json)
    result = {"patient": pat.id, "quality": quality_name, **run.outcome.model_dump(mode="json")}
    if out is not None:
        result["figure"] = str(day_figure(run, out / "closedloop.png"))
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        Console().print(closedloop_table(run.outcome))


def closedloop_table(outcome) -> Table:
    table = Table(title=f"{outcome.system.upper()} lead {outcome.lead} through '{outcome.day}' ({outcome.mode})")
    table.add_column("measure")
    table.add_column("open loop", justify="right")
    table.add_column("closed loop", justify="right")
    for key, value in outcome.open_loop.model_dump().items():
        table.add_row(key, display_value(value), display_value(getattr(outcome.closed_loop, key)))
    return table
