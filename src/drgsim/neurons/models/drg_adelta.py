"""A-delta pseudo-unipolar DRG neuron: thin myelinated MRG axons (interpolated geometry, 2-3.5 um); Graham
et al. 2021 (Neuromodulation 24:655, doi:10.1111/ner.13211), McIntyre et al. 2002 (doi:10.1152/jn.00353.2001).

Structure as ``drg_abeta`` (initial segment, stem nodes at both ends of each stem internode, a T-junction
of three full nodes, shortened internodes beside it). A 34 x 29 um soma and stem internodes of 29, 123,
185, 241 and 260 um from the soma to the T-junction as in Graham's A-delta cell
(neuromodulation-um/Cell_models, after Yoshida & Matsuda 1979 and Harper & Lawson 1985); stem diameter
equal to the peripheral one (Graham; Farooqui et al. 2024). The central branch at 5/6 of the peripheral
diameter, the 100 x 1.5 um initial segment (Graham's A-delta has none) and the stem myelin scaling are
modelling choices [unverified].
"""

from __future__ import annotations

from drgsim.neurons.mechanisms import Mechanism
from drgsim.neurons.models.drg import SOURCE_DIRECTION, MyelinatedDRG, Paths, t_junction
from drgsim.neurons.models.registry import CellModelSpec, register
from drgsim.neurons.morphology import Morphology

CELL = MyelinatedDRG(
    name="drg_adelta",
    peripheral_diameter_um=3.0,
    central_diameter_um=2.5,
    stem_diameter_um=3.0,
    soma_length_um=29.0,
    soma_diameter_um=34.0,
    initial_segment_length_um=100.0,
    initial_segment_diameter_um=1.5,
    stem_internodes_um=(29.0, 123.0, 185.0, 241.0, 260.0),
    stem_lamella_scales=(0.077, 0.3, 0.5, 0.75, 1.0),
    central_first_internodes=(358 / 1450, 780 / 1450, 1170 / 1450),
    peripheral_first_internodes=(461 / 1567, 670 / 1567, 1119 / 1567),
    soma_gna_scale=300 / 2000,
    initial_segment_gna_scale=500 / 2000,
    central_slope=2.5 / 3.0,
    central_offset_um=0.0,
    stem_ratio=1.0,
)


def build(paths: Paths | None = None, n_central_nodes: int = 31, n_peripheral_nodes: int = 31,
          temperature_c: float = 37.0) -> Morphology:
    return CELL.build(paths, n_central_nodes, n_peripheral_nodes, temperature_c)


SPEC = register(CellModelSpec(
    name="drg_adelta", build=build, mechanisms=(Mechanism.MRG_NODE, Mechanism.PASSIVE),
    citation="Graham RD, Bruns TM, Duan B, Lempka SF 2021, Neuromodulation 24(4):655-671, doi:10.1111/ner.13211; "
             "McIntyre CC, Richardson AG, Grill WM 2002, J Neurophysiol 87(2):995-1006, doi:10.1152/jn.00353.2001",
    centre=t_junction, source_direction=SOURCE_DIRECTION))
