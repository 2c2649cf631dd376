"""Recording by reciprocity: the potential a contact picks up from one cell's membrane currents.

A compartment sends into the extracellular space the net axial current that flows into it from its neighbours,
through the axoplasm (intracellular potential Vi = Vm + Vp) and, in the MRG double cable, through the periaxonal
space (Vp): Kirchhoff's current law on the compartment, whatever its membrane or myelin carries. By reciprocity
(Plonsey & Barr 2007, ch. 9; Helmholtz), a contact whose unit current sets up the potential phi(x) (mV per mA, the
field solution ``drgsim.fields`` gives per contact) records from point sources I_k at x_k the potential
sum_k I_k phi(x_k): the contact's unit-current field is its recording sensitivity (its lead field). With
phi in mV/mA (ohm) and I in nA the product is in nV. Conduction delays come from the cell's own propagation.
The ghost current of a continued cut end (``Morphology.continued``) flows only while the stimulus is on and is
left out: what is recorded after the pulse is the cell's own.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from drgsim.devices.waveform import Waveform
from drgsim.neurons import kernel
from drgsim.neurons.solver import CellBatch, SimulationSettings, trace


def membrane_currents_na(batch: CellBatch, cell: int, vm_mv: np.ndarray, vp_mv: np.ndarray) -> np.ndarray:
    """Net current (nA, positive outwards) each compartment of ``cell`` sends into the extracellular space at every
    traced step (``vm_mv``, ``vp_mv``: steps x compartments, all of the cell's compartments)."""
    lo, hi = int(batch.offsets[cell]), int(batch.offsets[cell + 1])
    n = hi - lo
    if vm_mv.shape[1] != n or vp_mv.shape != vm_mv.shape:
        raise ValueError(f"traces must hold all {n} compartments of cell {cell}, got {vm_mv.shape}, {vp_mv.shape}")
    parent = batch.struct[kernel.PARENT, lo:hi]
    child = np.flatnonzero(parent >= 0)
    par = parent[child]
    ga, gp = batch.coef[kernel.GA, lo:hi][child], batch.coef[kernel.GP, lo:hi][child]  # uS, edge to the parent
    vi = vm_mv + vp_mv
    flow = ga * (vi[:, par] - vi[:, child]) + gp * (vp_mv[:, par] - vp_mv[:, child])  # nA from parent into child
    # Each edge's flow enters the child and leaves the parent; what flows into a compartment leaves through it.
    incidence = sparse.csr_matrix((np.concatenate([np.ones(len(child)), -np.ones(len(child))]),
                                   (np.concatenate([np.arange(len(child))] * 2), np.concatenate([child, par]))),
                                  shape=(len(child), n))
    return np.asarray(incidence.T @ flow.T).T


def recorded_uv(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, amplitude_ma: float, waveform: Waveform,
                lead_field_mv_per_ma: np.ndarray, settings: SimulationSettings = SimulationSettings(),
                cell: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Times (ms, end of each step) and the potential (uV) a recording contact picks up from ``cell`` stimulated
    at ``amplitude_ma`` (stimulus unit potentials ``v_unit_mv_per_ma`` over the whole batch): its membrane
    currents weighted by the contact's lead field along the cell (``lead_field_mv_per_ma``: the recording contact's
    unit-current potential at each compartment of the cell, less the reference contact's)."""
    lo, hi = int(batch.offsets[cell]), int(batch.offsets[cell + 1])
    lead_field = np.asarray(lead_field_mv_per_ma, dtype=float)
    if lead_field.shape != (hi - lo,):
        raise ValueError(f"lead_field_mv_per_ma must have one value per compartment of cell {cell} ({hi - lo}), "
                         f"got {lead_field.shape}")
    t, vm, vp = trace(batch, v_unit_mv_per_ma, amplitude_ma, waveform, settings, cell=cell, periaxonal=True)
    return t, 1e-3 * (membrane_currents_na(batch, cell, vm, vp) @ lead_field)


def evoked_uv(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, amplitude_ma: float, waveform: Waveform,
              lead_field_mv_per_ma: np.ndarray, settings: SimulationSettings = SimulationSettings(), cell: int = 0,
              linear_fraction: float = 1e-3, rest_uv: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``recorded_uv`` less its part linear in the amplitude: the membrane's passive response to the pulse, taken
    from a run at ``linear_fraction`` x ``amplitude_ma`` (far below any spike) and scaled up. What remains is what
    the cell's action potential adds; the linear part is stimulus-locked like the artifact and leaves the recording
    with it (a scaled sub-threshold sweep subtracted removes everything linear in the amplitude). What the cell
    records with no stimulus at all (its numerical rest is steady to within a uV of membrane potential, not exactly)
    is taken out of both runs first: scaled up by 1 / ``linear_fraction`` with the passive part, such a drift of
    nanovolts became a standing offset of millivolts in a population's ECAP. ``rest_uv``: that recording
    (``recorded_uv`` at 0 mA), when the caller keeps it for the cell's other amplitudes; else it is run here."""
    if not 0 < linear_fraction <= 0.1:
        raise ValueError(f"linear_fraction={linear_fraction}; allowed: > 0 and <= 0.1")
    t, uv = recorded_uv(batch, v_unit_mv_per_ma, amplitude_ma, waveform, lead_field_mv_per_ma, settings, cell)
    _, small = recorded_uv(batch, v_unit_mv_per_ma, linear_fraction * amplitude_ma, waveform, lead_field_mv_per_ma,
                           settings, cell)
    if rest_uv is None:
        _, rest_uv = recorded_uv(batch, v_unit_mv_per_ma, 0.0, waveform, lead_field_mv_per_ma, settings, cell)
    return t, uv - rest_uv - (small - rest_uv) / linear_fraction
