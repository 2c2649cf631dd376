"""Alpha motor axon in the ventral root: an MRG fibre of 12-20 um (McIntyre, Richardson & Grill 2002,
J Neurophysiol 87:995; doi:10.1152/jn.00353.2001).

Above the published 16 um the MRG Table 1 columns are extended linearly from their 15 and 16 um
values [unverified extrapolation]; at and below 16 um this is exactly ``mrg``.
"""

from __future__ import annotations

from dataclasses import replace

from drgsim.neurons.mechanisms import Mechanism
from drgsim.neurons.models import mrg
from drgsim.neurons.models.registry import CellModelSpec, register
from drgsim.neurons.morphology import Morphology

DIAMETER_RANGE_UM = (12.0, 20.0)


def geometry(diameter_um: float) -> mrg.MRGGeometry:
    lo, hi = DIAMETER_RANGE_UM
    if not lo <= diameter_um <= hi:
        raise ValueError(f"diameter_um={diameter_um}: motor axons are modelled for {lo}-{hi} um")
    if diameter_um <= 16.0:
        return mrg.geometry(diameter_um)
    g15, g16 = mrg.geometry(15.0), mrg.geometry(16.0)
    ext = lambda a, b: b + (b - a) * (diameter_um - 16.0)  # noqa: E731
    return replace(g16, fiber_diameter_um=diameter_um,
                   axon_diameter_um=ext(g15.axon_diameter_um, g16.axon_diameter_um),
                   node_diameter_um=ext(g15.node_diameter_um, g16.node_diameter_um),
                   delta_x_um=ext(g15.delta_x_um, g16.delta_x_um),
                   flut_length_um=ext(g15.flut_length_um, g16.flut_length_um),
                   lamellae=ext(g15.lamellae, g16.lamellae), interpolated=True)


def build(diameter_um: float = 16.0, n_nodes: int = 21, temperature_c: float = 37.0, start_mm=(0.0, 0.0, 0.0),
          direction=(0.0, 0.0, 1.0), detect_fraction: float = 0.9, path_mm=None) -> Morphology:
    """A motor axon of ``n_nodes`` nodes, straight from ``start_mm`` or along the polyline ``path_mm``
    (from the cord towards the muscle); the spike is detected at ``detect_fraction`` of its nodes."""
    return mrg.fiber(geometry(diameter_um), n_nodes, temperature_c, 1, start_mm, direction, detect_fraction,
                     name=f"motor {diameter_um:g} um", path_mm=path_mm)


def nodes_along(diameter_um: float, length_mm: float) -> int:
    """The most nodes (an odd number) of a motor axon that fit ``length_mm``."""
    n = mrg.internodes_in(geometry(diameter_um), length_mm) + 1
    return n if n % 2 else n - 1


SPEC = register(CellModelSpec(
    name="motor", build=build, mechanisms=(Mechanism.MRG_NODE, Mechanism.PASSIVE),
    citation="McIntyre CC, Richardson AG, Grill WM 2002, J Neurophysiol 87(2):995-1006, doi:10.1152/jn.00353.2001",
    centre=mrg.centre_node, diameter_range_um=DIAMETER_RANGE_UM, default_diameter_um=16.0, length_keyword="n_nodes",
    default_length=21, odd_length=True))
