"""C-type pseudo-unipolar DRG neuron (Sundt, Gamper & Jaffe 2015, J Neurophysiol 114:3140,
doi:10.1152/jn.00226.2015).

Soma 25 um; stem 75 x 1.4 um; T-junction pieces of 100 um (0.8 um on the peripheral side, 0.4 um
on the central side); peripheral axon 5000 x 0.8 um; central axon 5000 x 0.4 um; Sundt kinetics
with Na 0.04 S/cm2 (soma 0.02), Kdr 0.04, Rm 10 kohm cm2, Ra 100 ohm cm. Compartments of 20 um
(the 8.333 um of the fibre model is not needed for thresholds at millimetre distances).
"""

from __future__ import annotations

from drgsim.neurons.mechanisms import Mechanism
from drgsim.neurons.models.drg import SOURCE_DIRECTION, Paths, UnmyelinatedDRG, t_junction
from drgsim.neurons.models.registry import CellModelSpec, register
from drgsim.neurons.morphology import Morphology

CELL = UnmyelinatedDRG(name="drg_c")


def build(paths: Paths | None = None, temperature_c: float = 37.0) -> Morphology:
    return CELL.build(paths, temperature_c)


SPEC = register(CellModelSpec(
    name="drg_c", build=build, mechanisms=(Mechanism.SUNDT, Mechanism.PASSIVE),
    citation="Sundt D, Gamper N, Jaffe DB 2015, J Neurophysiol 114(6):3140-3153, doi:10.1152/jn.00226.2015",
    centre=t_junction, source_direction=SOURCE_DIRECTION))
