"""Cut ends continued (``Morphology.continued``): a truncated axon behaves as the longer axon it was cut from.

References: the same fibre uncut (101 nodes, its ends 57 mm from the source), and the exact property of
the termination: in a uniform field (Ve linear along the axon) a continued axon feels no activating
function at all, while a sealed one is excited at its end (McNeal 1976; Rattay 1986).
"""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.devices.waveform import Waveform
from drgsim.neurons.models import drg_abeta, mrg
from drgsim.neurons.models.drg import Paths
from drgsim.neurons.morphology import Morphology
from drgsim.neurons.solver import CellBatch, find_thresholds
from drgsim.neurons.stimulus import point_source_potentials

DIAMETER_UM = 10.0
PITCH_MM = mrg.geometry(DIAMETER_UM).delta_x_um * 1e-3


def _sealed(cell: Morphology) -> Morphology:
    return Morphology(**{**cell.__dict__, "ghost_partner": None})


def _fibre(half_nodes: int) -> Morphology:
    return mrg.build(DIAMETER_UM, 2 * half_nodes + 1, start_mm=(0.0, 0.0, -half_nodes * PITCH_MM)).continued()


@pytest.mark.parametrize("distance_mm", [1.0, 3.0])
def test_a_continued_cut_fibre_has_the_uncut_fibres_threshold(distance_mm):
    """17 nodes cut from a 101-node fibre, a point source over the middle node: continued within 0.5% of
    the uncut fibre's threshold and no spike from an end; sealed, the same fibre is off by more."""
    short = _fibre(8)
    cells = [_fibre(50), short, _sealed(short)]
    batch = CellBatch.pack(cells)
    v = point_source_potentials(batch.positions_mm, (distance_mm, 0.0, 0.0), 500.0)
    wf = Waveform(shape="monophasic", polarity="cathodic", pulse_width_us=300.0)
    res = find_thresholds(batch, v, wf, rel_tol=0.001)
    full, continued, sealed = res.threshold_ma
    assert continued == pytest.approx(full, rel=0.005)
    assert not res.cut_end[:2].any()
    assert abs(sealed / full - 1) > 2 * abs(continued / full - 1)


def test_a_uniform_field_excites_a_sealed_end_and_no_continued_one():
    """Ve linear along the fibre (a uniform field): the sealed fibre fires from an end, the continued one
    is silent up to 100x that amplitude."""
    cell = _fibre(10)
    v = 20.0 * cell.position_mm[:, 2]  # mV per mA per mm
    wf = Waveform(shape="monophasic", polarity="cathodic", pulse_width_us=300.0)
    sealed = find_thresholds(CellBatch.pack([_sealed(cell)]), v, wf)
    assert np.isfinite(sealed.threshold_ma[0]) and sealed.cut_end[0]
    continued = find_thresholds(CellBatch.pack([cell]), v, wf, max_ma=100 * sealed.threshold_ma[0])
    assert np.isinf(continued.threshold_ma[0])


def test_continued_ends_attach_to_the_cable_past_an_uncoupled_passive_node():
    """MRG end nodes are passive and uncoupled (PyFibers' convention): the ghost joins the first coupled
    compartment and takes the previous node as its partner; a DRG neuron's two axon ends are continued,
    its stem and soma are not."""
    cell = _fibre(3)
    ends = np.flatnonzero(cell.ghost_partner >= 0)
    assert list(ends) == [1, cell.n - 2]
    assert [cell.region[p] for p in cell.ghost_partner[ends]] == ["node", "node"]
    assert cell.ghost_partner[1] == 11
    t = np.zeros(3)
    paths = Paths(stem=np.array([t, [0.0, 2.0, 0.0]]), peripheral=np.array([t, [20.0, 0.0, 0.0]]),
                  central=np.array([t, [-20.0, 0.0, 0.0]]))
    neuron = drg_abeta.CELL.for_diameter(10.0).build(paths, n_central_nodes=8, n_peripheral_nodes=8).continued()
    linked = np.flatnonzero(neuron.ghost_partner >= 0)
    assert len(linked) == 2 and all(neuron.near_cut_end[i] for i in linked)
