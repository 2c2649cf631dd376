"""Pseudo-unipolar DRG neurons: spike passage through the T-junction, fibre-type selectivity."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.neurons.models import drg_abeta, drg_adelta, drg_c
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds, simulate
from drgsim.devices.waveform import Waveform
from drgsim.neurons.stimulus import point_source_potentials

BUILDERS = {"drg_abeta": drg_abeta.build, "drg_adelta": drg_adelta.build, "drg_c": drg_c.build}


@pytest.fixture(scope="module")
def cells():
    return {name: build() for name, build in BUILDERS.items()}


def test_t_junction_joins_three_branches(cells):
    for cell in cells.values():
        t = cell.detectors["t_junction"]
        children = np.flatnonzero(cell.parent == t)
        regions = sorted(cell.region[i].split("_")[0] for i in children)
        assert regions == ["central", "peripheral"]  # the stem is the T's parent
        assert cell.region[cell.parent[t]].startswith("stem")
        assert cell.region[0] == "soma"
        # central axon along +z, peripheral along -z from the T-junction
        assert cell.position_mm[cell.detectors["central"], 2] > 1.0
        assert cell.position_mm[cell.detectors["peripheral"], 2] < -1.0


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
