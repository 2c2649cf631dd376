"""The threshold search from its own defaults: right at every pulse and distance, with block windows.

Nothing here hands the search a bracket. References: NEURON's firing windows near the electrode and
with long pulses (data/reference/neuron_windows.json, found there by a fine amplitude grid, no
bracket; tests/reference/generate_neuron_windows.py), NEURON's strength-duration grid
(neuron_reference.json), and direct simulation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drgsim.devices.waveform import Waveform
from drgsim.neurons.models import drg_abeta, drg_adelta, drg_c, motor, mrg
from drgsim.neurons.solver import CellBatch, SearchSettings, SimulationSettings, find_thresholds, simulate
from drgsim.neurons.stimulus import point_source_potentials
from drgsim.validation.neuron import neuron_reference, thresholds

WINDOWS = neuron_reference("neuron_windows")
GRID = neuron_reference("neuron_reference")["cases"]


def _point_source(cell, centre, distance_mm, offset=(1.0, 0.0, 0.0), rho=500.0):
    batch = CellBatch.pack([cell])
    return batch, point_source_potentials(batch.positions_mm, centre + distance_mm * np.asarray(offset), rho)


def _mrg(case):
    cell = mrg.build(case["diameter_um"], case["n_nodes"])
    return cell, cell.position_mm[mrg.node_indices(cell)[(case["n_nodes"] - 1) // 2]]


def _waveform(case):
    return Waveform(shape=case["waveform_kind"], polarity=case["polarity"], pulse_width_us=case["pw_ms"] * 1e3)


def _window_id(c):
    return f"{c['diameter_um']}um-{c['n_nodes']}n-{c['distance_mm']}mm-{c['pw_ms'] * 1e3:g}us-{c['waveform_kind']}-" \
           f"{c['polarity']}"


@pytest.mark.parametrize("case", WINDOWS["cases"], ids=[_window_id(c) for c in WINDOWS["cases"]])
def test_threshold_and_block_match_neuron_near_the_electrode(case):
    """Threshold within 2% and the end of the first firing window within 3% of NEURON's, from the
    defaults; the ceiling is the end of NEURON's grid (no block below it: none here either)."""
    cell, centre = _mrg(case)
    batch, v = _point_source(cell, centre, case["distance_mm"])
    res = find_thresholds(batch, v, _waveform(case), SimulationSettings(dt_us=case["dt_ms"] * 1e3,
                                                                         tstop_ms=case["tstop_ms"]),
                          rel_tol=0.005, max_ma=WINDOWS["grid"]["stop_ma"])
    assert res.threshold_ma[0] == pytest.approx(case["threshold_ma"], rel=0.02)
    if case["block_ma"] is None:
        assert np.isinf(res.block_ma[0])
    else:
        assert res.block_ma[0] == pytest.approx(case["block_ma"], rel=0.03)


def test_strength_duration_grid_matches_neuron_from_the_defaults():
    """Every stored MRG case (5.7-16 um and interpolated diameters, 0.5-3 mm, 20 us-1 ms, both
    polarities, mono- and biphasic), one batch per time grid, no bracket: within 2% of NEURON."""
    cases = [c for c in GRID if c["group"] == "mrg_grid"]
    thr, _ = thresholds(cases)
    ref = np.array([c["threshold_ma"] for c in cases])
    assert len(cases) == 67 and np.max(np.abs(thr / ref - 1)) < 0.02


_CELLS = {
    "mrg": lambda d: mrg.build(d, 31),
    "motor": lambda d: motor.build(12.0 + (d - 2.0) * 8.0 / 14.0, 21),
    "drg_abeta": lambda d: drg_abeta.CELL.for_diameter(6.0 + (d - 2.0) * 6.0 / 14.0).build(n_central_nodes=15,
                                                                                               n_peripheral_nodes=15),
    "drg_adelta": lambda d: drg_adelta.CELL.for_diameter(2.0 + (d - 2.0) * 1.5 / 14.0).build(n_central_nodes=25,
                                                                                                 n_peripheral_nodes=25),
}


def _centre(cell, kind, where):
    if kind in ("mrg", "motor"):
        nodes = mrg.node_indices(cell)
        return cell.position_mm[nodes[len(nodes) // 2]], (1.0, 0.0, 0.0)
    return cell.position_mm[cell.detectors[where]], (0.0, -1.0, 0.0) if where == "t_junction" else (1.0, 0.0, 0.0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(_CELLS)), diameter=st.floats(2.0, 16.0), distance=st.floats(0.1, 3.0),
       pw=st.sampled_from([20.0, 60.0, 120.0, 300.0, 1000.0]), polarity=st.sampled_from(["cathodic", "anodic"]),
       shape=st.sampled_from(["monophasic", "biphasic", "asymmetric"]), where=st.sampled_from(["t_junction", "soma"]))
def test_threshold_fires_and_nothing_below_it_does(kind, diameter, distance, pw, polarity, shape, where):
    """For random cells and point sources: the cell fires at its threshold, not at 0.98 x, and at no
    amplitude of a fine grid (3% steps) from the search's start up to 0.98 x the threshold."""
    cell = _CELLS[kind](diameter)
    centre, offset = _centre(cell, kind, where)
    wf = Waveform(pulse_width_us=pw, polarity=polarity, shape=shape)
    stt = SimulationSettings(dt_us=5.0)
    batch, v = _point_source(cell, centre, distance, offset)
    res = find_thresholds(batch, v, wf, stt, rel_tol=0.01, max_ma=20.0)
    thr = res.threshold_ma[0]
    assert not res.exhausted[0]
    if not np.isfinite(thr):
        assert not simulate(batch, v, 20.0, wf, stt).fired[0]
        return
    grid = np.append(np.geomspace(res.start_ma[0] / 2, 0.98 * thr, 40), thr)
    many = CellBatch.pack([cell] * len(grid))
    fired = simulate(many, np.tile(v, len(grid)), grid, wf, stt).fired
    assert fired[-1] and not fired[:-1].any()


@pytest.mark.parametrize("pw", [120.0, 1000.0])
@pytest.mark.parametrize("distance", [0.1, 0.25, 0.5])
def test_cells_near_a_contact_fire_only_inside_their_window(distance, pw):
    """DRG neurons and motor axons 0.1-0.5 mm from a contact (point source), the device's pulse with
    passive recharge: each fires at its threshold and at the window's middle, not just above the window's
    end; the window's end (block) is reported where the cell falls silent below the device maximum."""
    cells = [drg_abeta.CELL.for_diameter(8.0).build(n_central_nodes=15, n_peripheral_nodes=15),
             drg_adelta.build(n_central_nodes=25, n_peripheral_nodes=25), motor.build(16.0, 21)]
    centres = [_centre(cells[0], "drg_abeta", "t_junction"), _centre(cells[1], "drg_adelta", "soma"),
               _centre(cells[2], "motor", None)]
    wf = Waveform(shape="asymmetric", pulse_width_us=pw, recharge_tau_us=1000.0, recharge_window_us=4000.0)
    stt = SimulationSettings(dt_us=5.0)
    batch = CellBatch.pack(cells)
    v = np.concatenate([point_source_potentials(c.position_mm, ctr + distance * np.asarray(off), 500.0)
                        for c, (ctr, off) in zip(cells, centres)])
    res = find_thresholds(batch, v, wf, stt, rel_tol=0.01, max_ma=6.0)
    thr, block = res.threshold_ma, res.block_ma
    assert np.all(np.isfinite(thr)) and np.all(block > thr)
    inside = np.where(np.isfinite(block), np.sqrt(thr * np.minimum(block, 6.0)), np.minimum(3 * thr, 6.0))
    assert simulate(batch, v, thr, wf, stt).fired.all()
    assert simulate(batch, v, inside, wf, stt).fired.all()
    blocked = np.isfinite(block)
    if blocked.any():
        above = simulate(batch, v, np.where(blocked, 1.01 * block, thr), wf, stt).fired
        assert not above[blocked].any()
    assert np.all(res.fires(thr)) and not np.any(res.fires(0.97 * thr))


def test_a_start_that_fires_steps_down():
    """The start is meant to be subthreshold; where it is not (a start depolarization set far too high)
    the search steps down and still finds the threshold."""
    cell = mrg.build(10.0, 31)
    centre, off = _centre(cell, "mrg", None)
    batch, v = _point_source(cell, centre, 1.0, off)
    wf = Waveform(pulse_width_us=100.0)
    stt = SimulationSettings(dt_us=5.0)
    ref = find_thresholds(batch, v, wf, stt, rel_tol=0.005).threshold_ma[0]
    high = find_thresholds(batch, v, wf, stt, rel_tol=0.005, search=SearchSettings(start_depolarization_mv=20.0))
    assert simulate(batch, v, high.start_ma[0], wf, stt).fired[0]
    assert high.threshold_ma[0] == pytest.approx(ref, rel=0.01)


def test_block_search_can_be_skipped_and_the_ceiling_stops_it():
    cell = mrg.build(10.0, 31)
    centre, off = _centre(cell, "mrg", None)
    batch, v = _point_source(cell, centre, 0.2, off)
    wf = Waveform(pulse_width_us=1000.0)
    stt = SimulationSettings(dt_us=5.0)
    full = find_thresholds(batch, v, wf, stt, max_ma=5.0)
    bare = find_thresholds(batch, v, wf, stt, max_ma=5.0, search=SearchSettings(find_block=False))
    assert np.isfinite(full.block_ma[0]) and np.isinf(bare.block_ma[0])
    assert bare.threshold_ma[0] == full.threshold_ma[0] and bare.n_simulations[0] < full.n_simulations[0]
    low = find_thresholds(batch, v, wf, stt, max_ma=0.5 * full.block_ma[0])
    assert np.isinf(low.block_ma[0])  # fires up to the ceiling


def test_a_committed_spike_decides_a_run_as_the_detector_would():
    """Firing runs end once the spike has crossed into the quiet, unbranched stretch before the detector
    (``commit_points``) instead of when it arrives: every threshold, block edge and initiation site is the one
    found by waiting for the detector, in fewer steps (long thin axons: a fraction)."""
    cells = [drg_abeta.CELL.for_diameter(9.0).build(n_central_nodes=40, n_peripheral_nodes=40),
             drg_adelta.CELL.for_diameter(2.5).build(n_central_nodes=80, n_peripheral_nodes=80),
             drg_c.CELL.build(), motor.build(14.0, 41)]
    centres = [_centre(cells[0], "drg_abeta", "t_junction"), _centre(cells[1], "drg_adelta", "soma"),
               (cells[2].position_mm[cells[2].detectors["t_junction"]], (0.0, -1.0, 0.0)),
               _centre(cells[3], "motor", None)]
    wf = Waveform(shape="asymmetric", pulse_width_us=300.0, recharge_tau_us=1000.0, recharge_window_us=4000.0)
    stt = SimulationSettings(dt_us=5.0)
    batch = CellBatch.pack(cells)
    steps = np.zeros(2)
    for distance in (0.2, 1.0):
        v = np.concatenate([point_source_potentials(c.position_mm, ctr + distance * np.asarray(off), 500.0)
                            for c, (ctr, off) in zip(cells, centres)])
        fast = find_thresholds(batch, v, wf, stt, rel_tol=0.01, max_ma=6.0)
        slow = find_thresholds(batch, v, wf, stt, rel_tol=0.01, max_ma=6.0, search=SearchSettings(commit_field_mv=0))
        np.testing.assert_array_equal(fast.threshold_ma, slow.threshold_ma)
        np.testing.assert_array_equal(fast.block_ma, slow.block_ma)
        assert fast.initiation_site == slow.initiation_site
        assert np.isfinite(fast.threshold_ma[[0, 1, 3]]).all()
        assert np.all(fast.steps <= slow.steps)
        steps += fast.steps.sum(), slow.steps.sum()
    assert steps[0] < 0.85 * steps[1]  # measured 0.78: short test cells; far more on the populations' long axons


def test_a_threshold_does_not_depend_on_the_bracket_it_was_searched_from():
    """The optimizer tables A-beta cells only up to the first motor response, the evaluation up to the device's
    maximum: a cell below both ceilings must get the same threshold (and block edge) in both, or a program
    chosen on one table's edge fails on the other (stop 28). Different ceilings, starts and steps reach the
    threshold from different brackets; the lattice bisection ends at the same amplitude from each."""
    cells = [drg_abeta.CELL.for_diameter(d).build(n_central_nodes=15, n_peripheral_nodes=15) for d in (7.0, 9.0, 11.0)]
    cells += [mrg.build(d, 31) for d in (6.0, 10.0, 14.0)]
    centres = [_centre(c, "drg_abeta", "t_junction") for c in cells[:3]] + [_centre(c, "mrg", None) for c in cells[3:]]
    wf = Waveform(shape="asymmetric", pulse_width_us=300.0, recharge_tau_us=1000.0, recharge_window_us=4000.0)
    stt = SimulationSettings(dt_us=5.0)
    batch = CellBatch.pack(cells)
    v = np.concatenate([point_source_potentials(c.position_mm, ctr + d * np.asarray(off), 500.0)
                        for c, (ctr, off), d in zip(cells, centres, (0.3, 1.0, 2.0, 0.2, 1.0, 2.5))])
    full = find_thresholds(batch, v, wf, stt, rel_tol=0.02, max_ma=12.0)
    thr = full.threshold_ma
    assert np.isfinite(thr).all() and not full.exhausted.any()
    for ceiling in (1.01 * thr, 1.3 * thr, np.full(len(cells), 1.1 * thr.max())):
        low = find_thresholds(batch, v, wf, stt, rel_tol=0.02, max_ma=ceiling)
        np.testing.assert_array_equal(low.threshold_ma, thr)
    other = find_thresholds(batch, v, wf, stt, rel_tol=0.02, max_ma=12.0,
                            search=SearchSettings(start_depolarization_mv=0.7, step_up=1.23, step_block=1.37))
    np.testing.assert_array_equal(other.threshold_ma, thr)
    np.testing.assert_array_equal(other.block_ma, full.block_ma)
    # the lattice cell holds the threshold: the cell fires there and not one cell below
    fired = simulate(CellBatch.pack(cells * 2), np.tile(v, 2), np.concatenate([thr, thr * 0.98 * 0.999]), wf,
                     stt).fired
    assert fired[:len(cells)].all() and not fired[len(cells):].any()
