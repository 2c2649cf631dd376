"""Sundt C fibre: with Na + Kdr only, spike trains are followed up to about 110 Hz (Sundt et al. 2015)."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.neurons.models import sundt
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds, simulate
from drgsim.devices.waveform import Waveform
from drgsim.neurons.stimulus import point_source_potentials


@pytest.mark.slow
def test_sundt_following_frequency_is_near_110_hz():
    """20-pulse trains at 1.2x the single-pulse threshold, at Sundt's 35 C: every pulse is
    conducted at 100 Hz, and some fail by 130 Hz."""
    cell = sundt.build(0.8, 601, temperature_c=35.0)
    batch = CellBatch.pack([cell])
    v = point_source_potentials(batch.positions_mm, cell.position_mm[300] + np.array([0.25, 0, 0]), 500.0)
    st = SimulationSettings(dt_us=5.0)
    thr = find_thresholds(batch, v, Waveform(pulse_width_us=100), st).threshold_ma[0]

    def conducted(f):
        wf = Waveform(pulse_width_us=100, frequency_hz=f, n_pulses=20)
        return len(simulate(batch, v, 1.2 * thr, wf, st, max_spikes=64).spike_times_ms[0]["end"])

    assert conducted(100) == 20
    assert conducted(130) < 20
