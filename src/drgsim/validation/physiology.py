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
  100 Hz train is conducted, some of a 130 Hz train are not. The C-type DRG neuron (``drg_c``) follows peripheral
  trains to about 110 Hz with Na and Kdr, 30 Hz with KCNQ added and 6 Hz with a slow Ca-activated K current
  (the paper's abstract; within 20%): checked in the full validation with Sundt's protocol (21 pulses of
  0.2 nA for 1 ms injected 4.1 mm out on the peripheral axon, 35 C, dt 25 us).
- Gemes G, Koopmeiners A, Rigaud M, et al. Failure of action potential propagation in sensory neurons:
  mechanisms and loss of afferent filtering in C-type units after painful nerve injury. J Physiol
  2013;591(4):1111-1131. doi:10.1113/jphysiol.2012.242750. Filtering at the T-junction is greatest in C-type
  units: the A-delta and A-beta neurons follow peripheral trains to higher frequencies than the C neuron (each
  driven as ``neurons.transmission.peripheral_drive_na`` says, 37 C, dt 25 us; a grid step of 12% above the C
  neuron's at least) [ordering only: the paper's frequencies are of rat neurons in vitro].
- Chao D, Zhang Z, Mecca CM, Hogan QH, Pan B. Analgesic dorsal root ganglionic field stimulation blocks
  conduction of afferent impulses in chronic pain. Pain 2020;161(12):2872-2886: see ``chao2020`` (full validation).
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import numpy as np

from drgsim.devices.waveform import Waveform
from drgsim.neurons import models
from drgsim.neurons.models import drg_abeta, drg_c, mrg, sundt
from drgsim.neurons.solver import CellBatch, Injection, SimulationSettings, find_thresholds, simulate, simulate_train
from drgsim.neurons.stimulus import point_source_potentials
from drgsim.neurons.transmission import (
    FOLLOWING_GRID_HZ,
    conducted,
    following_hz,
    following_train_ms,
    peripheral_compartment,
)
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


SUNDT_FOLLOWING = (("na_kdr", dict(km_gbar=0.0, soma_cal_gbar=0.0, soma_sk_gbar=0.0), 110.0),
                   ("kcnq", dict(soma_cal_gbar=0.0, soma_sk_gbar=0.0), 30.0),
                   ("slow_kca", dict(km_gbar=0.0), 6.0))


def sundt2015_following() -> list[ValidationCase]:
    """The C-type DRG neuron in Sundt's three configurations (ModelDB 187473's densities: M current 0.0004 S/cm2 of
    Figure 5d; soma CaL 0.00025 and SK 0.001 S/cm2 with a 500 ms pool of Figure 8c): spikes of 21-pulse peripheral
    trains reaching the cord against the authors' model run in NEURON (package data
    ``reference/sundt2015_following_neuron.json``; within one spike), and the following frequency against the
    paper's abstract (within 20%)."""
    ref = json.loads(resources.files("drgsim.data").joinpath("reference/sundt2015_following_neuron.json").read_text())
    abstract = "Sundt et al. 2015, J Neurophysiol 114:3140, abstract (following frequency 110 / 30 / 6 Hz)"
    modeldb = f"{ref['source']}: spikes at the cord"
    out = []
    for name, channels, published in SUNDT_FOLLOWING:
        cell = replace(drg_c.CELL, **channels).build(temperature_c=35.0)
        inject = peripheral_compartment(cell, 4.1)
        settings = SimulationSettings(dt_us=25.0)
        spikes = ref["configs"][name]["central_spikes_ms"]
        freqs = [float(f) for f in spikes]
        onsets = [following_train_ms(f) for f in freqs]
        batch = CellBatch.pack([cell] * len(freqs))
        run = simulate_train(batch, np.zeros(batch.n_compartments), 0.0, Waveform(), max(o[-1] for o in onsets) + 60,
                             Injection(np.full(len(freqs), inject), onsets), settings)
        for f, o, got in zip(freqs, onsets, run.spike_times_ms):
            out.append(case(f"sundt2015_{name}_{f:g}hz_conducted_of_21", "validation", modeldb,
                            conducted(o, np.array(spikes[str(f)])), conducted(o, got["central"]), "spikes", 1,
                            "absolute"))
        f = following_hz(cell, inject, settings)
        out.append(case(f"sundt2015_following_{name}_hz", "validation", abstract, published, f, "Hz", 0.2,
                        note="highest frequency (grid steps of 12%) at which all 21 peripheral spikes reach the cord"))
    return out


def gemes2013() -> list[ValidationCase]:
    """The A-type neurons follow peripheral trains to a higher frequency than the C neuron (C filters most)."""
    settings = SimulationSettings(dt_us=25.0)

    def following(name: str) -> float:
        cell = models.get(name).build()
        return following_hz(cell, peripheral_compartment(cell, 4.1), settings)

    c = following("drg_c")
    above = next((f for f in FOLLOWING_GRID_HZ if f > c), c)
    src = "Gemes et al. 2013, J Physiol 591:1111 (T-junction filtering greatest in C-type units)"
    return [case(f"gemes2013_{name}_follows_above_c_hz", "validation", src, above, following(name), "Hz", 0.0,
                 "at_least", note=f"following frequency; the C neuron's: {c:g} Hz")
            for name in ("drg_adelta", "drg_abeta")]


CHAO_SECONDS = 30.0  # Chao et al. followed transmission for tens of seconds of 20 Hz stimulation


def chao2020() -> list[ValidationCase]:
    """Chao et al. 2020 (in vivo rat, 20 Hz ganglion field stimulation): C-type transmission abates progressively
    over about 20 s, A-beta persists, A-delta is intermediate. Each neuron: a point source 1 mm from its T-junction
    at 0.9x its own single-pulse threshold (below what drives it to the cord, as the stimulation did not itself
    fire C units), 20 Hz for 30 s, 5 Hz of ongoing peripheral spikes (``neurons.transmission.run``). The model has
    no activity-dependent process of seconds (Na/K pump, slow Na inactivation, ion accumulation): where it blocks,
    it blocks from the first pulses; the progressive time course and an intermediate A-delta are checked, and are
    not reproduced."""
    from drgsim.neurons.transmission import FilterConfig, run

    got = {name: run(FilterConfig(cell=name, frequency_hz=20.0, duration_s=CHAO_SECONDS, amplitude_ratio=0.9))
           for name in ("drg_c", "drg_adelta", "drg_abeta")}
    pct = {name: 100.0 * r.fraction_with for name, r in got.items()}
    c_first = 100.0 * got["drg_c"].transmission[0].fraction
    src = "Chao et al. 2020, Pain 161:2872 (20 Hz ganglion field stimulation, in vivo rat)"
    setting = "20 Hz, 0.9x the neuron's threshold, 30 s, 5 Hz ongoing"
    return [
        case("chao2020_abeta_transmission_pct", "validation", src + ": A-beta persists", 95.0, pct["drg_abeta"], "%",
             0.0, "at_least", note=setting),
        case("chao2020_c_transmission_pct", "validation", src + ": C-type transmission abates", 50.0, pct["drg_c"], "%",
             0.0, "at_most", note=setting),
        case("chao2020_c_first_second_pct", "validation", src + ": C abates progressively, over about 20 s", 80.0,
             c_first, "%", 0.0, "at_least", note=f"{setting}; transmission in the first second [not reproduced: no "
             "activity-dependent process of seconds is modelled]"),
        case("chao2020_adelta_below_abeta_pct", "validation", src + ": A-delta intermediate", pct["drg_abeta"] - 5.0,
             pct["drg_adelta"], "%", 0.0, "at_most", note=f"{setting}; above C's {pct['drg_c']:.0f}% and below "
             "A-beta's"),
    ]


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
