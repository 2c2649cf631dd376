"""Batched simulation and population threshold search.

Cells of any morphologies are packed into flat arrays (``CellBatch``), relaxed once to rest, then
run by the compiled kernel in parallel, one cell per task. Thresholds use bracket expansion and
bisection for every cell at once; runs stop early when the spike has arrived or the cell is back
at rest, and the field's linearity in current makes one unit potential serve every amplitude.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.neurons import kernel
from drgsim.neurons.morphology import Morphology
from drgsim.devices.waveform import Waveform


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


LANES = 4  # cells of one structure advanced together by the kernel


@dataclass
class CellBatch:
    """Morphologies packed for the kernel, with their resting states.

    Cells with identical tree structure form groups of up to ``LANES`` lanes; per-compartment
    arrays are stored in the kernel's lane layout (``perm`` maps it to the flat order: cell after
    cell, compartment after compartment, which is the order users see).
    """

    cells: list[Morphology]
    offsets: np.ndarray  # flat compartment offset of each cell
    perm: np.ndarray  # lane-layout index -> flat index
    arrays: dict[str, np.ndarray]  # lane layout
    groups: dict[str, np.ndarray]  # g_n, g_lanes, g_base, g_struct, g_cell
    structure: dict[str, np.ndarray]  # parent, kind, shorted per group (local indices)
    detectors: np.ndarray  # local compartment index of each detector, cell after cell
    det_offsets: np.ndarray
    primary: np.ndarray
    positions_mm: np.ndarray  # flat
    settle: tuple[float, float]

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def n_compartments(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def pack(cls, cells: list[Morphology], settle_ms: float = 200.0, settle_dt_ms: float = 5.0,
             lanes: int = LANES) -> CellBatch:
        if not cells:
            raise ValueError("a batch needs at least one cell")
        offsets = np.concatenate([[0], np.cumsum([c.n for c in cells])]).astype(np.int64)
        cat = lambda name: np.concatenate([getattr(c, name) for c in cells])  # noqa: E731
        L, d, ra = cat("length_um"), cat("diam_um"), cat("ra_ohm_cm")
        xr, xg, xc = cat("xraxial_mohm_per_cm"), cat("xg_s_per_cm2"), cat("xc_uf_per_cm2")
        parent = np.concatenate([np.where(c.parent >= 0, c.parent + o, -1) for c, o in zip(cells, offsets)])
        shorted = ~np.isfinite(xg)
        area_scale = np.pi * d * L * 1e-2  # um^2 -> cm^2 (1e-8), then mA -> nA and S -> uS (1e6)
        r_half = ra * (L / 2) / (np.pi * (d / 2) ** 2) * 1e-2  # Mohm
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
        flat = dict(params=cat("params"), c_m=cat("cm_uf_per_cm2") * area_scale * 1e-3,
                    c_my=xc * area_scale * 1e-3, g_my=np.where(shorted, 0.0, xg) * area_scale, ga=ga, gp=gp,
                    sum_ga=sum_ga, sum_gp=sum_gp, area_scale=area_scale, v_init=cat("v_init_mv"))
        # Group cells of identical structure, up to `lanes` per group.
        by_structure: dict[bytes, list[int]] = {}
        for k, c in enumerate(cells):
            key = c.parent.tobytes() + c.mechanism.tobytes() + c.shorted.tobytes()
            by_structure.setdefault(key, []).append(k)
        members = [ks[i:i + lanes] for ks in by_structure.values() for i in range(0, len(ks), lanes)]
        g_n, g_lanes, g_base, g_struct = [], [], [], []
        g_cell = np.full((len(members), lanes), -1, dtype=np.int64)
        perm = np.empty(int(offsets[-1]), dtype=np.int64)
        s_parent, s_kind, s_shorted = [], [], []
        base = struct = 0
        for g, ks in enumerate(members):
            n, nl = cells[ks[0]].n, len(ks)
            g_n.append(n), g_lanes.append(nl), g_base.append(base), g_struct.append(struct)
            g_cell[g, :nl] = ks
            perm[base:base + n * nl] = (offsets[ks][None, :] + np.arange(n)[:, None]).ravel()
            s_parent.append(cells[ks[0]].parent), s_kind.append(cells[ks[0]].mechanism)
            s_shorted.append(cells[ks[0]].shorted)
            base += n * nl
            struct += n
        arrays = {k: v[perm] for k, v in flat.items()}
        arrays["params"] = np.ascontiguousarray(arrays["params"].T)  # parameter-major: lanes contiguous
        groups = dict(g_n=np.array(g_n, dtype=np.int64), g_lanes=np.array(g_lanes, dtype=np.int64),
                      g_base=np.array(g_base, dtype=np.int64), g_struct=np.array(g_struct, dtype=np.int64),
                      g_cell=g_cell)
        structure = dict(parent=np.concatenate(s_parent).astype(np.int64),
                         kind=np.concatenate(s_kind).astype(np.int64), shorted=np.concatenate(s_shorted))
        det, det_off, primary = [], [0], []
        for c in cells:
            names = list(c.detectors)
            det.extend(c.detectors[k] for k in names)
            det_off.append(len(det))
            primary.append(names.index(c.primary_detector))
        batch = cls(cells, offsets, perm, arrays, groups, structure, np.array(det, dtype=np.int64),
                    np.array(det_off, dtype=np.int64), np.array(primary, dtype=np.int64), cat("position_mm"),
                    (settle_ms, settle_dt_ms))
        batch._relax(settle_ms, settle_dt_ms)
        return batch

    def kernel_arrays(self) -> tuple:
        """Group tables, structure and lane-layout coefficients in the kernel's argument order."""
        g, s, a = self.groups, self.structure, self.arrays
        return (g["g_n"], g["g_lanes"], g["g_base"], g["g_struct"], s["parent"], s["kind"], s["shorted"],
                a["params"], a["c_m"], a["c_my"], a["g_my"], a["ga"], a["gp"], a["sum_ga"], a["sum_gp"],
                a["area_scale"])

    def _relax(self, settle_ms: float, settle_dt_ms: float) -> None:
        """Resting state: gates at steady state at v_init, then unstimulated steps (as PyFibers does)."""
        n = self.n_compartments
        vm = self.arrays["v_init"].copy()
        vp = np.zeros(n)
        gates = np.zeros((4, n))
        kernel.relax(*self.kernel_arrays(), vm, vp, gates, settle_dt_ms, int(round(settle_ms / settle_dt_ms)))
        self.vm0, self.vp0, self.gates0 = vm, vp, gates

    def to_lanes(self, flat_values: np.ndarray) -> np.ndarray:
        return np.asarray(flat_values)[self.perm]

    def to_flat(self, lane_values: np.ndarray) -> np.ndarray:
        out = np.empty_like(lane_values)
        out[self.perm] = lane_values
        return out

    def region_of(self, global_index: int) -> tuple[int, str, int]:
        """(cell, region, ordinal of the compartment within its region) of a flat compartment index."""
        c = int(np.searchsorted(self.offsets, global_index, side="right") - 1)
        local = global_index - int(self.offsets[c])
        region = self.cells[c].region[local]
        ordinal = sum(1 for r in self.cells[c].region[:local] if r == region)
        return c, region, ordinal


def _time_grid(batch: CellBatch, waveform: Waveform, settings: SimulationSettings) -> tuple[float, int, np.ndarray, int]:
    dt_ms = settings.dt_us * 1e-3
    tstop = settings.tstop_ms
    if tstop is None:
        tstop = waveform.duration_ms() + max(c.propagation_ms for c in batch.cells)
    n_steps = int(round(tstop / dt_ms))
    w = waveform.sample(dt_ms, n_steps)
    # Early exit may start once the last full-amplitude phase is over: a passive recharge is small
    # (pw/tau of the amplitude), decays and has the opposite sign, so a cell back at rest stays there.
    stim_end = min(n_steps, int(np.ceil(waveform.full_amplitude_end_ms() / dt_ms - 1e-9)))
    return dt_ms, n_steps, w, stim_end


def _unit_potentials(batch: CellBatch, v_unit_mv_per_ma: np.ndarray) -> np.ndarray:
    v = np.asarray(v_unit_mv_per_ma, dtype=float)
    if v.shape != (batch.n_compartments,):
        raise ValueError(f"v_unit_mv_per_ma must have one value per compartment ({batch.n_compartments}), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("v_unit_mv_per_ma contains non-finite values")
    return v


def _run(batch: CellBatch, search: bool, lo, hi, rel_tol: float, max_sims: int, waveform: Waveform,
         settings: SimulationSettings, v_unit: np.ndarray, max_spikes: int, cap=None):
    dt_ms, n_steps, w, stim_end = _time_grid(batch, waveform, settings)
    rest_tol, rest_slope = _rest_criteria(settings)
    thr = np.empty(batch.n_cells)
    n_sims = np.zeros(batch.n_cells, dtype=np.int64)
    steps = np.zeros(batch.n_cells, dtype=np.int64)
    first_cross = np.full(batch.n_compartments, -1.0)
    spike_times = np.zeros((len(batch.detectors), max_spikes))
    spike_counts = np.zeros(len(batch.detectors), dtype=np.int64)
    g = batch.groups
    t0 = time.perf_counter()
    cap = np.full(batch.n_cells, np.inf) if cap is None else cap
    kernel.run_groups(search, lo, hi, cap, rel_tol, max_sims, dt_ms, settings.method == Method.CRANK_NICOLSON, n_steps,
                      stim_end, w, g["g_n"], g["g_lanes"], g["g_base"], g["g_struct"], g["g_cell"],
                      *batch.kernel_arrays()[4:], batch.vm0, batch.vp0, batch.gates0, batch.to_lanes(v_unit),
                      settings.ap_threshold_mv, batch.detectors, batch.det_offsets, batch.primary, rest_tol,
                      rest_slope, max_spikes, thr, n_sims, steps, first_cross, spike_times, spike_counts)
    seconds = time.perf_counter() - t0
    return thr, n_sims, steps, batch.to_flat(first_cross), spike_times, spike_counts, seconds


def _rest_criteria(settings: SimulationSettings) -> tuple[float, float]:
    if settings.early_exit:
        return settings.rest_tol_mv, settings.rest_slope_mv_per_ms
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

    def reached(self, detector: str) -> np.ndarray:
        return np.array([len(s.get(detector, ())) > 0 for s in self.spike_times_ms])


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
    amps = np.broadcast_to(np.asarray(amplitudes_ma, dtype=float), (batch.n_cells,)).copy()
    if np.any(amps < 0) or not np.all(np.isfinite(amps)):
        raise ValueError("amplitudes_ma must be finite and >= 0 (the waveform carries the polarity)")
    _, _, steps, first_cross, spike_times, spike_counts, seconds = _run(
        batch, False, amps, amps, 0.5, 1, waveform, settings, v_unit, max_spikes)
    times = []
    for c, cell in enumerate(batch.cells):
        j0 = batch.det_offsets[c]
        times.append({name: spike_times[j0 + k, :min(spike_counts[j0 + k], max_spikes)].copy()
                      for k, name in enumerate(cell.detectors)})
    fired = np.array([len(t[cell.primary_detector]) > 0 for t, cell in zip(times, batch.cells)])
    fc = np.where(first_cross >= 0, first_cross, np.nan)
    return SimulationResult(fired, times, fc, _initiation(batch, first_cross), steps, seconds)


@dataclass
class ThresholdResult:
    """Per-cell threshold magnitudes (mA) and how they were found."""

    threshold_ma: np.ndarray  # NaN where the cell did not fire within the search
    n_simulations: np.ndarray
    steps: np.ndarray
    initiation_index: np.ndarray
    initiation_site: list[str]
    seconds: float
    rel_tol: float


def find_thresholds(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, waveform: Waveform,
                    settings: SimulationSettings = SimulationSettings(), rel_tol: float = 0.01,
                    lo_ma=None, hi_ma=1.0, max_simulations: int = 60, max_ma=None) -> ThresholdResult:
    """Threshold amplitude of every cell for the primary detector, to relative tolerance ``rel_tol``.

    The search starts from [lo_ma, hi_ma] (lo defaults to hi/2, either may be per cell), doubles hi
    until a spike arrives, halves lo until none does, then bisects. With ``max_ma`` (per cell or one
    value) hi never passes it: a cell silent at ``max_ma`` gets NaN after one run there, which
    keeps searches cheap for cells far above any amplitude of interest.
    """
    if not 0 < rel_tol < 0.5:
        raise ValueError(f"rel_tol={rel_tol} outside (0, 0.5)")
    v_unit = _unit_potentials(batch, v_unit_mv_per_ma)
    hi = np.broadcast_to(np.asarray(hi_ma, dtype=float), (batch.n_cells,)).copy()
    lo = hi / 2 if lo_ma is None else np.broadcast_to(np.asarray(lo_ma, dtype=float), (batch.n_cells,)).copy()
    cap = None
    if max_ma is not None:
        cap = np.broadcast_to(np.asarray(max_ma, dtype=float), (batch.n_cells,)).copy()
        if np.any(~(cap > 0)):
            raise ValueError(f"max_ma must be > 0 mA, got {np.min(cap)}")
        hi = np.minimum(hi, cap)
        lo = np.minimum(lo, hi / 2)
    if np.any(lo <= 0) or np.any(hi <= lo):
        raise ValueError("the initial bracket needs 0 < lo_ma < hi_ma")
    thr, n_sims, steps, first_cross, _, _, seconds = _run(batch, True, lo, hi, rel_tol, max_simulations, waveform,
                                                          settings, v_unit, 1, cap)
    init = _initiation(batch, first_cross)
    sites = []
    for idx in init:
        if idx < 0:
            sites.append("none")
        else:
            _, region, ordinal = batch.region_of(int(idx))
            sites.append(f"{region} {ordinal}")
    return ThresholdResult(thr, n_sims, steps, init, sites, seconds, rel_tol)


def trace(batch: CellBatch, v_unit_mv_per_ma: np.ndarray, amplitude_ma: float, waveform: Waveform,
          settings: SimulationSettings = SimulationSettings(), cell: int = 0,
          compartments=None) -> tuple[np.ndarray, np.ndarray]:
    """Times (ms, end of each step) and membrane potentials (mV) of one cell's compartments."""
    v_unit = _unit_potentials(batch, v_unit_mv_per_ma)
    dt_ms, n_steps, w, _ = _time_grid(batch, waveform, settings)
    gi, lane = (int(x[0]) for x in np.nonzero(batch.groups["g_cell"] == cell))
    g = {k: int(v[gi]) for k, v in batch.groups.items() if k != "g_cell"}
    n, s0 = g["g_n"], g["g_struct"]
    record = np.arange(n) if compartments is None else np.asarray(compartments, dtype=np.int64)
    out = np.empty((n_steps, len(record)))
    st, a = batch.structure, batch.arrays
    kernel.trace_lane(n, g["g_lanes"], g["g_base"], lane, float(amplitude_ma), dt_ms,
                      settings.method == Method.CRANK_NICOLSON, n_steps, w, st["parent"][s0:s0 + n],
                      st["kind"][s0:s0 + n], st["shorted"][s0:s0 + n], a["params"], a["c_m"], a["c_my"], a["g_my"],
                      a["ga"], a["gp"], a["sum_ga"], a["sum_gp"], a["area_scale"], batch.vm0, batch.vp0,
                      batch.gates0, batch.to_lanes(v_unit), record.astype(np.int64), out)
    return (np.arange(n_steps) + 1) * dt_ms, out
