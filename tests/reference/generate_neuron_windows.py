"""Generate NEURON's firing windows near the electrode and with long pulses (``neuron_windows.json`` in
the package's ``data/reference``, which ``drgsim validate`` reads).

Run from the repository root::

    python tests/reference/generate_neuron_windows.py [--workers 2]

Close to a point source, or with long pulses, an MRG fibre fires only in a window of amplitudes:
above it the spike started under the cathode is blocked by the hyperpolarized flanks, and higher
still an anode-break spike appears at the pulse's end. A bracket-and-double search converges on
whichever branch its bracket hits, so these cases are found here without one: NEURON runs every
amplitude of a geometric grid (``GRID_FACTOR`` steps from ``GRID_START_MA``), and the first
silent-to-firing (threshold) and firing-to-silent (block) transitions of the grid are bisected to
``REL_TOL``. Everything else (fibres built by PyFibers, stimulus, stepping, detection) follows the
contract of ``neuron_oracle.py``. About 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import neuron_oracle as oracle  # noqa: E402

REL_TOL = 0.002
RESISTIVITY = 500.0
DT_MS = 0.0025
GRID_START_MA = 0.002
GRID_FACTOR = 1.1
GRID_STOP_MA = 3.0


def cases() -> list[dict]:
    """Near-field and long-pulse MRG cases, the three of issue 12 among them (51 nodes)."""
    out = []
    for d in (5.7, 10.0, 16.0):
        for r in (0.2, 0.5):
            for pw in (0.1, 1.0):
                out.append(dict(diameter_um=d, n_nodes=41, distance_mm=r, pw_ms=pw, waveform_kind="monophasic",
                                polarity="cathodic"))
    out += [dict(diameter_um=10.0, n_nodes=51, distance_mm=1.0, pw_ms=1.0, waveform_kind="monophasic",
                 polarity="cathodic"),
            dict(diameter_um=10.0, n_nodes=51, distance_mm=1.0, pw_ms=0.5, waveform_kind="monophasic",
                 polarity="cathodic"),
            dict(diameter_um=10.0, n_nodes=51, distance_mm=0.5, pw_ms=0.1, waveform_kind="monophasic",
                 polarity="cathodic"),
            dict(diameter_um=10.0, n_nodes=41, distance_mm=0.25, pw_ms=0.3, waveform_kind="monophasic",
                 polarity="anodic"),
            dict(diameter_um=10.0, n_nodes=41, distance_mm=0.25, pw_ms=0.08, waveform_kind="biphasic",
                 polarity="cathodic")]
    for i, c in enumerate(out):
        c["id"] = i
        c["tstop_ms"] = max(5.0, (2 if c["waveform_kind"] == "biphasic" else 1) * c["pw_ms"] + 3.0)
    return out


def _bisect(fires, lo: float, hi: float, lo_fires: bool) -> tuple[float, float, int]:
    """Bisect a transition between lo (``lo_fires``) and hi (the opposite) to REL_TOL."""
    n = 0
    while (hi - lo) / hi >= REL_TOL:
        mid = 0.5 * (lo + hi)
        n += 1
        if fires(mid) == lo_fires:
            lo = mid
        else:
            hi = mid
    return lo, hi, n


def run_case(case: dict) -> dict:
    t0 = time.perf_counter()
    wf = oracle.make_waveform(case["waveform_kind"], case["polarity"], case["pw_ms"], DT_MS, case["tstop_ms"])
    fiber = oracle.build_fiber("mrg", case["diameter_um"], case["n_nodes"])
    setup = oracle._Setup(fiber, case["distance_mm"], RESISTIVITY, wf, DT_MS, case["tstop_ms"], -30.0, 0.9, None)
    driver = oracle.make_driver(setup, True)
    runs = 0

    def fires(a: float) -> bool:
        nonlocal runs
        runs += 1
        return bool(driver.run(a)["fired"])

    grid = GRID_START_MA * GRID_FACTOR ** np.arange(int(np.log(GRID_STOP_MA / GRID_START_MA) / np.log(GRID_FACTOR)) + 1)
    pattern = [fires(float(a)) for a in grid]
    out = dict(case, resistivity_ohm_cm=RESISTIVITY, dt_ms=DT_MS, rel_tol=REL_TOL, grid_ma=grid.tolist(),
               grid_fired=pattern)
    k = next((i for i, f in enumerate(pattern) if f), None)
    if k is None or k == 0:
        raise RuntimeError(f"case {case['id']}: no silent-to-firing transition on the grid")
    lo, hi, _ = _bisect(fires, float(grid[k - 1]), float(grid[k]), False)
    out["threshold_ma"] = hi
    m = next((i for i in range(k, len(grid)) if not pattern[i]), None)
    if m is None:
        out["block_ma"] = None
    else:
        lo, hi, _ = _bisect(fires, float(grid[m - 1]), float(grid[m]), True)
        out["block_ma"] = hi
    out["n_simulations"] = runs
    out["seconds"] = time.perf_counter() - t0
    driver.close()
    setup = driver = None  # NEURON frees the section (the closure above keeps the name)
    oracle.delete_fiber(fiber)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    oracle.ensure_mechanisms()
    todo = cases()
    results = {}
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for r in pool.imap_unordered(run_case, todo):
            results[r["id"]] = r
            print(f"[{len(results):2d}/{len(todo)}] d={r['diameter_um']} r={r['distance_mm']} pw={r['pw_ms']} "
                  f"{r['waveform_kind']} {r['polarity']}: threshold {r['threshold_ma']:.5g} block {r['block_ma']} "
                  f"({r['n_simulations']} runs, {r['seconds']:.0f} s)", flush=True)
    payload = {"generated_by": "tests/reference/generate_neuron_windows.py",
               "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "versions": oracle.versions(), "grid": {"start_ma": GRID_START_MA, "factor": GRID_FACTOR,
                                                        "stop_ma": GRID_STOP_MA},
               "cases": [results[i] for i in range(len(todo))]}
    with open(os.path.join(HERE, "..", "..", "src", "drgsim", "data", "reference", "neuron_windows.json"), "w") as fh:
        json.dump(payload, fh, indent=1)


if __name__ == "__main__":
    main()
