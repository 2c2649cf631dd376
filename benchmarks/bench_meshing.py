"""Benchmark: does every drawn DRG anatomy mesh? Virtual patients' ganglia, level by level, at a mesh quality.

Run:  python benchmarks/bench_meshing.py [--draws 200] [--quality quick] [--levels L3 L4 ...] [--json out.json]

Each draw is a virtual patient (``generate_patient(seed)``) whose ganglion at the level, with the lead beside
it as the therapy model places it (placement error, every posture's contact set), is built and meshed (no
solve). Prints per level the failures, the geometries whose construction had to change a dimension
(``DRGLayout.notes``), and the meshing time; the JSON holds every failure's seed and message.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from drgsim.anatomy.levels import Level, Side
from drgsim.anatomy.patient import generate_patient
from drgsim.anatomy._data import load_json
from drgsim.fields.solve import FieldSpec, mesh_only
from drgsim.therapy.model import LeadPlan, _drg_params, quality


DRG_LEVELS = tuple(load_json("spine.json")["drg"]["levels"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0, help="first patient seed")
    ap.add_argument("--quality", default="quick")
    ap.add_argument("--levels", nargs="*", default=list(DRG_LEVELS))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    mesh = quality(args.quality).mesh
    out = {"quality": args.quality, "draws": args.draws, "levels": {}}
    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task("meshing draws", total=args.draws * len(args.levels))
        for level in args.levels:
            row = {"failures": [], "adjusted": 0, "seconds": 0.0}
            for seed in range(args.seed, args.seed + args.draws):
                patient = generate_patient(seed)
                spec = FieldSpec(geometry=_drg_params(patient, LeadPlan(level=Level(level), side=Side.LEFT)), mesh=mesh)
                t0 = time.perf_counter()
                try:
                    notes = mesh_only(spec)
                    row["adjusted"] += bool(notes)
                except (RuntimeError, ValueError) as err:
                    row["failures"].append({"seed": seed, "error": str(err)[:500]})
                row["seconds"] += time.perf_counter() - t0
                bar.advance(task)
            out["levels"][level] = row
    table = Table(title=f"DRG geometries meshed ({args.quality} mesh, {args.draws} draws per level)")
    for col in ("level", "failed", "dimensions changed", "s per mesh"):
        table.add_column(col)
    for level, row in out["levels"].items():
        table.add_row(level, str(len(row["failures"])), str(row["adjusted"]), f"{row['seconds'] / args.draws:.1f}")
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
