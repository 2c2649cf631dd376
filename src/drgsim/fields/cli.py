"""``drgsim field``: solve a volume conductor, report DOFs, timings, cache use and impedances."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from drgsim.clierrors import err_console, fail
from drgsim.errors import flag, validation_message

field_app = typer.Typer(no_args_is_help=True, help="Finite-element volume conductors, one solution per contact.")


class FieldModel(StrEnum):
    DRG = "drg"
    SCS = "scs"
    HOMOGENEOUS = "homogeneous"


@field_app.command("solve")
def solve_command(
    model: Annotated[FieldModel, typer.Option(help="Volume conductor.")] = FieldModel.DRG,
    level: Annotated[Optional[str], typer.Option(help="Spinal level (drg: T12-S1, scs: T10-T12).")] = None,
    dcsf_mm: Annotated[Optional[float], typer.Option(help="Dorsal CSF thickness (scs).")] = None,
    posture: Annotated[str, typer.Option(help="supine, prone, sitting or standing (scs).")] = "supine",
    lead: Annotated[Optional[str], typer.Option(help="Catalog lead id (default drg, or scs8 for scs).")] = None,
    resistivity_ohm_cm: Annotated[float, typer.Option(help="Medium resistivity (homogeneous).")] = 500.0,
    maxh_mm: Annotated[float, typer.Option(help="Largest element far from the lead.")] = 10.0,
    contact_maxh_mm: Annotated[float, typer.Option(help="Element size on the contacts.")] = 0.35,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Solve in this process (no time limit), cache neither "
                                                          "read nor written.")] = False,
    figure: Annotated[Optional[Path], typer.Option(help="Write a potential slice (PNG) for contact 1.")] = None,
    vtk: Annotated[Optional[Path], typer.Option(help="Write the unit solutions as VTK (.vtu).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show the mesher's own messages (kept out of the terminal "
                                                             "otherwise; --json always carries them).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Solve one unit-current problem per contact (cached) and report impedances in ohm."""
    from drgsim.fields.anatomy_models import DRGParams, SCSParams
    from drgsim.fields.geometry import HomogeneousParams
    from drgsim.fields.lead import LeadPlacement
    from drgsim.fields.solve import FieldSpec, MeshSettings, solve, solve_many

    try:
        if model == FieldModel.DRG:
            geometry = DRGParams(level=level or "L5", lead_id=lead or "drg")
            geometry.drg()
        elif model == FieldModel.SCS:
            geometry = SCSParams(level=level or "T10", posture=posture, dcsf_mm=dcsf_mm, lead_id=lead or "scs8")
            geometry.layout()
        else:
            geometry = HomogeneousParams(lead=LeadPlacement(lead_id=lead or "drg", tip_mm=(0.0, 0.0, -10.0),
                                                            body_length_mm=50.0),
                                         resistivity_ohm_cm=resistivity_ohm_cm, radius_mm=150.0)
        spec = FieldSpec(geometry=geometry, mesh=MeshSettings(maxh_mm=maxh_mm, contact_maxh_mm=contact_maxh_mm))
    except ValidationError as e:
        fail(validation_message(e, flag), as_json)
    except (KeyError, ValueError) as e:
        fail(str(e).strip("'\""), as_json)
    n = len(spec.geometry.lead_placement().lead.contact_centres_mm) if model != FieldModel.HOMOGENEOUS else \
        spec.geometry.lead.lead.n_contacts
    solved = []
    try:
        with Progress(console=err_console, transient=True) as progress:
            if no_cache:  # in this process, nothing cached
                task = progress.add_task(f"{model} field: contacts solved", total=n)
                sol = solve(spec, use_cache=False, progress=lambda: progress.advance(task))
            else:  # in a worker stopped after DRGSIM_FIELD_TIME_LIMIT_S, into the cache, then read from it
                task = progress.add_task(f"{model} field: built, meshed and solved", total=1)
                solved = solve_many({f"{model} field": spec}, workers=1,
                                    progress=lambda done, total: progress.update(task, completed=done, total=total))
                sol = solve(spec)
    except ValueError as e:  # DRGSIM_FIELD_TIME_LIMIT_S
        fail(str(e), as_json)
    except RuntimeError as e:
        fail(str(e), as_json, code=1)
    report = solved[0] if solved else sol.report  # the worker's, where it solved
    z = sol.impedance_ohm
    pairs = {f"{i + 1}-{i + 2}": sol.bipolar_impedance_ohm(i, i + 1) for i in range(sol.n_contacts - 1)}
    out = {"model": str(model), "key": report.key, "cache_hit": report.cache_hit, "ndof": report.ndof,
           "n_elements": report.n_elements, "seconds": report.seconds, "peak_memory_mb": report.peak_memory_mb,
           "impedance_ohm": {"monopolar": {c: float(z[k, k]) for k, c in enumerate(sol.contacts)},
                             "bipolar_adjacent": pairs, "matrix": z.tolist()},
           "mesher_messages": report.mesher_messages, "spec": spec.model_dump(mode="json")}
    if verbose:
        for line in report.mesher_messages or ["(the mesher printed nothing)"]:
            err_console.print(f"mesher: {line}", markup=False, highlight=False)
    if figure:
        import numpy as np

        from drgsim.fields.figures import slice_figure

        place = spec.geometry.lead if model == FieldModel.HOMOGENEOUS else spec.geometry.lead_placement()
        centre = place.contact_centres_mm().mean(axis=0)
        axis = np.asarray(place.direction)
        other = np.array([0.0, 1.0, 0.0])  # sagittal through the lead (scs), or dorsal (homogeneous)
        if model == FieldModel.DRG:  # the plane through the lead and the ganglion's axis
            to_ganglion = spec.geometry.ganglion_centre_mm() - centre
            other = to_ganglion - axis * (to_ganglion @ axis)
            centre = centre + other / 2
        out["figure"] = str(slice_figure(sol, figure, centre_mm=centre, axes=(axis, other)))
    if vtk:
        from drgsim.fields.figures import export_vtk

        out["vtk"] = str(export_vtk(sol, vtk))
    if as_json:
        print(json.dumps(out, indent=2))
        return
    table = Table(title=f"{model} field ({'cached' if report.cache_hit else 'solved'}), {report.ndof} DOFs")
    table.add_column("contact")
    table.add_column("monopolar (ohm)", justify="right")
    for k, c in enumerate(sol.contacts):
        table.add_row(c, f"{z[k, k]:.0f}")
    Console().print(table)
    Console().print({k: round(v, 2) for k, v in report.seconds.items()})
