"""Published physiology of the cell models, and the time step's convergence.

- Graham RD, Bruns TM, Duan B, Lempka SF. Dorsal root ganglion stimulation for chronic pain
  modulates A-beta-fiber activity but not C-fiber activity: a computational modeling study. Clin
  Neurophysiol 2019;130(6):941-951. doi:10.1016/j.clinph.2019.02.016. Within clinical parameters DRG
  stimulation drives A-beta neurons and does not directly activate C neurons. Checked here for
  neurons 1 mm from a point source (500 ohm cm) at the DRG device's 300 us pulse with passive
  recharge: the A-beta neuron (7.4 um, Farooqui's mean) fires below 1 mA, the top of typical DRG
  programs (Deer et al. 2017, Pain 158:669: ACCURATE mean amplitudes below 1 mA) [bound: project
  choice], and the C neuron not below 4 mA.
- Sundt D, Gamper N, Jaffe DB. Spike propagation through the dorsal root ganglia in an unmyelinated
  sensory neuron: a modeling study. J Neurophysiol 2015;114(6):3140-3153. doi:10.1152/jn.00226.2015.
  With Na and Kdr only, 20-pulse trains are followed up to about 110 Hz (35 C): every pulse of a
  100 Hz train is conducted, some of a 130 Hz train are not.
"""

from __future__ import annotations

import numpy as np

from drgsim.devices.waveform import Waveform
from drgsim.neurons.models import drg_abeta, drg_c, mrg, sundt
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds, simulate
from drgsim.neurons.stimulus import point_source_potentials
from drgsim.validation.cases import ValidationCase, case

DEVICE_PULSE = Waveform(shape="asymmetric", pulse_width_us=300.0, recharge_tau_us=1000.0, recharge_window_us=4000.0)


def _threshold(cell, source_mm, waveform, settings=SimulationSettings(dt_us=5.0), **kw) -> float:
    batch = CellBatch.pack([cell])
    v = point_source_potentials(batch.positions_mm, source_mm, 500.0)
    return float(find_thresholds(batch, v, waveform, settings, rel_tol=0.01, **kw).threshold_ma[0])


def graham2019() -> list[ValidationCase]:
    src = "Graham et al. 2019, Clin Neurophysiol 130:941 (A-beta driven, C not, at clinical amplitudes)"
    out = []
    for name, cell, bound, kind in (("abeta", drg_abeta.CELL.for_diameter(7.4).build(), 1.0, "at_most"),
                                    ("c", drg_c.build(), 4.0, "at_least")):
        t = cell.position_mm[cell.detectors["t_junction"]]
        thr = _threshold(cell, t + [0.0, -1.0, 0.0], DEVICE_PULSE, max_ma=20.0)
        out.append(case(f"graham2019_{name}_threshold_1mm_300us_ma", "validation", src, bound, thr, "mA", 0.0, kind,
                        note="point source 1 mm from the T-junction, 300 us with passive recharge"))
    return out


def sundt2015() -> list[ValidationCase]:
    cell = sundt.build(0.8, 601, temperature_c=35.0)
    batch = CellBatch.pack([cell])
    v = point_source_potentials(batch.positions_mm, cell.position_mm[300] + np.array([0.25, 0, 0]), 500.0)
    st = SimulationSettings(dt_us=5.0)
    thr = find_thresholds(batch, v, Waveform(pulse_width_us=100), st).threshold_ma[0]

    def conducted(f):
        wf = Waveform(pulse_width_us=100, frequency_hz=f, n_pulses=20)
        return len(simulate(batch, v, 1.2 * thr, wf, st, max_spikes=64).spike_times_ms[0]["end"])

    src = "Sundt et al. 2015, J Neurophysiol 114:3140 (Na + Kdr: trains followed up to ~110 Hz)"
    return [case("sundt2015_conducted_of_20_at_100hz", "validation", src, 20, conducted(100), "spikes", 0, "absolute"),
            case("sundt2015_conducted_of_20_at_130hz", "validation", src, 19, conducted(130), "spikes", 0, "at_most")]


def time_step() -> list[ValidationCase]:
    """Calculation verification: an MRG threshold (10 um, 1 mm, 100 us) at the default 2.5 us step
    against 0.625 us."""
    cell = mrg.build(10.0, 41)
    centre = cell.position_mm[mrg.node_indices(cell)[20]]
    wf = Waveform(pulse_width_us=100.0)
    fine = _threshold(cell, centre + [1.0, 0, 0], wf, SimulationSettings(dt_us=0.625))
    default = _threshold(cell, centre + [1.0, 0, 0], wf, SimulationSettings())
    return [case("time_step_mrg_threshold_2.5us_vs_0.625us", "calculation verification",
                 "the same model at a 4x smaller time step", fine, default, "mA", 0.01)]
