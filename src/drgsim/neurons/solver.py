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
from drgsim.neurons.stimulus import Waveform


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
    rest_tol_mv: float = Field(0.5, gt=0, le=20)
    rest_slope_mv_per_ms: float = Field(0.5, gt=0, le=100)


@dataclass
class CellBatch:
    """Morphologies packed into flat compartment arrays, with their resting states."""

    cells: list[Morphology]
    offsets: np.ndarray
    arrays: dict[str, np.ndarray]
    detectors: np.ndarray
    det_offsets: np.ndarray
    primary: np.ndarray
    settle: tuple[float, float]

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def n_compartments(self) -> int:
        return int(self.offsets[-1])

    @property
    def positions_mm(self) -> np.ndarray:
        return self.arrays["position_mm"]

    @classmethod
    def pack(cls, cells: list[Morphology], settle_ms: float = 200.0, settle_dt_ms: float = 5.0) -> CellBatch:
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
        arrays = dict(
            parent=parent.astype(np.int64), kind=cat("mechanism").astype(np.int64), params=cat("params"),
            c_m=cat("cm_uf_per_cm2") * area_scale * 1e-3, c_my=xc * area_scale * 1e-3,
            g_my=np.where(shorted, 0.0, xg) * area_scale, shorted=shorted, ga=ga, gp=gp, sum_ga=sum_ga,
            sum_gp=sum_gp, area_scale=area_scale, position_mm=cat("position_mm"),
        )
        det, det_off, primary = [], [0], []
        for c, o in zip(cells, offsets):
            names = list(c.detectors)
            det.extend(o + c.detectors[k] for k in names)
            det_off.append(len(det))
            primary.append(names.index(c.primary_detector))
        batch = cls(cells, offsets, arrays, np.array(det, dtype=np.int64), np.array(det_off, dtype=np.int64),
                    np.array(primary, dtype=np.int64), (settle_ms, settle_dt_ms))
        batch._relax(cat("v_init_mv"), settle_ms, settle_dt_ms)
        return batch

    def _relax(self, v_init: np.ndarray, settle_ms: float, settle_dt_ms: float) -> None:
        """Resting state: gates at steady state at v_init, then unstimulated steps (as PyFibers does)."""
        a = self.arrays
        n = self.n_compartments
        vm = v_init.astype(float).copy()
        vp = np.zeros(n)
        gates = np.zeros((n, 4))
        work = [np.empty((n, 4)), np.empty((n, 2)), np.empty((n, 4)), np.empty((n, 2)), np.empty(n), np.empty(n)]
        n_steps = int(round(settle_ms / settle_dt_ms))
        for c in range(self.n_cells):
            lo, hi = int(self.offsets[c]), int(self.offsets[c + 1])
            kernel.init_gates(lo, hi, a["kind"], a["params"], vm, gates)
            kernel.settle(lo, hi, settle_dt_ms, n_steps, a["parent"], a["kind"], a["params"], a["c_m"], a["c_my"],
                          a["g_my"], a["shorted"], a["ga"], a["gp"], a["sum_ga"], a["sum_gp"], a["area_scale"], vm,
                          vp, gates, *work)
        self.vm0, self.vp0, self.gates0 = vm, vp, gates

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
    nz = np.flatnonzero(w)
    stim_end = int(nz[-1]) + 1 if nz.size else 0
    return dt_ms, n_steps, w, stim_end


def _unit_potentials(batch: CellBatch, v_unit_mv_per_ma: np.ndarray) -> np.ndarray:
    v = np.asarray(v_unit_mv_per_ma, dtype=float)
    if v.shape != (batch.n_compartments,):
        raise ValueError(f"v_unit_mv_per_ma must have one value per compartment ({batch.n_compartments}), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("v_unit_mv_per_ma contains non-finite values")
    return v


def _kernel_args(batch: CellBatch, settings: SimulationSettings, v_unit: np.ndarray) -> tuple:
    a = batch.arrays
    return (a["parent"], a["kind"], a["params"], a["c_m"], a["c_my"], a["g_my"], a["shorted"], a["ga"], a["gp"],
            a["sum_ga"], a["sum_gp"], a["area_scale"], batch.vm0, batch.vp0, batch.gates0, v_unit,
            settings.ap_threshold_mv, batch.detectors, batch.det_offsets, batch.primary)


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
    dt_ms, n_steps, w, stim_end = _time_grid(batch, waveform, settings)
    ntot, ndet = batch.n_compartments, len(batch.detectors)
    first_cross = np.empty(ntot)
    spike_times = np.zeros((ndet, max_spikes))
    spike_counts = np.zeros(ndet, dtype=np.int64)
    steps = np.zeros(batch.n_cells, dtype=np.int64)
    rest_tol, rest_slope = _rest_criteria(settings)
    t0 = time.perf_counter()
    kernel.simulate_batch(amps, dt_ms, settings.method == Method.CRANK_NICOLSON, n_steps, stim_end, w,
                          batch.offsets, *_kernel_args(batch, settings, v_unit), False, rest_tol, rest_slope,
                          max_spikes, first_cross, spike_times, spike_counts, steps)
    seconds = time.perf_counter() - t0
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
                    lo_ma=None, hi_ma=1.0, max_simulations: int = 60) -> ThresholdResult:
    """Threshold amplitude of every cell for the primary detector, to relative tolerance ``rel_tol``.

    The search starts from [lo_ma, hi_ma] (lo defaults to hi/2, either may be per cell), doubles hi
    until a spike arrives, halves lo until none does, then bisects.
    """
    if not 0 < rel_tol < 0.5:
        raise ValueError(f"rel_tol={rel_tol} outside (0, 0.5)")
    v_unit = _unit_potentials(batch, v_unit_mv_per_ma)
    hi = np.broadcast_to(np.asarray(hi_ma, dtype=float), (batch.n_cells,)).copy()
    lo = hi / 2 if lo_ma is None else np.broadcast_to(np.asarray(lo_ma, dtype=float), (batch.n_cells,)).copy()
    if np.any(lo <= 0) or np.any(hi <= lo):
        raise ValueError("the initial bracket needs 0 < lo_ma < hi_ma")
    dt_ms, n_steps, w, stim_end = _time_grid(batch, waveform, settings)
    ntot = batch.n_compartments
    thr = np.empty(batch.n_cells)
    n_sims = np.zeros(batch.n_cells, dtype=np.int64)
    steps = np.zeros(batch.n_cells, dtype=np.int64)
    first_cross = np.full(ntot, -1.0)
    rest_tol, rest_slope = _rest_criteria(settings)
    t0 = time.perf_counter()
    kernel.threshold_batch(lo, hi, rel_tol, max_simulations, dt_ms, settings.method == Method.CRANK_NICOLSON,
                           n_steps, stim_end, w, batch.offsets, *_kernel_args(batch, settings, v_unit), rest_tol,
                           rest_slope, thr, n_sims, steps, first_cross)
    seconds = time.perf_counter() - t0
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
    lo, hi = int(batch.offsets[cell]), int(batch.offsets[cell + 1])
    record = np.arange(hi - lo) if compartments is None else np.asarray(compartments, dtype=np.int64)
    out = np.empty((n_steps, len(record)))
    a = batch.arrays
    kernel.trace_cell(cell, float(amplitude_ma), dt_ms, settings.method == Method.CRANK_NICOLSON, n_steps, w,
                      batch.offsets, a["parent"], a["kind"], a["params"], a["c_m"], a["c_my"], a["g_my"],
                      a["shorted"], a["ga"], a["gp"], a["sum_ga"], a["sum_gp"], a["area_scale"], batch.vm0,
                      batch.vp0, batch.gates0, v_unit, record.astype(np.int64), out)
    return (np.arange(n_steps) + 1) * dt_ms, out
