"""Self-checks of the NEURON oracle (tests/reference/neuron_oracle.py).

The NEURON tests are marked ``neuron`` and skipped when neuron/pyfibers are not
installed.  They use short fibres and short runs (a few seconds in total).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import neuron_oracle as oracle  # noqa: E402


def _neuron_available() -> bool:
    try:
        import neuron  # noqa: F401

        oracle.pyfibers_mod_dir()
    except ImportError:
        return False
    return True


needs_neuron = pytest.mark.skipif(not _neuron_available(), reason="neuron and pyfibers are not installed")

DT = 0.0025
TSTOP = 1.5
N_NODES = 11


# --------------------------------------------------------------------------- #
# Pure-Python parts (no NEURON needed)                                         #
# --------------------------------------------------------------------------- #
def test_threshold_search_bisection_only():
    calls = []

    def fires(a):
        calls.append(a)
        return a >= 0.3

    r = oracle.threshold_search(fires, 0.2, 0.4, 0.001)
    assert calls[0] == 0.4 and calls[1] == 0.2  # hi first, then lo
    assert 0.3 <= r["threshold_ma"] < 0.3 * 1.001
    assert (r["hi_final_ma"] - r["lo_final_ma"]) / r["hi_final_ma"] < 0.001
    assert r["n_simulations"] == len(calls) == len(set(calls))


def test_threshold_search_expands_up_without_rerunning_lo():
    calls = []

    def fires(a):
        calls.append(a)
        return a >= 3.0

    r = oracle.threshold_search(fires, 0.1, 0.2, 0.01)
    assert calls[:5] == [0.2, 0.4, 0.8, 1.6, 3.2]
    assert 0.1 not in calls  # lo already known to be sub-threshold
    assert 3.0 <= r["threshold_ma"] < 3.0 * 1.01


def test_threshold_search_expands_down():
    calls = []

    def fires(a):
        calls.append(a)
        return a >= 0.01

    r = oracle.threshold_search(fires, 0.1, 0.2, 0.01)
    assert calls[:6] == [0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625]
    assert 0.01 <= r["threshold_ma"] < 0.01 * 1.01


def test_make_waveform():
    w = oracle.make_waveform("monophasic", "cathodic", 0.02, 0.0025, 5.0)
    assert len(w) == 2000 and w[:8].tolist() == [-1.0] * 8 and not w[8:].any()
    w = oracle.make_waveform("biphasic", "anodic", 0.1, 0.0025, 5.0)
    assert (w[:40] == 1).all() and (w[40:80] == -1).all() and not w[80:].any()


def test_point_source_formula():
    v = oracle.point_source_unit_potentials_mv(np.array([0.0, 3000.0]), 0.0, 4.0, 500.0)
    sigma = 0.2
    assert v[0] == pytest.approx(1000 / (4 * np.pi * sigma * 4.0))
    assert v[1] == pytest.approx(1000 / (4 * np.pi * sigma * 5.0))


# --------------------------------------------------------------------------- #
# NEURON                                                                       #
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def mrg_fiber():
    fiber = oracle.build_fiber("mrg", 10.0, N_NODES)
    yield fiber
    oracle.delete_fiber(fiber)


@needs_neuron
@pytest.mark.neuron
def test_ensure_mechanisms_idempotent():
    d1 = oracle.ensure_mechanisms()
    d2 = oracle.ensure_mechanisms()
    assert d1 == d2 and oracle.mechanisms_compiled()


@needs_neuron
@pytest.mark.neuron
def test_geometry_matches_pyfibers(mrg_fiber):
    g = oracle.section_geometry(mrg_fiber)
    n_sec = 11 * (N_NODES - 1) + 1
    assert len(g["center_um"]) == n_sec
    np.testing.assert_allclose(g["center_um"], mrg_fiber.longitudinal_coordinates, rtol=0, atol=1e-9)
    assert g["is_node"].sum() == N_NODES and g["is_active_node"].sum() == N_NODES - 2
    assert np.flatnonzero(g["is_node"]).tolist() == list(range(0, n_sec, 11))
    # PyFibers' passive end nodes
    for i in (0, n_sec - 1):
        assert g["Ra_ohm_cm"][i] == 1e10 and g["cm_uf_per_cm2"][i] == 1 and g["g_pas_s_per_cm2"][i] == 1e-4


def _compare_drivers(fiber, waveform, amplitude, nodes):
    kw = dict(
        distance_mm=1.0,
        resistivity_ohm_cm=500.0,
        waveform=waveform,
        dt_ms=DT,
        tstop_ms=TSTOP,
        record_nodes=nodes,
    )
    loop = oracle.run_once(fiber, amplitude, use_play=False, **kw)
    play = oracle.run_once(fiber, amplitude, use_play=True, **kw)
    return loop, play


@needs_neuron
@pytest.mark.neuron
@pytest.mark.parametrize(
    ("kind", "polarity", "pw", "amplitude"),
    [("monophasic", "cathodic", 0.02, 3.0), ("biphasic", "anodic", 0.1, 1.5), ("monophasic", "cathodic", 0.1, 0.05)],
)
def test_vector_play_matches_python_loop(mrg_fiber, kind, polarity, pw, amplitude):
    """The Vector.play driver reproduces the explicit loop bit for bit (whole v traces)."""
    nodes = (1, 3, 5, 9)
    wf = oracle.make_waveform(kind, polarity, pw, DT, TSTOP)
    loop, play = _compare_drivers(mrg_fiber, wf, amplitude, nodes)
    for n in nodes:
        assert len(loop["traces"][n]) == round(TSTOP / DT) + 1
        np.testing.assert_array_equal(play["traces"][n], loop["traces"][n])
    assert loop["fired"] == play["fired"] and loop["n_ap"] == play["n_ap"]
    # the stimulus has an effect and the strong cases do fire
    assert np.ptp(loop["traces"][5]) > 1.0
    if amplitude >= 1:
        assert loop["fired"]


@needs_neuron
@pytest.mark.neuron
def test_vector_play_matches_python_loop_arbitrary_waveform(mrg_fiber):
    """Also for a waveform that is non-zero up to the last step (no trailing-zero trimming)."""
    rng = np.random.default_rng(1)
    wf = rng.uniform(-1.0, 1.0, int(round(TSTOP / DT)))
    nodes = (2, 5, 8)
    loop, play = _compare_drivers(mrg_fiber, wf, 0.4, nodes)
    for n in nodes:
        np.testing.assert_array_equal(play["traces"][n], loop["traces"][n])
    assert np.ptp(loop["traces"][5]) > 0.1


@needs_neuron
@pytest.mark.neuron
def test_vector_play_knot_placement_matters(mrg_fiber):
    """One-step-shifted play (the classic off-by-one) is detectably different."""
    from neuron import h

    wf = oracle.make_waveform("monophasic", "cathodic", 0.02, DT, TSTOP)
    loop, _ = _compare_drivers(mrg_fiber, wf, 3.0, (5,))
    setup = oracle._Setup(mrg_fiber, 1.0, 500.0, wf, DT, TSTOP, -30.0, 0.9, None, extra_record_nodes=(5,))
    n = setup.n_steps
    tvec = h.Vector(np.concatenate([[0.0], (np.arange(n) + 1.5) * DT]))  # one step late
    vecs = []
    for seg, vu in zip(setup.segments, setup.v_unit):
        vec = h.Vector(np.concatenate([[0.0], 3.0 * wf * vu]))
        vec.play(seg._ref_e_extracellular, tvec, 1)
        vecs.append(vec)
    try:
        setup.initialize()
        for _ in range(n):
            h.fadvance()
    finally:
        for vec in vecs:
            vec.play_remove()
    assert np.max(np.abs(setup.traces()[5] - loop["traces"][5])) > 1e-3


@needs_neuron
@pytest.mark.neuron
def test_detection_matches_apcount(mrg_fiber):
    from neuron import h

    wf = oracle.make_waveform("monophasic", "cathodic", 0.1, DT, TSTOP)
    det = oracle.detect_node_index(N_NODES, 0.9)
    apc = h.APCount(mrg_fiber.nodes[det](0.5))
    apc.thresh = -30.0
    try:
        for amp in (0.05, 2.0):
            r = oracle.run_once(mrg_fiber, amp, 1.0, 500.0, wf, DT, TSTOP, use_play=True)
            assert r["n_ap"] == int(apc.n)
    finally:
        del apc


@needs_neuron
@pytest.mark.neuron
def test_run_threshold_drivers_agree(mrg_fiber):
    wf = oracle.make_waveform("monophasic", "cathodic", 0.1, DT, TSTOP)
    args = ("mrg", 10.0, N_NODES, 1.0, 500.0, wf, DT, TSTOP, 0.2, 0.4, 0.02)
    a = oracle.run_threshold(*args, use_play=True, fiber=mrg_fiber)
    b = oracle.run_threshold(*args, use_play=False, fiber=mrg_fiber)
    assert a["threshold_ma"] == b["threshold_ma"] and a["history"] == b["history"]
    assert a["fired_at_threshold"] and a["n_simulations"] == len(a["history"])
    assert abs(a["steady_state_v_mid_end_mv"] - (-80.0)) < 0.1
