"""A-beta (and A-alpha) pseudo-unipolar DRG neuron (Graham et al. 2021, Neuromodulation 24:655,
doi:10.1111/ner.13211; Amir & Devor 2003, Biophys J 84:2181, doi:10.1016/S0006-3495(03)75024-3; Farooqui
et al. 2024, J Neural Eng 21:056030, doi:10.1088/1741-2552/ad7760).

MRG axons (McIntyre et al. 2002) on the peripheral, central and stem branches. Geometry as in Graham
2021's A-beta cell (neuromodulation-um/Cell_models): a 5 x 200 um initial segment and a stem of four
internodes of 85, 130, 168 and 201 um (soma to T-junction) with myelin scaled 0.077, 0.486, 0.662 and
1.0 (Amir & Devor's wrap counts 11, 69, 94, 142), nodes at both ends of each; the T-junction as three
full nodes at one point (stem, peripheral, central); the first three internodes beside it shortened
(central 358, 780, 1170 of 1450 um; peripheral 461, 670, 1119 of 1567 um, Amir & Devor after Ito &
Takahashi). Soma and initial segment carry the node's kinetics at 300/2000 and 500/2000 of its Na
density (Graham 2021). Scaling with the peripheral fibre diameter Dp (Farooqui 2024, fitted to cat
data of Lee et al. 1986, J Comp Neurol 243:335): central = 0.87 Dp - 0.67 um, stem = Dp, soma
diameter = 2.78 Dp + 40.56 um (80 um at 14 um; soma length = diameter). The template is a 10 um cell.
Node kinetics are MRG's motor node (Graham and Farooqui use Gaines 2018's sensory node) [difference kept].
"""

from __future__ import annotations

from drgsim.neurons.mechanisms import Mechanism
from drgsim.neurons.models.drg import SOURCE_DIRECTION, MyelinatedDRG, Paths, t_junction
from drgsim.neurons.models.registry import CellModelSpec, register
from drgsim.neurons.morphology import Morphology

CELL = MyelinatedDRG(
    name="drg_abeta",
    peripheral_diameter_um=10.0,
    central_diameter_um=0.87 * 10.0 - 0.67,
    stem_diameter_um=10.0,
    soma_length_um=2.78 * 10.0 + 40.56,
    soma_diameter_um=2.78 * 10.0 + 40.56,
    initial_segment_length_um=200.0,
    initial_segment_diameter_um=5.0,
    stem_internodes_um=(85.0, 130.0, 168.0, 201.0),
    stem_lamella_scales=(0.077, 0.486, 0.662, 1.0),
    central_first_internodes=(358 / 1450, 780 / 1450, 1170 / 1450),
    peripheral_first_internodes=(461 / 1567, 670 / 1567, 1119 / 1567),
    soma_gna_scale=300 / 2000,
    initial_segment_gna_scale=500 / 2000,
    central_slope=0.87,
    central_offset_um=-0.67,
    stem_ratio=1.0,
    soma_slope=2.78,
    soma_offset_um=40.56,
)


def build(paths: Paths | None = None, n_central_nodes: int = 21, n_peripheral_nodes: int = 21,
          temperature_c: float = 37.0) -> Morphology:
    return CELL.build(paths, n_central_nodes, n_peripheral_nodes, temperature_c)


SPEC = register(CellModelSpec(
    name="drg_abeta", build=build, mechanisms=(Mechanism.MRG_NODE, Mechanism.PASSIVE),
    citation="Graham RD, Bruns TM, Duan B, Lempka SF 2021, Neuromodulation 24(4):655-671, doi:10.1111/ner.13211; "
             "Amir R, Devor M 2003, Biophys J 84(4):2181-2191, doi:10.1016/S0006-3495(03)75024-3; "
             "Farooqui J et al. 2024, J Neural Eng 21(5):056030, doi:10.1088/1741-2552/ad7760",
    centre=t_junction, source_direction=SOURCE_DIRECTION))
