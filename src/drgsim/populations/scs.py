"""Dorsal-column and dorsal-root fibres at a thoracic level, laid into the SCS field model's frame.

Dorsal-column fibres run along the cord (z) in the dorsal white matter between the dorsal horns.
Diameters follow Feirabend et al. 2002 (Brain 125:1137, T10-T11): mostly thin, with only about
0.5% of dorsal-column fibres above 10.7 um; drawn from a lognormal clipped to the MRG range
(2-16 um) [fit unverified]. Somatotopy: fibres from caudal segments lie medially, rostral ones
laterally (Smith & Deacon 1984: at T10 sacral medial, then lumbar, then low thoracic laterally);
a fibre's segment follows its distance from the midline. Dorsal-root fibres of the segment at the
lead enter along the dorsal rootlets, from the dorsolateral sulcus across the CSF (Struijk,
Holsheimer & Boom 1993: they fire near their entry at lower thresholds).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.fields.anatomy_models import SCSParams
from drgsim.neurons.models import mrg
from drgsim.neurons.morphology import MorphologyBuilder
from drgsim.populations import CellInfo, Population

# Medial to lateral at low thoracic levels (Smith & Deacon 1984).
SEGMENTS_MEDIAL_TO_LATERAL = ("S2", "S1", "L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10")


class SCSPopulationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_dorsal_column: int = Field(40, ge=0, le=100_000)
    n_dorsal_root: int = Field(6, ge=0, le=10_000)
    diameter_median_um: float = Field(4.0, gt=2, le=16)
    diameter_sigma: float = Field(0.35, gt=0, le=2, description="lognormal shape")
    depth_mm: float = Field(1.0, gt=0.05, le=4, description="deepest dorsal-column fibre below the cord surface")
    n_nodes: int = Field(41, ge=5, le=201)
    seed: int = 0


def scs_population(params: SCSParams, cfg: SCSPopulationConfig = SCSPopulationConfig()) -> Population:
    rng = np.random.default_rng(cfg.seed)
    lay = params.layout()
    a, b, xc, yc = lay["cord_a"], lay["cord_b"], lay["cord_x"], lay["cord_y"]
    grey_top = yc + b * lay["grey"]
    pop = Population()
    half_len = params.length_mm / 2 - 2.0
    n_dc = 0
    while n_dc < cfg.n_dorsal_column:
        x = rng.uniform(-0.45, 0.45) * a
        y = yc + b - rng.uniform(0.05, cfg.depth_mm)
        if (x / a) ** 2 + ((y - yc) / b) ** 2 > 0.95 or y < grey_top + 0.1:
            continue  # outside the cord's white matter, or in the grey matter
        d = float(np.clip(rng.lognormal(np.log(cfg.diameter_median_um), cfg.diameter_sigma), 2.0, 16.0))
        g = mrg.geometry(round(d, 3))
        n = min(cfg.n_nodes, int(2 * half_len * 1e3 // (g.delta_x_um + 1)))
        n = n if n % 2 else n - 1
        length = (n - 1) * g.delta_x_um * 1e-3
        cell = mrg.build(round(d, 3), n, start_mm=(xc + x, y, params.lead_centre_z_mm - length / 2))
        k = min(int(abs(x) / (0.45 * a) * len(SEGMENTS_MEDIAL_TO_LATERAL)), len(SEGMENTS_MEDIAL_TO_LATERAL) - 1)
        side = "left" if x >= 0 else "right"
        pop.add(cell, CellInfo(kind="dorsal_column", model="mrg", diameter_um=d, segment=SEGMENTS_MEDIAL_TO_LATERAL[k],
                               side=side))
        n_dc += 1
    paths = params.rootlet_paths()
    for j in range(cfg.n_dorsal_root):
        p = paths[j % len(paths)]
        d = float(rng.uniform(6.0, 12.0))
        cell = _root_fibre(p, d, params.rootlet_diameter_mm / 2 * 0.5, rng)
        side = "left" if p[1, 0] > p[0, 0] else "right"
        pop.add(cell, CellInfo(kind="dorsal_root", model="mrg", diameter_um=d, segment=params.level, side=side))
    return pop


def _root_fibre(path: np.ndarray, d: float, spread_mm: float, rng):
    """An MRG fibre along a rootlet, from inside the cord outwards, as many nodes as fit."""
    g = mrg.geometry(round(d, 3))
    axis = path[1] - path[0]
    length = float(np.linalg.norm(axis))
    axis /= length
    ortho = np.cross(axis, [0.0, 0.0, 1.0])
    ortho /= np.linalg.norm(ortho)
    start = path[0] + ortho * rng.uniform(-spread_mm, spread_mm)
    comps, node_idx = mrg.axon_compartments(g, 64, 37.0, passive_end_nodes=0)
    used, total = [], 0.0
    for comp in comps:
        if total + comp.length_um * 1e-3 > length:
            break
        used.append(comp)
        total += comp.length_um * 1e-3
    n_nodes = sum(1 for i in node_idx if i < len(used))
    b = MorphologyBuilder(f"dorsal root {d:.1f} um")
    b.add_branch(-1, used, np.stack([start, start + axis * length]))
    b.cut_ends = {0: 2 * g.delta_x_um, len(used) - 1: 2 * g.delta_x_um}
    nodes = [i for i in node_idx if i < len(used)]
    b.detectors = {"end": nodes[-1], "begin": nodes[0]}
    return b.build("end", propagation_ms=2.0 + n_nodes * 0.05)
