"""Neuron and fibre populations laid into the anatomy of the field models.

``drg``: pseudo-unipolar A-beta, A-delta and C neurons of one ganglion and the motor axons of its
ventral root. ``scs``: dorsal-column fibres with a somatotopic arrangement and dorsal-root fibres
at a thoracic level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from drgsim.neurons.morphology import Morphology


class CellInfo(BaseModel):
    """What a cell is and where it projects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str  # abeta, adelta, c, motor, dorsal_column, dorsal_root
    model: str  # drgsim.neurons model module
    diameter_um: float  # fibre diameter (peripheral branch for DRG neurons)
    segment: str  # spinal segment / dermatome the cell belongs to
    side: str


@dataclass
class Population:
    cells: list[Morphology] = field(default_factory=list)
    info: list[CellInfo] = field(default_factory=list)

    def add(self, cell: Morphology, info: CellInfo) -> None:
        self.cells.append(cell)
        self.info.append(info)

