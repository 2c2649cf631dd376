"""Compartmental morphologies: a tree of compartments in Hines order with 3D positions.

A compartment is one isopotential piece of membrane (a NEURON section with nseg=1). Each carries
its geometry, passive cable constants, an optional periaxonal/myelin layer (the MRG double cable,
McIntyre, Richardson & Grill 2002) and one membrane mechanism. Parents always precede children,
so the tree matrix can be solved in O(n) (Hines 1984, Int J Biomed Comput 15:69).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drgsim.neurons.mechanisms import N_PARAMS, Mechanism


@dataclass(frozen=True)
class Morphology:
    """An immutable compartment tree; arrays are indexed by compartment."""

    name: str
    parent: np.ndarray  # int64, -1 for the root; parent[i] < i
    length_um: np.ndarray
    diam_um: np.ndarray  # diameter used for membrane area (NEURON `diam`)
    ra_ohm_cm: np.ndarray  # axial resistivity as NEURON `Ra` (already scaled for MRG)
    cm_uf_per_cm2: np.ndarray
    xraxial_mohm_per_cm: np.ndarray  # periaxonal axial resistance per length (0: no layer)
    xg_s_per_cm2: np.ndarray  # myelin conductance per area (inf: periaxonal shorted to outside)
    xc_uf_per_cm2: np.ndarray  # myelin capacitance per area
    mechanism: np.ndarray  # int64 Mechanism code
    params: np.ndarray  # (n, N_PARAMS) mechanism parameters
    v_init_mv: np.ndarray
    position_mm: np.ndarray  # (n, 3) compartment centres
    region: tuple[str, ...]  # region label per compartment, e.g. "node", "soma", "t_junction"
    detectors: dict[str, int] = field(default_factory=dict)  # named recording compartments
    primary_detector: str = "end"
    propagation_ms: float = 5.0  # time to allow after the stimulus for a spike to reach the detectors
    cut_end_zone: np.ndarray | None = None  # bool per compartment: near an end the model truncated
    ghost_partner: np.ndarray | None = None  # int per compartment: see ``continued``; -1 (or None) sealed

    @property
    def n(self) -> int:
        return len(self.parent)

    @property
    def near_cut_end(self) -> np.ndarray:
        """True where a compartment lies within two internodes (or the model's equivalent) of an end
        that the model cut (an axon that in the body runs on), where a spike would be an artefact."""
        return np.zeros(self.n, dtype=bool) if self.cut_end_zone is None else self.cut_end_zone

    @property
    def shorted(self) -> np.ndarray:
        """True where the periaxonal layer is absent (its potential equals the extracellular one)."""
        return ~np.isfinite(self.xg_s_per_cm2)

    @property
    def cut_terminals(self) -> list[int]:
        """The terminal compartments (root or leaves) inside a cut-end zone: the ends the model truncated."""
        degree = np.bincount(self.parent[1:], minlength=self.n) + (self.parent >= 0)
        return [int(i) for i in np.flatnonzero((degree <= 1) & self.near_cut_end)]

    @property
    def half_axial_mohm(self) -> np.ndarray:
        """Intracellular axial resistance from each compartment's centre to its end (Mohm)."""
        return self.ra_ohm_cm * (self.length_um / 2) / (np.pi * (self.diam_um / 2) ** 2) * 1e-2

    def continued(self) -> Morphology:
        """The cell with every cut end terminated as if the axon ran on beyond it.

        A sealed end in a field with a gradient is excited by it (the first-difference term of the
        activating function: McNeal 1976, IEEE Trans Biomed Eng 23:329; Rattay 1986, IEEE Trans Biomed
        Eng 33:974), an artefact where the real axon continues. The continuation is a ghost beyond the
        end: the same cable at the end's membrane potential in the field extrapolated linearly over the
        last period (the end and the nearest compartment of the terminal's kind, e.g. the previous node).
        It delivers into the end the axial current of an axon running on at rest,
        (Ve_end - Ve_partner) / R(partner to end), so a uniform field leaves the end unexcited; what is
        left is the field's curvature beyond the end. A terminal uncoupled from the cable (a passive end
        node with a huge axial resistance, as PyFibers makes them) is skipped: the ghost attaches to the
        first coupled compartment. ``CellBatch`` turns ``ghost_partner`` into that current."""
        partner = np.full(self.n, -1, dtype=np.int64)
        neighbours = _Neighbours(self.parent)
        r = self.half_axial_mohm
        edge = lambda i, j: r[i] + r[j]  # noqa: E731
        typical = float(np.median(r[1:] + r[self.parent[1:]]))
        for terminal in self.cut_terminals:
            end, seen = terminal, {terminal}
            inward = [j for j in neighbours[end] if j not in seen]
            while len(inward) == 1 and edge(end, inward[0]) > 1e3 * typical:
                end = inward[0]  # an uncoupled end compartment: the cable ends one further in
                seen.add(end)
                inward = [j for j in neighbours[end] if j not in seen]
            frontier, found = [end], -1
            while frontier and found < 0:
                nxt = []
                for i in frontier:
                    for j in neighbours[i]:
                        if j not in seen:
                            seen.add(j)
                            nxt.append(j)
                            if found < 0 and self.region[j] == self.region[terminal]:
                                found = j
                frontier = nxt
            partner[end] = found if found >= 0 else inward[0]
        return Morphology(**{**self.__dict__, "ghost_partner": partner})

    def with_positions(self, position_mm: np.ndarray) -> Morphology:
        """The same cell moved to new compartment centres (n, 3)."""
        position_mm = np.asarray(position_mm, dtype=float)
        if position_mm.shape != (self.n, 3):
            raise ValueError(f"position_mm must have shape ({self.n}, 3), got {position_mm.shape}")
        return Morphology(**{**self.__dict__, "position_mm": position_mm})

    def path_to(self, a: int, b: int) -> list[int]:
        """The compartments on the tree path from ``a`` to ``b``, both included."""
        up_a = [a]
        while self.parent[up_a[-1]] >= 0:
            up_a.append(int(self.parent[up_a[-1]]))
        index = {c: k for k, c in enumerate(up_a)}
        up_b = [b]
        while up_b[-1] not in index:
            up_b.append(int(self.parent[up_b[-1]]))
        return up_a[:index[up_b[-1]]] + up_b[::-1]

    def __post_init__(self) -> None:
        n = len(self.parent)
        if n == 0:
            raise ValueError("a morphology needs at least one compartment")
        if self.parent[0] != -1 or np.any(self.parent[1:] < 0) or np.any(self.parent[1:] >= np.arange(1, n)):
            raise ValueError("compartments must be in Hines order: parent[0] == -1 and 0 <= parent[i] < i")
        if self.params.shape != (n, N_PARAMS):
            raise ValueError(f"params must have shape ({n}, {N_PARAMS})")
        for name, idx in self.detectors.items():
            if not 0 <= idx < n:
                raise ValueError(f"detector {name!r} index {idx} outside 0..{n - 1}")
        if self.primary_detector not in self.detectors:
            raise ValueError(f"primary detector {self.primary_detector!r} not among {sorted(self.detectors)}")


class _Neighbours:
    """Each compartment's neighbours in the tree (its parent and its children), looked up on demand from
    the children sorted by parent (the walks that use them visit few compartments)."""

    def __init__(self, parent):
        self.parent = np.asarray(parent, dtype=np.int64)
        child = np.flatnonzero(self.parent >= 0)
        self.children = child[np.argsort(self.parent[child], kind="stable")]
        self.start = np.searchsorted(self.parent[self.children], np.arange(len(self.parent) + 1))

    def __getitem__(self, i: int) -> list[int]:
        p = int(self.parent[i])
        kids = self.children[self.start[i]:self.start[i + 1]].tolist()
        return ([p] if p >= 0 else []) + kids


@dataclass
class Compartment:
    """One compartment's properties while a morphology is being built."""

    length_um: float
    diam_um: float
    ra_ohm_cm: float
    cm_uf_per_cm2: float
    mechanism: Mechanism
    params: np.ndarray
    v_init_mv: float
    region: str
    xraxial_mohm_per_cm: float = 0.0
    xg_s_per_cm2: float = np.inf
    xc_uf_per_cm2: float = 0.0


class MorphologyBuilder:
    """Builds a compartment tree branch by branch along 3D polylines."""

    def __init__(self, name: str):
        self.name = name
        self._comps: list[Compartment] = []
        self._parent: list[int] = []
        self._pos: list[np.ndarray] = []
        self.detectors: dict[str, int] = {}
        self.cut_ends: dict[int, float] = {}  # compartment index of a truncated end -> its zone (um)

    def __len__(self) -> int:
        return len(self._comps)

    def add_branch(self, parent: int, compartments: list[Compartment], path_mm: np.ndarray,
                   start_offset_um: float = 0.0) -> list[int]:
        """Append a chain of compartments laid end to end along a polyline starting at its first point.

        The first compartment attaches to ``parent`` (-1 for the root). ``start_offset_um`` shifts the
        chain's start along the path (e.g. to begin at the edge of a soma). Returns the new indices.
        """
        path = np.atleast_2d(np.asarray(path_mm, dtype=float))
        seg = np.diff(path, axis=0)
        seg_len = np.linalg.norm(seg, axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        lengths_mm = np.array([c.length_um for c in compartments]) * 1e-3
        centres = start_offset_um * 1e-3 + np.cumsum(lengths_mm) - lengths_mm / 2
        if centres.size and centres[-1] > cum[-1] * (1 + 1e-9) + 1e-12:
            raise ValueError(f"{self.name}: branch of {centres[-1]:.3f} mm exceeds its path of {cum[-1]:.3f} mm")
        k = np.minimum(np.searchsorted(cum, centres, side="right") - 1, len(seg) - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(seg_len[k] > 0, (centres - cum[k]) / seg_len[k], 0.0)
        first = len(self._comps)
        idx = list(range(first, first + len(compartments)))
        self._pos.extend(path[k] + frac[:, None] * seg[k])
        self._comps.extend(compartments)
        self._parent.extend(([parent] + idx[:-1]) if idx else [])
        return idx

    def _cut_end_zone(self) -> np.ndarray | None:
        """Compartments within each cut end's zone, by path length along the tree (centre to centre)."""
        if not self.cut_ends:
            return None
        n = len(self._comps)
        pos = np.array(self._pos).reshape(n, 3)
        neighbours = _Neighbours(self._parent)
        zone = np.zeros(n, dtype=bool)
        for end, length_um in self.cut_ends.items():
            dist = {end: 0.0}
            stack = [end]
            while stack:
                i = stack.pop()
                zone[i] = True
                for j in neighbours[i]:
                    d = dist[i] + float(np.linalg.norm(pos[j] - pos[i])) * 1e3
                    if j not in dist and d <= length_um:
                        dist[j] = d
                        stack.append(j)
        return zone

    def build(self, primary_detector: str, propagation_ms: float) -> Morphology:
        c = self._comps
        return Morphology(
            name=self.name,
            parent=np.array(self._parent, dtype=np.int64),
            length_um=np.array([x.length_um for x in c]),
            diam_um=np.array([x.diam_um for x in c]),
            ra_ohm_cm=np.array([x.ra_ohm_cm for x in c]),
            cm_uf_per_cm2=np.array([x.cm_uf_per_cm2 for x in c]),
            xraxial_mohm_per_cm=np.array([x.xraxial_mohm_per_cm for x in c]),
            xg_s_per_cm2=np.array([x.xg_s_per_cm2 for x in c]),
            xc_uf_per_cm2=np.array([x.xc_uf_per_cm2 for x in c]),
            mechanism=np.array([int(x.mechanism) for x in c], dtype=np.int64),
            params=np.array([x.params for x in c]).reshape(len(c), N_PARAMS),
            v_init_mv=np.array([x.v_init_mv for x in c]),
            position_mm=np.array(self._pos).reshape(len(c), 3),
            region=tuple(x.region for x in c),
            detectors=dict(self.detectors),
            primary_detector=primary_detector,
            propagation_ms=propagation_ms,
            cut_end_zone=self._cut_end_zone(),
        )


def straight_path(start_mm, direction, length_mm: float) -> np.ndarray:
    """A two-point polyline from ``start_mm`` along ``direction`` (normalized here)."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    start = np.asarray(start_mm, dtype=float)
    return np.stack([start, start + d * length_mm])
