"""Compiled cable kernel: implicit integration of groups of compartment trees (numba, float64).

Each compartment has two unknowns, the membrane potential Vm and the periaxonal potential Vp
(the MRG double cable; Vp equals the extracellular potential Ve where a compartment has no
myelin layer). A time step follows NEURON's fixed-step scheme (Hines & Carnevale 1997): ionic
currents are linearized at the present gates, the tree system of 2x2 blocks is solved by Hines
elimination, then the gates advance by exponential Euler at the new voltage (staggered in time).
``crank_nicolson`` solves over dt/2 and extrapolates, as NEURON's secondorder=2 does.

Cells with the same tree structure run as lanes of one group: the arrays of a group are laid out
compartment-major, lane-minor (index ``base + i * L + l``), so each step of the sequential Hines
sweep advances L independent cells at once (SIMD and instruction-level parallelism instead of one
latency-bound chain). Each lane runs its own sequence of simulations (its own threshold search),
restarting from rest as soon as a run is decided, so lanes do not wait for each other. Groups run
in parallel. The kernel only sees flat arrays, so another backend can replace this module.

Units: mV, ms, nA, uS, nF.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from drgsim.neurons.mechanisms import gate_rates, membrane_current

_jit = nb.njit(cache=True, nogil=True, fastmath=True)

REST_CHECK_EVERY = 8  # steps between at-rest checks (a decision, never a threshold, depends on it)


@_jit
def _relax(dt, tau):
    """Exponential-Euler weight 1 - exp(-dt/tau); a vanishing tau (rates overflowing at voltages far
    outside physiology) sets the gate to its steady state."""
    if not tau > 1e-300:
        return 1.0
    return 1.0 - math.exp(-dt / tau)


# Gate tables: every gate's steady state and exponential-Euler decay exp(-dt/tau) on a voltage grid, linearly
# interpolated, as NEURON's TABLE statement does for its channel kinetics (the rates' exponentials dominate a
# step's cost). At 0.05 mV the interpolation error is ~1e-5 of a gate's range (tests/neurons/test_kernel.py).
TABLE_V_MIN, TABLE_DV, TABLE_N = -200.0, 0.05, 8001


@_jit
def gate_tables(kinds, params, dt):
    """Tables (n_tables, TABLE_N, 8) of (steady state, decay) for the four gate slots of mechanism ``kinds[t]``
    with parameters ``params[:, t]`` (parameter-major), at time step ``dt``."""
    out = np.empty((len(kinds), TABLE_N, 8))
    for t in range(len(kinds)):
        for i in range(TABLE_N):
            r = gate_rates(kinds[t], TABLE_V_MIN + i * TABLE_DV, params, t)
            for q in range(4):
                out[t, i, 2 * q] = r[2 * q]
                out[t, i, 2 * q + 1] = 1.0 - _relax(dt, r[2 * q + 1])
    return out


@_jit
def step_group(n, L, base, dt, order2, update_gates, parent, kind, shorted, ghost, params, c_m, c_my, g_my, ga, gp,
               sum_ga, sum_gp, area_scale, g_ghost, table_of, gate_table, vm, vp, gates, ve_new, ve_old, d, rhs, xm, ym,
               dvm, dvp):
    """Advance every lane of one group by dt. ``parent``, ``kind`` and ``shorted`` are the group's
    (local, length n); per-lane arrays are indexed ``base + i * L + l``; ``ve_*`` are local (i * L + l).

    Two sweeps: leaves to root, each compartment assembles its 2x2 block (its children have already
    added theirs into ``d`` and ``rhs``), adds the axial currents of the edge to its parent and is
    eliminated into the parent (Hines); root to leaves, back-substitution, voltage and gate updates,
    and ``d``/``rhs`` are cleared for the next step. The off-diagonal block of an edge is
    -[[ga, ga], [ga, ga + gp]], its second row zeroed for shorted compartments. A compartment with a
    ghost partner (``ghost`` >= 0, a cut end continued) receives g_ghost * (Ve - Ve_partner) intracellularly.
    Gates advance from ``gate_table`` (``gate_tables``) where the compartment has one (``table_of`` >= 0)
    and its voltage lies on the table's grid, else from the rate functions.
    """
    inv_h = 2.0 / dt if order2 else 1.0 / dt
    frac = 0.5 if order2 else 1.0
    for i in range(n - 1, -1, -1):
        k = kind[i]
        sh = shorted[i]
        p = parent[i]
        gp_i = ghost[i]
        row_i = 0.0 if sh else 1.0
        row_p = 0.0 if (p < 0 or shorted[p]) else 1.0
        for l in range(L):
            j = base + i * L + l
            loc = i * L + l
            cur, g = membrane_current(k, vm[j], gates[0, j], gates[1, j], gates[2, j], gates[3, j], params, j)
            sa = sum_ga[j]
            dve = frac * (ve_new[loc] - ve_old[loc])
            d0 = d[0, j] + c_m[j] * inv_h + g * area_scale[j] + sa
            d1 = d[1, j] + sa
            r0 = rhs[0, j] - cur * area_scale[j]
            inject = 0.0
            if gp_i >= 0:
                pl = gp_i * L + l
                inject = g_ghost[j] * (ve_old[loc] + dve - ve_old[pl] - frac * (ve_new[pl] - ve_old[pl]))
                r0 += inject
            if sh:
                d2 = 0.0
                d3 = 1.0
                r1 = ve_old[loc] + dve - vp[j]
            else:
                d2 = d[2, j] + sa
                d3 = d[3, j] + c_my[j] * inv_h + g_my[j] + sa + sum_gp[j]
                r1 = rhs[1, j] + c_my[j] * inv_h * dve - g_my[j] * (vp[j] - ve_old[loc] - dve) + inject
            if p < 0:
                inv_det = 1.0 / (d0 * d3 - d1 * d2)
                dvm[j] = (d3 * r0 - d1 * r1) * inv_det
                dvp[j] = (d0 * r1 - d2 * r0) * inv_det
                continue
            q = base + p * L + l
            a = ga[j]
            e = a + gp[j]
            flow_i = a * ((vm[q] + vp[q]) - (vm[j] + vp[j]))
            flow_p = gp[j] * (vp[q] - vp[j])
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
        k = kind[i]
        p = parent[i]
        for l in range(L):
            j = base + i * L + l
            if p >= 0:
                q = base + p * L + l
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
            if k != 0 and update_gates:
                tb = table_of[j]
                x = (vmid - TABLE_V_MIN) * (1.0 / TABLE_DV)
                if tb >= 0 and x >= 0.0 and x < TABLE_N - 1:
                    i0 = int(x)
                    f = x - i0
                    for q in range(4):
                        a0, d0 = gate_table[tb, i0, 2 * q], gate_table[tb, i0, 2 * q + 1]
                        inf = a0 + f * (gate_table[tb, i0 + 1, 2 * q] - a0)
                        decay = d0 + f * (gate_table[tb, i0 + 1, 2 * q + 1] - d0)
                        gates[q, j] = inf + (gates[q, j] - inf) * decay
                else:
                    r = gate_rates(k, vmid, params, j)
                    gates[0, j] += _relax(dt, r[1]) * (r[0] - gates[0, j])
                    gates[1, j] += _relax(dt, r[3]) * (r[2] - gates[1, j])
                    gates[2, j] += _relax(dt, r[5]) * (r[4] - gates[2, j])
                    gates[3, j] += _relax(dt, r[7]) * (r[6] - gates[3, j])


@_jit
def _work(n_lanes_total):
    # d and rhs start cleared: each step accumulates into them and clears them again.
    return (np.zeros((4, n_lanes_total)), np.zeros((2, n_lanes_total)), np.empty((4, n_lanes_total)),
            np.empty((2, n_lanes_total)), np.empty(n_lanes_total), np.empty(n_lanes_total))


@nb.njit(cache=True, parallel=True, nogil=True, fastmath=True)
def relax(g_n, g_lanes, g_base, g_struct, parent, kind, shorted, ghost, params, c_m, c_my, g_my, ga, gp, sum_ga, sum_gp,
          area_scale, g_ghost, table_of, vm, vp, gates, dt, n_steps):
    """Resting state of every lane: gates at steady state, then ``n_steps`` unstimulated steps of dt."""
    d, rhs, xm, ym, dvm, dvp = _work(vm.shape[0])
    direct = np.full_like(table_of, -1)  # the settling step is long: the rate functions, not a table
    no_table = np.zeros((1, 2, 8))
    for g in nb.prange(len(g_n)):
        n, L, base, s0 = g_n[g], g_lanes[g], g_base[g], g_struct[g]
        for i in range(n):
            for l in range(L):
                j = base + i * L + l
                r = gate_rates(kind[s0 + i], vm[j], params, j)
                gates[0, j], gates[1, j], gates[2, j], gates[3, j] = r[0], r[2], r[4], r[6]
        zero = np.zeros(n * L)
        for _ in range(n_steps):
            step_group(n, L, base, dt, False, True, parent[s0:s0 + n], kind[s0:s0 + n], shorted[s0:s0 + n],
                       ghost[s0:s0 + n], params, c_m, c_my, g_my, ga, gp, sum_ga, sum_gp, area_scale, g_ghost, direct,
                       no_table, vm, vp, gates, zero, zero, d, rhs, xm, ym, dvm, dvp)


# Run modes of ``run_groups``.
SIMULATE, PROBE, SEARCH = 0, 1, 2
# Search phases of a lane: step up from a subthreshold start, step down (only if the start fired),
# bisect the activation threshold, step up for the end of the firing window, bisect it. A lane whose
# ceiling lies far above its start first runs at the ceiling (_CEILING): a run there in which no
# compartment spikes at all ends the search (silent: a cell quiet at the ceiling fires nowhere below).
_UP, _DOWN, _BISECT, _BLOCK_UP, _BLOCK_BISECT, _FINISHED, _CEILING = 0, 1, 2, 3, 4, 5, 6
CEILING_FIRST = 8.0  # ceiling / start above which the ceiling is tried first
# Status per cell (column STATUS of ``cell_out``).
OK, SILENT, EXHAUSTED = 0, 1, 2
# Columns of ``cell_in`` (start amplitude, ceiling) and ``cell_out``.
START, CEILING = 0, 1
THRESHOLD, BLOCK, N_SIMS, STEPS, STATUS = 0, 1, 2, 3, 4
# Entries of ``search`` (the search's parameters; FILTER_MS is the probe's low-pass time constant).
REL_TOL, STEP_UP, STEP_FINE, STEP_BLOCK, FIND_BLOCK, MAX_SIMS, FILTER_MS = 0, 1, 2, 3, 4, 5, 6
# Rows of ``extremes`` (PROBE): largest depolarization, largest hyperpolarization, the value at the end
# of the leading phase (``stim_end`` in this mode), the low-pass filtered response and its largest value.
DEPOL, HYPERPOL, LEAD_END, FILTERED, FILTERED_PEAK = 0, 1, 2, 3, 4


@nb.njit(cache=True, parallel=True, nogil=True, fastmath=True)
def run_groups(mode, cell_in, search, dt, order2, n_steps, stim_end, waveform, g_n, g_lanes, g_base, g_struct, g_cell,
               parent, kind, shorted, ghost, params, c_m, c_my, g_my, ga, gp, sum_ga, sum_gp, area_scale, g_ghost,
               table_of, gate_table, vm0, vp0, gates0,
               ve_unit, v_thresh, det_local, det_off, primary, commit_off, commit_moved, commit_at, rest_tol,
               rest_slope, max_spikes, cell_out, first_cross, extremes, spike_times, spike_counts):
    """Run every cell (lane) of every group.

    ``SIMULATE``: one run per cell at ``cell_in[c, START]``; it stops when every detector has fired
    (with ``max_spikes`` 1), when the cell is back at rest after the stimulus (all |Vm - rest| <
    rest_tol, |dVm/dt| < rest_slope) or at tstop. ``PROBE``: one run at 1 mA with the gates frozen at
    rest, so the membrane is linear; ``extremes`` receives the largest depolarization and
    hyperpolarization (mV per mA) of every compartment over the ``n_steps`` steps. ``SEARCH``: per
    cell, from ``START`` (meant to be subthreshold) step up by ``STEP_UP`` until the primary detector
    fires (step down first if the start fires), bisect until (hi - lo) / hi < rel_tol; then, with
    ``FIND_BLOCK``, step up by ``STEP_BLOCK`` from the threshold until the cell falls silent (the end
    of its first firing window, bisected likewise) or ``CEILING`` is passed. Runs stop as soon as the
    primary detector fires, or (SEARCH) once the spike has crossed at the run's commit compartment, from
    where it can only travel on to the detector: ``commit_at`` at the number of positions of the cell's
    stretch whose ``commit_moved`` x amplitude is below 1 (``solver.CommitPaths``). ``first_cross``
    receives the first upward crossing time of every
    compartment in the lowest firing run below the threshold search's end (-1 if none).
    """
    n_groups = len(g_n)
    ntot = vm0.shape[0]
    vm = vm0.copy()
    vp = vp0.copy()
    gates = gates0.copy()
    d, rhs, xm, ym, dvm, dvp = _work(ntot)
    fc = np.full(ntot, -1.0)
    vprev = np.empty(ntot)
    rel_tol, f_up, f_fine, f_block = search[REL_TOL], search[STEP_UP], search[STEP_FINE], search[STEP_BLOCK]
    find_block, max_sims = search[FIND_BLOCK] > 0.0, int(search[MAX_SIMS])
    k_filter = 1.0 - math.exp(-dt / search[FILTER_MS]) if search[FILTER_MS] > 0.0 else 1.0
    for g in nb.prange(n_groups):
        n, L, base, s0 = g_n[g], g_lanes[g], g_base[g], g_struct[g]
        par, knd, sh, gh = parent[s0:s0 + n], kind[s0:s0 + n], shorted[s0:s0 + n], ghost[s0:s0 + n]
        ve_new = np.zeros(n * L)
        ve_old = np.zeros(n * L)
        step = np.zeros(L, dtype=np.int64)
        amp = np.zeros(L)  # amplitude of the lane's current run; in stepping phases also the next one
        nxt = np.zeros(L)
        running = np.zeros(L, dtype=np.bool_)
        done = np.zeros(L, dtype=np.bool_)
        lo = np.zeros(L)  # highest silent amplitude below the threshold
        hi = np.zeros(L)  # lowest firing amplitude
        blo = np.zeros(L)  # highest firing amplitude of the first window
        bhi = np.full(L, np.inf)  # lowest silent amplitude above the threshold
        phase = np.zeros(L, dtype=np.int64)
        lo_known = np.zeros(L, dtype=np.bool_)
        silent = np.zeros(L, dtype=np.bool_)
        quiet = np.zeros(L)  # highest amplitude at which no compartment crossed the spike threshold
        loud = np.zeros(L, dtype=np.bool_)  # a silent run has had a local spike: step finely from now on
        sims = np.zeros(L, dtype=np.int64)
        total = np.zeros(L, dtype=np.int64)
        commit = np.full(L, -1, dtype=np.int64)  # local compartment deciding the lane's run (-1: the detector)
        n_done = 0
        for l in range(L):
            nxt[l] = cell_in[g_cell[g, l], START]
            if mode == SEARCH and not nxt[l] < np.inf:  # no depolarization anywhere: it cannot fire
                phase[l] = _FINISHED
                silent[l] = True
            elif mode == SEARCH and cell_in[g_cell[g, l], CEILING] > CEILING_FIRST * nxt[l]:
                phase[l] = _CEILING
                nxt[l] = cell_in[g_cell[g, l], CEILING]
        while n_done < L:
            for l in range(L):
                if running[l] or done[l]:
                    continue
                c = g_cell[g, l]
                ceiling = cell_in[c, CEILING]
                a = -1.0
                if mode != SEARCH:
                    if sims[l] == 0:
                        a = nxt[l]
                else:
                    while sims[l] < max_sims and phase[l] != _FINISHED:
                        ph = phase[l]
                        if ph == _BISECT:
                            if hi[l] - lo[l] < rel_tol * hi[l]:
                                blo[l] = hi[l]
                                if find_block and hi[l] < ceiling:
                                    phase[l] = _BLOCK_UP
                                    nxt[l] = min(hi[l] * f_block, ceiling)
                                else:
                                    phase[l] = _FINISHED
                                continue
                            a = 0.5 * (lo[l] + hi[l])
                        elif ph == _BLOCK_BISECT:
                            if bhi[l] - blo[l] < rel_tol * bhi[l]:
                                phase[l] = _FINISHED
                                continue
                            a = 0.5 * (blo[l] + bhi[l])
                        else:
                            a = nxt[l]
                        break
                if a < 0.0:
                    done[l] = True
                    n_done += 1
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
                    continue
                amp[l] = a
                running[l] = True
                step[l] = 0
                pos = commit_off[c]
                while pos < commit_off[c + 1] and commit_moved[pos] * a < 1.0:
                    pos += 1
                commit[l] = commit_at[pos + c] if mode == SEARCH else -1
                for i in range(n):
                    j = base + i * L + l
                    vm[j] = vm0[j]
                    vp[j] = vp0[j]
                    gates[0, j] = gates0[0, j]
                    gates[1, j] = gates0[1, j]
                    gates[2, j] = gates0[2, j]
                    gates[3, j] = gates0[3, j]
                    fc[j] = -1.0
                    ve_old[i * L + l] = 0.0
                for k in range(det_off[c], det_off[c + 1]):
                    spike_counts[k] = 0
            if n_done == L:
                break
            for l in range(L):
                w = waveform[step[l]] * amp[l] if running[l] else 0.0
                for i in range(n):
                    ve_new[i * L + l] = w * ve_unit[base + i * L + l]
            for i in range(n * L):
                vprev[base + i] = vm[base + i]
            step_group(n, L, base, dt, order2, mode != PROBE, par, knd, sh, gh, params, c_m, c_my, g_my, ga, gp, sum_ga,
                       sum_gp, area_scale, g_ghost, table_of, gate_table, vm, vp, gates, ve_new, ve_old, d, rhs, xm, ym,
                       dvm, dvp)
            for i in range(n * L):
                ve_old[i] = ve_new[i]
            for l in range(L):
                if not running[l]:
                    continue
                c = g_cell[g, l]
                step[l] += 1
                s = step[l]
                if mode == PROBE:
                    for i in range(n):
                        j = base + i * L + l
                        dv = vm[j] - vm0[j]
                        extremes[DEPOL, j] = max(extremes[DEPOL, j], dv)
                        extremes[HYPERPOL, j] = min(extremes[HYPERPOL, j], dv)
                        extremes[FILTERED, j] += k_filter * (dv - extremes[FILTERED, j])
                        extremes[FILTERED_PEAK, j] = max(extremes[FILTERED_PEAK, j], extremes[FILTERED, j])
                        if s == stim_end:
                            extremes[LEAD_END, j] = dv
                    if s >= n_steps:
                        running[l] = False
                        sims[l] += 1
                        total[l] += s
                    continue
                t1 = s * dt
                for i in range(n):
                    j = base + i * L + l
                    if vprev[j] < v_thresh <= vm[j] and fc[j] < 0.0:
                        fc[j] = t1 - dt * (vm[j] - v_thresh) / (vm[j] - vprev[j])
                all_fired = True
                for k in range(det_off[c], det_off[c + 1]):
                    j = base + det_local[k] * L + l
                    if vprev[j] < v_thresh <= vm[j]:
                        if spike_counts[k] < max_spikes:
                            spike_times[k, spike_counts[k]] = t1 - dt * (vm[j] - v_thresh) / (vm[j] - vprev[j])
                        spike_counts[k] += 1
                    if spike_counts[k] == 0:
                        all_fired = False
                fired = spike_counts[det_off[c] + primary[c]] > 0
                if commit[l] >= 0 and fc[base + commit[l] * L + l] >= 0.0:
                    fired = True
                end = s >= n_steps or (mode == SEARCH and fired)
                if not end and s >= stim_end:
                    if all_fired and max_spikes == 1:
                        end = True
                    elif rest_tol > 0.0 and s % REST_CHECK_EVERY == 0:
                        at_rest = True
                        for i in range(n):
                            j = base + i * L + l
                            if abs(vm[j] - vm0[j]) > rest_tol or abs(vm[j] - vprev[j]) > rest_slope * dt:
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
                    for i in range(n):
                        j = base + i * L + l
                        first_cross[j] = fc[j]
                if mode == SIMULATE:
                    continue
                crossed = False
                for i in range(n):
                    if fc[base + i * L + l] >= 0.0:
                        crossed = True
                        break
                _update(ph, fired, crossed, amp[l], cell_in[c, START], cell_in[c, CEILING], f_up, f_fine, f_block, l,
                        phase, nxt, lo, hi, blo, bhi, lo_known, silent, quiet, loud)


@_jit
def _update(ph, fired, crossed, a, start, ceiling, f_up, f_fine, f_block, l, phase, nxt, lo, hi, blo, bhi, lo_known,
            silent, quiet, loud):
    """The search's step after a run of lane ``l`` at amplitude ``a`` (see ``run_groups``).

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
def trace_lane(n, L, base, l, amplitude, dt, order2, n_steps, waveform, parent, kind, shorted, ghost, params, c_m, c_my,
               g_my, ga, gp, sum_ga, sum_gp, area_scale, g_ghost, table_of, gate_table, vm0, vp0, gates0, ve_unit, record,
               out_vm):
    """Membrane potential at compartments ``record`` (local) of lane ``l`` after every step; the other
    lanes of its group are simulated unstimulated."""
    vm = vm0.copy()
    vp = vp0.copy()
    gates = gates0.copy()
    d, rhs, xm, ym, dvm, dvp = _work(vm.shape[0])
    ve_old = np.zeros(n * L)
    ve_new = np.zeros(n * L)
    for s in range(n_steps):
        for i in range(n):
            ve_new[i * L + l] = waveform[s] * amplitude * ve_unit[base + i * L + l]
        step_group(n, L, base, dt, order2, True, parent, kind, shorted, ghost, params, c_m, c_my, g_my, ga, gp, sum_ga,
                   sum_gp, area_scale, g_ghost, table_of, gate_table, vm, vp, gates, ve_new, ve_old, d, rhs, xm, ym, dvm,
                   dvp)
        for i in range(n * L):
            ve_old[i] = ve_new[i]
        for r in range(len(record)):
            out_vm[s, r] = vm[base + record[r] * L + l]
