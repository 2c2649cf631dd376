"""Batched simulation and population threshold search.

Cells of any morphologies are packed into flat arrays (``CellBatch``) and relaxed once to rest. The compiled
kernel runs them in groups: one worker per thread takes its queue of cells (largest first) into a few lanes
advanced together, each lane running one cell's sequence of simulations and loading the next cell once its
own is decided. Thresholds use a run at the ceiling, bracket expansion and bisection for every cell at
once; runs stop early when the spike is committed to its detector or the cell is back at rest, and the
field's linearity in current makes one unit potential serve every amplitude. ``_run`` builds the kernel's
named arguments (``kernel.Run`` .. ``kernel.Outputs``) in one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import numba as nb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.devices.waveform import Waveform
from drgsim.neurons import kernel
from drgsim.neurons.mechanisms import MECHANISMS, N_STATES, Mechanism
from drgsim.neurons.morphology import Morphology


class Method(StrEnum):
    BACKWARD_EULER = "backward_euler"
    CRANK_NICOLSON = "crank_nicolson"


class SimulationSettings(BaseModel):
    """Numerical settings of a run. ``tstop_ms`` defaults to the stimulus plus the cells' propagation time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dt_us: float = Field(2.5, gt=0, le=100)
    tstop_ms: float | None = Field(None, gt=0, le=10_000)
    method: Method = Method.BACKWARD_EULER
    ap_threshold_mv: float = Field(-30.0, ge=-80, le=50)
    settle_ms: float = Field(200.0, ge=0, le=10_000)
    settle_dt_ms: float = Field(5.0, gt=0, le=100)
    early_exit: bool = True
    rest_tol_mv: float = Field(2.0, gt=0, le=20)
    rest_slope_mv_per_ms: float = Field(1.0, gt=0, le=100)


LANES = 4  # cells a kernel worker advances together


@dataclass
class CellBatch:
    """Morphologies packed for the kernel, with their resting states: per-compartment coefficients
    (``coef``) and tree structure (``struct``, local indices) cell after cell, compartment after
    compartment, in the order users see (kernel.py's row constants)."""

    cells: list[Morphology]
    offsets: np.ndarray  # flat compartment offset of each cell
    coef: np.ndarray  # (kernel.N_COEF, n_compartments)
    struct: np.ndarray  # (kernel.N_STRUCT, n_compartments)
    detectors: np.ndarray  # local compartment index of each detector, cell after cell
    det_offsets: np.ndarray
    primary: np.ndarray
    positions_mm: np.ndarray
    settle: tuple[float, float]
    table_kinds: np.ndarray  # mechanism of each gate table (kernel.gate_tables)
    table_params: np.ndarray  # its parameters, parameter-major
    lanes: int = LANES
    _gate_tables: dict[float, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def n_compartments(self) -> int:
        return int(self.offsets[-1])

    @property
    def vm0(self) -> np.ndarray:
        return self.coef[kernel.VM0]

    @classmethod
    def pack(cls, cells: list[Morphology], settle_ms: float = 200.0, settle_dt_ms: float = 5.0,
             lanes: int = LANES) -> CellBatch:
        if not cells:
            raise ValueError("a batch needs at least one cell")
        offsets = np.concatenate([[0], np.cumsum([c.n for c in cells])]).astype(np.int64)
        cat = lambda name: np.concatenate([getattr(c, name) for c in cells])  # noqa: E731
        L, d = cat("length_um"), cat("diam_um")
        xr, xg, xc = cat("xraxial_mohm_per_cm"), cat("xg_s_per_cm2"), cat("xc_uf_per_cm2")
        parent = np.concatenate([np.where(c.parent >= 0, c.parent + o, -1) for c, o in zip(cells, offsets)])
        shorted = ~np.isfinite(xg)
        area_scale = np.pi * d * L * 1e-2  # um^2 -> cm^2 (1e-8), then mA -> nA and S -> uS (1e6)
        r_half = cat("half_axial_mohm")  # Mohm
        rp_half = xr * (L / 2) * 1e-4  # Mohm
        ga = np.zeros_like(L)
        gp = np.zeros_like(L)
        child = np.flatnonzero(parent >= 0)
        par = parent[child]
        ga[child] = 1.0 / (r_half[child] + r_half[par])
        both = (xr[child] > 0) & (xr[par] > 0)
        gp[child[both]] = 1.0 / (rp_half[child[both]] + rp_half[par[both]])
        sum_ga = ga.copy()
        np.add.at(sum_ga, par, ga[child])
        sum_gp = gp.copy()
        np.add.at(sum_gp, par, gp[child])
        ghost = [_ghost_partner(c) for c in cells]
        g_ghost = np.zeros_like(L)
        for c, o, partner in zip(cells, offsets, ghost):
            for end in np.flatnonzero(partner >= 0):
                path = o + np.array(c.path_to(int(end), int(partner[end])))
                g_ghost[o + end] = 1.0 / float(r_half[path[:-1]].sum() + r_half[path[1:]].sum())  # uS
        params = cat("params")
        mechanism = np.concatenate([c.mechanism for c in cells])
        coef = np.zeros((kernel.N_COEF, len(L)))
        rows = {kernel.C_M: cat("cm_uf_per_cm2") * area_scale * 1e-3, kernel.C_MY: xc * area_scale * 1e-3,
                kernel.G_MY: np.where(shorted, 0.0, xg) * area_scale, kernel.GA: ga, kernel.GP: gp,
                kernel.SUM_GA: sum_ga, kernel.SUM_GP: sum_gp, kernel.AREA: area_scale, kernel.G_GHOST: g_ghost,
                kernel.VM0: cat("v_init_mv")}
        for r, v in rows.items():
            coef[r] = v
        coef[kernel.PARAMS:] = params.T
        table_of, table_kinds, table_params = _gate_table_index(mechanism, params)
        struct = np.zeros((kernel.N_STRUCT, len(L)), dtype=np.int64)
        struct[kernel.PARENT] = np.concatenate([c.parent for c in cells])
        struct[kernel.KIND] = mechanism
        struct[kernel.SHORTED] = np.concatenate([c.shorted for c in cells])
        struct[kernel.GHOST] = np.concatenate(ghost)
        struct[kernel.TABLE] = table_of
        det, det_off, primary = [], [0], []
        for c in cells:
            names = list(c.detectors)
            det.extend(c.detectors[k] for k in names)
            det_off.append(len(det))
            primary.append(names.index(c.primary_detector))
        batch = cls(cells, offsets, coef, struct, np.array(det, dtype=np.int64), np.array(det_off, dtype=np.int64),
                    np.array(primary, dtype=np.int64), cat("position_mm"), (settle_ms, settle_dt_ms), table_kinds,
                    table_params, lanes)
        batch._relax(settle_ms, settle_dt_ms)
        return batch

    def gate_table(self, dt_ms: float) -> np.ndarray:
        """The kernel's gate tables at time step ``dt_ms``, built once per step size."""
        if dt_ms not in self._gate_tables:
            self._gate_tables[dt_ms] = kernel.gate_tables(self.table_kinds, self.table_params, dt_ms)
        return self._gate_tables[dt_ms]

    def kernel_cells(self, dt_ms: float, v_unit: np.ndarray) -> kernel.Cells:
        """The kernel's view of the batch at time step ``dt_ms`` with unit potentials ``v_unit``."""
        return kernel.Cells(self.offsets, self.struct, self.coef, self.gate_table(dt_ms), v_unit, self.detectors,
                            self.det_offsets, self.primary)

    def workers(self, cells: np.ndarray | None = None) -> kernel.Workers:
        """The kernel's work queues for ``cells`` (default all), one per thread: largest first, dealt out
        in turn, so every queue holds its share of the large ones; the lanes per worker (fewer than
        ``lanes`` where there are few cells, so that every thread has some), each queue's cells, offsets
        and lane length."""
        cells = np.arange(self.n_cells) if cells is None else np.asarray(cells, dtype=np.int64)
        threads = max(1, min(nb.get_num_threads(), len(cells)))
        lanes = min(self.lanes, -(-len(cells) // threads))
        order = cells[np.argsort([-self.cells[k].n for k in cells], kind="stable")]
        queues = [order[t::threads] for t in range(threads)]
        cells = np.concatenate(queues).astype(np.int64)
        off = np.concatenate([[0], np.cumsum([len(q) for q in queues])]).astype(np.int64)
        n = np.array([self.cells[q[0]].n for q in queues], dtype=np.int64)
        return kernel.Workers(lanes, cells, off, n)

    def _relax(self, settle_ms: float, settle_dt_ms: float) -> None:
        """Resting state: gates at steady state at v_init, then unstimulated steps (as PyFibers does)."""
        n = self.n_compartments
        vm = self.coef[kernel.VM0].copy()
        vp = np.zeros(n)
        gates = np.zeros((N_STATES, n))
        kernel.relax(self.offsets, self.struct, self.coef, vm, vp, gates, settle_dt_ms,
                     int(round(settle_ms / settle_dt_ms)))
        self.coef[kernel.VM0], self.coef[kernel.VP0] = vm, vp
        self.coef[kernel.GATES0:kernel.GATES0 + N_STATES] = gates

    def site_name(self, global_index: int) -> str:
        """"<region> <ordinal>" of a flat compartment index (e.g. "node 20"); "none" for -1."""
        if global_index < 0:
            return "none"
        _, region, ordinal = self.region_of(global_index)
        return f"{region} {ordinal}"

    def region_of(self, global_index: int) -> tuple[int, str, int]:
        """(cell, region, ordinal of the compartment within its region) of a flat compartment index."""
        c = int(np.searchsorted(self.offsets, global_index, side="right") - 1)
        local = global_index - int(self.offsets[c])
        region = self.cells[c].region[local]
        ordinal = sum(1 for r in self.cells[c].region[:local] if r == region)
        return c, region, ordinal


def _gate_table_index(mechanism: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One gate table per distinct (mechanism, rate parameters): each compartment's table (-1: passive),
    the tables' mechanisms and their parameters (parameter-major)."""
    table_of = np.full(len(mechanism), -1, dtype=np.int64)
    kinds, columns = [], []
    for m, spec in MECHANISMS.items():
        sel = np.flatnonzero(mechanism == m)
        if not len(sel) or not spec.rate_params:
            continue
        idx = [int(r) for r in spec.rate_params]
        unique, inverse = np.unique(params[sel][:, list(idx)], axis=0, return_inverse=True)
        for u in range(len(unique)):
            col = np.zeros(params.shape[1])
            col[list(idx)] = unique[u]
            columns.append(col)
        table_of[sel] = len(kinds) + inverse.ravel()
        kinds += [int(m)] * len(unique)
    table_params = np.ascontiguousarray(np.array(columns).T) if columns else np.zeros((params.shape[1], 0))
    return table_of, np.array(kinds, dtype=np.int64), table_params


def _ghost_partner(cell: Morphology) -> np.ndarray:
    return np.full(cell.n, -1, dtype=np.int64) if cell.ghost_partner is None else cell.ghost_partner


def _time_grid(batch: CellBatch, waveform: Waveform, settings: SimulationSettings, n_steps: int | None = None,
               stim_end: int | None = None) -> kernel.TimeGrid:
    dt_ms = settings.dt_us * 1e-3
    if n_steps is None:
        tstop = settings.tstop_ms
        if tstop is None:
            tstop = waveform.duration_ms() + max(c.propagation_ms for c in batch.cells)
        n_steps = int(round(tstop / dt_ms))
    if stim_end is None:
        # Early exit may start once the last full-amplitude phase is over: a passive recharge is small
        # (pw/tau of the amplitude), decays and has the opposite sign, so a cell back at rest stays there.
        stim_end = min(n_steps, int(np.ceil(waveform.full_amplitude_end_ms() / dt_ms - 1e-9)))
    return kernel.TimeGrid(dt_ms, n_steps, stim_end, settings.method == Method.CRANK_NICOLSON,
                           waveform.sample(dt_ms, n_steps))


def _unit_potentials(batch: CellBatch, v_unit_mv_per_ma: np.ndarray) -> np.ndarray:
    v = np.asarray(v_unit_mv_per_ma, dtype=float)
    if v.shape != (batch.n_compartments,):
        raise ValueError(f"v_unit_mv_per_ma must have one value per compartment ({batch.n_compartments}), "
                         f"got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("v_unit_mv_per_ma contains non-finite values")
    return v


class SearchSettings(BaseModel):
    """How ``find_thresholds`` searches (defaults validated in tests/neurons/test_search.py).

    Start: where the cell's linear response (gates frozen at rest), low-pass filtered with
    ``start_filter_ms`` (it weighs brief depolarizations as sodium activation does), peaks at
    ``start_depolarization_mv`` in the most depolarized active compartment. At threshold that peak
    is 4.4-41 mV over MRG fibres of 2-16 um, motor axons, A-beta, A-delta and C neurons and Sundt fibres
    at 0.1-3 mm and 20-1000 us, so the start lies below every threshold (and is stepped down should
    it fire). Up: steps of ``step_up`` while no compartment spikes; after a silent run in which a spike
    started somewhere (a firing window may have been jumped: block), back to the last quiet amplitude
    and on in steps of ``step_fine``. Block: steps of ``step_block`` above the threshold until the cell
    is silent again, then bisection. Without ``max_ma`` the ceiling is ``ceiling_factor`` x the start.
    A firing run ends once the spike is committed to the detector (``commit_paths``), not when it arrives.
    With ``max_ma`` every cell's first run is at the ceiling, before its linear response (``SCREEN``,
    stopped at the first spike anywhere); without it, where the ceiling lies more than 8x above the
    start. If no compartment spikes there at all, the cell is silent (one run; a cell in block has local
    spikes).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_depolarization_mv: float = Field(2.0, gt=0, le=20)
    start_filter_ms: float = Field(0.1, ge=0, le=10)
    step_up: float = Field(1.5, gt=1.01, le=4.0)
    step_fine: float = Field(1.1, gt=1.01, le=2.0)
    step_block: float = Field(1.5, gt=1.01, le=4.0)
    find_block: bool = True
    ceiling_factor: float = Field(1e3, ge=10, le=1e8)
    max_simulations: int = Field(200, ge=4, le=10_000)
    commit_field_mv: float = Field(1.0, ge=0, le=10, description="a spike is committed to the detector once it "
                                   "has crossed ``commit_nodes`` active compartments into the unbranched stretch "
                                   "before the detector that the run's stimulus moves by less than this "
                                   "(``commit_paths``; 0: wait for the detector)")
    commit_nodes: int = Field(3, ge=1, le=100)

    def kernel_parameters(self, rel_tol: float, ceiling_run: bool = False) -> kernel.Search:
        return kernel.Search(float(rel_tol), float(self.step_up), float(self.step_fine), float(self.step_block),
                             bool(self.find_block), int(self.max_simulations), float(self.start_filter_ms),
                             ceiling_run)


def _run(batch: CellBatch, mode: int, cell_in: np.ndarray, search: kernel.Search, waveform: Waveform,
         settings: SimulationSettings, v_unit: np.ndarray, max_spikes: int = 1, n_steps: int | None = None,
         stim_end: int | None = None, commit: CommitPaths | None = None,
         cells: np.ndarray | None = None) -> tuple[kernel.Outputs, float]:
    """One kernel call over ``cells`` (default all; the outputs of the others stay at their initial values),
    and its seconds: the kernel's arguments are built here."""
    grid = _time_grid(batch, waveform, settings, n_steps, stim_end)
    rest_tol, rest_slope = _rest_criteria(settings)
    out = kernel.Outputs(np.zeros((batch.n_cells, 5)), np.full(batch.n_compartments, -1.0),
                         np.zeros((5, batch.n_compartments)), np.zeros((len(batch.detectors), max_spikes)),
                         np.zeros(len(batch.detectors), dtype=np.int64))
    if cells is not None and not len(cells):
        return out, 0.0
    run = kernel.Run(mode, np.ascontiguousarray(cell_in, dtype=float), float(settings.ap_threshold_mv), rest_tol,
                     rest_slope, max_spikes)
    commit = _no_commit(batch.n_cells) if commit is None else commit
    t0 = time.perf_counter()
    kernel.run_cells(run, search, batch.kernel_cells(grid.dt_ms, v_unit), grid, batch.workers(cells), commit, out)
    return out, time.perf_counter() - t0


def _no_commit(n_cells: int) -> CommitPaths:
    return CommitPaths(np.zeros(n_cells + 1, dtype=np.int64), np.zeros(0), np.full(n_cells, -1, dtype=np.int64))


def _rest_criteria(settings: SimulationSettings) -> tuple[float, float]:
    if settings.early_exit:
        return float(settings.rest_tol_mv), float(settings.rest_slope_mv_per_ms)
    return -1.0, -1.0  # never "at rest": run to tstop


@dataclass
class SimulationResult:
    """Per-cell outcome of one run at given amplitudes."""

    fired: np.ndarray  # spike reached the primary detector
    spike_times_ms: list[dict[str, np.ndarray]]  # per cell: detector -> crossing times
    first_crossing_ms: np.ndarray  # per compartment, NaN where never crossed
    initiation_index: np.ndarray  # per cell: flat compartment index, -1 if nothing crossed
    steps: np.ndarray
    seconds: float


def _initiation(batch: CellBatch, first_cross: np.ndarray) -> np.ndarray:
    out = np.full(batch.n_cells, -1, dtype=np.int64)
    for c in range(batch.n_cells):
        lo, hi = batch.offsets[c], batch.offsets[c + 1]
        fc = first_cross[lo:hi]
        ok = fc >= 0
        if ok.any():
            out[c] = lo + int(np.flatnonzero(ok)[np.argmin(fc[ok])])
    return out


def simulate(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, amplitudes_ma, waveform: Waveform,
             settings: SimulationSettings = SimulationSettings(), max_spikes: int = 1) -> SimulationResult:
    """Run every cell at its amplitude (mA, positive; the waveform carries the sign)."""
    v_unit = _unit_potentials(batch, v_unit_mv_per_ma)
    amps = _amplitudes(batch, amplitudes_ma)
    no_search = SearchSettings().kernel_parameters(0.01)  # read only when searching
    out, seconds = _run(batch, kernel.SIMULATE, np.stack([amps, amps], axis=1), no_search, waveform, settings, v_unit,
                        max_spikes)
    times = _detector_times(batch, out.spike_times, out.spike_counts)
    fired = np.array([len(t[cell.primary_detector]) > 0 for t, cell in zip(times, batch.cells)])
    fc = np.where(out.first_cross >= 0, out.first_cross, np.nan)
    return SimulationResult(fired, times, fc, _initiation(batch, out.first_cross),
                            out.cell_out[:, kernel.STEPS].astype(np.int64), seconds)


def _amplitudes(batch: CellBatch, amplitudes_ma) -> np.ndarray:
    """One amplitude per cell (mA; a scalar serves all), checked."""
    amps = np.broadcast_to(np.asarray(amplitudes_ma, dtype=float), (batch.n_cells,)).copy()
    if np.any(amps < 0) or not np.all(np.isfinite(amps)):
        raise ValueError("amplitudes_ma must be finite and >= 0 (the waveform carries the polarity)")
    return amps


def _detector_times(batch: CellBatch, spike_times: np.ndarray, spike_counts: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Per cell, each detector's recorded spike times (ms), as many as were kept."""
    out = []
    for c, cell in enumerate(batch.cells):
        j0 = batch.det_offsets[c]
        out.append({name: spike_times[j0 + k, :min(spike_counts[j0 + k], spike_times.shape[1])].copy()
                    for k, name in enumerate(cell.detectors)})
    return out


@dataclass
class LinearResponse:
    """The membrane's response with its gates frozen at rest, per compartment, in mV per mA: it scales
    exactly with the amplitude. Up to 0.5 ms after the last full-amplitude phase: the largest depolarization, the
    largest hyperpolarization (negative), the value at the end of the leading phase, and the largest
    value of the response low-pass filtered with ``filter_ms``."""

    depolarization: np.ndarray
    hyperpolarization: np.ndarray
    leading_phase_end: np.ndarray
    filtered_peak: np.ndarray
    filter_ms: float


def linear_response(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, waveform: Waveform,
                    settings: SimulationSettings = SimulationSettings(), filter_ms: float = 0.1,
                    cells: np.ndarray | None = None) -> LinearResponse:
    """One run of every cell at 1 mA with the gates frozen at rest (see ``LinearResponse``), to 0.5 ms after
    the last full-amplitude phase: a passive recharge's tail (a few % of the amplitude, tens of ms) is
    left out."""
    v_unit = _unit_potentials(batch, v_unit_mv_per_ma)
    dt_ms = settings.dt_us * 1e-3
    n_steps = int(np.ceil((waveform.full_amplitude_end_ms() + 0.5) / dt_ms))
    lead_end = max(1, int(round(min(waveform.pulse_width_us * 1e-3, waveform.duration_ms()) / dt_ms)))
    ones = np.ones((batch.n_cells, 2))
    params = SearchSettings(start_filter_ms=filter_ms).kernel_parameters(0.01)
    x = _run(batch, kernel.PROBE, ones, params, waveform, settings, v_unit, n_steps=n_steps, stim_end=lead_end,
             cells=cells)[0].extremes
    return LinearResponse(x[kernel.DEPOL], x[kernel.HYPERPOL], x[kernel.LEAD_END], x[kernel.FILTERED_PEAK], filter_ms)


@dataclass
class ThresholdResult:
    """Per-cell thresholds (mA) and how they were found.

    ``threshold_ma``: the lowest amplitude of the search's lattice at which the spike reaches the primary
    detector, within ``rel_tol`` above the true threshold (inf where
    the cell is silent up to ``ceiling_ma``, NaN where the search ran out of simulations).
    ``block_ma``: the lowest amplitude above the threshold at which it is silent again, the upper edge
    of the first firing window (inf where the cell fires up to the ceiling, or the search skipped it).
    ``anode_break``: the decisive spike started where the leading phase hyperpolarized the membrane
    (excitation at the end of the pulse, or by its recharge phase).
    """

    threshold_ma: np.ndarray
    block_ma: np.ndarray
    start_ma: np.ndarray  # from the linear response; NaN where the run at the ceiling decided the cell
    ceiling_ma: np.ndarray
    n_simulations: np.ndarray
    steps: np.ndarray
    initiation_index: np.ndarray
    initiation_site: list[str]
    anode_break: np.ndarray
    cut_end: np.ndarray  # the decisive spike started near an end the model truncated (an artefact)
    exhausted: np.ndarray
    seconds: float
    rel_tol: float

    def fires(self, amplitude_ma) -> np.ndarray:
        """Whether each cell fires at ``amplitude_ma`` (inside its first firing window)."""
        a = np.asarray(amplitude_ma, dtype=float)
        return (a >= self.threshold_ma) & (a < self.block_ma)


def _per_cell(value, batch: CellBatch, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (batch.n_cells,)).copy()
    if np.any(~(arr > 0)):
        raise ValueError(f"{name} must be > 0 mA, got {np.min(arr)}")
    return arr


def find_thresholds(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, waveform: Waveform,
                    settings: SimulationSettings = SimulationSettings(), rel_tol: float = 0.01, max_ma=None,
                    search: SearchSettings = SearchSettings()) -> ThresholdResult:
    """Threshold amplitude of every cell for the primary detector, to relative tolerance ``rel_tol``,
    and the upper edge of its first firing window. Both are points of a fixed amplitude lattice (ratio
    1 / (1 - ``rel_tol``)): the lowest lattice point at which the cell fires (is silent again), so a cell's
    numbers do not depend on the ceiling, start or steps the search came from (a table searched to a lower
    ``max_ma`` agrees exactly below it).

    No bracket is needed: each cell's start comes from its linear response (``linear_response``) and
    lies far below any spike; the search steps up from there finely enough not to jump a firing
    window (block windows near the electrode, anode-break branches at high amplitude), then bisects.
    ``max_ma`` (one value or per cell) is the ceiling, typically the device's maximum: every cell is first
    run there, and one in which nothing spikes is silent without a search (``start_ma`` NaN).
    """
    if not 0 < rel_tol < 0.5:
        raise ValueError(f"rel_tol={rel_tol} outside (0, 0.5)")
    v_unit = _unit_potentials(batch, v_unit_mv_per_ma)
    params = search.kernel_parameters(rel_tol)
    out = np.zeros((batch.n_cells, 5))
    out[:, [kernel.THRESHOLD, kernel.BLOCK]] = np.inf
    out[:, kernel.STATUS] = kernel.SILENT
    todo, seconds = np.arange(batch.n_cells), 0.0
    if max_ma is not None:
        # The ceiling first: a cell in which no compartment spikes there is silent (the search's premise:
        # nothing below fires), decided in one run, without its linear response or a search.
        ceiling = _per_cell(max_ma, batch, "max_ma")
        screen, seconds = _run(batch, kernel.SCREEN, np.stack([ceiling, ceiling], axis=1), params, waveform, settings,
                               v_unit)
        out[:, [kernel.N_SIMS, kernel.STEPS]] = screen.cell_out[:, [kernel.N_SIMS, kernel.STEPS]]
        todo = np.flatnonzero(screen.cell_out[:, kernel.STATUS] != kernel.SILENT)
        params = params._replace(ceiling_run=True)
    response = linear_response(batch, v_unit, waveform, settings, search.start_filter_ms, cells=todo)
    active = np.concatenate([c.mechanism != Mechanism.PASSIVE for c in batch.cells])
    peak = np.array([np.max(response.filtered_peak[lo:hi][active[lo:hi]], initial=0.0)
                     for lo, hi in zip(batch.offsets[:-1], batch.offsets[1:])])
    with np.errstate(divide="ignore"):
        start = np.where(peak > 0, search.start_depolarization_mv / peak, np.inf)
    if max_ma is None:
        ceiling = search.ceiling_factor * start
    start = np.minimum(start, ceiling)
    first_cross = np.full(batch.n_compartments, -1.0)
    if len(todo):
        commit = commit_paths(batch, response, search.commit_field_mv, search.commit_nodes, cells=todo)
        found, t = _run(batch, kernel.SEARCH, np.stack([start, ceiling], axis=1), params, waveform, settings, v_unit,
                        commit=commit, cells=todo)
        res, first_cross = found.cell_out, found.first_cross
        res[todo, kernel.N_SIMS:kernel.STATUS] += out[todo, kernel.N_SIMS:kernel.STATUS]  # and the screen's run
        out[todo] = res[todo]
        seconds += t
    start[np.setdiff1d(np.arange(batch.n_cells), todo)] = np.nan  # decided by the run at the ceiling
    exhausted = out[:, kernel.STATUS] == kernel.EXHAUSTED
    thr = np.where(exhausted, np.nan, out[:, kernel.THRESHOLD])
    init = _initiation(batch, first_cross)
    sites = [batch.site_name(int(i)) for i in init]
    anode_break = np.array([i >= 0 and response.leading_phase_end[i] < 0 for i in init])
    zone = np.concatenate([c.near_cut_end for c in batch.cells])
    cut_end = np.array([i >= 0 and bool(zone[i]) for i in init])
    return ThresholdResult(thr, out[:, kernel.BLOCK], start, ceiling, out[:, kernel.N_SIMS].astype(np.int64),
                           out[:, kernel.STEPS].astype(np.int64), init, sites, anode_break, cut_end, exhausted,
                           seconds, rel_tol)


class CommitPaths(NamedTuple):
    """Per cell, the stretch from the primary detector inwards (towards the most excited compartment) up to
    the first branch point, for deciding a firing run early (``find_thresholds``): ``moved`` is the largest
    passive change (mV per mA, depolarization or hyperpolarization of the linear response) of the
    compartments from the detector up to each position, ``commit`` (one entry more) the compartment whose
    spike decides the run when the first ``p`` positions are quiet (-1: the detector itself)."""

    offsets: np.ndarray  # per cell into ``moved``; cell c's ``commit`` entries start at offsets[c] + c
    moved: np.ndarray
    commit: np.ndarray


def commit_paths(batch: CellBatch, response: LinearResponse, field_mv: float, nodes: int,
                 cells: np.ndarray | None = None) -> CommitPaths:
    """At amplitude A, the positions whose ``moved`` x A stays below ``field_mv`` form an unbranched cable
    that the stimulus leaves at rest: an action potential that has crossed ``nodes`` active compartments
    into it only travels on to the detector (nothing there can block or start one), so the run is decided
    there, without the conduction time to the detector (tens of ms for C fibres). ``field_mv`` 0: never.
    Only ``cells`` (default all) get a stretch; the others decide at their detector."""
    moved_all = np.maximum(response.depolarization, -response.hyperpolarization)
    wanted = np.ones(batch.n_cells, dtype=bool) if cells is None else np.isin(np.arange(batch.n_cells), cells)
    offsets, moved, commit = [0], [], []
    for c, cell in enumerate(batch.cells):
        lo = batch.offsets[c]
        active = cell.mechanism != Mechanism.PASSIVE
        path = []
        if field_mv > 0 and wanted[c] and active.any():
            degree = np.bincount(cell.parent[cell.parent >= 0], minlength=cell.n) + (cell.parent >= 0)
            target = int(np.flatnonzero(active)[np.argmax(response.filtered_peak[lo:lo + cell.n][active])])
            for i in cell.path_to(cell.detectors[cell.primary_detector], target):
                if degree[i] > 2:
                    break
                path.append(i)
        m = np.maximum.accumulate(moved_all[lo + np.array(path, dtype=np.int64)] / field_mv) if path else []
        passed, at = [], [-1]
        for i in path:  # at[p]: the commit compartment when the first p positions are quiet
            if active[i]:
                passed.append(i)
            at.append(passed[-1 - nodes] if len(passed) > nodes else -1)
        moved.extend(m)
        commit.extend(at)
        offsets.append(len(moved))
    return CommitPaths(np.array(offsets, dtype=np.int64), np.array(moved, dtype=float),
                       np.array(commit, dtype=np.int64))


def trace(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, amplitude_ma: float, waveform: Waveform,
          settings: SimulationSettings = SimulationSettings(), cell: int = 0, compartments=None,
          periaxonal: bool = False) -> tuple[np.ndarray, ...]:
    """Times (ms, end of each step) and membrane potentials (mV) of one cell's compartments; with ``periaxonal``
    also their periaxonal potentials Vp (mV; Ve where a compartment has no myelin layer), for the currents the
    cell sends into the extracellular space (``neurons.recording``)."""
    v_unit = _unit_potentials(batch, v_unit_mv_per_ma)
    grid = _time_grid(batch, waveform, settings)
    n = batch.cells[cell].n
    record = np.arange(n) if compartments is None else np.asarray(compartments, dtype=np.int64)
    out = np.empty((grid.n_steps, len(record)))
    out_vp = np.empty((grid.n_steps if periaxonal else 0, len(record)))
    kernel.trace_cell(batch.kernel_cells(grid.dt_ms, v_unit), grid, cell, float(amplitude_ma),
                      record.astype(np.int64), out, out_vp)
    t = (np.arange(grid.n_steps) + 1) * grid.dt_ms
    return (t, out, out_vp) if periaxonal else (t, out)


@dataclass(frozen=True)
class Injection:
    """Current pulses injected into one compartment of each cell (an intracellular electrode): the spikes that
    arrive from the periphery in a train run. ``compartment``: the local compartment per cell; ``onsets_ms``: the
    pulse onsets per cell. Sundt et al. 2015 (ModelDB 187473) drive their C-fibre neuron with 1 ms pulses of
    0.2 nA in the peripheral axon, the defaults here."""

    compartment: np.ndarray
    onsets_ms: list[np.ndarray]
    pulse_ms: float = 1.0
    amplitude_na: float = 0.2


@dataclass
class TrainResult:
    """Spike times (ms) per cell and detector of a train run, and its wall-clock seconds."""

    spike_times_ms: list[dict[str, np.ndarray]]
    seconds: float


def simulate_train(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, amplitudes_ma, waveform: Waveform,
                   duration_ms: float, injection: Injection | None = None,
                   settings: SimulationSettings = SimulationSettings(dt_us=25.0),
                   max_spikes: int = 100_000) -> TrainResult:
    """Every cell from rest for ``duration_ms``: the stimulus ``waveform`` (a train) at each cell's amplitude (mA)
    and, with ``injection``, current pulses inside each cell; spikes counted at every detector. The run never ends
    early (ongoing activity does not settle). The default step, 25 us, is Sundt et al.'s; a train of short pulses
    needs a step that resolves them (``transmission.FilterConfig`` asks for two steps per pulse)."""
    v_unit = _unit_potentials(batch, v_unit_mv_per_ma)
    amps = _amplitudes(batch, amplitudes_ma)
    dt_ms = settings.dt_us * 1e-3
    n_steps = int(round(duration_ms / dt_ms))
    grid = kernel.TimeGrid(dt_ms, n_steps, n_steps, settings.method == Method.CRANK_NICOLSON,
                           waveform.sample(dt_ms, n_steps))
    train = _train(batch, amps, injection, dt_ms)
    times = np.zeros((len(batch.detectors), max_spikes))
    counts = np.zeros(len(batch.detectors), dtype=np.int64)
    t0 = time.perf_counter()
    kernel.run_trains(batch.kernel_cells(dt_ms, v_unit), grid, batch.workers(), train, float(settings.ap_threshold_mv),
                      times, counts)
    seconds = time.perf_counter() - t0
    if np.any(counts > max_spikes):
        raise ValueError(f"max_spikes={max_spikes}: a detector counted {int(counts.max())} spikes; raise it")
    return TrainResult(_detector_times(batch, times, counts), seconds)


def _train(batch: CellBatch, amps: np.ndarray, injection: Injection | None, dt_ms: float) -> kernel.Train:
    if injection is None:
        return kernel.Train(amps, np.full(batch.n_cells, -1, dtype=np.int64), np.zeros(0, dtype=np.int64),
                            np.zeros(batch.n_cells + 1, dtype=np.int64), 0, 0.0)
    at = np.broadcast_to(np.asarray(injection.compartment, dtype=np.int64), (batch.n_cells,)).copy()
    for c, cell in enumerate(batch.cells):
        if not 0 <= at[c] < cell.n:
            raise ValueError(f"injection compartment {at[c]} of cell {c} outside 0..{cell.n - 1}")
    if len(injection.onsets_ms) != batch.n_cells:
        raise ValueError(f"injection onsets_ms: one array per cell ({batch.n_cells}), got {len(injection.onsets_ms)}")
    steps = [np.sort(np.round(np.asarray(o, dtype=float) / dt_ms).astype(np.int64)) for o in injection.onsets_ms]
    off = np.concatenate([[0], np.cumsum([len(s) for s in steps])]).astype(np.int64)
    flat = np.concatenate(steps) if off[-1] else np.zeros(0, dtype=np.int64)
    return kernel.Train(amps, at, flat, off, max(1, int(round(injection.pulse_ms / dt_ms))),
                        float(injection.amplitude_na))
