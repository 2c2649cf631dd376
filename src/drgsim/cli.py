"""Command-line interface. Every command takes --json; bad input exits with status 2."""

from __future__ import annotations

import json
import sys
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
app.command("simulate")(therapy_cli.simulate)
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


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="drgsim")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
