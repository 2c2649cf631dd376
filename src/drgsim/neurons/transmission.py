"""Transmission of peripheral spikes through a DRG neuron's T-junction, with and without stimulation trains.

Ongoing activity: spikes arrive from the periphery (a rate per cell, regular or Poisson: the patient's pain
state), each a 1 ms current pulse injected into the peripheral axon ``inject_mm`` from the T-junction, as Sundt
et al. 2015 (J Neurophysiol 114:3140; ModelDB 187473) drive their C-fibre neuron. They must cross the T-junction
to reach the central detector (the cord). Stimulation: a point source beside the T-junction delivers the
device's pulse train at ``amplitude_ratio`` x the cell's single-pulse threshold.

Three runs of the same cell share one kernel call: ongoing activity alone, stimulation alone, and both. Per 1 s
bin, the transmitted fraction without stimulation is central spikes / peripheral spikes; with stimulation it is
(central spikes with both - central spikes with stimulation alone) / peripheral spikes: what the periphery adds
at the cord under stimulation (1 when every peripheral spike gets through and the stimulation's own spikes are
unchanged; below 1 when spikes fail at the T or collide with the stimulation's antidromic spikes).

``following_hz``: the highest frequency at which the cell conducts every spike of a 21-pulse peripheral train
to the cord without stimulation (Sundt et al. 2015's measure: 110 Hz with Na + Kdr, 30 Hz with KCNQ, 6 Hz with
a slow Ca-activated K current).
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgsim import __version__
from drgsim.devices.waveform import Shape, Waveform
from drgsim.neurons import models
from drgsim.neurons.morphology import Morphology
from drgsim.neurons.solver import CellBatch, Injection, SimulationSettings, find_thresholds, simulate_train
from drgsim.neurons.stimulus import point_source_potentials

REFLECTION_MS = 10.0  # a spike at the cord this soon after the previous one is a reflection at the T
FOLLOWING_PULSES = 21  # Sundt et al. 2015's train (ModelDB 187473: NPULSES = 21)
FOLLOWING_GRID_HZ = tuple(float(f) for f in np.round(np.geomspace(1.0, 400.0, 55), 1))  # steps of 12%
DRG_NEURONS = ("drg_c", "drg_adelta", "drg_abeta")


class FilterConfig(BaseModel):
    """What ``drgsim filter`` simulates: one DRG neuron, ongoing peripheral spikes and a stimulation train."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cell: str = "drg_c"
    frequency_hz: float = Field(20.0, ge=1.0, le=1000.0, description="stimulation frequency")
    duration_s: float = Field(30.0, gt=0.0, le=600.0)
    amplitude_ratio: float = Field(1.2, ge=0.0, le=100.0, description="stimulation amplitude / the cell's "
                                   "single-pulse threshold")
    distance_mm: float = Field(1.0, gt=0.0, le=50.0, description="point source to T-junction")
    resistivity_ohm_cm: float = Field(500.0, gt=1.0, le=100_000.0)
    pulse_width_us: float = Field(200.0, gt=0.0, le=1000.0)
    shape: Shape = Shape.ASYMMETRIC
    ongoing_hz: float = Field(5.0, gt=0.0, le=200.0, description="rate of spikes arriving from the periphery")
    pattern: Literal["regular", "poisson"] = "regular"
    seed: int = Field(0, ge=0)
    inject_mm: float = Field(4.1, gt=0.2, le=20.0, description="where peripheral spikes start, from the T")
    dt_us: float = Field(25.0, gt=0.0, le=100.0)
    temperature_c: float = Field(37.0, ge=20.0, le=42.0)

    @model_validator(mode="after")
    def _ranges(self):
        if self.cell not in DRG_NEURONS:
            raise ValueError(f"cell={self.cell!r}: allowed {', '.join(DRG_NEURONS)} (a neuron with a T-junction)")
        if self.pulse_width_us * 1e-3 < 2 * self.dt_us * 1e-3:
            raise ValueError(f"dt_us={self.dt_us} must resolve the pulse: at most pulse_width_us / 2 "
                             f"({self.pulse_width_us / 2:g} us)")
        return self

    def waveform(self, n_pulses: int) -> Waveform:
        return Waveform(shape=self.shape, pulse_width_us=self.pulse_width_us, frequency_hz=self.frequency_hz,
                        n_pulses=max(1, n_pulses))


class Bin(BaseModel):
    t_s: float
    fraction: float | None = Field(description="None where no peripheral spike arrived in the bin")


class TransmissionReport(BaseModel):
    """Transmission per 1 s bin with and without stimulation, the following frequency, the stimulation's
    amplitude, and the run's cost (kernel seconds per simulated second per cell)."""

    transmission: list[Bin]
    transmission_without_stimulation: list[Bin]
    fraction_with: float
    fraction_without: float
    following_hz: float
    threshold_ma: float
    amplitude_ma: float
    peripheral_spikes: int
    stimulation_spikes_at_cord: int
    seconds: float
    seconds_per_simulated_s_per_cell: float
    config: FilterConfig
    drgsim_version: str = __version__


def _cell(cfg: FilterConfig) -> tuple[Morphology, int, np.ndarray]:
    """The neuron, its compartment where peripheral spikes start, and its 1 mA point-source potentials."""
    spec = models.get(cfg.cell)
    cell = spec.build(temperature_c=cfg.temperature_c)
    inject = peripheral_compartment(cell, cfg.inject_mm)
    source = cell.position_mm[spec.centre(cell)] + cfg.distance_mm * np.asarray(spec.source_direction)
    return cell, inject, point_source_potentials(cell.position_mm, source, cfg.resistivity_ohm_cm)


def peripheral_compartment(cell: Morphology, distance_mm: float) -> int:
    """The compartment of the peripheral axon nearest ``distance_mm`` (straight line) from the T-junction where a
    spike can start: a node of Ranvier on a myelinated axon (current into an internode, under the myelin, starts
    nothing), the axon itself on an unmyelinated one."""
    t = cell.position_mm[cell.detectors["t_junction"]]
    nodes = [i for i, r in enumerate(cell.region) if r == "peripheral_node"]
    per = nodes or [i for i, r in enumerate(cell.region) if r.startswith("peripheral") and not r.endswith("end")]
    return per[int(np.argmin([abs(np.linalg.norm(cell.position_mm[i] - t) - distance_mm) for i in per]))]


def peripheral_onsets_ms(rate_hz: float, duration_ms: float, pattern: str = "regular", seed: int = 0) -> np.ndarray:
    """Arrival times of the ongoing peripheral spikes, from 10 ms to 50 ms before the end: regular, or Poisson
    (seeded; at least 2 ms apart, the pulse and its refractory period)."""
    if pattern == "regular":
        return np.arange(10.0, duration_ms - 50.0, 1e3 / rate_hz)
    rng = np.random.default_rng(seed)
    gaps = 2.0 + rng.exponential(1e3 / rate_hz, size=int(3 * rate_hz * duration_ms / 1e3) + 20)
    t = 10.0 + np.cumsum(gaps)
    return t[t < duration_ms - 50.0]


def _bins(central: np.ndarray, onsets_ms: np.ndarray, n_bins: int) -> list[Bin]:
    """Per 1 s bin of peripheral arrival: spikes at the cord (``_per_bin``) over the peripheral spikes."""
    out = []
    for b in range(n_bins):
        n_p = int(np.sum((onsets_ms >= 1e3 * b) & (onsets_ms < 1e3 * (b + 1))))
        out.append(Bin(t_s=float(b), fraction=None if n_p == 0 else float(central[b] / n_p)))
    return out


def _per_bin(times_ms: np.ndarray, latency_ms: float, n_bins: int) -> np.ndarray:
    """Distinct spikes at the cord (``REFLECTION_MS``) per 1 s bin of their peripheral arrival (arrival = cord
    time - latency)."""
    idx = np.floor((distinct_spikes(times_ms, REFLECTION_MS) - latency_ms) / 1e3).astype(int)
    return np.bincount(np.clip(idx, 0, n_bins - 1), minlength=n_bins).astype(float)


def distinct_spikes(times_ms: np.ndarray, gap_ms: float) -> np.ndarray:
    """The spikes at least ``gap_ms`` after the previous one kept: a spike closer than that is a reflection at the
    T-junction (Sundt et al. 2015, Figure 5d), not a second spike from the periphery."""
    t = np.asarray(times_ms, dtype=float)
    if len(t) == 0:
        return t
    keep = [0]
    for i in range(1, len(t)):
        if t[i] - t[keep[-1]] >= gap_ms:
            keep.append(i)
    return t[keep]


def conducted(onsets_ms: np.ndarray, central_ms: np.ndarray) -> int:
    """Spikes of a peripheral train that reached the cord: the distinct central spikes (closer than half the
    train's shortest interval counts as a reflection), at most one per peripheral spike."""
    gap = 0.5 * float(np.min(np.diff(onsets_ms))) if len(onsets_ms) > 1 else 0.0
    return min(len(distinct_spikes(central_ms, gap)), len(onsets_ms))


def following_train_ms(frequency_hz: float) -> np.ndarray:
    """Onsets (ms) of the peripheral train that measures following: ``FOLLOWING_PULSES`` spikes from 10 ms."""
    return 10.0 + 1e3 / frequency_hz * np.arange(FOLLOWING_PULSES)


def peripheral_drive_na(cell: Morphology, inject: int, settings: SimulationSettings) -> float:
    """The current (nA, 1 ms pulses) that makes each peripheral spike: Sundt et al.'s 0.2 nA where one such pulse
    starts a spike that reaches the cord (their C-fibre neuron's protocol, kept so that drgsim's trains match
    their model); otherwise twice the first doubling of it that does (a node of a myelinated axon needs more:
    0.5 nA for drg_abeta), a margin of 1-2x over the pulse's threshold."""
    batch = CellBatch.pack([cell])
    for k in range(8):
        na = Injection.amplitude_na * 2 ** k
        r = simulate_train(batch, np.zeros(cell.n), 0.0, Waveform(), 60.0,
                           Injection(np.array([inject]), [np.array([10.0])], amplitude_na=na), settings)
        if len(r.spike_times_ms[0]["central"]):
            return na if k == 0 else 2 * na
    raise ValueError(f"no 1 ms pulse up to {na:g} nA into compartment {inject} ({cell.region[inject]}) starts a "
                     f"spike that reaches the cord")


def following_hz(cell: Morphology, inject: int, settings: SimulationSettings,
                 grid_hz: tuple[float, ...] = FOLLOWING_GRID_HZ) -> float:
    """The highest grid frequency at which all ``FOLLOWING_PULSES`` spikes of a peripheral train reach the cord
    (bisection on the grid: conduction fails from some frequency on)."""
    batch = CellBatch.pack([cell])
    drive_na = peripheral_drive_na(cell, inject, settings)

    def follows(f: float) -> bool:
        onsets = following_train_ms(f)
        r = simulate_train(batch, np.zeros(cell.n), 0.0, Waveform(), onsets[-1] + 100.0,
                           Injection(np.array([inject]), [onsets], amplitude_na=drive_na), settings)
        return conducted(onsets, r.spike_times_ms[0]["central"]) == FOLLOWING_PULSES

    # Bracket from the middle of the grid (trains at low frequencies are long: test them only when needed), then
    # bisect.
    lo, hi = None, None
    k = len(grid_hz) * 3 // 5
    while lo is None or hi is None:
        if follows(grid_hz[k]):
            lo = k
            if k == len(grid_hz) - 1:
                return grid_hz[k]
            k = min(k + 4, len(grid_hz) - 1) if hi is None else k
        else:
            hi = k
            if k == 0:
                return 0.0
            k = max(k - 4, 0) if lo is None else k
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if follows(grid_hz[mid]) else (lo, mid)
    return grid_hz[lo]


class SweepPoint(BaseModel):
    """Transmission over a whole run at one stimulation frequency."""

    frequency_hz: float
    fraction_with: float
    fraction_without: float
    stimulation_spikes_at_cord: int


def _threshold_ma(cfg: FilterConfig, cell: Morphology, v: np.ndarray) -> float:
    single = Waveform(shape=cfg.shape, pulse_width_us=cfg.pulse_width_us)
    thr = float(find_thresholds(CellBatch.pack([cell]), v, single, SimulationSettings(), max_ma=1e3).threshold_ma[0])
    if not np.isfinite(thr):
        raise ValueError(f"{cfg.cell} does not fire at {cfg.distance_mm} mm up to 1000 mA: no threshold to scale "
                         f"amplitude_ratio by; move the source closer")
    return thr


def _three_runs(cfg: FilterConfig, cell: Morphology, inject: int, v: np.ndarray, amp: float,
                drive_na: float) -> tuple[np.ndarray, CellTransmission]:
    """The peripheral arrivals, and the cell's ``cells_transmission`` for ``cfg`` at ``amp`` mA, each peripheral
    spike a 1 ms pulse of ``drive_na`` (``peripheral_drive_na``)."""
    duration_ms = cfg.duration_s * 1e3
    onsets = peripheral_onsets_ms(cfg.ongoing_hz, duration_ms, cfg.pattern, cfg.seed)
    wf = cfg.waveform(int(np.floor(duration_ms * cfg.frequency_hz / 1e3)))
    return onsets, cells_transmission([cell], [v], np.array([amp]), wf, duration_ms, onsets, np.array([inject]),
                                      SimulationSettings(dt_us=cfg.dt_us), drive_na)[0]


class CellTransmission(BaseModel):
    """One cell's spikes at the cord per 1 s bin of peripheral arrival: added by the periphery under stimulation,
    and without stimulation; the stimulation's own spikes at the cord; the kernel's seconds for the batch."""

    added: list[float]
    without: list[float]
    stimulation_spikes: int
    kernel_seconds: float

    def fractions(self, n_peripheral: int) -> tuple[float, float]:
        """(with, without) stimulation over the whole run."""
        n = max(n_peripheral, 1)
        return sum(self.added) / n, sum(self.without) / n


def cells_transmission(cells: list[Morphology], potentials: list[np.ndarray], amplitudes_ma: np.ndarray,
                       waveform: Waveform, duration_ms: float, onsets_ms: np.ndarray, inject: np.ndarray,
                       settings: SimulationSettings,
                       drive_na: float = Injection.amplitude_na) -> list[CellTransmission]:
    """Each cell (its unit potentials, amplitude and injection compartment) in three runs of one kernel call:
    the same peripheral spikes alone, the stimulation alone and both, each peripheral spike a 1 ms pulse of
    ``drive_na`` (default Sundt's 0.2 nA, for C neurons; ``peripheral_drive_na`` for others)."""
    n = len(cells)
    batch = CellBatch.pack([c for c in cells for _ in range(3)])
    v = np.concatenate([p for p in potentials for _ in range(3)])
    amps = np.repeat(np.asarray(amplitudes_ma, dtype=float), 3) * np.tile([0.0, 1.0, 1.0], n)
    none = np.zeros(0)
    res = simulate_train(batch, v, amps, waveform, duration_ms,
                         Injection(np.repeat(np.asarray(inject), 3), [x for _ in range(n) for x in (onsets_ms, none,
                                                                                                   onsets_ms)],
                                   amplitude_na=drive_na), settings)
    n_bins = int(np.ceil(duration_ms / 1e3))
    out = []
    for c in range(n):
        alone, stim, both = (res.spike_times_ms[3 * c + k]["central"] for k in range(3))
        latency = float(alone[0] - onsets_ms[0]) if len(alone) and len(onsets_ms) else 0.0
        added = _per_bin(both, latency, n_bins) - _per_bin(stim, latency, n_bins)
        out.append(CellTransmission(added=list(added), without=list(_per_bin(alone, latency, n_bins)),
                                    stimulation_spikes=len(stim), kernel_seconds=res.seconds))
    return out


def run(cfg: FilterConfig) -> TransmissionReport:
    """Ongoing activity alone, stimulation alone and both, for ``cfg.duration_s``; then the following frequency."""
    t0 = time.perf_counter()
    cell, inject, v = _cell(cfg)
    thr = _threshold_ma(cfg, cell, v)
    drive_na = peripheral_drive_na(cell, inject, SimulationSettings(dt_us=cfg.dt_us))
    onsets, r = _three_runs(cfg, cell, inject, v, cfg.amplitude_ratio * thr, drive_na)
    n_bins = len(r.added)
    with_, without = r.fractions(len(onsets))
    return TransmissionReport(
        transmission=_bins(np.array(r.added), onsets, n_bins),
        transmission_without_stimulation=_bins(np.array(r.without), onsets, n_bins),
        fraction_with=float(with_), fraction_without=float(without),
        following_hz=following_hz(cell, inject, SimulationSettings(dt_us=cfg.dt_us)), threshold_ma=thr,
        amplitude_ma=cfg.amplitude_ratio * thr, peripheral_spikes=len(onsets),
        stimulation_spikes_at_cord=r.stimulation_spikes, seconds=time.perf_counter() - t0,
        seconds_per_simulated_s_per_cell=r.kernel_seconds / (3 * cfg.duration_s), config=cfg)


def frequency_sweep(cfg: FilterConfig, frequencies_hz) -> list[SweepPoint]:
    """Transmission over ``cfg.duration_s`` at each stimulation frequency (the rest of ``cfg`` kept)."""
    cell, inject, v = _cell(cfg)
    amp = cfg.amplitude_ratio * _threshold_ma(cfg, cell, v)
    drive_na = peripheral_drive_na(cell, inject, SimulationSettings(dt_us=cfg.dt_us))  # once for every frequency
    out = []
    for f in frequencies_hz:
        c = FilterConfig.model_validate({**cfg.model_dump(), "frequency_hz": float(f)})
        onsets, r = _three_runs(c, cell, inject, v, amp, drive_na)
        with_, without = r.fractions(len(onsets))
        out.append(SweepPoint(frequency_hz=float(f), fraction_with=with_, fraction_without=without,
                              stimulation_spikes_at_cord=r.stimulation_spikes))
    return out


def sweep_figure(points: list[SweepPoint], cfg: FilterConfig, path) -> None:
    """Transmitted fraction against stimulation frequency, with and without stimulation (PNG or SVG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    f = [p.frequency_hz for p in points]
    ax.plot(f, [p.fraction_without for p in points], "o--", color="0.5", label="without stimulation")
    ax.plot(f, [p.fraction_with for p in points], "o-", color="C3", label=f"{cfg.amplitude_ratio:g} x threshold")
    ax.set_xscale("log")
    ax.set_xlabel("stimulation frequency (Hz)")
    ax.set_ylabel("peripheral spikes reaching the cord")
    ax.set_ylim(-0.05, 1.1)
    ax.set_title(f"{cfg.cell}: {cfg.ongoing_hz:g} Hz ongoing, {cfg.duration_s:g} s, {cfg.distance_mm:g} mm", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
