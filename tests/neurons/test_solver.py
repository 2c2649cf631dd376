"""Cable solver: exactness on a linear problem, integrator and early-exit consistency, batching."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from drgsim.devices.waveform import Waveform
from drgsim.neurons import kernel
from drgsim.neurons.mechanisms import Mechanism, gate_rates, mrg_node_params, sundt_params
from drgsim.neurons.models import drg_abeta, mrg, sundt
from drgsim.neurons.solver import CellBatch, Method, SimulationSettings, find_thresholds, simulate, trace
from drgsim.neurons.stimulus import point_source_potentials

from .conftest import over_middle_node


def _passive_mrg_segment():
    """Node, one full MRG internode, node, all passive: a linear double cable of 12 compartments."""
    g = mrg.geometry(10.0)
    comps = [mrg.node(g, 37.0, passive=True), *mrg.internode(g), mrg.node(g, 37.0, passive=True)]
    for c in comps:  # connect the end nodes normally (the sealed-end Ra would hide the coupling)
        c.ra_ohm_cm = 70.0
    from drgsim.neurons.morphology import MorphologyBuilder, straight_path

    b = MorphologyBuilder("passive")
    b.add_branch(-1, comps, straight_path((0, 0, 0), (0, 0, 1), sum(c.length_um for c in comps) * 1e-3))
    b.detectors = {"end": len(comps) - 1}
    return b.build("end", propagation_ms=1.0)


def _exact_passive(cell, v_unit, amplitude, pw_ms, t_ms):
    """Exact solution of the linear double cable for a rectangular pulse (matrix exponential).

    Written independently of the kernel: unknowns Vm (all) and Vp (myelinated only); Vm and the
    myelin voltage Vp - Ve are capacitor voltages, continuous across the stimulus steps.
    """
    n = cell.n
    area = np.pi * cell.diam_um * cell.length_um * 1e-8  # cm2
    cm = cell.cm_uf_per_cm2 * area * 1e3  # nF
    gm = cell.params[:, 0] * area * 1e6  # uS
    em = cell.params[:, 1]
    my = np.isfinite(cell.xg_s_per_cm2)
    cmy = np.where(my, cell.xc_uf_per_cm2, 0) * area * 1e3
    gmy = np.where(my, cell.xg_s_per_cm2, 0) * area * 1e6
    r = cell.ra_ohm_cm * cell.length_um / 2 / (np.pi * (cell.diam_um / 2) ** 2) * 1e-2
    rp = cell.xraxial_mohm_per_cm * cell.length_um / 2 * 1e-4
    ip = np.flatnonzero(my)
    pos = {k: j for j, k in enumerate(ip)}
    N = n + len(ip)

    def vp_index(k):
        return n + pos[k] if k in pos else None

    def rhs_matrix(ve):
        A = np.zeros((N, N))
        b = np.zeros(N)
        # Vi = Vm + Vp, Vp = ve for shorted compartments
        for k in range(1, n):
            p = cell.parent[k]
            g = 1 / (r[k] + r[p])
            gpp = 1 / (rp[k] + rp[p]) if (rp[k] > 0 and rp[p] > 0) else 0.0
            for a, bb in ((k, p), (p, k)):
                # axial current into a from bb: g (Vi_bb - Vi_a); enters Vm-eq of a and the Vp-eq of a (if myelinated)
                rows = [a] + ([vp_index(a)] if a in pos else [])
                for row in rows:
                    for idx, sgn in ((bb, 1), (a, -1)):
                        A[row, idx] += sgn * g
                        if idx in pos:
                            A[row, vp_index(idx)] += sgn * g
                        else:
                            b[row] += sgn * g * ve[idx]
                if a in pos and gpp:  # periaxonal current; a shorted neighbour's Vp is Ve
                    A[vp_index(a), vp_index(a)] -= gpp
                    if bb in pos:
                        A[vp_index(a), vp_index(bb)] += gpp
                    else:
                        b[vp_index(a)] += gpp * ve[bb]
        for k in range(n):
            A[k, k] -= gm[k]
            b[k] += gm[k] * em[k]
            if k in pos:
                A[vp_index(k), vp_index(k)] -= gmy[k]
                b[vp_index(k)] += gmy[k] * ve[k]
        C = np.concatenate([cm, cmy[ip]])
        return A / C[:, None], b / C

    x = np.concatenate([em, np.zeros(len(ip))])  # rest: Vm = E, Vp = 0
    out = []
    t_prev = 0.0
    ve_on = -amplitude * v_unit  # cathodic
    x[n:] += ve_on[ip]  # Vp jumps with Ve at the pulse onset
    for t in t_ms:
        for t0, t1, ve, jump in ((t_prev, min(t, pw_ms), ve_on, None), (max(t_prev, pw_ms), t, 0 * ve_on, None)):
            if t1 > t0:
                A, b = rhs_matrix(ve)
                M = np.zeros((N + 1, N + 1))
                M[:N, :N], M[:N, N] = A, b
                x = (expm(M * (t1 - t0)) @ np.append(x, 1.0))[:N]
            if t0 < pw_ms <= t1 and ve is ve_on:
                x[n:] -= ve_on[ip]  # pulse off: Vp jumps back
        t_prev = t
        out.append(x[:n].copy())
    return np.array(out)


def test_passive_double_cable_matches_matrix_exponential():
    cell = _passive_mrg_segment()
    assert all(m == Mechanism.PASSIVE for m in cell.mechanism)
    batch = CellBatch.pack([cell], settle_ms=0.0)
    v = point_source_potentials(batch.positions_mm, (0.3, 0.0, 0.6), 500.0)
    wf = Waveform(pulse_width_us=100.0)
    settings = SimulationSettings(dt_us=0.5, tstop_ms=0.3, method=Method.CRANK_NICOLSON)
    t, vm = trace(batch, v, 0.2, wf, settings)
    check = [int(round(x / 0.0005)) - 1 for x in (0.05, 0.1, 0.2, 0.3)]
    exact = _exact_passive(cell, v, 0.2, 0.1, t[check])
    dev = vm[check] - exact
    assert np.abs(exact - cell.params[:, 1]).max() > 5.0  # the pulse moves the membrane by millivolts
    assert np.abs(dev).max() < 0.01 * np.abs(exact - cell.params[:, 1]).max()


def test_backward_euler_converges_to_the_same_answer():
    cell = _passive_mrg_segment()
    batch = CellBatch.pack([cell], settle_ms=0.0)
    v = point_source_potentials(batch.positions_mm, (0.3, 0.0, 0.6), 500.0)
    wf = Waveform(pulse_width_us=100.0)
    t = 0.1
    ref = trace(batch, v, 2.0, wf, SimulationSettings(dt_us=0.1, tstop_ms=t, method=Method.CRANK_NICOLSON))[1][-1]
    errs = [np.abs(trace(batch, v, 2.0, wf, SimulationSettings(dt_us=dt, tstop_ms=t))[1][-1] - ref).max()
            for dt in (2.0, 1.0, 0.5)]
    assert errs[0] > errs[1] > errs[2]  # first order: halving dt roughly halves the error
    assert 1.6 < errs[0] / errs[1] < 2.4


def test_mrg_rests_near_its_resting_potential():
    batch = CellBatch.pack([mrg.build(10.0, 11)])
    assert np.all(np.abs(batch.vm0 + 80.0) < 0.5)


@pytest.mark.parametrize("polarity,distance,shape", [("cathodic", 1.0, "monophasic"), ("anodic", 1.0, "monophasic"),
                                                      ("cathodic", 2.5, "monophasic"), ("cathodic", 1.0, "asymmetric"),
                                                      ("anodic", 1.0, "asymmetric"), ("cathodic", 1.0, "biphasic")])
def test_early_exit_does_not_change_thresholds(mrg10, polarity, distance, shape):
    """Also when the rest check starts during a long passive recharge (a device pulse at 720 us)."""
    batch, v = over_middle_node(mrg10, distance)
    pw = 720.0 if shape == "asymmetric" else 100.0
    wf = Waveform(pulse_width_us=pw, polarity=polarity, shape=shape, recharge_tau_us=3760.0,
                  recharge_window_us=12000.0)
    st = dict(tstop_ms=wf.duration_ms() + 2.0, dt_us=5.0)
    fast = find_thresholds(batch, v, wf, SimulationSettings(**st), rel_tol=0.002)
    full = find_thresholds(batch, v, wf, SimulationSettings(**st, early_exit=False), rel_tol=0.002)
    assert fast.threshold_ma[0] == full.threshold_ma[0]
    assert fast.steps[0] <= full.steps[0]
    if polarity == "cathodic":  # subthreshold cathodic runs settle well before tstop
        assert fast.steps[0] < full.steps[0]


def test_crank_nicolson_and_backward_euler_agree_at_small_dt(mrg10):
    batch, v = over_middle_node(mrg10, 1.0)
    wf = Waveform(pulse_width_us=100.0)
    be = find_thresholds(batch, v, wf, SimulationSettings(dt_us=1.0, tstop_ms=3.0), rel_tol=0.002)
    cn = find_thresholds(batch, v, wf, SimulationSettings(dt_us=1.0, tstop_ms=3.0, method="crank_nicolson"),
                         rel_tol=0.002)
    assert cn.threshold_ma[0] == pytest.approx(be.threshold_ma[0], rel=0.01)


def test_batch_of_mixed_cells_equals_single_runs():
    cells = [mrg.build(5.7, 21), sundt.build(0.8, 301), mrg.build(12.0, 15)]
    sources = [c.position_mm[c.n // 2] + np.array([1.0, 0, 0]) for c in cells]
    wf = Waveform(pulse_width_us=200.0)
    st = SimulationSettings(dt_us=5.0, tstop_ms=8.0)
    singles = []
    for c, s in zip(cells, sources):
        b = CellBatch.pack([c])
        singles.append(find_thresholds(b, point_source_potentials(b.positions_mm, s, 500.0), wf, st).threshold_ma[0])
    batch = CellBatch.pack(cells)
    v = np.concatenate([point_source_potentials(c.position_mm, s, 500.0) for c, s in zip(cells, sources)])
    together = find_thresholds(batch, v, wf, st).threshold_ma
    np.testing.assert_array_equal(together, singles)
    assert singles[1] > 5 * max(singles[0], singles[2])  # the C fibre is far harder to excite


def test_ceiling_keeps_thresholds_below_it_and_stops_above_it():
    """max_ma: cells that fire below the ceiling keep their threshold; silent ones get inf, and their
    search stops at the ceiling."""
    cells = [mrg.build(12.0, 15), mrg.build(5.7, 15)]
    sources = [c.position_mm[c.n // 2] + np.array([d, 0, 0]) for c, d in zip(cells, (0.5, 4.0))]
    batch = CellBatch.pack(cells)
    v = np.concatenate([point_source_potentials(c.position_mm, s, 500.0) for c, s in zip(cells, sources)])
    wf, st = Waveform(pulse_width_us=200.0), SimulationSettings(dt_us=5.0, tstop_ms=4.0)
    free = find_thresholds(batch, v, wf, st)
    assert free.threshold_ma[1] > 3 * free.threshold_ma[0]
    ceiling = 2 * free.threshold_ma[0]
    capped = find_thresholds(batch, v, wf, st, max_ma=ceiling)
    assert capped.threshold_ma[0] == free.threshold_ma[0]
    assert np.isinf(capped.threshold_ma[1]) and capped.ceiling_ma[1] == ceiling
    assert not simulate(batch, v, ceiling, wf, st).fired[1]  # inf is honest: silent at the ceiling
    assert capped.n_simulations[1] < free.n_simulations[1]
    with pytest.raises(ValueError, match="max_ma"):
        find_thresholds(batch, v, wf, st, max_ma=0.0)


def test_threshold_is_the_boundary_between_firing_and_not(mrg10):
    batch, v = over_middle_node(mrg10, 1.5)
    wf = Waveform(pulse_width_us=300.0)
    st = SimulationSettings(tstop_ms=4.0)
    thr = find_thresholds(batch, v, wf, st, rel_tol=0.005).threshold_ma[0]
    assert simulate(batch, v, thr, wf, st).fired[0]
    assert not simulate(batch, v, thr * 0.99, wf, st).fired[0]


def test_thresholds_scale_inversely_with_conductivity(mrg10):
    """The potentials scale with resistivity, so thresholds scale with conductivity."""
    wf = Waveform(pulse_width_us=100.0)
    thr = [find_thresholds(*over_middle_node(mrg10, 1.0, rho), wf, rel_tol=0.002).threshold_ma[0] for rho in (250, 500)]
    assert thr[0] == pytest.approx(2 * thr[1], rel=0.005)


def test_bad_inputs_are_refused(mrg10):
    batch, v = over_middle_node(mrg10, 1.0)
    wf = Waveform()
    with pytest.raises(ValueError, match="one value per compartment"):
        find_thresholds(batch, v[:-1], wf)
    with pytest.raises(ValueError, match="rel_tol"):
        find_thresholds(batch, v, wf, rel_tol=0.0)
    with pytest.raises(ValueError, match="amplitudes_ma"):
        simulate(batch, v, -1.0, wf)


@pytest.mark.parametrize("mechanism, params", [
    (Mechanism.MRG_NODE, mrg_node_params(37.0)), (Mechanism.SUNDT, sundt_params(37.0))])
def test_gate_tables_interpolate_the_rate_functions(mechanism, params):
    """Each gate's steady state and exponential-Euler decay, read from the kernel's table between grid
    points, against the rate functions themselves (random voltages over the physiological range)."""
    dt = 0.0025
    table = kernel.gate_tables(np.array([int(mechanism)]), params[:, None].copy(), dt)
    v = np.random.default_rng(0).uniform(-150.0, 100.0, 500)
    x = (v - kernel.TABLE_V_MIN) / kernel.TABLE_DV
    i0 = x.astype(int)
    f = (x - i0)[:, None]
    interpolated = table[0, i0] + f * (table[0, i0 + 1] - table[0, i0])
    exact = np.array([[r[2 * q] for q in range(4)] + [np.exp(-dt / r[2 * q + 1]) for q in range(4)]
                      for r in (gate_rates(int(mechanism), vi, params[:, None], 0) for vi in v)])
    np.testing.assert_allclose(interpolated[:, 0::2], exact[:, :4], atol=2e-5)
    np.testing.assert_allclose(interpolated[:, 1::2], exact[:, 4:], atol=2e-5)


def test_gate_tables_leave_thresholds_unchanged():
    """The default path (tables) against the rate functions evaluated at every step (no tables), for
    MRG, Sundt and DRG cells, at 20 and 500 us."""
    cells = [mrg.build(5.7, 21), mrg.build(14.0, 21), sundt.build(0.8, 301), drg_abeta.build(n_central_nodes=15,
                                                                                            n_peripheral_nodes=15)]
    sources = [c.position_mm[c.n // 2] + np.array([1.0, 0, 0]) for c in cells]
    st = SimulationSettings(dt_us=5.0, tstop_ms=8.0)
    for pw in (20.0, 500.0):
        wf = Waveform(pulse_width_us=pw)
        tabled = CellBatch.pack(cells)
        direct = CellBatch.pack(cells)
        direct.struct[kernel.TABLE] = -1
        v = np.concatenate([point_source_potentials(c.position_mm, s, 500.0) for c, s in zip(cells, sources)])
        a = find_thresholds(tabled, v, wf, st, rel_tol=0.001).threshold_ma
        b = find_thresholds(direct, v, wf, st, rel_tol=0.001).threshold_ma
        np.testing.assert_allclose(a, b, rtol=2e-3)
