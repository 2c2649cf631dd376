"""Recording by reciprocity in a homogeneous medium: membrane currents checked against the myelin's own equation,
the recorded potential against a direct line-source sum, and the N1 latency against conduction velocity by hand."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.devices.waveform import Waveform
from drgsim.neurons import kernel
from drgsim.neurons.models import mrg
from drgsim.neurons.recording import evoked_uv, membrane_currents_na, recorded_uv
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds, simulate, trace
from drgsim.neurons.stimulus import point_source_potentials

RHO_OHM_CM = 500.0
WAVEFORM = Waveform(pulse_width_us=100.0)
SETTINGS = SimulationSettings(dt_us=5.0, tstop_ms=3.0)


@pytest.fixture(scope="module")
def fibre():
    """A 10 um MRG fibre along z (about 115 mm), stimulated 1 mm off its axis near node 10, at 1.2 x threshold."""
    cell = mrg.build(10.0, 101, start_mm=(0.0, 0.0, 0.0))
    batch = CellBatch.pack([cell])
    nodes = mrg.node_indices(cell)
    source = batch.positions_mm[nodes[10]] + np.array([0.0, 1.0, 0.0])
    v = point_source_potentials(batch.positions_mm, source, RHO_OHM_CM)
    amp = 1.2 * float(find_thresholds(batch, v, WAVEFORM, SETTINGS).threshold_ma[0])
    return batch, v, amp, nodes


def test_membrane_currents_match_the_myelin_equation(fibre):
    """Under the myelin, what a compartment sends outwards (Kirchhoff on the axial currents) is the current through
    its myelin sheath, C_my d(Vp - Ve)/dt + G_my (Vp - Ve), computed independently from the traced Vp and Ve."""
    batch, v, amp, _ = fibre
    t, vm, vp = trace(batch, v, amp, WAVEFORM, SETTINGS, periaxonal=True)
    current = membrane_currents_na(batch, 0, vm, vp)
    ve = amp * WAVEFORM.sample(SETTINGS.dt_us * 1e-3, len(t))[:, None] * v[None, :]
    sheath = batch.struct[kernel.SHORTED] == 0
    vmy = (vp - ve)[:, sheath]
    c_my, g_my = batch.coef[kernel.C_MY, sheath], batch.coef[kernel.G_MY, sheath]
    expected = c_my * np.diff(vmy, axis=0) / (SETTINGS.dt_us * 1e-3) + g_my * vmy[1:]
    assert np.abs(current[1:, sheath]).max() > 0.01  # the action potential drives nA-scale currents
    np.testing.assert_allclose(current[1:, sheath], expected, atol=1e-6 * np.abs(expected).max())
    assert np.abs(current[1:, ~sheath]).max() > np.abs(expected).max()  # nodes carry the largest currents


def _line_source_uv(batch: CellBatch, current_na: np.ndarray, electrode_mm) -> np.ndarray:
    """Direct sum: each compartment's current spread evenly along its length on the fibre's axis (z), in an
    infinite homogeneous medium: phi = I / (4 pi sigma L) ln((r_a + r_b + L) / (r_a + r_b - L))."""
    cell = batch.cells[0]
    half = np.stack([np.zeros(cell.n), np.zeros(cell.n), cell.length_um * 0.5e-3], axis=1)
    r_a = np.linalg.norm(batch.positions_mm - half - electrode_mm, axis=1) * 1e-3  # m
    r_b = np.linalg.norm(batch.positions_mm + half - electrode_mm, axis=1) * 1e-3
    length_m = cell.length_um * 1e-6
    sigma_s_per_m = 100.0 / RHO_OHM_CM
    ohm = np.log((r_a + r_b + length_m) / (r_a + r_b - length_m)) / (4 * np.pi * sigma_s_per_m * length_m)
    return (current_na * 1e-9) @ ohm * 1e6


def test_reciprocity_matches_a_direct_line_source_sum(fibre):
    """The electrode's unit-current field (reciprocity) weighting the membrane currents gives what the currents'
    own line-source potentials add up to at the electrode, in uV."""
    batch, v, amp, nodes = fibre
    electrode = batch.positions_mm[nodes[50]] + np.array([0.0, 1.0, 0.0])
    t, uv = recorded_uv(batch, v, amp, WAVEFORM, point_source_potentials(batch.positions_mm, electrode, RHO_OHM_CM),
                        SETTINGS)
    _, vm, vp = trace(batch, v, amp, WAVEFORM, SETTINGS, periaxonal=True)
    direct = _line_source_uv(batch, membrane_currents_na(batch, 0, vm, vp), electrode)
    after = t > 0.2  # the action potential passing, not the stimulus
    span = np.ptp(direct[after])
    assert 0.05 < span < 50  # a single fibre at 1 mm: a fraction of a uV to a few uV
    assert np.abs(uv[after] - direct[after]).max() < 0.01 * span


def test_n1_latency_follows_conduction_velocity(fibre):
    """Two electrodes along the fibre: each N1 comes as the spike passes the node below it (its -30 mV crossing),
    and the N1s lie apart by distance / conduction velocity, the velocity taken by hand from two nodes' crossings."""
    batch, v, amp, nodes = fibre
    crossing = simulate(batch, v, amp, WAVEFORM, SETTINGS).first_crossing_ms
    z = batch.positions_mm[:, 2]
    velocity_mm_per_ms = (z[nodes[90]] - z[nodes[30]]) / (crossing[nodes[90]] - crossing[nodes[30]])
    assert 40 < velocity_mm_per_ms < 70  # MRG 10 um: about 5-6 m/s per um of diameter
    latency = {}
    for k in (40, 80):
        electrode = batch.positions_mm[nodes[k]] + np.array([0.0, 1.0, 0.0])
        t, uv = recorded_uv(batch, v, amp, WAVEFORM, point_source_potentials(batch.positions_mm, electrode,
                                                                             RHO_OHM_CM), SETTINGS)
        after = t > 0.2
        latency[k] = t[after][np.argmin(uv[after])]
        assert latency[k] == pytest.approx(crossing[nodes[k]], abs=0.05)
    by_hand = (z[nodes[80]] - z[nodes[40]]) / velocity_mm_per_ms
    assert latency[80] - latency[40] == pytest.approx(by_hand, abs=0.02)


def test_lead_field_must_cover_the_cell(fibre):
    batch, v, amp, _ = fibre
    with pytest.raises(ValueError, match="lead_field_mv_per_ma must have one value per compartment"):
        recorded_uv(batch, v, amp, WAVEFORM, np.ones(3), SETTINGS)


def test_evoked_signal_is_what_the_spike_adds(fibre):
    """Below threshold the evoked signal (the recording less its part linear in the amplitude) is next to nothing,
    a small part of the passive response it took out; above, the spike's. Electrode beside the stimulated node."""
    batch, v, amp, nodes = fibre
    lead_field = point_source_potentials(batch.positions_mm, batch.positions_mm[nodes[12]] + [0.0, 1.0, 0.0],
                                         RHO_OHM_CM)
    _, above = evoked_uv(batch, v, amp, WAVEFORM, lead_field, SETTINGS)
    _, below = evoked_uv(batch, v, 0.4 * amp, WAVEFORM, lead_field, SETTINGS)
    _, raw = recorded_uv(batch, v, 0.4 * amp, WAVEFORM, lead_field, SETTINGS)
    assert np.abs(below).max() < 0.2 * np.ptp(raw)
    assert np.abs(below).max() < 0.01 * np.ptp(above)
    with pytest.raises(ValueError, match="linear_fraction=0.5; allowed"):
        evoked_uv(batch, v, amp, WAVEFORM, lead_field, SETTINGS, linear_fraction=0.5)


def test_evoked_signal_of_a_silent_drg_neuron_is_silent():
    """A DRG A-beta neuron's numerical rest drifts by a fraction of a uV of membrane potential over a sweep; the
    evoked signal of a sub-threshold pulse must not turn that drift, scaled up with the passive part, into a
    standing offset (it did: 1.4 mV in the default patient's DRG ECAP, and the growth curve fell to 0)."""
    from drgsim.neurons.models import drg_abeta

    cell = drg_abeta.build()
    batch = CellBatch.pack([cell])
    soma = cell.position_mm[0]
    v = point_source_potentials(batch.positions_mm, soma + np.array([0.0, 0.5, 0.0]), RHO_OHM_CM)
    lead_field = point_source_potentials(batch.positions_mm, soma + np.array([0.0, -0.5, 0.0]), RHO_OHM_CM)
    settings = SimulationSettings(dt_us=5.0, tstop_ms=3.0)
    thr = float(find_thresholds(batch, v, WAVEFORM, settings).threshold_ma[0])
    _, rest = recorded_uv(batch, v, 0.0, WAVEFORM, lead_field, settings)
    assert np.abs(rest).max() > 0  # the rest is not exactly steady: what this test is about
    _, below = evoked_uv(batch, v, 0.5 * thr, WAVEFORM, lead_field, settings)
    _, above = evoked_uv(batch, v, 1.2 * thr, WAVEFORM, lead_field, settings)
    assert np.abs(below).max() < 0.05 * np.ptp(above)  # the soma's sodium is not quite linear at 0.5x: ~1%
    assert np.abs(below).max() < np.abs(rest).max()  # not the drift scaled up by 1 / linear_fraction (1,000x)
