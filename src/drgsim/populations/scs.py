"""Dorsal-column and dorsal-root fibres at a thoracic level, laid into the SCS field model's frame.

Dorsal-column fibres run along the cord (z) in the dorsal white matter between the dorsal horns, over
the whole modelled length (less ``margin_mm``), so that no fibre ends in the lead's field.
Diameters follow Feirabend et al. 2002 (Brain 125:1137, T10-T11): mostly thin, with only about
0.5% of dorsal-column fibres above 10.7 um; drawn from a lognormal clipped to the MRG range
(2-16 um) [fit unverified]. Somatotopy: fibres from caudal segments lie medially, rostral ones
laterally (Smith & Deacon 1984: at T10 sacral medial, then lumbar, then low thoracic laterally);
a fibre's segment follows its distance from the midline. The fibres are drawn stratified (a paresthesia
share is counted per segment and side, so a few fibres per group must stand for the group): each (segment,
side) band of the white matter holds an equal share of them, and within a band one fibre lies in each
equal-area depth stratum and one in each diameter quantile, paired at random (Latin hypercube sampling;
McKay, Beckman & Conover 1979, Technometrics 21:239). A band's fibres are still distributed as its area
is; only their spread is evened. Dorsal-root fibres of the segment at the
lead enter along the dorsal rootlets, from the dorsolateral sulcus across the CSF (Struijk,
Holsheimer & Boom 1993: they fire near their entry at lower thresholds); each continues as its
ascending branch in the dorsal column and, outside the rootlet, as the dorsal root running caudally
inside the dural sac, both to the model's ends (the root's course in the CSF is modelled as CSF, not
as a root [simplification]).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import ndtri

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
    n_nodes: int | None = Field(None, ge=5, le=1001, description="dorsal-column nodes (default: the modelled "
                                                                     "length, so no fibre ends in the lead's field)")
    margin_mm: float = Field(2.0, ge=0.5, le=20, description="fibre ends kept from the model's ends")
    seed: int = 0


def scs_population(params: SCSParams, cfg: SCSPopulationConfig = SCSPopulationConfig()) -> Population:
    rng = np.random.default_rng(cfg.seed)
    lay = params.layout()
    pop = Population()
    half_len = params.length_mm / 2 - cfg.margin_mm
    for x, y, q, band, side in _dorsal_column_sites(rng, cfg, lay):
        d = float(np.clip(np.exp(np.log(cfg.diameter_median_um) + cfg.diameter_sigma * ndtri(q)), 2.0, 16.0))
        g = mrg.geometry(round(d, 3))
        fit = mrg.internodes_in(g, 2 * half_len)
        n = fit if cfg.n_nodes is None else min(cfg.n_nodes, fit)
        n = n if n % 2 else n - 1
        length = (n - 1) * g.delta_x_um * 1e-3
        cell = mrg.build(round(d, 3), n, start_mm=(lay["cord_x"] + x, y, params.lead_centre_z_mm - length / 2))
        pop.add(cell.continued(), CellInfo(kind="dorsal_column", model="mrg", diameter_um=d,
                                           segment=SEGMENTS_MEDIAL_TO_LATERAL[band], side=side))
    paths = params.rootlet_paths()
    root_quantiles = _stratified_quantiles(rng, cfg.n_dorsal_root)
    for j in range(cfg.n_dorsal_root):
        p = paths[j % len(paths)]
        d = float(6.0 + 6.0 * root_quantiles[j])  # uniform 6-12 um, stratified
        cell = _root_fibre(p, d, params.rootlet_diameter_mm / 2 * 0.5, rng, params.lead_centre_z_mm, half_len)
        side = "left" if p[1, 0] > p[0, 0] else "right"
        pop.add(cell.continued(), CellInfo(kind="dorsal_root", model="mrg", diameter_um=d, segment=params.level,
                                           side=side))
    return pop


def _dorsal_column_sites(rng, cfg: SCSPopulationConfig, lay: dict):
    """(x from the cord's midline, y, diameter quantile, band, side) of each dorsal-column fibre, stratified by
    (segment, side) band, by depth within the band and by diameter quantile."""
    a, b, yc = lay["cord_a"], lay["cord_b"], lay["cord_y"]
    grey_top = yc + b * lay["grey"]
    groups = [(k, s) for k in range(len(SEGMENTS_MEDIAL_TO_LATERAL)) for s in (1.0, -1.0)]
    counts = np.full(len(groups), cfg.n_dorsal_column // len(groups))
    counts[rng.permutation(len(groups))[:cfg.n_dorsal_column % len(groups)]] += 1
    width = 0.45 * a / len(SEGMENTS_MEDIAL_TO_LATERAL)
    for (k, sign), m in zip(groups, counts):
        if not m:
            continue
        pool, rounds = [], 0  # the band's white matter, sampled uniformly by area
        while len(pool) < 64 * m:
            if (rounds := rounds + 1) > 1000:
                raise ValueError(f"depth_mm={cfg.depth_mm}: the {SEGMENTS_MEDIAL_TO_LATERAL[k]} band of the dorsal "
                                 "column holds too little white matter within it")
            x = sign * (k + rng.uniform(size=256)) * width
            y = yc + b - rng.uniform(0.05, cfg.depth_mm, size=256)
            ok = ((x / a) ** 2 + ((y - yc) / b) ** 2 <= 0.95) & (y >= grey_top + 0.1)
            pool.extend(zip(x[ok], y[ok]))
        pool = sorted(pool[:64 * m], key=lambda p: -p[1])  # shallow to deep: 64 points per depth stratum
        quantiles = _stratified_quantiles(rng, m)
        for i in range(m):
            x, y = pool[64 * i + rng.integers(64)]
            yield float(x), float(y), float(quantiles[i]), k, "left" if sign > 0 else "right"


def _stratified_quantiles(rng, n: int) -> np.ndarray:
    """``n`` quantiles in (0, 1), one in each of ``n`` equal strata, in random order."""
    return (rng.permutation(n) + rng.uniform(size=n)) / max(n, 1)


def _root_fibre(path: np.ndarray, d: float, spread_mm: float, rng, centre_z_mm: float, half_len_mm: float):
    """A dorsal-root afferent: its ascending branch in the dorsal column (from the model's rostral end
    down to the rootlet's entry), the rootlet across the CSF, then the dorsal root inside the dural sac
    (0.3 mm inside the dura) caudally to the model's caudal end, as many nodes as fit. The spike counts
    when it reaches the rostral end of the ascending branch."""
    g = mrg.geometry(round(d, 3))
    axis = path[1] - path[0]
    ortho = np.cross(axis / np.linalg.norm(axis), [0.0, 0.0, 1.0])
    ortho /= np.linalg.norm(ortho)
    shift = ortho * rng.uniform(-spread_mm, spread_mm)
    entry, exit_ = path[0] + shift, path[1] + shift
    polyline = np.array([[*entry[:2], centre_z_mm + half_len_mm], entry, exit_,
                         [*exit_[:2], centre_z_mm - half_len_mm]])
    length = float(np.linalg.norm(np.diff(polyline, axis=0), axis=1).sum())
    n_nodes = mrg.internodes_in(g, length)
    comps, node_idx = mrg.axon_compartments(g, n_nodes, 37.0, passive_end_nodes=1)
    b = MorphologyBuilder(f"dorsal root {d:.1f} um")
    b.add_branch(-1, comps, polyline)
    b.cut_ends = {0: 2 * g.delta_x_um, len(comps) - 1: 2 * g.delta_x_um}
    b.detectors = {"end": node_idx[1], "begin": node_idx[-2]}
    return b.build("end", propagation_ms=2.0 + 2 * length / (4.5 * d))
