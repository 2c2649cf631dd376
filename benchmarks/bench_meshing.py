"""Benchmark: does every drawn anatomy mesh? Virtual patients' ganglia level by level, or their SCS canal
posture by posture, at a mesh quality.

Run:  python benchmarks/bench_meshing.py [--draws 200] [--quality quick] [--levels L3 L4 ... | --scs] [--json out.json]

Each draw is a virtual patient (``generate_patient(seed)``). DRG: its ganglion at the level, with the lead
beside it as the therapy model places it (placement error, every posture's contact set). ``--scs``: its T10
canal in each posture (dCSF, cord offset, the lead's lateral error). Each geometry is built and meshed (no
solve). Prints per level or posture the failures, the geometries whose construction had to change a
dimension (the run report's notes), and the meshing time; the JSON holds every failure's seed and message.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from drgsim.anatomy._data import load_json
from drgsim.anatomy.levels import Level, Side
from drgsim.anatomy.patient import generate_patient
from drgsim.anatomy.posture import Posture
from drgsim.fields.solve import FieldSpec, mesh_only
from drgsim.therapy.model import LeadPlan, _drg_params, _scs_params, quality

DRG_LEVELS = tuple(load_json("spine.json")["drg"]["levels"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0, help="first patient seed")
    ap.add_argument("--quality", default="quick")
    ap.add_argument("--levels", nargs="*", default=list(DRG_LEVELS))
    ap.add_argument("--scs", action="store_true", help="the T10 SCS canal in every posture instead of ganglia")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    mesh = quality(args.quality).mesh
    groups = [p.value for p in Posture] if args.scs else args.levels
    out = {"quality": args.quality, "draws": args.draws, "system": "scs" if args.scs else "drg", "levels": {}}
    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task("meshing draws", total=args.draws * len(groups))
        for level in groups:
            row = {"failures": [], "adjusted": 0, "seconds": 0.0}
            for seed in range(args.seed, args.seed + args.draws):
                spec = FieldSpec(geometry=_geometry(generate_patient(seed), level, args.scs), mesh=mesh)
                t0 = time.perf_counter()
                try:
                    notes = mesh_only(spec)
                    row["adjusted"] += bool(notes)
                except (RuntimeError, ValueError) as err:
                    row["failures"].append({"seed": seed, "error": str(err)[:500]})
                row["seconds"] += time.perf_counter() - t0
                bar.advance(task)
            out["levels"][level] = row
    what = "SCS canals at T10" if args.scs else "DRG geometries"
    per = "posture" if args.scs else "level"
    table = Table(title=f"{what} meshed ({args.quality} mesh, {args.draws} draws per {per})")
    for col in ("posture" if args.scs else "level", "failed", "dimensions changed", "s per mesh"):
        table.add_column(col)
    for level, row in out["levels"].items():
        table.add_row(level, str(len(row["failures"])), str(row["adjusted"]), f"{row['seconds'] / args.draws:.1f}")
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


def _geometry(patient, group: str, scs: bool):
    if scs:
        return _scs_params(patient, LeadPlan(level=Level.T10, side=Side.LEFT), Posture(group))
    return _drg_params(patient, LeadPlan(level=Level(group), side=Side.LEFT))


if __name__ == "__main__":
    main()
