"""A-beta pseudo-unipolar DRG neuron (Graham et al. 2021, Neuromodulation 24:655; Amir & Devor 2003,
Biophys J 84:2181).

MRG axons on the peripheral (10 um), central (8.7 um) and stem (5.7 um) branches; an 80 x 80 um soma
and a 5 x 200 um initial segment with MRG node kinetics at reduced Na density (soma 300/2000,
initial segment 500/2000 of the node value, Graham 2021); stem internodes of 85, 130, 168 and 201 um
from the soma to the T-junction with myelin scaled 0.077, 0.486, 0.662 and 1.0 (Amir & Devor 2003);
shortened internodes next to the T-junction (central 358, 780, 1170 of 1450 um; peripheral 461,
670, 1119 of 1567 um, Graham 2021) applied as fractions of the normal spacing. The branch diameters
and the use of MRG node kinetics in the soma are modelling choices [unverified].
"""

from __future__ import annotations

from drgsim.neurons.models.drg import MyelinatedDRG, Paths
from drgsim.neurons.morphology import Morphology

CELL = MyelinatedDRG(
    name="drg_abeta",
    peripheral_diameter_um=10.0,
    central_diameter_um=8.7,
    stem_diameter_um=5.7,
    soma_length_um=80.0,
    soma_diameter_um=80.0,
    initial_segment_length_um=200.0,
    initial_segment_diameter_um=5.0,
    stem_internodes_um=(85.0, 130.0, 168.0, 201.0),
    stem_lamella_scales=(0.077, 0.486, 0.662, 1.0),
    central_first_internodes=(358 / 1450, 780 / 1450, 1170 / 1450),
    peripheral_first_internodes=(461 / 1567, 670 / 1567, 1119 / 1567),
    soma_gna_scale=300 / 2000,
    initial_segment_gna_scale=500 / 2000,
)


def build(paths: Paths | None = None, n_central_nodes: int = 21, n_peripheral_nodes: int = 21,
          temperature_c: float = 37.0) -> Morphology:
    return CELL.build(paths, n_central_nodes, n_peripheral_nodes, temperature_c)
