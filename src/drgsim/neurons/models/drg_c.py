"""C-type pseudo-unipolar DRG neuron (Sundt, Gamper & Jaffe 2015, J Neurophysiol 114:3140).

Soma 25 um; stem 75 x 1.4 um; T-junction pieces of 100 um (0.8 um on the peripheral side, 0.4 um
on the central side); peripheral axon 5000 x 0.8 um; central axon 5000 x 0.4 um; Sundt kinetics
with Na 0.04 S/cm2 (soma 0.02), Kdr 0.04, Rm 10 kohm cm2, Ra 100 ohm cm. Compartments of 20 um
(the 8.333 um of the fibre model is not needed for thresholds at millimetre distances).
"""

from __future__ import annotations

from drgsim.neurons.models.drg import Paths, UnmyelinatedDRG
from drgsim.neurons.morphology import Morphology

CELL = UnmyelinatedDRG(name="drg_c")


def build(paths: Paths | None = None, temperature_c: float = 37.0) -> Morphology:
    return CELL.build(paths, temperature_c)
