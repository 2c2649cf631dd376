"""MRG double-cable myelinated axon (McIntyre, Richardson & Grill 2002, J Neurophysiol 87:995;
doi:10.1152/jn.00353.2001).

Each node of Ranvier is followed by an internode of 11 compartments: MYSA, FLUT, 6 STIN, FLUT,
MYSA. Geometry comes from the paper's Table 1 for its nine diameters (5.7-16 um) and from the
ASCENT/PyFibers interpolation fits (Musselman 2021) for any diameter in 2-16 um; both are in
``drgsim/data/mrg.json``. Compartment constants follow the published NEURON implementation
(ModelDB 3810) as packaged by PyFibers (section ``diam`` = fibre diameter with Ra, cm and g scaled
by the axon/fibre ratio; periaxonal resistance from the 2 or 4 nm space; myelin per lamella).
As in PyFibers, one passive node at each end (g 1e-4 S/cm2, cm 1, Ra 1e10 ohm cm) seals the ends.
The spike is detected at node int(0.9 * (n_nodes - 1)).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from drgsim.neurons.mechanisms import Mechanism, mrg_node_params, passive_params
from drgsim.neurons.models.registry import CellModelSpec, register
from drgsim.neurons.morphology import Compartment, Morphology, MorphologyBuilder, straight_path

DIAMETER_RANGE_UM = (2.0, 16.0)


@cache
def _table() -> dict:
    return json.loads(resources.files("drgsim.data").joinpath("mrg.json").read_text())


def table_diameters_um() -> tuple[float, ...]:
    return tuple(_table()["table"]["fiber_diameter"])


@dataclass(frozen=True)
class MRGGeometry:
    fiber_diameter_um: float
    axon_diameter_um: float
    node_diameter_um: float
    delta_x_um: float
    flut_length_um: float
    lamellae: float
    interpolated: bool


def geometry(diameter_um: float) -> MRGGeometry:
    """Table values at the nine published diameters, interpolation fits elsewhere in 2-16 um."""
    lo, hi = DIAMETER_RANGE_UM
    if not lo <= diameter_um <= hi:
        raise ValueError(f"diameter_um={diameter_um}: MRG fibres are defined for {lo}-{hi} um")
    t = _table()
    tab = t["table"]
    if diameter_um in tab["fiber_diameter"]:
        i = tab["fiber_diameter"].index(diameter_um)
        return MRGGeometry(diameter_um, tab["axon_diameter"][i], tab["node_diameter"][i], tab["delta_x"][i],
                           tab["flut_length"][i], tab["lamellae"][i], False)
    f = t["interpolation"]
    q = lambda c: c[0] * diameter_um**2 + c[1] * diameter_um + c[2]  # noqa: E731
    dx = q(f["delta_x_large"]) if diameter_um >= f["delta_x_large_from_um"] else q(f["delta_x_small"])
    return MRGGeometry(diameter_um, q(f["axon_diameter"]), q(f["node_diameter"]), dx, q(f["flut_length"]),
                       q(f["lamellae"]), True)


def _periaxonal_mohm_per_cm(rhoa_ohm_um: float, diam_um: float, space_um: float) -> float:
    return (rhoa_ohm_um * 0.01) / (math.pi * ((diam_um / 2 + space_um) ** 2 - (diam_um / 2) ** 2))


def node(g: MRGGeometry, temperature_c: float, passive: bool = False, gna_scale: float = 1.0,
         region: str = "node") -> Compartment:
    """A node of Ranvier: MRG channels, periaxonal layer shorted to the outside."""
    c = _table()["constants"]
    rhoa = c["axial_resistivity_ohm_cm"] * 1e4  # ohm um
    rpn0 = _periaxonal_mohm_per_cm(rhoa, g.node_diameter_um, c["periaxonal_space_mysa_um"])
    if passive:
        return Compartment(c["node_length_um"], g.node_diameter_um, 1e10, 1.0, Mechanism.PASSIVE,
                           passive_params(1e-4, c["rest_mv"]), c["rest_mv"], region, xraxial_mohm_per_cm=rpn0)
    params = mrg_node_params(temperature_c, gnabar=3.0 * gna_scale)
    return Compartment(c["node_length_um"], g.node_diameter_um, rhoa / 1e4, c["node_capacitance_uf_per_cm2"],
                       Mechanism.MRG_NODE, params, c["rest_mv"], region, xraxial_mohm_per_cm=rpn0)


def internode(g: MRGGeometry, length_scale: float = 1.0, lamella_scale: float = 1.0,
              n_stin: int | None = None) -> list[Compartment]:
    """MYSA, FLUT, 6 STIN, FLUT, MYSA. ``length_scale`` shortens FLUT and STIN (e.g. DRG stem
    internodes); ``lamella_scale`` thins the myelin; ``n_stin`` lumps the STIN into fewer compartments
    (far from any electrode, as Graham's A-delta cell does beyond 20 mm)."""
    c = _table()["constants"]
    rhoa = c["axial_resistivity_ohm_cm"] * 1e4
    D, ax, nd = g.fiber_diameter_um, g.axon_diameter_um, g.node_diameter_um
    nl = g.lamellae * lamella_scale
    xc = c["myelin_capacitance_uf_per_cm2_per_lamella"] / (2 * nl)
    xg = c["myelin_conductance_s_per_cm2_per_lamella"] / (2 * nl)
    rest = c["rest_mv"]
    flut_len = g.flut_length_um * length_scale
    internode_len = g.delta_x_um * length_scale
    n_stin = c["stin_per_internode"] if n_stin is None else n_stin
    stin_len = (internode_len - c["node_length_um"] - 2 * c["mysa_length_um"] - 2 * flut_len) / n_stin
    if stin_len <= 0:
        raise ValueError(f"internode of {internode_len:.1f} um is too short for the MRG compartments")

    def comp(length, inner_diam, leak, space, region):
        return Compartment(length, D, rhoa * (D / inner_diam) ** 2 / 1e4, 2 * inner_diam / D, Mechanism.PASSIVE,
                           passive_params(leak * inner_diam / D, rest), rest, region,
                           _periaxonal_mohm_per_cm(rhoa, inner_diam, space), xg, xc)

    mysa = lambda: comp(c["mysa_length_um"], nd, c["mysa_leak_s_per_cm2"], c["periaxonal_space_mysa_um"], "mysa")  # noqa: E731
    flut = lambda: comp(flut_len, ax, c["flut_stin_leak_s_per_cm2"], c["periaxonal_space_flut_stin_um"], "flut")  # noqa: E731
    stin = [comp(stin_len, ax, c["flut_stin_leak_s_per_cm2"], c["periaxonal_space_flut_stin_um"], "stin")
            for _ in range(n_stin)]
    return [mysa(), flut(), *stin, flut(), mysa()]


def internodes_in(g: MRGGeometry, length_mm: float) -> int:
    """How many node-to-node pitches (internode plus its 1 um node) fit ``length_mm``."""
    return int(length_mm * 1e3 // (g.delta_x_um + 1.0))


def axon_compartments(g: MRGGeometry, n_nodes: int, temperature_c: float, passive_end_nodes: int = 1,
                      internode_scales: tuple[float, ...] = ()) -> tuple[list[Compartment], list[int]]:
    """A node-internode chain from the first node; returns compartments and the node positions in it.

    ``internode_scales`` shortens the first internodes (e.g. next to a DRG T-junction).
    """
    comps: list[Compartment] = []
    node_idx = []
    for k in range(n_nodes):
        passive = k < passive_end_nodes or k >= n_nodes - passive_end_nodes
        node_idx.append(len(comps))
        comps.append(node(g, temperature_c, passive=passive))
        if k < n_nodes - 1:
            comps.extend(internode(g, internode_scales[k] if k < len(internode_scales) else 1.0))
    return comps, node_idx


def build(diameter_um: float = 10.0, n_nodes: int = 41, temperature_c: float = 37.0, passive_end_nodes: int = 1,
          start_mm=(0.0, 0.0, 0.0), direction=(0.0, 0.0, 1.0), detect_fraction: float = 0.9) -> Morphology:
    """A straight MRG fibre of ``n_nodes`` nodes from ``start_mm`` along ``direction``."""
    return fiber(geometry(diameter_um), n_nodes, temperature_c, passive_end_nodes, start_mm, direction,
                 detect_fraction, name=f"mrg {diameter_um:g} um")


def fiber(g: MRGGeometry, n_nodes: int, temperature_c: float, passive_end_nodes: int, start_mm, direction,
          detect_fraction: float, name: str, path_mm=None) -> Morphology:
    """A fibre of ``n_nodes`` nodes, straight from ``start_mm`` along ``direction`` or along ``path_mm``."""
    if n_nodes < 2 * passive_end_nodes + 1:
        raise ValueError(f"n_nodes={n_nodes}: need at least {2 * passive_end_nodes + 1} nodes")
    comps, node_idx = axon_compartments(g, n_nodes, temperature_c, passive_end_nodes)
    length_mm = sum(c.length_um for c in comps) * 1e-3
    b = MorphologyBuilder(name)
    b.add_branch(-1, comps, straight_path(start_mm, direction, length_mm) if path_mm is None else path_mm)
    b.cut_ends = {0: 2 * g.delta_x_um, len(comps) - 1: 2 * g.delta_x_um}  # a segment of a longer fibre
    b.detectors = {"end": node_idx[int(detect_fraction * (n_nodes - 1))],
                   "begin": node_idx[int(round((1 - detect_fraction) * (n_nodes - 1)))]}
    # ~4.5 m/s per um of diameter (MRG 2002, Fig. 3) with a generous margin for latency near threshold.
    velocity_mm_per_ms = 4.5 * g.fiber_diameter_um
    return b.build("end", propagation_ms=2.0 + length_mm / velocity_mm_per_ms)


def node_indices(cell: Morphology) -> np.ndarray:
    return np.array([i for i, r in enumerate(cell.region) if r == "node"])


def centre_node(cell: Morphology) -> int:
    """The fibre's middle node."""
    nodes = node_indices(cell)
    return int(nodes[(len(nodes) - 1) // 2])


SPEC = register(CellModelSpec(
    name="mrg", build=build, mechanisms=(Mechanism.MRG_NODE, Mechanism.PASSIVE),
    citation="McIntyre CC, Richardson AG, Grill WM 2002, J Neurophysiol 87(2):995-1006, doi:10.1152/jn.00353.2001",
    centre=centre_node, diameter_range_um=DIAMETER_RANGE_UM, default_diameter_um=10.0, length_keyword="n_nodes",
    default_length=41, odd_length=True))
