"""Benchmark: the full DRG (4 contacts) and SCS (8 contacts) volume conductors.

Run:  python benchmarks/bench_fields.py [--json out.json]

For each model, in a fresh cache: DOFs, per-stage seconds (geometry, mesh, assemble, solve,
impedance), peak memory of the solving process, and the time of a cached rerun. Mesh convergence:
the threshold of a 10 um MRG fibre through the ganglion along the nerve (DRG, bipolar 2-3) and of a
dorsal-column fibre under the SCS lead (bipolar 4-5), on the default and on a refined mesh.
Goal on 2 cores: each model meshed and solved in <= 60 s and <= 2 GB; cached rerun < 1 s; mesh
change of thresholds < 2%. (OSS-DBS v2, also NGSolve, was quoted at 17.6 s to solve 260k DOFs and
99 s overall on this machine; it is not run here.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

CHILD = r'''
import json, sys, time, resource
import numpy as np
from drgsim.fields.anatomy_models import DRGParams, SCSParams
from drgsim.fields.solve import FieldSpec, MeshSettings, solve
from drgsim.devices.waveform import Waveform
from drgsim.neurons.models import mrg
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds
model, refined = sys.argv[1], sys.argv[2] == "1"
mesh = MeshSettings(maxh_mm=8.0, contact_maxh_mm=0.25, near_maxh_mm=0.6) if refined else MeshSettings()
params = DRGParams(level="L5") if model == "drg" else SCSParams(level="T10")
sol = solve(FieldSpec(geometry=params, mesh=mesh))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter(); again = solve(FieldSpec(geometry=params, mesh=mesh)); cached = time.perf_counter() - t0
cell = mrg.build(10.0, 31)
centre = cell.position_mm[mrg.node_indices(cell)[15]]
if model == "drg":  # along the nerve, through the ganglion, halfway from its axis towards the lead
    lead_axis = params.lead_placement().contact_centres_mm()[1:3].mean(axis=0)
    target = params.ganglion_centre_mm() + 0.5 * (lead_axis - params.ganglion_centre_mm()) * np.array([0, 1, 1])
    target[0] = params.ganglion_centre_mm()[0]
    direction = np.eye(3)[0]
    weights = [0, -1.0, 1.0, 0]
else:
    lay = params.layout()
    target = np.array([lay["cord_x"], lay["cord_y"] + lay["cord_b"] - 0.2, params.lead_centre_z_mm])
    direction = np.eye(3)[2]
    weights = [0, 0, 0, -1.0, 1.0, 0, 0, 0]
pos = (cell.position_mm - centre)[:, 2:3] * direction + target
cell = cell.with_positions(pos)
batch = CellBatch.pack([cell])
v = sol.program_potentials(batch.positions_mm, weights)
thr = find_thresholds(batch, v, Waveform(pulse_width_us=300.0, polarity="anodic"), SimulationSettings(), rel_tol=0.002)
print(json.dumps({"report": sol.report.model_dump(), "peak_memory_mb": peak, "cached_seconds": cached,
                  "cache_hit_on_rerun": again.report.cache_hit, "threshold_ma": float(thr.threshold_ma[0])}))
'''


def run(model: str, refined: bool, cache: str) -> dict:
    env = {**os.environ, "DRGSIM_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", CHILD, model, "1" if refined else "0"], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    console = Console()
    results = {}
    with tempfile.TemporaryDirectory() as cache:
        for model in ("drg", "scs"):
            for refined in (False, True):
                console.print(f"{model} {'refined' if refined else 'default'} mesh ...")
                results[f"{model}_{'refined' if refined else 'default'}"] = run(model, refined, cache)
    table = Table(title="Volume conductors (fresh cache; 2-core machine)")
    for col in ("model", "DOFs", "geometry s", "mesh s", "assemble s", "solve s", "total s", "peak MB",
                "cached rerun s", "threshold mA"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        s = r["report"]["seconds"]
        table.add_row(name, str(r["report"]["ndof"]), *(f"{s[k]:.1f}" for k in ("geometry", "mesh", "assemble", "solve",
                                                                                 "total")),
                      f"{r['peak_memory_mb']:.0f}", f"{r['cached_seconds']:.2f}", f"{r['threshold_ma']:.4f}")
    console.print(table)
    for model in ("drg", "scs"):
        d, f = results[f"{model}_default"]["threshold_ma"], results[f"{model}_refined"]["threshold_ma"]
        results[f"{model}_mesh_change_pct"] = 100 * (d / f - 1)
        console.print(f"{model}: threshold default vs refined mesh {100 * (d / f - 1):+.2f}%")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
