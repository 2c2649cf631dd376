"""Unmyelinated C fibre of Sundt, Gamper & Jaffe 2015 (J Neurophysiol 114:3140; doi:10.1152/jn.00226.2015;
ModelDB 187473).

A uniform cable of 8.333 um compartments (PyFibers' SUNDT discretisation), 0.8 um in diameter by
default, with Traub-Miles Na (0.04 S/cm2, m shifted -6 mV and h +6 mV for NaV1.7/1.8), a
Borg-Graham delayed rectifier (0.04 S/cm2, E_K -90 mV), leak 1e-4 S/cm2 (Rm 10 kohm cm2) at
-60 mV, Ra 100 ohm cm, cm 1 uF/cm2. Like PyFibers, one passive compartment seals each end and the
cell relaxes to its own resting potential before stimulation.
"""

from __future__ import annotations

from drgsim.neurons.mechanisms import Mechanism, passive_params, sundt_params
from drgsim.neurons.models.registry import CellModelSpec, register
from drgsim.neurons.morphology import Compartment, Morphology, MorphologyBuilder, straight_path

REST_MV = -60.0
# Unmyelinated cut ends: spikes within this distance of one count as end artefacts; about the DC length
# constant of a 0.8 um Sundt fibre (sqrt(Rm d / 4 Ra) = 0.45 mm) [project choice].
CUT_END_ZONE_UM = 500.0
SEGMENT_UM = 8.333
DIAMETER_RANGE_UM = (0.1, 3.0)


def compartment(length_um: float, diam_um: float, temperature_c: float, region: str, gna: float = 0.04,
                ra_ohm_cm: float = 100.0) -> Compartment:
    return Compartment(length_um, diam_um, ra_ohm_cm, 1.0, Mechanism.SUNDT, sundt_params(temperature_c, gnabar=gna),
                       REST_MV, region)


def sealed_end(length_um: float, diam_um: float, region: str) -> Compartment:
    return Compartment(length_um, diam_um, 1e10, 1.0, Mechanism.PASSIVE, passive_params(1e-4, REST_MV), REST_MV,
                       region)


def build(diameter_um: float = 0.8, n_segments: int = 1201, temperature_c: float = 37.0,
          start_mm=(0.0, 0.0, 0.0), direction=(0.0, 0.0, 1.0), detect_fraction: float = 0.9,
          segment_um: float = SEGMENT_UM) -> Morphology:
    """A straight C fibre of ``n_segments`` compartments; the spike is detected at 0.9 of its length."""
    lo, hi = DIAMETER_RANGE_UM
    if not lo <= diameter_um <= hi:
        raise ValueError(f"diameter_um={diameter_um}: C fibres are modelled for {lo}-{hi} um")
    if n_segments < 3:
        raise ValueError(f"n_segments={n_segments}: need at least 3")
    comps = [sealed_end(segment_um, diameter_um, "end")]
    comps += [compartment(segment_um, diameter_um, temperature_c, "axon") for _ in range(n_segments - 2)]
    comps.append(sealed_end(segment_um, diameter_um, "end"))
    length_mm = n_segments * segment_um * 1e-3
    b = MorphologyBuilder(f"sundt {diameter_um:g} um")
    b.add_branch(-1, comps, straight_path(start_mm, direction, length_mm))
    b.cut_ends = {0: CUT_END_ZONE_UM, len(comps) - 1: CUT_END_ZONE_UM}
    b.detectors = {"end": int(detect_fraction * (n_segments - 1)),
                   "begin": int(round((1 - detect_fraction) * (n_segments - 1)))}
    # Sundt 2015: about 0.5 m/s at 0.8 um; allow the slowest plausible conduction plus latency.
    return b.build("end", propagation_ms=5.0 + length_mm / 0.25)


def centre(cell: Morphology) -> int:
    """The fibre's middle compartment."""
    return (cell.n - 1) // 2


SPEC = register(CellModelSpec(
    name="sundt", build=build, mechanisms=(Mechanism.SUNDT, Mechanism.PASSIVE),
    citation="Sundt D, Gamper N, Jaffe DB 2015, J Neurophysiol 114(6):3140-3153, doi:10.1152/jn.00226.2015",
    centre=centre, diameter_range_um=DIAMETER_RANGE_UM, default_diameter_um=0.8, length_keyword="n_segments",
    default_length=1201))
