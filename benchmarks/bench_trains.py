"""Cost of long runs: seconds of CPU per simulated second per cell, drgsim against NEURON on the same model.

Run:  python benchmarks/bench_trains.py [--seconds 5] [--json out.json]

The model is Sundt et al. 2015's C-fibre DRG neuron with Na + Kdr (the mechanisms PyFibers compiles for
NEURON, ``nahh`` and ``borgkdr``; tests/reference/generate_sundt_following.py builds it: 501 segments) and
drgsim's ``drg_c`` in the same configuration (516 compartments), at 35 C and dt 25 us, with peripheral spikes
arriving at 5 Hz. Both run one cell on one core (``time.process_time``); drgsim also runs a batch of cells on
every thread. The spikes reaching the cord must agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "reference"))

from drgsim.devices.waveform import Waveform  # noqa: E402
from drgsim.neurons.models.drg_c import CELL  # noqa: E402
from drgsim.neurons.solver import CellBatch, Injection, SimulationSettings, simulate_train  # noqa: E402
from drgsim.neurons.transmission import peripheral_compartment  # noqa: E402

NA_KDR = dict(km_gbar=0.0, soma_cal_gbar=0.0, soma_sk_gbar=0.0)
RATE_HZ = 5.0


def onsets(seconds: float) -> np.ndarray:
    return np.arange(10.0, seconds * 1e3 - 50.0, 1e3 / RATE_HZ)


def neuron_run(seconds: float) -> tuple[float, int, int]:
    """CPU seconds per simulated second, segments and spikes at central(0.8) of the NEURON cell."""
    import neuron
    import neuron_oracle as oracle
    from generate_sundt_following import build
    from neuron import h

    neuron.load_mechanisms(oracle.ensure_mechanisms(), warn_if_already_loaded=False)
    h.load_file("stdrun.hoc")
    h.celsius = 35
    secs = build(h)
    stim = h.IClamp(secs["peri"](0.2))
    stim.delay, stim.dur = 0, 1e9
    tv, av = h.Vector(), h.Vector()
    for o in onsets(seconds):
        tv.append(o, o + 1.0)
        av.append(0.2, 0.0)
    av.play(stim._ref_amp, tv, 0)
    apc = h.APCount(secs["central"](0.8))
    apc.thresh = -30
    h.dt = 0.025
    h.finitialize(-60)
    t0 = time.process_time()
    h.continuerun(seconds * 1e3)
    return (time.process_time() - t0) / seconds, sum(s.nseg for s in secs.values()), int(apc.n)


def drgsim_run(seconds: float, n_cells: int) -> tuple[float, float, int, int]:
    """Wall seconds per simulated second per cell (and CPU seconds on one thread for one cell), compartments and
    spikes at the cord."""
    cell = replace(CELL, **NA_KDR).build(temperature_c=35.0)
    inject = peripheral_compartment(cell, 4.1)

    def go(n: int, duration_s: float):
        batch = CellBatch.pack([cell] * n)
        return simulate_train(batch, np.zeros(batch.n_compartments), 0.0, Waveform(), duration_s * 1e3,
                              Injection(np.full(n, inject), [onsets(duration_s)] * n), SimulationSettings(dt_us=25.0))

    go(1, 0.1)  # compile
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    t0 = time.process_time()
    one = go(1, seconds)
    cpu_one = (time.process_time() - t0) / seconds
    numba.set_num_threads(threads)
    many = go(n_cells, seconds)
    return cpu_one, many.seconds / (seconds * n_cells), cell.n, len(one.spike_times_ms[0]["central"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="simulated seconds per run")
    ap.add_argument("--cells", type=int, default=8, help="cells in drgsim's batch run")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    a = ap.parse_args()
    nrn_s, nrn_seg, nrn_spikes = neuron_run(a.seconds)
    one_s, batch_s, n_comp, spikes = drgsim_run(a.seconds, a.cells)
    out = {"simulated_s": a.seconds, "neuron_s_per_simulated_s": nrn_s, "neuron_segments": nrn_seg,
           "drgsim_s_per_simulated_s": one_s, "drgsim_batch_s_per_simulated_s_per_cell": batch_s,
           "drgsim_compartments": n_comp, "threads": numba.get_num_threads(), "speedup": nrn_s / one_s,
           "speedup_batch": nrn_s / batch_s, "spikes_neuron": nrn_spikes, "spikes_drgsim": spikes}
    t = Table(title=f"C-type DRG neuron, {a.seconds:g} s with peripheral spikes at {RATE_HZ:g} Hz (dt 25 us, 35 C)")
    for k in ("", "value"):
        t.add_column(k)
    for k, v in out.items():
        t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    Console().print(t)
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
