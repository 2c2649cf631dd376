"""Compiled cable kernel: implicit integration of groups of compartment trees (numba, float64).

Each compartment has two unknowns, the membrane potential Vm and the periaxonal potential Vp
(the MRG double cable; Vp equals the extracellular potential Ve where a compartment has no
myelin layer). A time step follows NEURON's fixed-step scheme (Hines & Carnevale 1997): ionic
currents are linearized at the present gates, the tree system of 2x2 blocks is solved by Hines
elimination, then the gates advance by exponential Euler at the new voltage (staggered in time).
``crank_nicolson`` solves over dt/2 and extrapolates, as NEURON's secondorder=2 does.

Cells are stored flat (cell after cell; ``coef`` and ``struct`` rows per compartment). Each thread
runs a worker of a few lanes: a lane holds one cell at a time, copied into the worker's arrays laid
out compartment-major, lane-minor (index ``i * L + l``), so each step of the sequential Hines sweep
advances L independent cells at once (instruction-level parallelism instead of one latency-bound
chain). Each lane runs its cell's own sequence of simulations (its threshold search), restarting
from rest as soon as a run is decided, and loads the next cell of the worker's queue once the cell is
decided, so lanes never wait for each other. The kernel only sees flat arrays (grouped in named tuples,
``Run`` .. ``Outputs``), so another backend can replace this module.

Units: mV, ms, nA, uS, nF.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

from drgsim.neurons.mechanisms import (
    N_GATES,
    N_PARAMS,
    N_STATES,
    Mechanism,
    advance_slow,
    gate_rates,
    membrane_current,
    rest_slow,
    slow_current,
)

_jit = nb.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")  # no zero-division checks

REST_CHECK_EVERY = 8  # steps between at-rest checks (a decision, never a threshold, depends on it)


@_jit
def _relax(dt, tau):
    """Exponential-Euler weight 1 - exp(-dt/tau); a vanishing tau (rates overflowing at voltages far
    outside physiology) sets the gate to its steady state."""
    if not tau > 1e-300:
        return 1.0
    return 1.0 - math.exp(-dt / tau)


# Gate tables: every gate's steady state and exponential-Euler decay exp(-dt/tau) on a voltage grid,
# linearly interpolated, as NEURON's TABLE statement does for its channel kinetics (the rates'
# exponentials are most of an active compartment's step). At 0.05 mV the interpolation error is ~1e-5
# of a gate's range (tests/neurons/test_solver.py).
TABLE_V_MIN, TABLE_DV, TABLE_N = -200.0, 0.05, 8001


@_jit
def gate_tables(kinds, params, dt):
    """Tables (n_tables, TABLE_N, 8) of (steady state, decay) for the four gate slots of mechanism ``kinds[t]``
    with parameters ``params[:, t]`` (parameter-major), at time step ``dt``."""
    out = np.empty((len(kinds), TABLE_N, 8))
    for t in range(len(kinds)):
        for i in range(TABLE_N):
            r = gate_rates(kinds[t], TABLE_V_MIN + i * TABLE_DV, params, t)
            for q in range(N_GATES):
                out[t, i, 2 * q] = r[2 * q]
                out[t, i, 2 * q + 1] = 1.0 - _relax(dt, r[2 * q + 1])
    return out


# Rows of the per-compartment arrays: ``coef`` (float) and ``struct`` (int; ``parent`` and ``ghost`` are
# local compartment indices of the compartment's own cell, -1 for none).
C_M, C_MY, G_MY, GA, GP, SUM_GA, SUM_GP, AREA, G_GHOST, VM0, VP0, GATES0 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
PARAMS = GATES0 + N_STATES
N_COEF = PARAMS + N_PARAMS
PARENT, KIND, SHORTED, GHOST, TABLE = 0, 1, 2, 3, 4
N_STRUCT = 5


@_jit
def step_group(n, L, dt, order2, update_gates, use_tables, struct, coef, gate_table, vm, vp, gates, ve_new, ve_old,
               d, rhs, xm, ym, dvm, dvp):
    """Advance every lane of one group by dt: compartment i of lane l at index ``i * L + l`` of every array
    (the structure too, so the lanes may be different cells; a lane shorter than ``n`` is padded with
    uncoupled compartments). Indices are unsigned: numba then skips its negative-index checks.

    Two sweeps: leaves to root, each compartment assembles its 2x2 block (its children have already
    added theirs into ``d`` and ``rhs``), adds the axial currents of the edge to its parent and is
    eliminated into the parent (Hines); root to leaves, back-substitution, voltage and gate updates,
    and ``d``/``rhs`` are cleared for the next step. The off-diagonal block of an edge is
    -[[ga, ga], [ga, ga + gp]], its second row zeroed for shorted compartments. A compartment with a
    ghost partner (``GHOST`` >= 0, a cut end continued) receives g_ghost * (Ve - Ve_partner) intracellularly.
    Current injected into a compartment (nA, an electrode inside the cell) is added to ``rhs[0]`` before the call.
    Gates advance from ``gate_table`` (``gate_tables``) where ``use_tables``, the compartment has one
    (``TABLE`` >= 0) and its voltage lies on the table's grid, else from the rate functions.
    """
    inv_h = 2.0 / dt if order2 else 1.0 / dt
    frac = 0.5 if order2 else 1.0
    params = coef[PARAMS:]
    for i in range(n - 1, -1, -1):
        for l in range(L):
            j = nb.uint64(i * L + l)
            k = struct[KIND, j]
            sh = struct[SHORTED, j] != 0
            p = struct[PARENT, j]
            gp_i = struct[GHOST, j]
            row_i = 0.0 if sh else 1.0
            cur, g = membrane_current(k, vm[j], gates[0, j], gates[1, j], gates[2, j], gates[3, j], params, j)
            if k == Mechanism.SUNDT_SLOW:
                cur_slow, g_slow = slow_current(vm[j], gates, params, j)
                cur += cur_slow
                g += g_slow
            sa = coef[SUM_GA, j]
            area = coef[AREA, j]
            dve = frac * (ve_new[j] - ve_old[j])
            d0 = d[0, j] + coef[C_M, j] * inv_h + g * area + sa
            d1 = d[1, j] + sa
            r0 = rhs[0, j] - cur * area
            inject = 0.0
            if gp_i >= 0:
                pl = nb.uint64(gp_i * L + l)
                inject = coef[G_GHOST, j] * (ve_old[j] + dve - ve_old[pl] - frac * (ve_new[pl] - ve_old[pl]))
                r0 += inject
            if sh:
                d2 = 0.0
                d3 = 1.0
                r1 = ve_old[j] + dve - vp[j]
            else:
                c_my, g_my = coef[C_MY, j], coef[G_MY, j]
                d2 = d[2, j] + sa
                d3 = d[3, j] + c_my * inv_h + g_my + sa + coef[SUM_GP, j]
                r1 = rhs[1, j] + c_my * inv_h * dve - g_my * (vp[j] - ve_old[j] - dve) + inject
            if p < 0:
                inv_det = 1.0 / (d0 * d3 - d1 * d2)
                dvm[j] = (d3 * r0 - d1 * r1) * inv_det
                dvp[j] = (d0 * r1 - d2 * r0) * inv_det
                continue
            q = nb.uint64(p * L + l)
            row_p = 0.0 if struct[SHORTED, q] != 0 else 1.0
            a = coef[GA, j]
            gpj = coef[GP, j]
            e = a + gpj
            flow_i = a * ((vm[q] + vp[q]) - (vm[j] + vp[j]))
            flow_p = gpj * (vp[q] - vp[j])
            r0 += flow_i
            r1 += row_i * (flow_i + flow_p)
            rq0 = -flow_i
            rq1 = -row_p * (flow_i + flow_p)
            inv_det = 1.0 / (d0 * d3 - d1 * d2)
            i00 = d3 * inv_det
            i01 = -d1 * inv_det
            i10 = -d2 * inv_det
            i11 = d0 * inv_det
            # X = D_i^-1 B_ip with B_ip = -[[a, a], [row_i a, row_i e]]; y = D_i^-1 rhs_i
            x00 = -(i00 * a + i01 * row_i * a)
            x01 = -(i00 * a + i01 * row_i * e)
            x10 = -(i10 * a + i11 * row_i * a)
            x11 = -(i10 * a + i11 * row_i * e)
            y0 = i00 * r0 + i01 * r1
            y1 = i10 * r0 + i11 * r1
            xm[0, j] = x00
            xm[1, j] = x01
            xm[2, j] = x10
            xm[3, j] = x11
            ym[0, j] = y0
            ym[1, j] = y1
            # D_p -= B_pi X and rhs_p -= B_pi y with B_pi = -[[a, a], [row_p a, row_p e]]
            d[0, q] += a * (x00 + x10)
            d[1, q] += a * (x01 + x11)
            d[2, q] += row_p * (a * x00 + e * x10)
            d[3, q] += row_p * (a * x01 + e * x11)
            rhs[0, q] += rq0 + a * (y0 + y1)
            rhs[1, q] += rq1 + row_p * (a * y0 + e * y1)
    for i in range(n):
        for l in range(L):
            j = nb.uint64(i * L + l)
            p = struct[PARENT, j]
            if p >= 0:
                q = nb.uint64(p * L + l)
                dvm[j] = ym[0, j] - xm[0, j] * dvm[q] - xm[1, j] * dvp[q]
                dvp[j] = ym[1, j] - xm[2, j] * dvm[q] - xm[3, j] * dvp[q]
            d[0, j] = 0.0
            d[1, j] = 0.0
            d[2, j] = 0.0
            d[3, j] = 0.0
            rhs[0, j] = 0.0
            rhs[1, j] = 0.0
            if order2:
                vmid = vm[j] + dvm[j]
                vm[j] += 2.0 * dvm[j]
                vp[j] += 2.0 * dvp[j]
            else:
                vm[j] += dvm[j]
                vp[j] += dvp[j]
                vmid = vm[j]
            k = struct[KIND, j]
            if k != Mechanism.PASSIVE and update_gates:
                tb = struct[TABLE, j]
                x = (vmid - TABLE_V_MIN) * (1.0 / TABLE_DV)
                if use_tables and tb >= 0 and x >= 0.0 and x < TABLE_N - 1:
                    i0 = int(x)
                    f = x - i0
                    for m in range(N_GATES):
                        s0, e0 = gate_table[tb, i0, 2 * m], gate_table[tb, i0, 2 * m + 1]
                        inf = s0 + f * (gate_table[tb, i0 + 1, 2 * m] - s0)
                        decay = e0 + f * (gate_table[tb, i0 + 1, 2 * m + 1] - e0)
                        gates[m, j] = inf + (gates[m, j] - inf) * decay
                else:
                    r = gate_rates(k, vmid, params, j)
                    gates[0, j] += _relax(dt, r[1]) * (r[0] - gates[0, j])
                    gates[1, j] += _relax(dt, r[3]) * (r[2] - gates[1, j])
                    gates[2, j] += _relax(dt, r[5]) * (r[4] - gates[2, j])
                    gates[3, j] += _relax(dt, r[7]) * (r[6] - gates[3, j])
                    if k == Mechanism.SUNDT_SLOW:  # never tabulated: its slow states follow its gates here
                        advance_slow(k, vmid, dt, gates, params, j)


@_jit
def _work(n_lanes_total):
    # d and rhs start cleared: each step accumulates into them and clears them again.
    return (np.zeros((4, n_lanes_total)), np.zeros((2, n_lanes_total)), np.empty((4, n_lanes_total)),
            np.empty((2, n_lanes_total)), np.empty(n_lanes_total), np.empty(n_lanes_total))


@_jit
def _lanes(ns):
    """A worker's lane arrays for ``ns`` = lanes x compartments: structure, coefficients, unit potentials, probe
    extremes, Vm, Vp and states (``_load_lane`` fills them)."""
    return (np.empty((N_STRUCT, ns), dtype=np.int64), np.empty((N_COEF, ns)), np.empty(ns), np.zeros((5, ns)),
            np.zeros(ns), np.zeros(ns), np.zeros((N_STATES, ns)))


@nb.njit(cache=True, parallel=True, nogil=True, fastmath=True, error_model="numpy")
def relax(offsets, struct, coef, vm, vp, gates, dt, n_steps):
    """Resting state of every cell (flat layout): gates at steady state at ``vm``, then ``n_steps``
    unstimulated steps of dt (long: the rate functions, not a table)."""
    no_table = np.zeros((1, 2, 8))
    for c in nb.prange(len(offsets) - 1):
        lo, hi = offsets[c], offsets[c + 1]
        n = hi - lo
        st, cf = struct[:, lo:hi], coef[:, lo:hi]
        v, w, gt = vm[lo:hi], vp[lo:hi], gates[:, lo:hi]
        params = cf[PARAMS:]
        for i in range(n):
            r = gate_rates(st[KIND, i], v[i], params, i)
            gt[0, i], gt[1, i], gt[2, i], gt[3, i] = r[0], r[2], r[4], r[6]
            rest_slow(st[KIND, i], v[i], gt, params, i)
        zero = np.zeros(n)
        d, rhs, xm, ym, dvm, dvp = _work(n)
        for _ in range(n_steps):
            step_group(n, 1, dt, False, True, False, st, cf, no_table, v, w, gt, zero, zero, d, rhs, xm, ym, dvm, dvp)


# Run modes of ``run_cells``.
SIMULATE, PROBE, SEARCH, SCREEN = 0, 1, 2, 3
# Search phases of a lane: step up from a subthreshold start, step down (only if the start fired),
# bisect the activation threshold, step up for the end of the firing window, bisect it. A lane whose
# ceiling lies far above its start first runs at the ceiling (_CEILING): a run there in which no
# compartment spikes at all ends the search (silent: a cell quiet at the ceiling fires nowhere below).
_UP, _DOWN, _BISECT, _BLOCK_UP, _BLOCK_BISECT, _FINISHED, _CEILING = 0, 1, 2, 3, 4, 5, 6
CEILING_FIRST = 8.0  # ceiling / start above which the ceiling is tried first
# Status per cell (column STATUS of ``Outputs.cell_out``).
OK, SILENT, EXHAUSTED = 0, 1, 2
# Columns of ``Run.cell_in`` (start amplitude, ceiling) and ``Outputs.cell_out``.
START, CEILING = 0, 1
THRESHOLD, BLOCK, N_SIMS, STEPS, STATUS = 0, 1, 2, 3, 4
# Rows of ``Outputs.extremes`` (PROBE): largest depolarization, largest hyperpolarization, the value at the end
# of the leading phase (``stim_end`` in this mode), the low-pass filtered response and its largest value.
DEPOL, HYPERPOL, LEAD_END, FILTERED, FILTERED_PEAK = 0, 1, 2, 3, 4


# The arguments of ``run_cells``, named (numba passes named tuples by value; fields are typed, never looked up).
class Run(NamedTuple):
    """What to run: the mode, each cell's (START, CEILING) amplitudes (mA), the spike threshold (mV), the
    at-rest criteria (mV, mV/ms; negative: never at rest) and the spike times kept per detector."""

    mode: int
    cell_in: np.ndarray
    v_thresh_mv: float
    rest_tol_mv: float
    rest_slope_mv_per_ms: float
    max_spikes: int


class Search(NamedTuple):
    """The threshold search's parameters (``solver.SearchSettings``); ``filter_ms`` is the probe's low-pass
    time constant; ``ceiling_run``: every cell has had its run at the ceiling (SCREEN) and spiked there."""

    rel_tol: float
    step_up: float
    step_fine: float
    step_block: float
    find_block: bool
    max_sims: int
    filter_ms: float
    ceiling_run: bool


class Cells(NamedTuple):
    """The packed cells (``solver.CellBatch``): compartment offsets, ``struct`` and ``coef`` rows, the gate
    tables at the run's time step, the unit potentials (mV per mA), and each cell's detectors (local
    compartments, cell after cell, from ``det_offsets``) with the index of its primary one among them."""

    offsets: np.ndarray
    struct: np.ndarray
    coef: np.ndarray
    gate_table: np.ndarray
    ve_unit: np.ndarray
    detectors: np.ndarray
    det_offsets: np.ndarray
    primary: np.ndarray


class TimeGrid(NamedTuple):
    """Time step (ms), steps, the step from which a run may end early, Crank-Nicolson or not, and the
    waveform sampled per step."""

    dt_ms: float
    n_steps: int
    stim_end: int
    order2: bool
    waveform: np.ndarray


class Workers(NamedTuple):
    """The work queues (``solver.CellBatch.workers``): lanes per worker, the queues' cells (largest first),
    each queue's offset into them and its lane length (compartments)."""

    lanes: int
    cells: np.ndarray
    offsets: np.ndarray
    n: np.ndarray


class Outputs(NamedTuple):
    """Per cell ``cell_out`` (THRESHOLD..STATUS); per compartment ``first_cross`` (ms) and ``extremes``
    (PROBE, mV per mA); per detector ``spike_times`` (ms) and ``spike_counts``."""

    cell_out: np.ndarray
    first_cross: np.ndarray
    extremes: np.ndarray
    spike_times: np.ndarray
    spike_counts: np.ndarray


@nb.njit(cache=True, parallel=True, nogil=True, fastmath=True, error_model="numpy")
def run_cells(run, search, cells, grid, workers, commit, out):
    """Run every cell (``Run``, ``Search``, ``Cells``, ``TimeGrid``, ``Workers``, ``solver.CommitPaths``,
    ``Outputs``). Worker ``w`` (one per thread) takes the cells ``w_cells[w_off[w]:w_off[w + 1]]`` (largest
    first) into ``lanes`` lanes of ``w_n[w]`` compartments: each lane runs one cell's sequence of simulations
    and, once the cell is decided, loads the next from the worker's queue, so lanes never wait for each other.

    ``SIMULATE``: one run per cell at ``cell_in[c, START]``; it stops when every detector has fired
    (with ``max_spikes`` 1), when the cell is back at rest after the stimulus (all |Vm - rest| <
    rest_tol, |dVm/dt| < rest_slope) or at tstop. ``SCREEN``: the same run, stopped as soon as any
    compartment spikes; the cell's status is ``SILENT`` if none did. ``PROBE``: one run at 1 mA with the gates frozen at
    rest, so the membrane is linear; ``extremes`` receives the largest depolarization and
    hyperpolarization (mV per mA) of every compartment over the ``n_steps`` steps. ``SEARCH``: per
    cell, from ``START`` (meant to be subthreshold) step up by ``step_up`` until the primary detector
    fires (step down first if the start fires; with ``ceiling_run`` no run at the ceiling first),
    bisect on the amplitude lattice (``_lattice_step``) to the lattice point at or above the threshold,
    whose cell (hi - lo) / hi is rel_tol; then, with ``find_block``, step up by ``step_block`` from the
    threshold until the cell falls silent (the end of its first firing window, bisected likewise) or
    ``CEILING`` is passed. Runs stop as soon as the
    primary detector fires, or (SEARCH) once the spike has crossed at the run's commit compartment, from
    where it can only travel on to the detector: ``commit_at`` at the number of positions of the cell's
    stretch whose ``commit_moved`` x amplitude is below 1 (``solver.CommitPaths``). ``first_cross``
    receives the first upward crossing time of every compartment in the lowest firing run below the
    threshold search's end (-1 if none).
    """
    mode, cell_in, v_thresh, rest_tol, rest_slope, max_spikes = run
    rel_tol, f_up, f_fine, f_block, find_block, max_sims, filter_ms, ceiling_run = search
    offsets, struct, coef, gate_table, ve_unit, det_local, det_off, primary = cells
    dt, n_steps, stim_end, order2, waveform = grid
    L, w_cells, w_off, w_n = workers
    commit_off, commit_moved, commit_at = commit
    cell_out, first_cross, extremes, spike_times, spike_counts = out
    k_filter = 1.0 - math.exp(-dt / filter_ms) if filter_ms > 0.0 else 1.0
    for w in nb.prange(len(w_n)):
        ns = w_n[w] * L
        s_struct, s_coef, s_ve, ext, vm, vp, gates = _lanes(ns)
        d, rhs, xm, ym, dvm, dvp = _work(ns)
        fc = np.full(ns, -1.0)
        vprev = np.zeros(ns)
        ve_new = np.zeros(ns)
        ve_old = np.zeros(ns)
        for l in range(L):
            _pad_lane(l, L, 0, w_n[w], s_struct, s_coef, s_ve)
        cell_of = np.full(L, -1, dtype=np.int64)
        n_of = np.zeros(L, dtype=np.int64)
        step = np.zeros(L, dtype=np.int64)
        amp = np.zeros(L)  # amplitude of the lane's current run; in stepping phases also the next one
        nxt = np.zeros(L)
        running = np.zeros(L, dtype=np.bool_)
        lo = np.zeros(L)  # highest silent amplitude below the threshold
        hi = np.zeros(L)  # lowest firing amplitude
        blo = np.zeros(L)  # highest firing amplitude of the first window
        bhi = np.zeros(L)  # lowest silent amplitude above the threshold
        phase = np.zeros(L, dtype=np.int64)
        lo_known = np.zeros(L, dtype=np.bool_)
        silent = np.zeros(L, dtype=np.bool_)
        quiet = np.zeros(L)  # highest amplitude at which no compartment crossed the spike threshold
        loud = np.zeros(L, dtype=np.bool_)  # a silent run has had a local spike: step finely from now on
        sims = np.zeros(L, dtype=np.int64)
        total = np.zeros(L, dtype=np.int64)
        commit = np.full(L, -1, dtype=np.int64)  # local compartment deciding the lane's run (-1: the detector)
        queue = w_off[w]
        while True:
            for l in range(L):
                while not running[l]:
                    if cell_of[l] < 0:
                        if queue == w_off[w + 1]:
                            break
                        c = w_cells[queue]
                        queue += 1
                        cell_of[l] = c
                        n_of[l] = _load_lane(l, L, w_n[w], c, offsets, struct, coef, ve_unit, s_struct, s_coef, s_ve,
                                             ext)
                        step[l], amp[l], nxt[l] = 0, 0.0, cell_in[c, START]
                        lo[l], hi[l], blo[l], bhi[l], quiet[l] = 0.0, 0.0, 0.0, np.inf, 0.0
                        phase[l], sims[l], total[l] = _UP, 0, 0
                        lo_known[l], silent[l], loud[l] = False, False, False
                        if mode == SEARCH and not nxt[l] < np.inf:  # no depolarization anywhere: it cannot fire
                            phase[l] = _FINISHED
                            silent[l] = True
                        elif mode == SEARCH and not ceiling_run and \
                                cell_in[c, CEILING] > CEILING_FIRST * nxt[l]:
                            phase[l] = _CEILING
                            nxt[l] = cell_in[c, CEILING]
                    c = cell_of[l]
                    a = _next_amplitude(mode, l, cell_in[c, CEILING], rel_tol, f_block, find_block, max_sims, sims,
                                        phase, nxt, lo, hi, blo, bhi)
                    if a < 0.0:
                        _finish(mode, l, c, cell_out, hi, bhi, nxt, sims, total, phase, silent)
                        if mode == PROBE:
                            lo_c = offsets[c]
                            for i in range(n_of[l]):
                                for r in range(5):
                                    extremes[r, lo_c + i] = ext[r, i * L + l]
                        cell_of[l] = -1
                        continue
                    amp[l] = a
                    running[l] = True
                    step[l] = 0
                    pos = commit_off[c]
                    while pos < commit_off[c + 1] and commit_moved[pos] * a < 1.0:
                        pos += 1
                    commit[l] = commit_at[pos + c] if mode == SEARCH else -1
                    for i in range(n_of[l]):
                        j = i * L + l
                        vm[j] = s_coef[VM0, j]
                        vp[j] = s_coef[VP0, j]
                        for q in range(N_STATES):
                            gates[q, j] = s_coef[GATES0 + q, j]
                        fc[j] = -1.0
                        ve_old[j] = 0.0
                    for k in range(det_off[c], det_off[c + 1]):
                        spike_counts[k] = 0
            nn = 0
            for l in range(L):
                if running[l]:
                    nn = max(nn, n_of[l])
            if nn == 0:
                break
            for l in range(L):
                wv = waveform[step[l]] * amp[l] if running[l] else 0.0
                for i in range(nn):
                    ve_new[i * L + l] = wv * s_ve[i * L + l]
            for j in range(nn * L):
                vprev[j] = vm[j]
            step_group(nn, L, dt, order2, mode != PROBE, True, s_struct, s_coef, gate_table, vm, vp, gates, ve_new,
                       ve_old, d, rhs, xm, ym, dvm, dvp)
            for j in range(nn * L):
                ve_old[j] = ve_new[j]
            for l in range(L):
                if not running[l]:
                    continue
                c = cell_of[l]
                n = n_of[l]
                step[l] += 1
                s = step[l]
                if mode == PROBE:
                    for i in range(n):
                        j = i * L + l
                        dv = vm[j] - s_coef[VM0, j]
                        ext[DEPOL, j] = max(ext[DEPOL, j], dv)
                        ext[HYPERPOL, j] = min(ext[HYPERPOL, j], dv)
                        ext[FILTERED, j] += k_filter * (dv - ext[FILTERED, j])
                        ext[FILTERED_PEAK, j] = max(ext[FILTERED_PEAK, j], ext[FILTERED, j])
                        if s == stim_end:
                            ext[LEAD_END, j] = dv
                    if s >= n_steps:
                        running[l] = False
                        sims[l] += 1
                        total[l] += s
                    continue
                t1 = s * dt
                spiked = False
                for i in range(n):
                    j = i * L + l
                    if vprev[j] < v_thresh <= vm[j] and fc[j] < 0.0:
                        fc[j] = t1 - dt * (vm[j] - v_thresh) / (vm[j] - vprev[j])
                        spiked = True
                if mode == SCREEN and spiked:
                    running[l] = False
                    sims[l] += 1
                    total[l] += s
                    continue
                all_fired = True
                for k in range(det_off[c], det_off[c + 1]):
                    j = det_local[k] * L + l
                    if vprev[j] < v_thresh <= vm[j]:
                        if spike_counts[k] < max_spikes:
                            spike_times[k, spike_counts[k]] = t1 - dt * (vm[j] - v_thresh) / (vm[j] - vprev[j])
                        spike_counts[k] += 1
                    if spike_counts[k] == 0:
                        all_fired = False
                fired = spike_counts[det_off[c] + primary[c]] > 0
                if commit[l] >= 0 and fc[commit[l] * L + l] >= 0.0:
                    fired = True
                end = s >= n_steps or (mode == SEARCH and fired)
                if not end and s >= stim_end:
                    if all_fired and max_spikes == 1:
                        end = True
                    elif rest_tol > 0.0 and s % REST_CHECK_EVERY == 0:
                        at_rest = True
                        for i in range(n):
                            j = i * L + l
                            if abs(vm[j] - s_coef[VM0, j]) > rest_tol or abs(vm[j] - vprev[j]) > rest_slope * dt:
                                at_rest = False
                                break
                        end = at_rest
                if not end:
                    continue
                running[l] = False
                sims[l] += 1
                total[l] += s
                ph = phase[l]
                if mode == SIMULATE or (fired and ph <= _BISECT):
                    lo_c = offsets[c]
                    for i in range(n):
                        first_cross[lo_c + i] = fc[i * L + l]
                if mode == SCREEN:
                    silent[l] = True  # back at rest (or at tstop) without a spike anywhere
                if mode != SEARCH:
                    continue
                crossed = False
                for i in range(n):
                    if fc[i * L + l] >= 0.0:
                        crossed = True
                        break
                _update(ph, fired, crossed, amp[l], cell_in[c, START], cell_in[c, CEILING], f_up, f_fine, f_block, l,
                        phase, nxt, lo, hi, blo, bhi, lo_known, silent, quiet, loud)


@_jit
def _pad_lane(l, L, start, n_slot, s_struct, s_coef, s_ve):
    """Lane ``l``'s compartments from ``start`` on: uncoupled, without membrane or stimulus (they stay put)."""
    for i in range(start, n_slot):
        j = i * L + l
        for r in range(N_STRUCT):
            s_struct[r, j] = -1 if (r == PARENT or r == GHOST or r == TABLE) else 0
        for r in range(N_COEF):
            s_coef[r, j] = 1.0 if (r == C_M or r == C_MY) else 0.0
        s_ve[j] = 0.0


@_jit
def _load_lane(l, L, n_slot, c, offsets, struct, coef, ve_unit, s_struct, s_coef, s_ve, ext):
    """Copy cell ``c`` into lane ``l`` (the rest of the lane padded); its number of compartments."""
    lo = offsets[c]
    n = offsets[c + 1] - lo
    for i in range(n):
        j = i * L + l
        for r in range(N_STRUCT):
            s_struct[r, j] = struct[r, lo + i]
        for r in range(N_COEF):
            s_coef[r, j] = coef[r, lo + i]
        s_ve[j] = ve_unit[lo + i]
    _pad_lane(l, L, n, n_slot, s_struct, s_coef, s_ve)
    for i in range(n_slot):
        for r in range(5):
            ext[r, i * L + l] = 0.0
    return n


@_jit
def _next_amplitude(mode, l, ceiling, rel_tol, f_block, find_block, max_sims, sims, phase, nxt, lo, hi, blo, bhi):
    """The amplitude of lane ``l``'s next run, -1 once its cell is decided."""
    if mode != SEARCH:
        return nxt[l] if sims[l] == 0 else -1.0
    g = _lattice_step(rel_tol)
    while sims[l] < max_sims and phase[l] != _FINISHED:
        ph = phase[l]
        if ph == _BISECT:
            k_lo, k_hi = _lattice_below(lo[l], g), _lattice_above(hi[l], g)
            if k_hi - k_lo <= 1:
                hi[l] = math.exp(k_hi * g)
                blo[l] = hi[l]
                if find_block and hi[l] < ceiling:
                    phase[l] = _BLOCK_UP
                    nxt[l] = min(hi[l] * f_block, ceiling)
                else:
                    phase[l] = _FINISHED
                continue
            return math.exp(((k_lo + k_hi) // 2) * g)
        if ph == _BLOCK_BISECT:
            k_lo, k_hi = _lattice_below(blo[l], g), _lattice_above(bhi[l], g)
            if k_hi - k_lo <= 1:
                bhi[l] = math.exp(k_hi * g)
                phase[l] = _FINISHED
                continue
            return math.exp(((k_lo + k_hi) // 2) * g)
        return nxt[l]
    return -1.0


# The bisections run on a fixed amplitude lattice, exp(k g) mA with 1 - exp(-g) = rel_tol, and end with the
# lattice point at or above the edge: a cell's threshold (and block) is then the same whatever bracket the
# search reached it from (another ceiling, start or step), so a table searched up to a lower ceiling agrees
# exactly with one searched to the device maximum below that ceiling. Indices within 1e-7 of a lattice point
# are that point (exp and log round).
@_jit
def _lattice_step(rel_tol):
    return -math.log(1.0 - rel_tol)


@_jit
def _lattice_below(a, g):
    """Index of the highest lattice point at or below ``a``."""
    return math.floor(math.log(a) / g + 1e-7)


@_jit
def _lattice_above(a, g):
    """Index of the lowest lattice point at or above ``a``."""
    return math.ceil(math.log(a) / g - 1e-7)


@_jit
def _finish(mode, l, c, cell_out, hi, bhi, nxt, sims, total, phase, silent):
    fired_any = hi[l] > 0.0
    cell_out[c, THRESHOLD] = hi[l] if (fired_any or mode != SEARCH) else np.inf
    cell_out[c, BLOCK] = bhi[l]
    cell_out[c, N_SIMS] = sims[l]
    cell_out[c, STEPS] = total[l]
    if mode != SEARCH or phase[l] == _FINISHED:
        cell_out[c, STATUS] = SILENT if silent[l] else OK
    else:
        cell_out[c, STATUS] = EXHAUSTED
    if mode == SIMULATE:
        cell_out[c, THRESHOLD] = nxt[l]


@_jit
def _update(ph, fired, crossed, a, start, ceiling, f_up, f_fine, f_block, l, phase, nxt, lo, hi, blo, bhi, lo_known,
            silent, quiet, loud):
    """The search's step after a run of lane ``l`` at amplitude ``a`` (see ``run_cells``).

    Stepping up, a silent run in which a spike started somewhere (``crossed``) may lie above a firing
    window that the step jumped (block): the search goes back to the last quiet amplitude and steps on
    by ``f_fine``, as it does from then on.
    """
    if ph == _CEILING:
        if fired or crossed:
            phase[l] = _UP
            nxt[l] = start
        else:
            phase[l] = _FINISHED
            silent[l] = True
    elif ph == _UP:
        if fired:
            hi[l] = a
            if lo_known[l]:
                phase[l] = _BISECT
            else:
                phase[l] = _DOWN
                nxt[l] = a / f_up
        elif crossed and not loud[l]:
            loud[l] = True
            nxt[l] = min(max(quiet[l], lo[l]) * f_fine, ceiling) if lo_known[l] else a / f_up
            if nxt[l] >= a:
                lo[l] = a
                lo_known[l] = True
                nxt[l] = min(a * f_fine, ceiling)
        else:
            lo[l] = a
            lo_known[l] = True
            if not crossed:
                quiet[l] = a
            if a >= ceiling:
                phase[l] = _FINISHED
                silent[l] = True
            else:
                nxt[l] = min(a * (f_fine if loud[l] else f_up), ceiling)
    elif ph == _DOWN:
        if fired:
            hi[l] = a
            nxt[l] = a / f_up
        else:
            lo[l] = a
            lo_known[l] = True
            phase[l] = _BISECT
    elif ph == _BISECT:
        if fired:
            hi[l] = a
        else:
            lo[l] = a
    elif ph == _BLOCK_UP:
        if fired:
            blo[l] = a
            if a >= ceiling:
                phase[l] = _FINISHED
            else:
                nxt[l] = min(a * f_block, ceiling)
        else:
            bhi[l] = a
            phase[l] = _BLOCK_BISECT
    elif ph == _BLOCK_BISECT:
        if fired:
            blo[l] = a
        else:
            bhi[l] = a


@_jit
def trace_cell(cells, grid, c, amplitude, record, out_vm, out_vp):
    """Membrane potential at compartments ``record`` (local) of cell ``c`` after every step, and the periaxonal
    potential too where ``out_vp`` has rows (an empty array: not recorded)."""
    lo = cells.offsets[c]
    n = cells.offsets[c + 1] - lo
    dt, n_steps, _, order2, waveform = grid
    gate_table, ve_unit = cells.gate_table, cells.ve_unit
    st, cf = cells.struct[:, lo:lo + n], cells.coef[:, lo:lo + n]
    vm = cf[VM0].copy()
    vp = cf[VP0].copy()
    gates = cf[GATES0:GATES0 + N_STATES].copy()
    d, rhs, xm, ym, dvm, dvp = _work(n)
    ve_old = np.zeros(n)
    ve_new = np.zeros(n)
    for s in range(n_steps):
        for i in range(n):
            ve_new[i] = waveform[s] * amplitude * ve_unit[lo + i]
        step_group(n, 1, dt, order2, True, True, st, cf, gate_table, vm, vp, gates, ve_new, ve_old, d, rhs, xm, ym, dvm,
                   dvp)
        for i in range(n):
            ve_old[i] = ve_new[i]
        for r in range(len(record)):
            out_vm[s, r] = vm[record[r]]
        if len(out_vp):
            for r in range(len(record)):
                out_vp[s, r] = vp[record[r]]


class Train(NamedTuple):
    """A long run of every cell (``run_trains``): the stimulus amplitude per cell (mA, scaling ``Cells.ve_unit``
    x ``TimeGrid.waveform``), and current pulses injected into one compartment per cell (``inject_at``, local;
    -1: none), starting at the steps ``onsets[onset_offsets[c]:onset_offsets[c + 1]]`` (ascending), each
    ``pulse_steps`` long, of ``pulse_na`` nA: spikes arriving from the periphery."""

    amplitude: np.ndarray
    inject_at: np.ndarray
    onsets: np.ndarray
    onset_offsets: np.ndarray
    pulse_steps: int
    pulse_na: float


@nb.njit(cache=True, parallel=True, nogil=True, fastmath=True, error_model="numpy")
def run_trains(cells, grid, workers, train, v_thresh, spike_times, spike_counts):
    """Run every cell from rest over the whole grid (no early exit: ongoing activity never settles); record the
    upward crossings of ``v_thresh`` at every detector (``spike_times`` per detector, the first ``max`` of them;
    ``spike_counts`` counts them all). Worker ``w`` (one per thread) runs its queue (``Workers``) ``lanes`` cells at
    a time, laid out as ``run_cells`` lays them (compartment-major, lane-minor)."""
    offsets, struct, coef, gate_table, ve_unit, det_local, det_off, _ = cells
    dt, n_steps, _, order2, waveform = grid
    L, w_cells, w_off, w_n = workers
    amplitude, inject_at, onsets, onset_off, pulse_steps, pulse_na = train
    max_spikes = spike_times.shape[1]
    for w in nb.prange(len(w_n)):
        ns = w_n[w] * L
        s_struct, s_coef, s_ve, ext, vm, vp, gates = _lanes(ns)
        d, rhs, xm, ym, dvm, dvp = _work(ns)
        ve_old = np.zeros(ns)
        ve_new = np.zeros(ns)
        vprev = np.zeros(ns)
        cell_of = np.full(L, -1, dtype=np.int64)
        k = np.zeros(L, dtype=np.int64)
        on_until = np.zeros(L, dtype=np.int64)
        for g0 in range(w_off[w], w_off[w + 1], L):
            nn = 0
            for l in range(L):
                if g0 + l < w_off[w + 1]:
                    c = w_cells[g0 + l]
                    cell_of[l] = c
                    nn = max(nn, _load_lane(l, L, w_n[w], c, offsets, struct, coef, ve_unit, s_struct, s_coef, s_ve,
                                            ext))
                    k[l] = onset_off[c]
                    on_until[l] = -1
                    for q in range(det_off[c], det_off[c + 1]):
                        spike_counts[q] = 0
                else:
                    cell_of[l] = -1
                    _pad_lane(l, L, 0, w_n[w], s_struct, s_coef, s_ve)
            for j in range(ns):
                vm[j] = s_coef[VM0, j]
                vp[j] = s_coef[VP0, j]
                for q in range(N_STATES):
                    gates[q, j] = s_coef[GATES0 + q, j]
                ve_old[j] = 0.0
                ve_new[j] = 0.0
            for s in range(n_steps):
                for l in range(L):
                    c = cell_of[l]
                    if c < 0:
                        continue
                    if amplitude[c] != 0.0:
                        wv = waveform[s] * amplitude[c]
                        for i in range(nn):
                            ve_new[i * L + l] = wv * s_ve[i * L + l]
                    if inject_at[c] >= 0:
                        while k[l] < onset_off[c + 1] and onsets[k[l]] <= s:
                            on_until[l] = onsets[k[l]] + pulse_steps
                            k[l] += 1
                        if s < on_until[l]:
                            rhs[0, inject_at[c] * L + l] += pulse_na
                    for q in range(det_off[c], det_off[c + 1]):
                        vprev[det_local[q] * L + l] = vm[det_local[q] * L + l]
                step_group(nn, L, dt, order2, True, True, s_struct, s_coef, gate_table, vm, vp, gates, ve_new, ve_old,
                           d, rhs, xm, ym, dvm, dvp)
                for j in range(nn * L):
                    ve_old[j] = ve_new[j]
                for l in range(L):
                    c = cell_of[l]
                    if c < 0:
                        continue
                    for q in range(det_off[c], det_off[c + 1]):
                        j = det_local[q] * L + l
                        v0, v1 = vprev[j], vm[j]
                        if v0 < v_thresh <= v1:
                            if spike_counts[q] < max_spikes:
                                spike_times[q, spike_counts[q]] = (s + 1) * dt - dt * (v1 - v_thresh) / (v1 - v0)
                            spike_counts[q] += 1
