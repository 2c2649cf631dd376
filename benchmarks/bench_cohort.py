"""Benchmark: patients per hour of a virtual cohort on this machine, one local Dask worker against two.

Run:  python benchmarks/bench_cohort.py [--n 4] [--seed 1] [--quality quick] [--workers 1 2] [--json out.json]

The same cohort is run once per worker count, each from a fresh cache and results folder (so every field,
table and patient is computed), and the results of every run are checked equal to the first's. Prints
patients per hour (both arms each) and the speedup of each run over the first.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from drgsim.cohort.population import CohortConfig
from drgsim.cohort.run import read_rows, run_cohort


def _numbers(out: Path) -> dict:
    timing = ("seconds", "trial_seconds")
    return {(r["index"], r["arm"]): {k: v for k, v in r.items() if k not in timing} for r in read_rows(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quality", default="quick")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    config = CohortConfig(n=args.n, seed=args.seed, quality=args.quality)
    runs, first = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            os.environ["DRGSIM_CACHE_DIR"] = str(Path(tmp) / f"cache-{w}")  # the workers inherit it
            out = Path(tmp) / f"cohort-{w}"
            t0 = time.perf_counter()
            summary = run_cohort(config, out, workers=w)
            seconds = time.perf_counter() - t0
            numbers = _numbers(out)
            first = first or numbers
            runs.append({"workers": w, "seconds": round(seconds, 1), "completed": summary.completed,
                         "failed": summary.failed, "patients_per_hour": round(3600 * summary.completed / seconds, 2),
                         "same_results_as_first": numbers == first})
    for r in runs:
        r["speedup"] = round(runs[0]["seconds"] / r["seconds"], 2)
    table = Table(title=f"Cohort of {args.n} ({args.quality}, seed {args.seed}), both arms per patient")
    for col in ("workers", "seconds", "patients/hour", "speedup", "failed", "same results"):
        table.add_column(col)
    for r in runs:
        table.add_row(str(r["workers"]), str(r["seconds"]), str(r["patients_per_hour"]), str(r["speedup"]),
                      str(r["failed"]), str(r["same_results_as_first"]))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "seed": args.seed, "quality": args.quality, "runs": runs},
                                        indent=1))


if __name__ == "__main__":
    main()
