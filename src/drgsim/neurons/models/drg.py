"""Pseudo-unipolar DRG neurons: soma, initial segment, stem axon, T-junction, peripheral and central axons.

Shared builder for ``drg_abeta``, ``drg_adelta`` (myelinated, MRG axons) and ``drg_c``
(unmyelinated, Sundt kinetics). The T-junction is the root of three branches: the stem to the
soma, the peripheral axon (towards the spinal nerve) and the central axon (into the dorsal root,
towards the spinal cord). Each branch follows its own 3D polyline, so populations can lay cells
along anatomical trajectories. Spikes are detected at the last active node of each axon
(``central``, the primary detector: the spike reached the spinal cord; ``peripheral``), at the
T-junction and at the soma.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from drgsim.neurons.mechanisms import (
    Mechanism,
    SundtParam,
    mrg_node_params,
    resting_leak_reversal,
    sundt_params,
    sundt_slow_params,
)
from drgsim.neurons.models import mrg, sundt
from drgsim.neurons.morphology import Compartment, Morphology, MorphologyBuilder


@dataclass(frozen=True)
class Paths:
    """Polylines (mm) of the three branches, each starting at the T-junction."""

    stem: np.ndarray
    peripheral: np.ndarray
    central: np.ndarray

    @staticmethod
    def straight(t_junction_mm=(0.0, 0.0, 0.0), axon_direction=(0.0, 0.0, 1.0), stem_direction=(1.0, 0.0, 0.0),
                 stem_mm: float = 2.0, axon_mm: float = 40.0) -> Paths:
        """Central axon along +axon_direction, peripheral along -axon_direction, stem sideways."""
        t = np.asarray(t_junction_mm, dtype=float)
        a = np.asarray(axon_direction, dtype=float)
        a = a / np.linalg.norm(a)
        s = np.asarray(stem_direction, dtype=float)
        s = s / np.linalg.norm(s)
        return Paths(np.stack([t, t + stem_mm * s]), np.stack([t, t - axon_mm * a]), np.stack([t, t + axon_mm * a]))

    def reversed_stem(self) -> np.ndarray:
        return self.stem[::-1]


def _stem_length_mm(comps: list[Compartment]) -> float:
    return sum(c.length_um for c in comps) * 1e-3


def _place_stem(b: MorphologyBuilder, comps: list[Compartment], paths: Paths) -> list[int]:
    """Lay soma..stem so that the stem's last compartment ends at the T-junction."""
    stem_path = paths.reversed_stem()
    seg = np.linalg.norm(np.diff(stem_path, axis=0), axis=1).sum()
    need = _stem_length_mm(comps)
    if need > seg + 1e-9:
        raise ValueError(f"stem path of {seg:.3f} mm is shorter than the stem ({need:.3f} mm)")
    return b.add_branch(-1, comps, stem_path, start_offset_um=(seg - need) * 1e3)


@dataclass(frozen=True)
class MyelinatedDRG:
    """A myelinated pseudo-unipolar neuron (Amir & Devor 2003; Graham et al. 2021; Farooqui et al. 2024).

    From the soma: the initial segment, a first stem node, then stem internodes each ending in a node;
    the last is the T-junction. As in Graham et al. 2021 (neuromodulation-um/Cell_models) the T-junction
    is three full nodes at one point, the stem's and the first node of each axon, and the first axon
    internodes beside it are shortened. ``for_diameter`` scales a class template to a peripheral fibre
    diameter by the class's rules (central = ``central_slope`` x Dp + ``central_offset_um``, stem =
    ``stem_ratio`` x Dp, soma = ``soma_slope`` x Dp + ``soma_offset_um`` where a slope is given).
    Beyond ``coarse_from_mm`` from the T-junction an internode's six STIN compartments become one, as
    Graham's A-delta cell does beyond 20 mm (its ``variable_STIN``): the axons run to the model's
    boundary, far outside the electrode's field.
    """

    name: str
    peripheral_diameter_um: float
    central_diameter_um: float
    stem_diameter_um: float
    soma_length_um: float
    soma_diameter_um: float
    initial_segment_length_um: float
    initial_segment_diameter_um: float
    stem_internodes_um: tuple[float, ...]  # from the soma side to the T-junction
    stem_lamella_scales: tuple[float, ...]
    central_first_internodes: tuple[float, ...]  # fractions of the normal internode next to the T
    peripheral_first_internodes: tuple[float, ...]
    soma_gna_scale: float
    initial_segment_gna_scale: float
    central_slope: float
    central_offset_um: float
    stem_ratio: float
    soma_slope: float | None = None  # None: the soma keeps its size at every diameter
    soma_offset_um: float = 0.0
    initial_segment_compartments: int = 4
    coarse_from_mm: float = 12.0  # internodes farther from the T-junction lump their STIN into one compartment

    def for_diameter(self, peripheral_diameter_um: float) -> MyelinatedDRG:
        """The class template at another peripheral fibre diameter (MRG range, 2-16 um per branch)."""
        d = float(peripheral_diameter_um)
        soma = self.soma_diameter_um if self.soma_slope is None else self.soma_slope * d + self.soma_offset_um
        ratio = soma / self.soma_diameter_um
        clip = lambda x: float(min(max(x, mrg.DIAMETER_RANGE_UM[0]), mrg.DIAMETER_RANGE_UM[1]))  # noqa: E731
        return replace(self, peripheral_diameter_um=clip(d), central_diameter_um=clip(self.central_slope * d +
                                                                                       self.central_offset_um),
                       stem_diameter_um=clip(self.stem_ratio * d), soma_diameter_um=soma,
                       soma_length_um=self.soma_length_um * ratio)

    def branch_length_mm(self, label: str, n_nodes: int) -> float:
        """Length from the T-junction of a ``central`` or ``peripheral`` branch of ``n_nodes`` nodes (the
        first is the branch's node at the T)."""
        g = mrg.geometry(self.central_diameter_um if label == "central" else self.peripheral_diameter_um)
        scales = self.central_first_internodes if label == "central" else self.peripheral_first_internodes
        k = n_nodes - 1
        internodes = g.delta_x_um * (sum(scales[:k]) + max(k - len(scales), 0))
        return (internodes + n_nodes * 1.0) * 1e-3

    def stem_length_mm(self) -> float:
        """Soma, initial segment and stem internodes with their nodes: the shortest stem path that fits."""
        return (self.soma_length_um + self.initial_segment_length_um + sum(self.stem_internodes_um) +
                len(self.stem_internodes_um) + 1) * 1e-3

    def _stem(self, gs, temperature_c: float) -> list[Compartment]:
        """Soma, initial segment, first stem node, then each stem internode and its node (the last: the T)."""
        rest = -80.0
        soma = Compartment(self.soma_length_um, self.soma_diameter_um, 70.0, 1.0, Mechanism.MRG_NODE,
                           mrg_node_params(temperature_c, gnabar=3.0 * self.soma_gna_scale), rest, "soma")
        n_is = self.initial_segment_compartments if self.initial_segment_length_um > 0 else 0
        iseg = [Compartment(self.initial_segment_length_um / n_is, self.initial_segment_diameter_um, 70.0, 1.0,
                            Mechanism.MRG_NODE,
                            mrg_node_params(temperature_c, gnabar=3.0 * self.initial_segment_gna_scale), rest,
                            "initial_segment") for _ in range(n_is)]
        stem: list[Compartment] = [soma, *iseg, mrg.node(gs, temperature_c, region="stem_node")]
        last = len(self.stem_internodes_um) - 1
        for k, (length, lam) in enumerate(zip(self.stem_internodes_um, self.stem_lamella_scales)):
            for c in mrg.internode(gs, length / gs.delta_x_um, lam):
                c.region = "stem_" + c.region
                stem.append(c)
            stem.append(mrg.node(gs, temperature_c, region="t_junction" if k == last else "stem_node"))
        return stem

    def build(self, paths: Paths | None = None, n_central_nodes: int = 21, n_peripheral_nodes: int = 21,
              temperature_c: float = 37.0) -> Morphology:
        paths = paths or Paths.straight()
        gp = mrg.geometry(self.peripheral_diameter_um)
        gc = mrg.geometry(self.central_diameter_um)
        gs = mrg.geometry(self.stem_diameter_um)
        b = MorphologyBuilder(self.name)
        stem_idx = _place_stem(b, self._stem(gs, temperature_c), paths)
        t_idx = stem_idx[-1]
        ends = {}
        for label, g, n_nodes, scales, path in (
                ("central", gc, n_central_nodes, self.central_first_internodes, paths.central),
                ("peripheral", gp, n_peripheral_nodes, self.peripheral_first_internodes, paths.peripheral)):
            if n_nodes < 3:
                raise ValueError(f"{self.name}: the {label} axon needs at least 3 nodes, got {n_nodes}")
            comps, node_pos = [mrg.node(g, temperature_c, region="t_junction")], [0]
            for k in range(1, n_nodes):
                far = k * g.delta_x_um * 1e-3 > self.coarse_from_mm
                for c in mrg.internode(g, scales[k - 1] if k - 1 < len(scales) else 1.0, n_stin=1 if far else None):
                    c.region = f"{label}_{c.region}"
                    comps.append(c)
                node_pos.append(len(comps))
                comps.append(mrg.node(g, temperature_c, passive=(k == n_nodes - 1), region=f"{label}_node"))
            idx = b.add_branch(t_idx, comps, path, start_offset_um=0.5)
            ends[label] = idx[node_pos[-2]]  # last active node
            b.cut_ends[idx[-1]] = 2 * g.delta_x_um  # the axon runs on to the cord / the periphery
        b.detectors = {"central": ends["central"], "peripheral": ends["peripheral"], "t_junction": t_idx,
                       "soma": stem_idx[0]}
        longest = max(self.branch_length_mm("central", n_central_nodes),
                      self.branch_length_mm("peripheral", n_peripheral_nodes))
        # MRG conduction ~4.5 m/s per um (McIntyre 2002), halved for the margin near threshold.
        return b.build("central", propagation_ms=2.0 + 2 * longest / (4.5 * min(gc.fiber_diameter_um,
                                                                                 gp.fiber_diameter_um)))


@lru_cache(maxsize=64)
def _leak_reversal(kind: int, params: bytes, rest_mv: float) -> float:
    """``resting_leak_reversal`` once per parameter set: a C neuron's ~1,600 compartments share a handful, and
    each call from Python costs numba's argument typing (about 0.2 ms)."""
    return resting_leak_reversal(kind, np.frombuffer(params), rest_mv)


@dataclass(frozen=True)
class UnmyelinatedDRG:
    """Geometry of a C-type pseudo-unipolar neuron (Sundt, Gamper & Jaffe 2015).

    Each axon is ``axon_length_um`` long: compartments of ``segment_um`` for its first ``near_um``, then
    of ``far_segment_um`` (about a fifth of the 0.4 um branch's length constant), so that long axons
    that leave the stimulated region stay cheap. The spike counts as reaching the cord when it passes
    the central compartment nearest ``detect_um`` from the T-junction (or the last active one).
    """

    name: str
    soma_diameter_um: float = 25.0
    stem_length_um: float = 75.0
    stem_diameter_um: float = 1.4
    t_piece_length_um: float = 100.0
    peripheral_diameter_um: float = 0.8
    central_diameter_um: float = 0.4
    axon_length_um: float = 5000.0
    segment_um: float = 20.0
    near_um: float = 8000.0
    far_segment_um: float = 60.0
    detect_um: float = 8000.0
    soma_gna: float = 0.02
    axon_gna: float = 0.04
    km_gbar: float = 0.0004  # M current (S/cm2) in the soma, stem, T-junction and T pieces (ModelDB Figure 5d)
    soma_cal_gbar: float = 0.00025  # L-type calcium in the soma (ModelDB Figure 8c)
    soma_sk_gbar: float = 0.001  # SK in the soma (ModelDB Figure 8c)
    sk_ca_tau_ms: float = 500.0  # the soma's calcium pool (ModelDB Figure 8c)
    rest_mv: float = -60.0  # every compartment's leak balances its currents here (ModelDB init())

    def stem_length_mm(self) -> float:
        return (self.soma_diameter_um + self.stem_length_um + 1.0) * 1e-3

    def _compartment(self, length_um: float, diam_um: float, temperature_c: float, region: str,
                     gna: float) -> Compartment:
        """A Sundt compartment; near the T-junction (soma, stem, T pieces) with the slow outward conductances."""
        near_t = region in ("soma", "stem", "t_junction") or region.endswith("_t_piece")
        soma = region == "soma"
        slow = near_t and (self.km_gbar > 0 or soma and (self.soma_cal_gbar > 0 or self.soma_sk_gbar > 0))
        if slow:
            kind = Mechanism.SUNDT_SLOW
            p = sundt_slow_params(temperature_c, gkmbar=self.km_gbar, gcalbar=self.soma_cal_gbar if soma else 0.0,
                                  gskbar=self.soma_sk_gbar if soma else 0.0, ca_tau_ms=self.sk_ca_tau_ms, gnabar=gna)
        else:
            kind, p = Mechanism.SUNDT, sundt_params(temperature_c, gnabar=gna)
        p[SundtParam.E_PAS] = _leak_reversal(int(kind), p.tobytes(), self.rest_mv)
        return Compartment(length_um, diam_um, 100.0, 1.0, kind, p, self.rest_mv, region)

    def _axon_lengths(self) -> list[float]:
        near = min(self.axon_length_um, self.near_um)
        n_near = max(2, int(round(near / self.segment_um)))
        far = self.axon_length_um - near
        n_far = int(round(far / self.far_segment_um)) if far > 0 else 0
        return [near / n_near] * n_near + ([far / n_far] * n_far if n_far else [])

    def build(self, paths: Paths | None = None, temperature_c: float = 37.0) -> Morphology:
        paths = paths or Paths.straight(axon_mm=self.t_piece_length_um * 1e-3 + self.axon_length_um * 1e-3 + 0.1)
        seg = self.segment_um
        soma = self._compartment(self.soma_diameter_um, self.soma_diameter_um, temperature_c, "soma", self.soma_gna)
        n_stem = max(1, int(round(self.stem_length_um / seg)))
        stem = [soma] + [self._compartment(self.stem_length_um / n_stem, self.stem_diameter_um, temperature_c, "stem",
                                           self.axon_gna) for _ in range(n_stem)]
        b = MorphologyBuilder(self.name)
        stem_idx = _place_stem(b, stem, paths)
        t_comp = self._compartment(1.0, self.peripheral_diameter_um, temperature_c, "t_junction", self.axon_gna)
        t_idx = b.add_branch(stem_idx[-1], [t_comp], np.stack([paths.stem[0], paths.stem[0] + 1e-3 *
                                                                (paths.central[1] - paths.central[0])]),
                             start_offset_um=-0.5)[0]
        ends = {}
        n_piece = max(1, int(round(self.t_piece_length_um / seg)))
        lengths = self._axon_lengths()
        for label, diam in (("central", self.central_diameter_um), ("peripheral", self.peripheral_diameter_um)):
            comps = [self._compartment(self.t_piece_length_um / n_piece, diam, temperature_c, f"{label}_t_piece",
                                       self.axon_gna) for _ in range(n_piece)]
            comps += [self._compartment(x, diam, temperature_c, f"{label}_axon", self.axon_gna) for x in lengths[:-1]]
            comps.append(sundt.sealed_end(lengths[-1], diam, f"{label}_end"))
            idx = b.add_branch(t_idx, comps, paths.central if label == "central" else paths.peripheral,
                               start_offset_um=0.5)
            along = self.t_piece_length_um + np.cumsum([c.length_um for c in comps]) - self.t_piece_length_um / n_piece
            ends[label] = idx[min(int(np.searchsorted(along, self.detect_um)), len(idx) - 2)]
            b.cut_ends[idx[-1]] = sundt.CUT_END_ZONE_UM
        b.detectors = {"central": ends["central"], "peripheral": ends["peripheral"], "t_junction": t_idx,
                       "soma": stem_idx[0]}
        # ~0.4 m/s on the thin central branch (Sundt 2015), twice that time as a margin, plus latency.
        reach_mm = min(self.detect_um, self.axon_length_um + self.t_piece_length_um) * 1e-3
        return b.build("central", propagation_ms=5.0 + 2 * reach_mm / 0.4)


# A point source faces the T-junction from the side away from the soma (the stem runs along +x, the axons along z).
SOURCE_DIRECTION = (0.0, -1.0, 0.0)


def t_junction(cell: Morphology) -> int:
    return cell.detectors["t_junction"]


SITES = ("peripheral_axon", "t_junction", "central_axon", "stem", "soma")


def site_category(region: str) -> str:
    """Where on a pseudo-unipolar neuron a compartment lies, in Farooqui et al. 2024's categories:
    ``peripheral_axon``, ``t_junction`` (the three nodes at the T), ``central_axon``, ``stem`` (stem
    nodes, internodes and the initial segment) or ``soma``."""
    if region == "t_junction":
        return "t_junction"
    for prefix, site in (("peripheral", "peripheral_axon"), ("central", "central_axon"), ("stem", "stem"),
                         ("initial_segment", "stem"), ("soma", "soma")):
        if region.startswith(prefix):
            return site
    raise ValueError(f"region {region!r} is not part of a pseudo-unipolar neuron")
