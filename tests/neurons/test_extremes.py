"""Far outside physiology (a C neuron beside a 100 A source, as an unbounded threshold search can reach)
the kinetics and voltages stay finite."""

from __future__ import annotations

import numpy as np

from drgsim.devices.waveform import Waveform
from drgsim.neurons.mechanisms import mrg_node_params, mrg_rates, sundt_rates
from drgsim.neurons.models import drg_c
from drgsim.neurons.solver import CellBatch, SimulationSettings, simulate
from drgsim.neurons.stimulus import point_source_potentials


def test_rates_stay_finite_at_extreme_voltages():
    p = mrg_node_params(37.0)
    for v in (-5000.0, -300.0, 300.0, 5000.0):
        for r in (mrg_rates(v, p[7], p[8], p[9]), sundt_rates(v, -6.0, 6.0, 3.0 ** 0.7, 37.0)):
            assert all(np.isfinite(r[k]) and 0.0 <= r[k] <= 1.0 for k in (0, 2, 4, 6))


def test_huge_stimulus_gives_an_answer_not_an_error():
    cell = drg_c.build()
    batch = CellBatch.pack([cell])
    source = cell.position_mm[cell.detectors["t_junction"]] + [0, -0.5, 0]
    v = point_source_potentials(batch.positions_mm, source, 500.0)
    wf, st = Waveform(pulse_width_us=300.0), SimulationSettings(dt_us=5.0, tstop_ms=2.0)
    res = simulate(batch, v, 1e5, wf, st)
    assert res.steps[0] > 0 and not np.isinf(res.first_crossing_ms).any()
    from drgsim.neurons.solver import trace

    _, vm = trace(batch, v, 1e5, wf, st)  # every compartment
    assert np.isfinite(vm).all() and np.abs(vm).max() > 1000.0  # absurd voltages, but finite
