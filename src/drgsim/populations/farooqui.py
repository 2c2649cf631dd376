"""A-alpha and A-beta neurons placed as in the "realistic" model of Farooqui et al. 2024 (J Neural Eng
21:056030; cell placements in the public repository pitt-rnel/DRG-model-data2024), in the frame of
``drgsim.fields.anatomy_models.EpineuralParams``.

Statistics of their realistic placement, recomputed from that repository's ``realistic.csv`` (7,117
neurons): T-junctions in a central core (distance from the ganglion's axis at most 0.812 mm, median
0.463 mm), spread over a 4 mm length (x uniform in -2..2 mm); each stem runs radially outwards,
785 um from the T-junction to the soma's surface (Amir & Devor's stem: 200 um initial segment and
internodes of 85, 130, 168 and 201 um), in the plane across the ganglion; every soma inside the
ganglion (their soma surfaces reach 1.50 mm from the axis) and none below its flat ventral face; the
axons run along the ganglion. Classes: 57% A-alpha (peripheral diameter 14.75 +-
1.99 um) and 43% A-beta (7.39 +- 1.32 um, at least 6 um; their range is 6-20 um). The radial law
``r = 0.812 u^0.81`` (u uniform) reproduces the median radius; the azimuth is uniform.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.fields.anatomy_models import EpineuralParams
from drgsim.neurons.models import drg_abeta
from drgsim.neurons.models.drg import Paths
from drgsim.populations import CellInfo, Population

CORE_RADIUS_MM = 0.812
RADIAL_EXPONENT = 0.81  # median 0.812 * 0.5^0.81 = 0.463 mm
CLASSES = {"aalpha": (0.572, 14.75, 1.99), "abeta": (0.428, 7.39, 1.32)}  # share, mean, SD (um)
DIAMETER_RANGE_UM = (6.0, 16.0)  # their 6-20 um, within the MRG geometry's published range


class FarooquiPopulationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_neurons: int = Field(400, ge=1, le=100_000)
    half_length_mm: float = Field(2.0, gt=0, le=10, description="T-junctions lie within +- this along x")
    margin_mm: float = Field(1.0, ge=0.5, le=10, description="axon ends kept from the bath's faces")
    seed: int = 0


def farooqui_population(params: EpineuralParams, cfg: FarooquiPopulationConfig = FarooquiPopulationConfig()
                        ) -> Population:
    """Seeded neurons of both classes; ``CellInfo.kind`` is ``aalpha`` or ``abeta``."""
    rng = np.random.default_rng(cfg.seed)
    x_end = params.bath_mm / 2 - cfg.margin_mm
    pop = Population()
    while len(pop.cells) < cfg.n_neurons:
        kind, d = draw_class_diameter(rng)
        cell_type = drg_abeta.CELL.for_diameter(d)
        x = rng.uniform(-cfg.half_length_mm, cfg.half_length_mm)
        r = CORE_RADIUS_MM * rng.uniform() ** RADIAL_EXPONENT
        phi = rng.uniform(0, 2 * np.pi)
        u = np.array([0.0, np.cos(phi), np.sin(phi)])
        t = np.array([x, 0.0, 0.0]) + r * u
        soma = t + u * (cell_type.stem_length_mm() + 0.01)
        soma_r = cell_type.soma_diameter_um * 5e-4
        surface = params.radius_mm * np.sqrt(max(0.0, 1 - (x / params.half_length_mm) ** 2))
        if soma[1] - soma_r < -params.ventral_flat_mm or np.hypot(soma[1], soma[2]) + soma_r > surface:
            continue  # every soma inside the ganglion, none below its flat ventral face
        paths = Paths(stem=np.array([t, soma]), peripheral=np.array([t, [x_end, t[1], t[2]]]),
                      central=np.array([t, [-x_end, t[1], t[2]]]))
        n_c = _nodes(cell_type, "central", x_end + x)
        n_p = _nodes(cell_type, "peripheral", x_end - x)
        cell = cell_type.build(paths, n_central_nodes=n_c, n_peripheral_nodes=n_p)
        pop.add(cell, CellInfo(kind=kind, model="drg_abeta", diameter_um=d, segment="farooqui2024", side="none"))
    return pop


def draw_class_diameter(rng) -> tuple[str, float]:
    """A class (by its share) and a peripheral fibre diameter (normal, redrawn outside DIAMETER_RANGE_UM)."""
    names = list(CLASSES)
    shares = np.array([CLASSES[k][0] for k in names])
    while True:
        kind = names[rng.choice(len(names), p=shares / shares.sum())]
        _, mean, sd = CLASSES[kind]
        d = float(rng.normal(mean, sd))
        if DIAMETER_RANGE_UM[0] <= d <= DIAMETER_RANGE_UM[1]:
            return kind, d


def _nodes(cell_type, label: str, length_mm: float) -> int:
    n = 3
    while cell_type.branch_length_mm(label, n + 1) <= length_mm - 0.1:
        n += 1
    return n
