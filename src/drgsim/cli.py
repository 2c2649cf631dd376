"""Command-line interface. Every command takes --json; bad input exits with status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from drgsim import __version__
from drgsim.anatomy.cli import atlas_app, patient, plan
from drgsim.clierrors import fail
from drgsim.clinic.cli import clinic_app, serve
from drgsim.cohort.cli import cohort_app
from drgsim.devices.cli import app as devices_app
from drgsim.devices.waveform import Polarity, Shape
from drgsim.errors import flag, validation_message
from drgsim.fields.cli import field_app
from drgsim.neurons.models import CellModel
from drgsim.neurons.solver import Method
from drgsim.references import bibliography, markdown
from drgsim.therapy import cli as therapy_cli
from drgsim.validation.cli import validate

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="drgsim: digital twin of dorsal root ganglion stimulation, with SCS side by side.")
app.add_typer(devices_app, name="device", help="Leads, IPG, programs, safety and battery.")
app.add_typer(atlas_app, name="atlas", help="Body regions, dermatomes and pain maps.")
app.add_typer(field_app, name="field", help="Finite-element volume conductors.")
app.command("plan", help="Rank DRG targets for a pain map; optionally check the candidate.")(plan)
app.command("patient")(patient)
app.command("demo")(therapy_cli.demo)
app.command("compare")(therapy_cli.compare_cmd)
app.command("optimize")(therapy_cli.optimize_cmd)
app.command("simulate")(therapy_cli.simulate)
app.command("ecap")(therapy_cli.ecap)
app.command("closedloop")(therapy_cli.closedloop)
app.command("serve")(serve)
app.command("validate")(validate)
app.add_typer(cohort_app, name="cohort", help="Virtual cohorts: an in-silico ACCURATE trial on Dask.")
app.add_typer(clinic_app, name="clinic", help="The clinic's database and accounts.")


def _print_version(value: bool) -> None:
    if value:
        print(f"drgsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", help="Print drgsim's version and exit.", is_eager=True,
                                                callback=_print_version)] = False) -> None:
    return None  # the options above act in their callbacks


@app.command()
def references(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """The sources drgsim's models, data and reports cite, by section (the package's bibliography)."""
    if as_json:
        print(json.dumps({"sections": bibliography()}, indent=2, ensure_ascii=False))
    else:
        print(markdown(), end="")


def emit(result: BaseModel, as_json: bool, table) -> None:
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        Console().print(table)


@app.command()
def threshold(
    model: Annotated[CellModel, typer.Option(help="Cell model.")] = CellModel.MRG,
    diameter_um: Annotated[Optional[float],
                           typer.Option(help="Fibre diameter (mrg 2-16, sundt 0.1-3, motor 12-20).")] = None,
    nodes: Annotated[Optional[int],
                     typer.Option(help="Nodes of Ranvier (mrg, motor; odd) or compartments (sundt).")] = None,
    source: Annotated[str, typer.Option(help="Stimulating source: point, or lead (its FEM solution).")] = "point",
    lead: Annotated[str, typer.Option(help="Catalog lead id for --source lead (drg, scs8, ...).")] = "drg",
    contact: Annotated[int, typer.Option(help="Contact of --source lead, numbered from 1 at the tip.")] = 1,
    distance_mm: Annotated[float, typer.Option(help="Source distance from the cell's centre.")] = 1.0,
    resistivity_ohm_cm: Annotated[float, typer.Option(help="Resistivity of the homogeneous medium.")] = 500.0,
    pulse_width_us: Annotated[float, typer.Option(help="Width of the (first) phase.")] = 100.0,
    waveform: Annotated[Shape, typer.Option(help="Pulse shape.")] = Shape.MONOPHASIC,
    polarity: Annotated[Polarity, typer.Option(help="Polarity of the (leading) phase.")] = Polarity.CATHODIC,
    interphase_gap_us: Annotated[float, typer.Option(help="Gap between phases.")] = 0.0,
    dt_us: Annotated[float, typer.Option(help="Time step.")] = 2.5,
    tstop_ms: Annotated[Optional[float], typer.Option(help="Simulated time (default: pulse + propagation).")] = None,
    method: Annotated[Method, typer.Option(help="Time integration.")] = Method.BACKWARD_EULER,
    tolerance: Annotated[float, typer.Option(help="Relative tolerance of the threshold search.")] = 0.01,
    max_ma: Annotated[Optional[float], typer.Option(help="Ceiling of the search, e.g. the device maximum (default: "
                                                    "1,000 x the start).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Threshold amplitude of one fibre or DRG neuron for a point source or a lead's contact."""
    from rich.table import Table

    from drgsim.devices.waveform import Waveform
    from drgsim.neurons.solver import SimulationSettings
    from drgsim.neurons.threshold import NoThreshold, ThresholdConfig, run

    if source not in ("point", "lead"):
        fail(f"--source={source!r}: allowed values are 'point' and 'lead'", as_json)
    try:
        cfg = ThresholdConfig(
            model=model, diameter_um=diameter_um, nodes=nodes, distance_mm=distance_mm,
            resistivity_ohm_cm=resistivity_ohm_cm, tolerance=tolerance, max_ma=max_ma, source=source, lead=lead,
            contact=contact,
            waveform=Waveform(shape=waveform, polarity=polarity, pulse_width_us=pulse_width_us,
                              interphase_gap_us=interphase_gap_us),
            settings=SimulationSettings(dt_us=dt_us, tstop_ms=tstop_ms, method=method))
    except ValidationError as err:
        fail(validation_message(err, flag), as_json)
    try:
        result = run(cfg)
    except NoThreshold as err:
        fail(str(err), as_json, code=1)
    table = Table(title=f"{model} threshold")
    for k in ("threshold_ma", "block_ma", "anode_break", "polarity", "initiation_site", "n_simulations", "dt_us",
              "tstop_ms", "seconds"):
        table.add_row(k, str(getattr(result, k)))
    emit(result, as_json, table)


@app.command("filter")
def filter_cmd(
    cell: Annotated[str, typer.Option(help="DRG neuron: drg_c, drg_adelta or drg_abeta.")] = "drg_c",
    frequency_hz: Annotated[float, typer.Option(help="Stimulation frequency (1-1000).")] = 20.0,
    duration_s: Annotated[float, typer.Option(help="Simulated time (at most 600 s).")] = 30.0,
    amplitude_ratio: Annotated[float, typer.Option(help="Amplitude / the cell's single-pulse threshold.")] = 1.2,
    source: Annotated[str, typer.Option(help="Stimulating source: point.")] = "point",
    distance_mm: Annotated[float, typer.Option(help="Point source to the T-junction.")] = 1.0,
    pulse_width_us: Annotated[float, typer.Option(help="Width of the leading phase.")] = 200.0,
    waveform: Annotated[Shape, typer.Option(help="Pulse shape (asymmetric: the device's passive recharge).")]
    = Shape.ASYMMETRIC,
    ongoing_hz: Annotated[float, typer.Option(help="Spikes arriving from the periphery per second.")] = 5.0,
    pattern: Annotated[str, typer.Option(help="Ongoing activity: regular or poisson.")] = "regular",
    seed: Annotated[int, typer.Option(help="Seed of the Poisson arrivals.")] = 0,
    dt_us: Annotated[float, typer.Option(help="Time step.")] = 25.0,
    sweep_hz: Annotated[Optional[str], typer.Option(help="Also sweep these stimulation frequencies, e.g. "
                                                    "'4,10,20,40,60,100' (JSON key 'sweep').")] = None,
    figure: Annotated[Optional[Path], typer.Option(help="With --sweep-hz: the sweep's figure (PNG or SVG).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Transmission of peripheral spikes through a DRG neuron's T-junction over time, with and without a
    stimulation train, and the neuron's following frequency."""
    from rich.progress import Progress
    from rich.table import Table

    from drgsim.neurons.transmission import FilterConfig, frequency_sweep, run, sweep_figure

    if source != "point":
        fail(f"--source={source!r}: allowed values are 'point'", as_json)
    sweep = _frequencies(sweep_hz, as_json) if sweep_hz is not None else None
    if figure is not None and (sweep is None or figure.suffix.lower() not in (".png", ".svg")):
        fail(f"--figure={figure}: needs --sweep-hz and a .png or .svg name", as_json)
    try:
        cfg = FilterConfig(cell=cell, frequency_hz=frequency_hz, duration_s=duration_s,
                           amplitude_ratio=amplitude_ratio, distance_mm=distance_mm, pulse_width_us=pulse_width_us,
                           shape=waveform, ongoing_hz=ongoing_hz, pattern=pattern, seed=seed, dt_us=dt_us)
    except ValidationError as err:
        fail(validation_message(err, flag), as_json)
    try:
        with Progress(transient=True, disable=as_json) as progress:
            progress.add_task(f"{cell}: {duration_s:g} s of ongoing activity and stimulation", total=None)
            result = run(cfg)
            points = frequency_sweep(cfg, sweep) if sweep else None
    except ValueError as err:
        fail(str(err), as_json)
    if points and figure is not None:
        sweep_figure(points, cfg, figure)
    table = Table(title=f"{cell}: transmission to the cord, {frequency_hz:g} Hz at {amplitude_ratio:g} x threshold")
    table.add_column("t (s)")
    table.add_column("with stimulation")
    table.add_column("without")
    fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    for a, b in zip(result.transmission, result.transmission_without_stimulation):
        table.add_row(f"{a.t_s:g}", fmt(a.fraction), fmt(b.fraction))
    table.caption = (f"following {result.following_hz:g} Hz; threshold {result.threshold_ma:.4g} mA; "
                     f"{result.seconds_per_simulated_s_per_cell:.2f} s per simulated s per cell")
    if as_json:
        out = result.model_dump(mode="json")
        if points:
            out["sweep"] = [p.model_dump() for p in points]
        print(json.dumps(out, indent=2))
        return
    Console().print(table)
    for p in points or []:
        Console().print(f"{p.frequency_hz:g} Hz: {p.fraction_with:.2f} with stimulation, {p.fraction_without:.2f} "
                        f"without")


def _frequencies(text: str, as_json: bool) -> list[float]:
    """'4,10,20' -> [4.0, 10.0, 20.0]; an error naming the flag and the value otherwise."""
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(f"--sweep-hz={text!r}: give frequencies in Hz separated by commas, e.g. 4,20,60", as_json)
    if not out or any(not 1.0 <= f <= 1000.0 for f in out):
        fail(f"--sweep-hz={text!r}: each frequency must lie in 1-1000 Hz", as_json)
    return out


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="drgsim")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
