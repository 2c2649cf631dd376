"""Train runs (``solver.simulate_train``): spikes injected in the periphery of a C-type DRG neuron cross the
T-junction as NEURON says they do, on Sundt et al. 2015's model (ModelDB 187473)."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest

from drgsim.devices.waveform import Waveform
from drgsim.neurons.models.drg_c import CELL
from drgsim.neurons.solver import CellBatch, Injection, SimulationSettings, simulate_train
from drgsim.neurons.transmission import FilterConfig, conducted

# Sundt et al.'s own model (ModelDB 187473) run in NEURON: central spike times per configuration and frequency
# (tests/reference/generate_sundt_following.py wrote them).
REFERENCE = json.loads(resources.files("drgsim.data").joinpath("reference/sundt2015_following_neuron.json").read_text())
CHANNELS = {"na_kdr": dict(km_gbar=0.0, soma_cal_gbar=0.0, soma_sk_gbar=0.0),
            "kcnq": dict(soma_cal_gbar=0.0, soma_sk_gbar=0.0), "slow_kca": dict(km_gbar=0.0)}


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


@pytest.mark.parametrize(("config", "freqs"), [("na_kdr", (100.0, 110.0, 140.0)), ("kcnq", (40.0, 50.0)),
                                               ("slow_kca", (8.0, 10.0))])
def test_peripheral_trains_cross_the_t_junction_as_in_neuron(config, freqs):
    """Spikes of 21-pulse trains reaching the cord, within one of NEURON's, where the T-junction starts to fail;
    with Na + Kdr the raw counts are NEURON's exactly."""
    onsets, r = _run(replace(CELL, **CHANNELS[config]), list(freqs))
    ref = REFERENCE["configs"][config]["central_spikes_ms"]
    for f, o, st in zip(freqs, onsets, r.spike_times_ms):
        want = conducted(o, np.array(ref[str(f)]))
        assert abs(conducted(o, st["central"]) - want) <= 1, (config, f)
        if config == "na_kdr":
            assert len(st["central"]) == len(ref[str(f)])
    assert min(conducted(o, np.array(ref[str(f)])) for f, o in zip(freqs, onsets)) < 21  # the trains do fail


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
