"""Benchmark: one whole patient (`drgsim compare --patient default`) against native NEURON thresholds.

Run:  python benchmarks/bench_patient.py [--quality standard] [--neuron-thresholds 3] [--json out.json]
      [--no-convergence]

In one run, from a fresh cache directory: the default patient's `compare` cold (fields, tables and all,
as a user's first call), then warm (everything cached), each as the user runs it (a `drgsim` process);
then, with the fields cached, the same compare with every population doubled (`--population-scale 2`),
for the convergence of the headline numbers; and native NEURON thresholds of the fibre of
bench_thresholds.py (MRG, 41 nodes, 300 us, dt 2.5 us, 1%, bracketed bisection, PyFibers' fibre with
Vector.play), the unit the patient's cost is counted in. Prints a table and writes JSON with
`cold_s`, `warm_s`, `neuron_threshold_s`, `patient_in_neuron_thresholds` (cold_s / neuron_threshold_s),
`peak_memory_mb` (largest resident set of a compare process), `stages` (seconds per stage, cold),
`populations` and `convergence` (each headline number at the default and the doubled populations).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[0] / "tests" / "reference"))
sys.path.insert(0, str(HERE))

HEADLINE = ("pain_coverage_pct", "off_target_pct", "perception_threshold_ma")
GOALS = {"cold_neuron_thresholds": 12.0, "warm_s": 3.0, "peak_memory_mb": 4096.0, "drg_neurons_per_ganglion": 600,
         "drg_motor_per_ganglion": 40, "scs_fibres": 1000}


def run_compare(cache: Path, quality: str, scale: float = 1.0) -> tuple[dict, float, float]:
    """One `drgsim compare --json` process: its summary, wall seconds and peak resident memory (MB)."""
    cmd = [sys.executable, "-m", "drgsim", "compare", "--patient", "default", "--quality", quality, "--json"]
    if scale != 1.0:
        cmd += ["--population-scale", str(scale)]
    env = {**os.environ, "DRGSIM_CACHE_DIR": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
    return json.loads(proc.stdout), seconds, peak_mb


def neuron_threshold_seconds(n: int) -> tuple[float, list[float]]:
    """Mean seconds of a native NEURON threshold of bench_thresholds' fibre (its first ``n`` fibres)."""
    import neuron_oracle as oracle

    from bench_thresholds import DT_US, HI, LO, N_NODES, PW_US, RHO, TOL, TSTOP_MS, fibres
    from drgsim.devices.waveform import Waveform

    oracle.ensure_mechanisms()
    dt_ms = DT_US * 1e-3
    w = Waveform(pulse_width_us=PW_US).sample(dt_ms, int(round(TSTOP_MS / dt_ms)))
    times = []
    for d, r in fibres(1000, 0)[:n]:
        out = oracle.run_threshold("mrg", d, N_NODES, r, RHO, w, dt_ms, TSTOP_MS, LO, HI, TOL, use_play=True)
        times.append(out["seconds"])
    return float(np.mean(times)), times


def headline(summary: dict) -> dict[str, float | None]:
    """The numbers whose convergence is checked, per system, in the programming posture."""
    posture = summary["optimizer"]["posture"]
    out = {}
    for system in ("drg", "scs"):
        s = summary[system]
        out[f"{system}_pain_coverage_pct"] = s["pain_coverage_pct"]
        out[f"{system}_off_target_pct"] = s["off_target_pct"]
        out[f"{system}_perception_threshold_ma"] = s["perception_threshold_ma"][posture]
    return out


def convergence(base: dict, doubled: dict) -> dict:
    """Each headline number at both sizes; converged when it moved < 2 points (percentages) or < 2%."""
    a, b = headline(base), headline(doubled)
    rows = {}
    for key in a:
        x, y = a[key], b[key]
        if x is None or y is None:
            rows[key] = {"default": x, "doubled": y, "change": None, "converged": x == y}
            continue
        change = y - x if key.endswith("_pct") else (y - x) / x * 100
        rows[key] = {"default": x, "doubled": y, "change": round(change, 3),
                     "unit": "percentage points" if key.endswith("_pct") else "%", "converged": abs(change) < 2.0}
    return rows


def populations(summary: dict) -> dict[str, int]:
    q = summary["quality_config"]
    return {"drg_neurons_per_ganglion": q["drg_population"]["n_neurons"],
            "drg_motor_per_ganglion": q["drg_population"]["n_motor"],
            "scs_fibres": q["scs_population"]["n_dorsal_column"] + q["scs_population"]["n_dorsal_root"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality", default="standard")
    ap.add_argument("--neuron-thresholds", type=int, default=3)
    ap.add_argument("--no-convergence", action="store_true", help="skip the doubled-population run")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="drgsim-bench-") as tmp:
        cache = Path(tmp)
        console.print(f"cold compare ({args.quality}), cache {cache} ...")
        cold, cold_s, peak = run_compare(cache, args.quality)
        console.print(f"  {cold_s:.1f} s; warm compare ...")
        warm, warm_s, peak = run_compare(cache, args.quality)
        doubled = None
        if not args.no_convergence:
            console.print(f"  {warm_s:.1f} s; doubled populations ...")
            doubled, doubled_s, peak_doubled = run_compare(cache, args.quality, 2.0)
    console.print(f"NEURON: {args.neuron_thresholds} thresholds ...")
    neuron_s, neuron_times = neuron_threshold_seconds(args.neuron_thresholds)
    report = {
        "quality": args.quality, "cold_s": round(cold_s, 2), "warm_s": round(warm_s, 2),
        "neuron_threshold_s": round(neuron_s, 3), "neuron_threshold_times_s": [round(t, 3) for t in neuron_times],
        "patient_in_neuron_thresholds": round(cold_s / neuron_s, 2), "peak_memory_mb": round(peak, 1),
        "stages": cold["seconds"], "populations": populations(cold),
        "headline": headline(cold), "intervals": {s: cold[s]["intervals"] for s in ("drg", "scs")},
        "convergence": convergence(cold, doubled) if doubled else None,
        "doubled_s": round(doubled_s, 2) if doubled else None,
        "goals": GOALS, "cpu_count": os.cpu_count(), "drgsim_version": cold["drgsim_version"],
    }
    table = Table(title=f"drgsim compare --patient default ({args.quality}) against native NEURON thresholds")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")
    goal = {"patient_in_neuron_thresholds": "<= 12", "warm_s": "<= 3", "peak_memory_mb": "<= 4096"}
    for k in ("cold_s", "warm_s", "neuron_threshold_s", "patient_in_neuron_thresholds", "peak_memory_mb"):
        table.add_row(k, f"{report[k]:.4g}", goal.get(k, ""))
    for k, v in report["stages"].items():
        table.add_row(f"stage {k} (s)", f"{v:.4g}", "")
    for k, v in report["populations"].items():
        table.add_row(k, str(v), f">= {GOALS[k]}")
    for k, v in (report["convergence"] or {}).items():
        table.add_row(f"x2 populations: {k}", f"{v['default']} -> {v['doubled']}",
                      "< 2" + (" pp" if k.endswith("_pct") else "%"))
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
