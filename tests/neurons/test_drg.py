"""Pseudo-unipolar DRG neurons: spike passage through the T-junction, fibre-type selectivity."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.devices.waveform import Waveform
from drgsim.neurons.models import drg_abeta, drg_adelta, drg_c
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds, simulate
from drgsim.neurons.stimulus import point_source_potentials

BUILDERS = {"drg_abeta": drg_abeta.build, "drg_adelta": drg_adelta.build, "drg_c": drg_c.build}


@pytest.fixture(scope="module")
def cells():
    return {name: build() for name, build in BUILDERS.items()}


def test_t_junction_joins_three_branches(cells):
    """Myelinated cells: three full nodes at one point (the stem's, then the first of each axon; Graham
    et al. 2021); C cells: one compartment joining the stem and the two T-pieces."""
    for name, cell in cells.items():
        t = cell.detectors["t_junction"]
        children = np.flatnonzero(cell.parent == t)
        if name == "drg_c":
            regions = sorted(cell.region[i].split("_")[0] for i in children)
        else:
            assert [cell.region[i] for i in children] == ["t_junction", "t_junction"]
            assert np.allclose(cell.position_mm[children], cell.position_mm[t], atol=2e-3)  # within 2 um
            regions = sorted(cell.region[int(np.flatnonzero(cell.parent == i)[0])].split("_")[0] for i in children)
        assert regions == ["central", "peripheral"]  # the stem is the T's parent
        assert cell.region[cell.parent[t]].startswith("stem")
        assert cell.region[0] == "soma"
        # central axon along +z, peripheral along -z from the T-junction
        assert cell.position_mm[cell.detectors["central"], 2] > 1.0
        assert cell.position_mm[cell.detectors["peripheral"], 2] < -1.0


def test_myelinated_cells_follow_their_scaling_rules():
    """Farooqui et al. 2024 (after Lee et al. 1986): central 0.87 Dp - 0.67, stem Dp, soma 2.78 Dp + 40.56 um."""
    cell = drg_abeta.CELL.for_diameter(14.0)
    assert cell.central_diameter_um == pytest.approx(0.87 * 14 - 0.67)
    assert cell.stem_diameter_um == 14.0
    assert cell.soma_diameter_um == pytest.approx(79.48)
    built = cell.build()
    stem_nodes = [i for i, r in enumerate(built.region) if r == "stem_node"]
    assert len(stem_nodes) == 4  # the first stem node beside the initial segment, and three more
    assert built.region[stem_nodes[0] - 1] == "initial_segment"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_peripheral_spike_passes_the_t_junction_to_the_central_terminal(cells, name):
    cell = cells[name]
    batch = CellBatch.pack([cell])
    periph = [i for i, r in enumerate(cell.region) if r.startswith("peripheral") and r.endswith(("node", "axon"))]
    target = periph[len(periph) // 2]  # halfway down the peripheral axon
    src = cell.position_mm[target] + np.array([0.0, -0.5, 0.0])
    v = point_source_potentials(batch.positions_mm, src, 500.0)
    wf = Waveform(pulse_width_us=300.0)
    st = SimulationSettings(dt_us=5.0)
    thr = find_thresholds(batch, v, wf, st, rel_tol=0.02)
    res = simulate(batch, v, 1.2 * thr.threshold_ma, wf, st)
    assert res.fired[0]
    assert batch.region_of(int(res.initiation_index[0]))[1].startswith("peripheral")
    times = res.spike_times_ms[0]
    assert times["t_junction"][0] < times["central"][0]  # orthodromic: through the T, then up the root
    assert times["peripheral"].size and times["soma"].size


def test_abeta_fires_at_far_lower_amplitude_than_c(cells):
    order = ["drg_abeta", "drg_adelta", "drg_c"]
    batch = CellBatch.pack([cells[n] for n in order])
    src = np.array([0.0, -1.0, 0.0])  # 1 mm beside every T-junction (they share the origin)
    v = point_source_potentials(batch.positions_mm, src, 500.0)
    thr = find_thresholds(batch, v, Waveform(pulse_width_us=300.0), SimulationSettings(dt_us=5.0), rel_tol=0.02)
    abeta, adelta, c = thr.threshold_ma
    assert abeta < adelta < c
    assert c / abeta > 10
