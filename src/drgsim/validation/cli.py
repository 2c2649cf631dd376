"""``drgsim validate``: every validation case as one table, JSON, and an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)


def validate(
    quick: Annotated[bool, typer.Option("--quick", help="Sampled NEURON cases, 500 Farooqui neurons (minutes).")
                     ] = False,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write the HTML report here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: {\"cases\": [...], ...}.")] = False,
) -> None:
    """Run every validation case (NEURON, analytic fields, time step, Farooqui 2024, Graham 2019, Sundt 2015).
    Exits 1 if any case fails."""
    from drgsim.validation.report import write_html
    from drgsim.validation.run import validate as run

    if report is not None and report.exists() and report.is_dir():
        from drgsim.clierrors import fail

        fail(f"--report={str(report)!r} is a folder; give a file name such as validation.html", as_json)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bars:
        task = bars.add_task("validation stages", total=6)
        result = run(quick, progress=lambda what, done, total: bars.update(task, completed=done, total=total))
    if report is not None:
        write_html(result, report)
    if as_json:
        print(result.model_dump_json(indent=1))
    else:
        table = Table(title=f"drgsim validation: {result.passed} of {len(result.cases)} pass")
        for col in ("case", "reference", "drgsim", "unit", "rel. error", "tolerance", "pass"):
            table.add_column(col)
        for c in result.cases:
            err = "-" if c.rel_error is None else f"{100 * c.rel_error:+.2f}%"
            table.add_row(c.name, f"{c.reference:.4g}", f"{c.value:.4g}", c.unit, err,
                          f"{c.tolerance:g} ({c.tolerance_kind})", "yes" if c.passed else "[red]NO[/red]")
        Console().print(table)
    if result.failed:
        raise typer.Exit(1)
