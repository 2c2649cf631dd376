"""Model definitions: MRG geometry against its published table, morphology invariants, kinetics."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.neurons.mechanisms import mrg_node_params, mrg_rates, sundt_rates
from drgsim.neurons.models import motor, mrg, sundt
from drgsim.neurons.morphology import Morphology


def test_mrg_internode_lengths_follow_table_1():
    for d, dx in zip((5.7, 10.0, 16.0), (500, 1150, 1500)):
        cell = mrg.build(d, 5)
        nodes = mrg.node_indices(cell)
        z = cell.position_mm[nodes, 2] * 1e3
        np.testing.assert_allclose(np.diff(z), dx, rtol=1e-9)


def test_interpolated_mrg_meets_the_table_at_its_diameters():
    """The ASCENT fits are close to, but not exactly, Table 1."""
    g_fit = mrg.geometry(10.0001)
    g_tab = mrg.geometry(10.0)
    assert g_fit.interpolated and not g_tab.interpolated
    assert g_fit.delta_x_um == pytest.approx(g_tab.delta_x_um, rel=0.03)
    assert g_fit.axon_diameter_um == pytest.approx(g_tab.axon_diameter_um, rel=0.03)


def test_out_of_range_diameters_are_refused():
    with pytest.raises(ValueError, match="2.0-16.0"):
        mrg.build(1.0)
    with pytest.raises(ValueError, match="12.0-20.0"):
        motor.build(25.0)
    with pytest.raises(ValueError, match="C fibres"):
        sundt.build(5.0)


def test_motor_axon_extends_mrg_beyond_16_um():
    g = motor.geometry(20.0)
    assert g.delta_x_um == pytest.approx(1700.0)
    assert motor.geometry(16.0) == mrg.geometry(16.0)


def test_morphology_requires_hines_order():
    cell = mrg.build(10.0, 3)
    bad = dict(cell.__dict__)
    bad["parent"] = cell.parent.copy()
    bad["parent"][5] = 7
    with pytest.raises(ValueError, match="Hines order"):
        Morphology(**bad)


def test_mrg_gates_are_continuous_at_the_removable_singularities():
    p = mrg_node_params(37.0)
    for v in (-27.0, -34.0, -21.4, -25.7, -114.0):
        lo, mid, hi = (np.array(mrg_rates(x, p[7], p[8], p[9])) for x in (v - 1e-4, v, v + 1e-4))
        np.testing.assert_allclose(mid, (lo + hi) / 2, rtol=1e-3)


def test_mrg_activation_rises_and_inactivation_falls_with_voltage():
    p = mrg_node_params(37.0)
    r = np.array([mrg_rates(v, p[7], p[8], p[9]) for v in np.linspace(-120, 40, 81)])
    for k in (0, 2):  # mp and m activate with depolarisation
        assert np.all(np.diff(r[:, k]) >= 0)
    assert np.all(np.diff(r[:, 4]) <= 0)  # h inactivates


def test_sundt_gates_are_bounded():
    for v in np.linspace(-120, 60, 37):
        r = sundt_rates(v, -6.0, 6.0, 3.0 ** 0.7, 37.0)
        assert all(0.0 <= r[k] <= 1.0 for k in (0, 2, 4, 6))
        assert all(r[k] > 0.0 for k in (1, 3, 5, 7))
