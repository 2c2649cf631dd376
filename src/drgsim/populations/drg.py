"""The neurons of one dorsal root ganglion, laid into the DRG field model's frame.

Cell types in the proportions of human L5 DRG cell bodies (Kawamura & Dyck 1978: 17% large,
46% intermediate, 37% small, read as A-beta / A-delta / C [unverified mapping]), counted exactly.
Somata lie in the ganglion's rim: the outer 25-30% of its radius, mostly dorsally (about 72% in the
dorsal half) and within the inner 85% of its length (Sperry et al. 2020, 31 human L4/L5 DRG). Each
stem runs inwards from its soma to its T-junction, towards the fibre core; the central axon leaves through the
ganglion's medial pole into the dorsal root, the peripheral axon through the lateral pole into the
spinal nerve (both along the nerve axis, x), each out to the model's boundary (less ``margin_mm``), so
that no axon ends in the electrode's field. Peripheral fibre diameters are drawn per type (``_diameter``;
C cells use the Sundt geometry); each cell follows its class's scaling rules. Alpha motor axons
(12-20 um, Kawamura 1977; Hauck 2009) run along the ventral root beside the ganglion and on in the
spinal nerve, which it joins at the ganglion's lateral pole, from one face of the model to the other.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.fields.anatomy_models import DRGParams
from drgsim.neurons.models import drg_abeta, drg_adelta, drg_c, motor
from drgsim.neurons.models.drg import Paths
from drgsim.populations import CellInfo, Population
from drgsim.populations.farooqui import draw_class_diameter


class DRGPopulationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_neurons: int = Field(30, ge=0, le=100_000)
    n_motor: int = Field(5, ge=0, le=10_000)
    fractions: tuple[float, float, float] = (0.17, 0.46, 0.37)  # A-beta, A-delta, C
    rim_fraction: tuple[float, float] = (0.70, 0.95)  # soma radius / ganglion radius
    dorsal_share: float = Field(0.72, ge=0, le=1)
    seed: int = 0
    side: str = "left"
    margin_mm: float = Field(2.0, ge=0.5, le=10, description="distance kept from the domain boundary")


def _unit(rng) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def drg_population(params: DRGParams, cfg: DRGPopulationConfig = DRGPopulationConfig()) -> Population:
    """A seeded population of DRG neurons and motor axons in the frame of ``params.build``."""
    rng = np.random.default_rng(cfg.seed)
    g = params.drg()
    c = params.ganglion_centre_mm()
    semi = np.array([g.ganglion_length_mm, g.ganglion_height_mm, g.ganglion_width_mm]) / 2
    x_end = (params.domain_mm / 2 - cfg.margin_mm, params.lateral_mm - cfg.margin_mm)  # medial, lateral
    pop = Population()
    kinds = rng.permutation(np.repeat(["abeta", "adelta", "c"], _counts(cfg.n_neurons, cfg.fractions)))
    for kind in kinds:
        cell, info = _neuron(kind, rng, cfg, g, c, semi, x_end, params.level)
        pop.add(cell.continued(), info)
    axis = params.ventral_root_axis_mm()
    axis[[0, -1], 0] = -x_end[0], x_end[1]
    for _ in range(cfg.n_motor):
        d = float(rng.uniform(*motor.DIAMETER_RANGE_UM))
        r = 0.6 * g.ventral_root_diameter_mm / 2 * np.sqrt(rng.uniform())
        phi = rng.uniform(0, 2 * np.pi)
        path = axis + np.array([0.0, r * np.cos(phi), r * np.sin(phi)])
        # Nodes on a lattice anchored at the foramen's centre, so moving the cut ends moves no node.
        pitch_mm = motor.geometry(d).delta_x_um * 1e-3
        path[0, 0] = -np.floor(x_end[0] / pitch_mm) * pitch_mm
        n = motor.nodes_along(d, _length(path) - 0.1)
        cell = motor.build(d, n, path_mm=path)
        pop.add(cell.continued(), CellInfo(kind="motor", model="motor", diameter_um=d, segment=params.level,
                                           side=cfg.side))
    return pop


def _counts(n: int, fractions) -> np.ndarray:
    """``n`` split by ``fractions`` exactly (largest remainder): a small population holds its share of each
    type, not a binomial draw of it (the A-beta share sets the paresthesia estimate's resolution)."""
    share = n * np.asarray(fractions, dtype=float) / sum(fractions)
    counts = np.floor(share).astype(int)
    counts[np.argsort(counts - share, kind="stable")[:n - counts.sum()]] += 1
    return counts


def _neuron(kind, rng, cfg, g, c, semi, x_end, level):
    """One pseudo-unipolar neuron: soma in the rim, T-junction inwards, axons out through the poles."""
    template = {"abeta": drg_abeta.CELL, "adelta": drg_adelta.CELL, "c": drg_c.CELL}[kind]
    stem = template.stem_length_mm() + 0.05
    while True:  # rejection sampling of the soma position (dorsal bias, inner 85% of the length)
        u = _unit(rng)
        if (u[1] >= 0) != (rng.uniform() < cfg.dorsal_share):
            continue
        rho = rng.uniform(*cfg.rim_fraction)
        soma = c + rho * semi * u
        if abs(soma[0] - c[0]) > 0.85 * semi[0]:
            continue
        inward = (c - soma) / np.linalg.norm(c - soma)
        t = soma + inward * stem  # the T-junction lies inwards, towards the fibre core
        break
    root_r = min(0.8 * g.dorsal_root_diameter_mm / 2, 0.5 * min(semi[1:]))
    nerve_r = min(0.8 * g.spinal_nerve_diameter_mm / 2, 0.5 * min(semi[1:]))
    yz = (t[1:] - c[1:]) / max(float(np.linalg.norm(t[1:] - c[1:])), 1e-9) * rng.uniform(0, 1)
    central = np.array([t, [c[0] - 0.8 * semi[0], *(c[1:] + yz * root_r)], [-x_end[0], *(c[1:] + yz * root_r)]])
    peripheral = np.array([t, [c[0] + 0.8 * semi[0], *(c[1:] + yz * nerve_r)], [x_end[1], *(c[1:] + yz * nerve_r)]])
    paths = Paths(stem=np.array([t, soma]), peripheral=peripheral, central=central)
    if kind == "c":
        axon_um = (min(_length(central), _length(peripheral)) - 0.2) * 1e3 - drg_c.CELL.t_piece_length_um
        cell = replace(drg_c.CELL, axon_length_um=axon_um).build(paths)
        d = drg_c.CELL.peripheral_diameter_um
    else:
        d = _diameter(kind, rng)
        cell_type = template.for_diameter(d)
        n_c = _fit_nodes(cell_type, "central", _length(central))
        n_p = _fit_nodes(cell_type, "peripheral", _length(peripheral))
        cell = cell_type.build(paths, n_central_nodes=n_c, n_peripheral_nodes=n_p)
    return cell, CellInfo(kind=kind, model=f"drg_{kind}", diameter_um=d, segment=level, side=cfg.side)


def _diameter(kind: str, rng) -> float:
    """Peripheral fibre diameter (um). Large neurons (kind ``abeta``: Kawamura & Dyck's large cells, the
    A-alpha and A-beta afferents): Farooqui et al. 2024's two classes, 57% A-alpha (14.75 +- 1.99 um) and
    43% A-beta (7.39 +- 1.32 um), within 6-16 um (their 6-20 um, cut at the MRG geometry's range);
    A-delta: uniform 2-3.5 um [unverified spread]."""
    if kind == "abeta":
        return draw_class_diameter(rng)[1]
    return float(rng.uniform(2.0, 3.5))


def _length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def _fit_nodes(cell_type, label: str, path_mm: float) -> int:
    """The most nodes of a branch that fit its path (the axon runs out to the model's boundary)."""
    n = 3
    while cell_type.branch_length_mm(label, n + 1) <= path_mm - 0.1:
        n += 1
    return n
