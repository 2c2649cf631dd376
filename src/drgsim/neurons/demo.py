"""The demo until the therapy pipeline lands: DRG neuron recruitment by a point electrode.

Neurons of three types sit with their T-junctions scattered (seeded) through an ellipsoidal
ganglion; their axons run along the nerve (z) and their stems point in random directions. A
point electrode in a homogeneous medium stands beside the ganglion. The output is the threshold
of every cell, where its spike started, and the share of each type recruited at clinical
amplitudes.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from drgsim import __version__
from drgsim.neurons.models import drg_abeta, drg_adelta, drg_c
from drgsim.neurons.models.drg import Paths
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds
from drgsim.devices.waveform import Waveform
from drgsim.neurons.stimulus import point_source_potentials

BUILDERS = {"drg_abeta": drg_abeta.build, "drg_adelta": drg_adelta.build, "drg_c": drg_c.build}


class DemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_cells: int = Field(12, ge=1, le=1000)
    seed: int = Field(1, ge=0)
    ganglion_length_mm: float = Field(6.0, gt=0, le=20)
    ganglion_radius_mm: float = Field(2.0, gt=0, le=10)
    electrode_gap_mm: float = Field(0.5, ge=0.05, le=20, description="electrode to ganglion surface")
    resistivity_ohm_cm: float = Field(500.0, gt=1, le=100_000)
    waveform: Waveform = Waveform(pulse_width_us=300.0)
    amplitudes_ma: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    tolerance: float = Field(0.02, gt=0, lt=0.5)


class TypeSummary(BaseModel):
    n_cells: int
    threshold_ma_median: float
    threshold_ma_min: float
    threshold_ma_max: float
    recruited_pct: dict[str, float]
    initiation_sites: dict[str, int]


class DemoSummary(BaseModel):
    types: dict[str, TypeSummary]
    thresholds_ma: dict[str, list[float]]
    seconds: float
    config: DemoConfig
    drgsim_version: str = __version__


def _cells(cfg: DemoConfig, name: str, rng: np.random.Generator) -> list:
    cells = []
    for _ in range(cfg.n_cells):
        u = rng.normal(size=3)
        u *= rng.uniform() ** (1 / 3) / np.linalg.norm(u)
        t = u * np.array([cfg.ganglion_radius_mm, cfg.ganglion_radius_mm, cfg.ganglion_length_mm / 2])
        phi = rng.uniform(0, 2 * np.pi)
        stem_dir = (np.cos(phi), np.sin(phi), 0.0)
        axon_mm = 8.0 if name == "drg_c" else 45.0
        cells.append(BUILDERS[name](paths=Paths.straight(t, (0, 0, 1), stem_dir, axon_mm=axon_mm)))
    return cells


def run_demo(cfg: DemoConfig, out: Path, console: Console) -> tuple[DemoSummary, Table]:
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    electrode = np.array([0.0, -(cfg.ganglion_radius_mm + cfg.electrode_gap_mm), 0.0])
    thresholds: dict[str, list[float]] = {}
    sites: dict[str, list[str]] = {}
    with Progress(console=console, transient=True) as progress:
        for name in BUILDERS:
            cells = _cells(cfg, name, rng)
            task = progress.add_task(f"{name} thresholds", total=len(cells))
            thresholds[name], sites[name] = [], []
            for k in range(0, len(cells), 4):
                batch = CellBatch.pack(cells[k:k + 4])
                v = point_source_potentials(batch.positions_mm, electrode, cfg.resistivity_ohm_cm)
                res = find_thresholds(batch, v, cfg.waveform, SimulationSettings(), rel_tol=cfg.tolerance, hi_ma=0.5)
                thresholds[name] += [float(x) for x in res.threshold_ma]
                sites[name] += [s.rsplit(" ", 1)[0] for s in res.initiation_site]
                progress.advance(task, batch.n_cells)
    types = {}
    for name, thr in thresholds.items():
        a = np.array(thr)
        regions, counts = np.unique(sites[name], return_counts=True)
        types[name] = TypeSummary(
            n_cells=len(a), threshold_ma_median=float(np.nanmedian(a)), threshold_ma_min=float(np.nanmin(a)),
            threshold_ma_max=float(np.nanmax(a)),
            recruited_pct={f"{amp:g}": float(100 * np.mean(a <= amp)) for amp in cfg.amplitudes_ma},
            initiation_sites={str(r): int(c) for r, c in zip(regions, counts)})
    summary = DemoSummary(types=types, thresholds_ma=thresholds, seconds=time.perf_counter() - t0, config=cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(summary.model_dump_json(indent=2))
    table = Table(title=f"DRG neuron recruitment, point electrode {cfg.electrode_gap_mm} mm from the ganglion, "
                        f"{cfg.waveform.pulse_width_us:g} us cathodic")
    table.add_column("type")
    table.add_column("median threshold (mA)")
    for amp in cfg.amplitudes_ma:
        table.add_column(f"% at {amp:g} mA")
    table.add_column("spike starts at")
    for name, s in types.items():
        top = max(s.initiation_sites, key=s.initiation_sites.get)
        table.add_row(name, f"{s.threshold_ma_median:.3f}", *[f"{v:.0f}" for v in s.recruited_pct.values()], top)
    console.print(f"wrote {out / 'summary.json'} (seed {cfg.seed})")
    return summary, table
