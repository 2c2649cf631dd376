"""Benchmark: thresholds of 1,000 MRG fibres, drgsim against native NEURON in the same run.

Run:  python benchmarks/bench_thresholds.py [--fibers 1000] [--neuron-sample 10] [--json out.json]

Fibres: diameters 5.7-16 um (uniform, table and interpolated), point-source distances 0.5-3 mm,
41 nodes, 300 us cathodic monophasic pulse, 500 ohm cm. Both solvers use the same time step, stop
time and 1% tolerance. drgsim runs its public search from its defaults (no bracket: a subthreshold
start, steps up, bisection, then the block search up to its default ceiling); NEURON runs the bracketed
bisection of tests/reference/neuron_oracle.py from a bracket near the answer (0.25-0.5 mA, as a NEURON
user who knows the answer would). NEURON runs the fibres built by PyFibers, driven
with Vector.play into e_extracellular (tests/reference/neuron_oracle.py), one fibre at a time as a
NEURON user would; drgsim runs all fibres as one batch on every core. Prints thresholds per
second for both, their ratio, the largest relative difference on the shared sample, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "reference"))

from drgsim.devices.waveform import Waveform
from drgsim.neurons.models import mrg  # noqa: E402
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds  # noqa: E402
from drgsim.neurons.stimulus import point_source_potentials  # noqa: E402

DT_US, TSTOP_MS, PW_US, RHO, N_NODES, TOL, LO, HI = 2.5, 5.0, 300.0, 500.0, 41, 0.01, 0.25, 0.5


def fibres(n: int, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    d = np.round(rng.uniform(5.7, 16.0, n), 2)
    r = np.round(rng.uniform(0.5, 3.0, n), 3)
    return list(zip(d.tolist(), r.tolist()))


def drgsim_thresholds(params, waveform) -> tuple[np.ndarray, np.ndarray, float]:
    t0 = time.perf_counter()
    cells, v = [], []
    for d, r in params:
        cell = mrg.build(d, N_NODES)
        centre = cell.position_mm[mrg.node_indices(cell)[(N_NODES - 1) // 2]]
        cells.append(cell)
        v.append(point_source_potentials(cell.position_mm, centre + np.array([r, 0.0, 0.0]), RHO))
    batch = CellBatch.pack(cells)
    res = find_thresholds(batch, np.concatenate(v), waveform, SimulationSettings(dt_us=DT_US, tstop_ms=TSTOP_MS),
                          rel_tol=TOL)
    return res.threshold_ma, res.n_simulations, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fibers", type=int, default=1000)
    ap.add_argument("--neuron-sample", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    console = Console()
    import neuron_oracle as oracle

    oracle.ensure_mechanisms()
    waveform = Waveform(pulse_width_us=PW_US)
    params = fibres(args.fibers, args.seed)
    # Warm the compiled kernel (numba caches to disk; the first call may compile).
    drgsim_thresholds(params[:2], waveform)
    console.print(f"drgsim: {args.fibers} fibres ...")
    thr, sims, t_ours = drgsim_thresholds(params, waveform)
    sample = list(range(0, args.fibers, max(1, args.fibers // args.neuron_sample)))[: args.neuron_sample]
    dt_ms = DT_US * 1e-3
    w = waveform.sample(dt_ms, int(round(TSTOP_MS / dt_ms)))
    ref, ref_sims, t_ref = [], [], 0.0
    with Progress(console=console) as progress:
        task = progress.add_task("NEURON thresholds", total=len(sample))
        for i in sample:
            d, r = params[i]
            out = oracle.run_threshold("mrg", d, N_NODES, r, RHO, w, dt_ms, TSTOP_MS, LO, HI, TOL, use_play=True)
            ref.append(out["threshold_ma"])
            ref_sims.append(out["n_simulations"])
            t_ref += out["seconds"]
            progress.advance(task)
    ref = np.array(ref)
    rel = np.abs(thr[sample] / ref - 1)
    ours_rate = args.fibers / t_ours
    ref_rate = len(sample) / t_ref
    report = {
        "fibres": args.fibers, "neuron_sample": len(sample), "dt_us": DT_US, "tstop_ms": TSTOP_MS,
        "pulse_width_us": PW_US, "rel_tol": TOL, "drgsim_thresholds_per_s": ours_rate,
        "neuron_thresholds_per_s": ref_rate, "speedup": ours_rate / ref_rate,
        "max_rel_difference": float(rel.max()), "drgsim_sims_per_threshold": float(sims.mean()),
        "neuron_sims_per_threshold": float(np.mean(ref_sims)),
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "drgsim_seconds": t_ours, "neuron_seconds": t_ref,
        "nan_thresholds": int(np.isnan(thr).sum()),
    }
    table = Table(title="MRG thresholds: drgsim (own defaults, block search) vs native NEURON (bracketed; same dt, "
                        "tstop, 1% tolerance)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in report.items():
        table.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
