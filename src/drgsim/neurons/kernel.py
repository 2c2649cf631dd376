"""Compiled cable kernel: implicit integration of a batch of compartment trees (numba, float64).

Each compartment has two unknowns, the membrane potential Vm and the periaxonal potential Vp
(the MRG double cable; Vp equals the extracellular potential Ve where a compartment has no
myelin layer). A time step follows NEURON's fixed-step scheme (Hines & Carnevale 1997): ionic
currents are linearized at the present gates, the tree system of 2x2 blocks is solved by Hines
elimination, then the gates advance by exponential Euler at the new voltage (staggered in time).
``crank_nicolson`` solves over dt/2 and extrapolates, as NEURON's secondorder=2 does.

The kernel only sees flat arrays (no model objects), one cell per parallel task, so a GPU
backend can replace this module without touching the model definitions.

Units: mV, ms, nA, uS, nF.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from drgsim.neurons.mechanisms import gate_rates, membrane_current

_jit = nb.njit(cache=True, nogil=True)

@_jit
def init_gates(lo, hi, kind, params, vm, gates):
    for i in range(lo, hi):
        r = gate_rates(kind[i], vm[i], params[i])
        gates[i, 0], gates[i, 1], gates[i, 2], gates[i, 3] = r[0], r[2], r[4], r[6]


@_jit
def _step(lo, hi, dt, order2, parent, kind, params, c_m, c_my, g_my, shorted, ga, gp, sum_ga, sum_gp,
          area_scale, vm, vp, gates, ve_new, ve_old, d, rhs, xm, ym, dvm, dvp):
    """Advance one cell (compartments lo..hi-1) by dt; ve_* are this cell's extracellular potentials."""
    inv_h = 2.0 / dt if order2 else 1.0 / dt
    frac = 0.5 if order2 else 1.0
    # Assemble diagonal blocks d[i] = [[a, b], [c, e]] and right-hand sides.
    for i in range(lo, hi):
        cur, g = membrane_current(kind[i], vm[i], gates[i, 0], gates[i, 1], gates[i, 2], gates[i, 3], params[i])
        sa = sum_ga[i]
        d[i, 0] = c_m[i] * inv_h + g * area_scale[i] + sa
        d[i, 1] = sa
        rhs[i, 0] = -cur * area_scale[i]
        if shorted[i]:
            d[i, 2] = 0.0
            d[i, 3] = 1.0
            rhs[i, 1] = ve_old[i - lo] + frac * (ve_new[i - lo] - ve_old[i - lo]) - vp[i]
        else:
            d[i, 2] = sa
            d[i, 3] = c_my[i] * inv_h + g_my[i] + sa + sum_gp[i]
            dve = frac * (ve_new[i - lo] - ve_old[i - lo])
            rhs[i, 1] = c_my[i] * inv_h * dve - g_my[i] * (vp[i] - ve_old[i - lo] - dve)
    for i in range(lo + 1, hi):
        p = parent[i]
        flow_i = ga[i] * ((vm[p] + vp[p]) - (vm[i] + vp[i]))
        flow_p = gp[i] * (vp[p] - vp[i])
        rhs[i, 0] += flow_i
        rhs[p, 0] -= flow_i
        if not shorted[i]:
            rhs[i, 1] += flow_i + flow_p
        if not shorted[p]:
            rhs[p, 1] -= flow_i + flow_p
    # Hines elimination, leaves to root. Off-diagonal block E = -[[ga, ga], [ga, ga + gp]],
    # with the rows of shorted compartments zeroed.
    for i in range(hi - 1, lo, -1):
        p = parent[i]
        inv_det = 1.0 / (d[i, 0] * d[i, 3] - d[i, 1] * d[i, 2])
        i00 = d[i, 3] * inv_det
        i01 = -d[i, 1] * inv_det
        i10 = -d[i, 2] * inv_det
        i11 = d[i, 0] * inv_det
        a = ga[i]
        e = ga[i] + gp[i]
        # B_ip (row i): -[[a, a], [a, e]] or zero second row
        r0a = -a
        r0b = -a
        if shorted[i]:
            r1a = 0.0
            r1b = 0.0
        else:
            r1a = -a
            r1b = -e
        # X = D_i^-1 B_ip ; y = D_i^-1 rhs_i
        x00 = i00 * r0a + i01 * r1a
        x01 = i00 * r0b + i01 * r1b
        x10 = i10 * r0a + i11 * r1a
        x11 = i10 * r0b + i11 * r1b
        y0 = i00 * rhs[i, 0] + i01 * rhs[i, 1]
        y1 = i10 * rhs[i, 0] + i11 * rhs[i, 1]
        xm[i, 0], xm[i, 1], xm[i, 2], xm[i, 3] = x00, x01, x10, x11
        ym[i, 0], ym[i, 1] = y0, y1
        # B_pi (row p): -[[a, a], [a, e]] or zero second row
        p0a = -a
        p0b = -a
        if shorted[p]:
            p1a = 0.0
            p1b = 0.0
        else:
            p1a = -a
            p1b = -e
        d[p, 0] -= p0a * x00 + p0b * x10
        d[p, 1] -= p0a * x01 + p0b * x11
        d[p, 2] -= p1a * x00 + p1b * x10
        d[p, 3] -= p1a * x01 + p1b * x11
        rhs[p, 0] -= p0a * y0 + p0b * y1
        rhs[p, 1] -= p1a * y0 + p1b * y1
    det = d[lo, 0] * d[lo, 3] - d[lo, 1] * d[lo, 2]
    dvm[lo] = (d[lo, 3] * rhs[lo, 0] - d[lo, 1] * rhs[lo, 1]) / det
    dvp[lo] = (d[lo, 0] * rhs[lo, 1] - d[lo, 2] * rhs[lo, 0]) / det
    for i in range(lo + 1, hi):
        p = parent[i]
        dvm[i] = ym[i, 0] - xm[i, 0] * dvm[p] - xm[i, 1] * dvp[p]
        dvp[i] = ym[i, 1] - xm[i, 2] * dvm[p] - xm[i, 3] * dvp[p]
    # Voltage update, then gates by exponential Euler at the new (CN: mid-step) voltage.
    for i in range(lo, hi):
        if order2:
            vmid = vm[i] + dvm[i]
            vm[i] += 2.0 * dvm[i]
            vp[i] += 2.0 * dvp[i]
        else:
            vm[i] += dvm[i]
            vp[i] += dvp[i]
            vmid = vm[i]
        if kind[i] != 0:
            r = gate_rates(kind[i], vmid, params[i])
            for k in range(4):
                gates[i, k] += (1.0 - math.exp(-dt / r[2 * k + 1])) * (r[2 * k] - gates[i, k])


@_jit
def settle(lo, hi, dt, n_steps, parent, kind, params, c_m, c_my, g_my, shorted, ga, gp, sum_ga, sum_gp,
           area_scale, vm, vp, gates, d, rhs, xm, ym, dvm, dvp):
    """Relax one cell to its resting state with no stimulus (backward Euler steps of dt)."""
    zero = np.zeros(hi - lo)
    for _ in range(n_steps):
        _step(lo, hi, dt, False, parent, kind, params, c_m, c_my, g_my, shorted, ga, gp, sum_ga, sum_gp,
              area_scale, vm, vp, gates, zero, zero, d, rhs, xm, ym, dvm, dvp)


@_jit
def run_cell(c, amplitude, dt, order2, n_steps, stim_end_step, waveform, offsets, parent, kind, params, c_m,
             c_my, g_my, shorted, ga, gp, sum_ga, sum_gp, area_scale, vm0, vp0, gates0, ve_unit, v_thresh,
             detectors, det_offsets, primary, stop_on_primary, rest_tol_mv, rest_slope_mv_per_ms, max_spikes,
             vm, vp, gates, d, rhs, xm, ym, dvm, dvp, first_cross, spike_times, spike_counts):
    """Simulate cell ``c`` at one amplitude from its resting state.

    Records the first time each compartment crosses ``v_thresh`` upward, and up to ``max_spikes``
    crossing times at each detector. Stops early when the primary detector fires (if
    ``stop_on_primary``) or, after the stimulus, when every detector has fired or the cell is back at
    rest (all |Vm - rest| < rest_tol and |dVm/dt| < rest_slope). Returns the number of steps run.
    """
    lo = offsets[c]
    hi = offsets[c + 1]
    n = hi - lo
    for i in range(lo, hi):
        vm[i] = vm0[i]
        vp[i] = vp0[i]
        for k in range(4):
            gates[i, k] = gates0[i, k]
        first_cross[i] = -1.0
    dlo = det_offsets[c]
    dhi = det_offsets[c + 1]
    for j in range(dlo, dhi):
        spike_counts[j] = 0
    ve_old = np.zeros(n)
    ve_new = np.zeros(n)
    vprev = np.empty(n)
    w_prev = 0.0
    steps = 0
    for s in range(n_steps):
        w = waveform[s] * amplitude
        if w != w_prev:
            for i in range(n):
                ve_new[i] = w * ve_unit[lo + i]
        for i in range(n):
            vprev[i] = vm[lo + i]
        _step(lo, hi, dt, order2, parent, kind, params, c_m, c_my, g_my, shorted, ga, gp, sum_ga, sum_gp,
              area_scale, vm, vp, gates, ve_new, ve_old, d, rhs, xm, ym, dvm, dvp)
        if w != w_prev:
            for i in range(n):
                ve_old[i] = ve_new[i]
            w_prev = w
        steps = s + 1
        t1 = (s + 1) * dt
        for i in range(lo, hi):
            if vprev[i - lo] < v_thresh <= vm[i] and first_cross[i] < 0.0:
                first_cross[i] = t1 - dt * (vm[i] - v_thresh) / (vm[i] - vprev[i - lo])
        all_fired = True
        for j in range(dlo, dhi):
            i = detectors[j]
            if vprev[i - lo] < v_thresh <= vm[i]:
                if spike_counts[j] < max_spikes:
                    spike_times[j, spike_counts[j]] = t1 - dt * (vm[i] - v_thresh) / (vm[i] - vprev[i - lo])
                spike_counts[j] += 1
            if spike_counts[j] == 0:
                all_fired = False
        if stop_on_primary and spike_counts[dlo + primary[c]] > 0:
            break
        if s >= stim_end_step:
            if all_fired and max_spikes == 1:
                break
            at_rest = True
            for i in range(lo, hi):
                if abs(vm[i] - vm0[i]) > rest_tol_mv or abs(vm[i] - vprev[i - lo]) > rest_slope_mv_per_ms * dt:
                    at_rest = False
                    break
            if at_rest:
                break
    return steps


@nb.njit(cache=True, parallel=True, nogil=True)
def simulate_batch(amplitudes, dt, order2, n_steps, stim_end_step, waveform, offsets, parent, kind, params, c_m,
                   c_my, g_my, shorted, ga, gp, sum_ga, sum_gp, area_scale, vm0, vp0, gates0, ve_unit, v_thresh,
                   detectors, det_offsets, primary, stop_on_primary, rest_tol_mv, rest_slope_mv_per_ms, max_spikes,
                   first_cross, spike_times, spike_counts, steps_run):
    """Run every cell once at its amplitude (cells in parallel)."""
    n_cells = len(offsets) - 1
    ntot = offsets[-1]
    vm = np.empty(ntot)
    vp = np.empty(ntot)
    gates = np.empty((ntot, 4))
    d = np.empty((ntot, 4))
    rhs = np.empty((ntot, 2))
    xm = np.empty((ntot, 4))
    ym = np.empty((ntot, 2))
    dvm = np.empty(ntot)
    dvp = np.empty(ntot)
    for c in nb.prange(n_cells):
        steps_run[c] = run_cell(c, amplitudes[c], dt, order2, n_steps, stim_end_step, waveform, offsets, parent,
                                kind, params, c_m, c_my, g_my, shorted, ga, gp, sum_ga, sum_gp, area_scale, vm0,
                                vp0, gates0, ve_unit, v_thresh, detectors, det_offsets, primary, stop_on_primary,
                                rest_tol_mv, rest_slope_mv_per_ms, max_spikes, vm, vp, gates, d, rhs, xm, ym, dvm,
                                dvp, first_cross, spike_times, spike_counts)


@nb.njit(cache=True, parallel=True, nogil=True)
def threshold_batch(lo_ma, hi_ma, rel_tol, max_sims, dt, order2, n_steps, stim_end_step, waveform, offsets,
                    parent, kind, params, c_m, c_my, g_my, shorted, ga, gp, sum_ga, sum_gp, area_scale, vm0, vp0,
                    gates0, ve_unit, v_thresh, detectors, det_offsets, primary, rest_tol_mv,
                    rest_slope_mv_per_ms, threshold, n_sims, steps_total, first_cross):
    """Threshold of every cell: bracket expansion (x2) then bisection until (hi - lo)/hi < rel_tol.

    Each cell's whole search runs in one parallel task. On return ``first_cross`` holds the
    crossing times of the lowest run that fired (for the initiation site). A cell that has not
    fired within ``max_sims`` runs gets threshold NaN.
    """
    n_cells = len(offsets) - 1
    ntot = offsets[-1]
    vm = np.empty(ntot)
    vp = np.empty(ntot)
    gates = np.empty((ntot, 4))
    d = np.empty((ntot, 4))
    rhs = np.empty((ntot, 2))
    xm = np.empty((ntot, 4))
    ym = np.empty((ntot, 2))
    dvm = np.empty(ntot)
    dvp = np.empty(ntot)
    fc = np.empty(ntot)
    ndet = det_offsets[-1]
    spike_times = np.empty((ndet, 1))
    spike_counts = np.zeros(ndet, dtype=np.int64)
    for c in nb.prange(n_cells):
        lo = lo_ma[c]
        hi = hi_ma[c]
        sims = 0
        steps = 0
        pidx = det_offsets[c] + primary[c]
        lo_known = False
        fired_any = False
        # Phase 0: expand hi upward until it fires; phase 1: lo downward until it does not;
        # phase 2: bisection.
        phase = 0
        while sims < max_sims:
            if phase == 0:
                amp = hi
            elif phase == 1:
                if lo_known:
                    phase = 2
                    continue
                amp = lo
            else:
                if (hi - lo) / hi < rel_tol:
                    break
                amp = 0.5 * (lo + hi)
            steps += run_cell(c, amp, dt, order2, n_steps, stim_end_step, waveform, offsets, parent, kind, params,
                              c_m, c_my, g_my, shorted, ga, gp, sum_ga, sum_gp, area_scale, vm0, vp0, gates0,
                              ve_unit, v_thresh, detectors, det_offsets, primary, True, rest_tol_mv,
                              rest_slope_mv_per_ms, 1, vm, vp, gates, d, rhs, xm, ym, dvm, dvp, fc, spike_times,
                              spike_counts)
            sims += 1
            fired = spike_counts[pidx] > 0
            if fired:
                fired_any = True
                for i in range(offsets[c], offsets[c + 1]):
                    first_cross[i] = fc[i]
            if phase == 0:
                if fired:
                    phase = 1
                else:
                    lo = hi
                    lo_known = True
                    hi = 2.0 * hi
            elif phase == 1:
                if fired:
                    hi = lo
                    lo = 0.5 * lo
                else:
                    lo_known = True
                    phase = 2
            else:
                if fired:
                    hi = amp
                else:
                    lo = amp
        threshold[c] = hi if fired_any else np.nan
        n_sims[c] = sims
        steps_total[c] = steps


@_jit
def trace_cell(c, amplitude, dt, order2, n_steps, waveform, offsets, parent, kind, params, c_m, c_my, g_my, shorted,
               ga, gp, sum_ga, sum_gp, area_scale, vm0, vp0, gates0, ve_unit, record, out_vm):
    """Membrane potential of cell ``c`` at compartments ``record`` (local indices) after every step."""
    lo = offsets[c]
    hi = offsets[c + 1]
    n = hi - lo
    ntot = offsets[-1]
    vm = vm0.copy()
    vp = vp0.copy()
    gates = gates0.copy()
    d = np.empty((ntot, 4))
    rhs = np.empty((ntot, 2))
    xm = np.empty((ntot, 4))
    ym = np.empty((ntot, 2))
    dvm = np.empty(ntot)
    dvp = np.empty(ntot)
    ve_old = np.zeros(n)
    ve_new = np.zeros(n)
    for s in range(n_steps):
        for i in range(n):
            ve_new[i] = waveform[s] * amplitude * ve_unit[lo + i]
        _step(lo, hi, dt, order2, parent, kind, params, c_m, c_my, g_my, shorted, ga, gp, sum_ga, sum_gp, area_scale,
              vm, vp, gates, ve_new, ve_old, d, rhs, xm, ym, dvm, dvp)
        for i in range(n):
            ve_old[i] = ve_new[i]
        for j in range(len(record)):
            out_vm[s, j] = vm[lo + record[j]]
