"""CLI: ``drgsim cohort run`` and ``drgsim cohort report`` (registered in ``drgsim.cli``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from drgsim.clierrors import fail
from drgsim.cohort.population import ARMS, CohortConfig, TrialPopulation
from drgsim.cohort.run import CohortError, run_cohort
from drgsim.errors import flag, validation_message
from drgsim.therapy.model import QUALITY

console = Console(stderr=True)
cohort_app = typer.Typer(no_args_is_help=True, help="Virtual cohorts: an in-silico ACCURATE trial on Dask.")


def _config(n: int, seed: int, quality: str, lead_error_scale: float, as_json: bool) -> CohortConfig:
    if quality not in QUALITY:
        fail(f"--quality={quality!r}: allowed: {', '.join(QUALITY)}", as_json)
    try:
        return CohortConfig(n=n, seed=seed, quality=quality,
                            population=TrialPopulation.default(lead_error_scale=lead_error_scale))
    except ValidationError as err:
        fail(validation_message(err, flag), as_json)


@cohort_app.command("run")
def run_cmd(
    n: Annotated[int, typer.Option("--n", help="Patients in the cohort (each simulated in both arms).")],
    out: Annotated[Path, typer.Option(help="Results folder; a rerun skips finished patients.")],
    seed: Annotated[int, typer.Option(help="Cohort seed: the same seed, the same patients.")] = 1,
    quality: Annotated[str, typer.Option("--quality", help=f"{', '.join(QUALITY)}.")] = "standard",
    scheduler: Annotated[Optional[str], typer.Option(help="Address of a running Dask scheduler "
                                                     "(tcp://HOST:8786); default: a LocalCluster here.")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="LocalCluster worker processes (default: one per "
                                                   "core).")] = None,
    lead_error_scale: Annotated[float, typer.Option(help="Multiplies the lead placement error SDs (no published "
                                                    "distribution: vary it to see its effect).")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
) -> None:
    """Simulate a seeded virtual cohort in both arms (DRG and SCS), every patient planned, programmed by
    the optimizer and evaluated in four postures; results are written per patient-arm as they finish."""
    config = _config(n, seed, quality, lead_error_scale, as_json)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console) as bars:
        task = bars.add_task("patient-arms", total=None)
        try:
            summary = run_cohort(config, out, scheduler=scheduler, workers=workers,
                                 progress=lambda done, total: bars.update(task, completed=done, total=total),
                                 on_client=lambda link: console.print(f"Dask dashboard: {link}"))
        except CohortError as err:
            fail(str(err), as_json)
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted:[/yellow] finished patient-arms are kept in {out}; rerun the same "
                          "command to go on")
            raise typer.Exit(130)
    if as_json:
        print(summary.model_dump_json(exclude={"dashboard"} if summary.dashboard is None else None))
    else:
        console.print(f"{summary.completed} patients completed, {summary.reused} reused, {summary.failed} failed "
                      f"in {summary.seconds:.1f} s; results in {summary.out}")
    if summary.failed:
        raise typer.Exit(1)


@cohort_app.command("report")
def report_cmd(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="The --out folder of `drgsim cohort run`.")],
    calibrate_on: Annotated[Path | None, typer.Option(
        "--calibrate-on", metavar="DIR2", help="Fit the relief model on the cohort in DIR2 (e.g. the same seed at "
        "the default lead error scale) and apply it to DIR unchanged, instead of fitting on DIR.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report's numbers as JSON.")] = False,
) -> None:
    """Responders with 95% intervals, relief, coverage, off-target, posture spread, energy and battery per arm,
    against ACCURATE (calibration) and held-out studies; figures and report.html under DIR/report."""
    from drgsim.cohort.report import cohort_report, write_report

    try:
        report = cohort_report(folder, calibrate_on)
    except CohortError as err:
        fail(str(err), as_json)
    page = write_report(folder, report)
    if as_json:
        print(json.dumps(report))
        return
    table = Table(title=f"Virtual ACCURATE: {report['paired_patients']} patients, both arms")
    table.add_column("measure")
    for a in ARMS:
        table.add_column(a.upper(), justify="right")
    for key in ("responder_pct", "responder_ci95", "trial_success_pct", "relief_pct_median", "pain_coverage_pct_median",
                "off_target_pct_median", "paresthesia_free_pct", "posture_spread_pct_median",
                "average_current_ua_median", "battery_years_median"):
        table.add_row(key, *(str(report[a][key]) for a in ARMS))
    Console().print(table)
    cmp = Table(title="Against published results")
    for col in ("study", "measure", "arm", "published", "simulated", "used_for"):
        cmp.add_column(col)
    for c in report["comparison"]:
        cmp.add_row(*(str(c[k]) for k in ("study", "measure", "arm", "published", "simulated", "used_for")))
    Console().print(cmp)
    console.print(f"report: {page}")
