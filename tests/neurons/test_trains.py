"""Train runs (``solver.simulate_train``): spikes injected in the periphery of a C-type DRG neuron cross the
T-junction as NEURON says they do, on Sundt et al. 2015's model (ModelDB 187473)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from drgsim.devices.waveform import Waveform
from drgsim.neurons.models.drg_c import CELL
from drgsim.neurons.solver import CellBatch, Injection, SimulationSettings, simulate_train
from drgsim.neurons.transmission import FilterConfig, conducted

# NEURON 8 running ModelDB 187473's own mechanisms at 35 C (its Figure 5d cell: Na + Kdr, e_pas set so that every
# section rests at -60 mV; 1 ms pulses of 0.2 nA at peri(0.2); spikes counted at central(0.8)): spikes of a
# 21-pulse peripheral train that reach the central axon. With the M current of Figure 5d (0.0004 S/cm2, -5 mV in
# the T pieces, stem and soma) NEURON conducts all 21 at 40 Hz and 16 at 50 Hz.
NEURON_NA_KDR = {100.0: 21, 110.0: 14, 120.0: 14, 140.0: 11}
NEURON_KCNQ = {40.0: 21, 50.0: 16}


def _run(cell_template, freqs):
    cell = cell_template.build(temperature_c=35.0)
    t = cell.position_mm[cell.detectors["t_junction"]]
    per = [i for i, r in enumerate(cell.region) if r == "peripheral_axon"]
    inject = per[int(np.argmin([abs(np.linalg.norm(cell.position_mm[i] - t) - 4.1) for i in per]))]
    batch = CellBatch.pack([cell] * len(freqs))
    onsets = [10.0 + 1e3 / f * np.arange(21) for f in freqs]
    r = simulate_train(batch, np.zeros(batch.n_compartments), 0.0, Waveform(), max(o[-1] for o in onsets) + 60.0,
                       Injection(np.full(len(freqs), inject), onsets), SimulationSettings(dt_us=25.0))
    return onsets, r


def test_na_kdr_neuron_conducts_peripheral_trains_as_neuron_does():
    """Na + Kdr only: every spike at 100 Hz, then the counts NEURON gives as the T-junction starts to fail."""
    freqs = list(NEURON_NA_KDR)
    onsets, r = _run(replace(CELL, km_gbar=0.0, soma_cal_gbar=0.0, soma_sk_gbar=0.0), freqs)
    got = {f: len(st["central"]) for f, st in zip(freqs, r.spike_times_ms)}
    assert got == NEURON_NA_KDR
    assert [conducted(o, st["central"]) for o, st in zip(onsets, r.spike_times_ms)] == list(NEURON_NA_KDR.values())


def test_m_current_lowers_the_following_frequency():
    """With the M current near the T the cell follows 40 Hz but fails at 50 Hz, within a spike of NEURON."""
    freqs = list(NEURON_KCNQ)
    onsets, r = _run(replace(CELL, soma_cal_gbar=0.0, soma_sk_gbar=0.0), freqs)
    got = [conducted(o, st["central"]) for o, st in zip(onsets, r.spike_times_ms)]
    assert got[0] == NEURON_KCNQ[40.0]
    assert abs(got[1] - NEURON_KCNQ[50.0]) <= 1


def test_conduction_latency_matches_the_velocity_by_hand():
    """A single peripheral spike reaches the cord after the peripheral and central paths at Sundt's velocities
    (about 0.5 m/s on the 0.8 um branch, less on the 0.4 um one); checked against the times the detectors see."""
    onsets, r = _run(CELL, [10.0])
    st = r.spike_times_ms[0]
    assert conducted(onsets[0], st["central"]) == 21
    to_t = st["t_junction"][0] - onsets[0][0]
    assert 4.1 / 0.8 < to_t < 4.1 / 0.2  # 4.1 mm at 0.2-0.8 m/s
    assert st["central"][0] > st["t_junction"][0]


def test_filter_config_refuses_bad_input_with_the_field_named():
    with pytest.raises(ValueError, match="cell='mrg'"):
        FilterConfig(cell="mrg")
    with pytest.raises(ValueError, match="dt_us"):
        FilterConfig(pulse_width_us=40.0, dt_us=25.0)
