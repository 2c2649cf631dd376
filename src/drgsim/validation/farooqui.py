"""Farooqui et al. 2024's epineural scenario: where spikes start in DRG neurons, and at what current.

Farooqui J, Nanivadekar AC, Capogrosso M, Lempka SF, Fisher LE. The effects of neuron morphology and
spatial distribution on the selectivity of dorsal root ganglion stimulation. J Neural Eng 2024;
21(5):056030. doi:10.1088/1741-2552/ad7760. Their per-cell results (pitt-rnel/DRG-model-data2024,
realistic placement, centred epineural electrode, cathodic-leading, 80 us): of 750 neurons
activated below the 420 uA ceiling of their search, the spike started on the peripheral axon in 264
(35.2%), at the T-junction in 233 (31.1%), on the central axon in 150 (20.0%), at the first stem node
in 100 (13.3%), at other stem nodes in 3 (0.4%), never in the initial segment or the soma; median
thresholds of activated neurons 259 uA (A-alpha) and 277 uA (A-beta). These are the reference
numbers below (percentages recomputed from their data; their stem share is the first stem node plus
the others).

drgsim rebuilds the scenario: ``EpineuralParams`` (the ganglion and electrode, with the assumptions
named there: one contact against a distant return), ``farooqui_population`` (their placement
statistics) and drgsim's own neurons (Graham 2021's geometry, Farooqui's scaling rules, MRG node
kinetics where they use Gaines 2018's sensory node). The pulse is symmetric biphasic, 80 us per
phase, no gap [assumed: their data give only the leading phase]. The search ceiling is theirs
(420 uA) and so is the time step (5 us).
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.devices.waveform import Waveform
from drgsim.fields.anatomy_models import EpineuralParams
from drgsim.fields.solve import FieldSpec, MeshSettings, solve
from drgsim.neurons.models.drg import SITES, site_category
from drgsim.neurons.solver import CellBatch, SearchSettings, SimulationSettings, find_thresholds
from drgsim.populations.farooqui import FarooquiPopulationConfig, farooqui_population

REFERENCE_COUNTS = {"peripheral_axon": 264, "t_junction": 233, "central_axon": 150, "stem": 103, "soma": 0}
REFERENCE_MEDIAN_UA = {"aalpha": 259.1, "abeta": 277.1}
CEILING_MA = 0.420
PULSE = Waveform(shape="biphasic", polarity="cathodic", pulse_width_us=80.0)
SETTINGS = SimulationSettings(dt_us=5.0)
QUICK_MESH = MeshSettings(maxh_mm=6.0, contact_maxh_mm=0.1, near_maxh_mm=0.5, grading=0.4, order=1)


class FarooquiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    geometry: EpineuralParams = EpineuralParams()
    mesh: MeshSettings = MeshSettings(maxh_mm=6.0, contact_maxh_mm=0.1, near_maxh_mm=0.5, grading=0.4, order=2)
    population: FarooquiPopulationConfig = FarooquiPopulationConfig()
    rel_tol: float = Field(0.01, gt=0, lt=0.5)


class FarooquiResult(BaseModel):
    n_neurons: int
    n_activated: int
    initiation_counts: dict[str, int]
    initiation_pct: dict[str, float]
    median_threshold_ua: dict[str, float | None]
    cut_end_initiations: int
    seconds: float
    config: FarooquiConfig


def run(cfg: FarooquiConfig = FarooquiConfig(), progress=None) -> FarooquiResult:
    """Thresholds of the whole population for the centred contact (cathodic-leading)."""
    t0 = time.perf_counter()
    if progress:
        progress("Farooqui 2024: field", 0, 2)
    field = solve(FieldSpec(geometry=cfg.geometry, mesh=cfg.mesh))
    pop = farooqui_population(cfg.geometry, cfg.population)
    batch = CellBatch.pack(pop.cells)
    phi = field.potentials(batch.positions_mm)
    v = phi[:, 0]
    if progress:
        progress("Farooqui 2024: thresholds", 1, 2)
    res = find_thresholds(batch, v, PULSE, SETTINGS, rel_tol=cfg.rel_tol, max_ma=CEILING_MA,
                          search=SearchSettings(find_block=False))
    active = np.isfinite(res.threshold_ma)
    sites = Counter(site_category(batch.region_of(int(res.initiation_index[i]))[1]) for i in np.flatnonzero(active))
    counts = {s: int(sites.get(s, 0)) for s in SITES}
    n = int(active.sum())
    kinds = np.array([x.kind for x in pop.info])
    medians = {k: (float(np.median(res.threshold_ma[active & (kinds == k)])) * 1e3
                   if (active & (kinds == k)).any() else None) for k in REFERENCE_MEDIAN_UA}
    return FarooquiResult(n_neurons=len(pop.cells), n_activated=n, initiation_counts=counts,
                          initiation_pct={s: round(100.0 * c / max(n, 1), 2) for s, c in counts.items()},
                          median_threshold_ua=medians, cut_end_initiations=int(res.cut_end[active].sum()),
                          seconds=round(time.perf_counter() - t0, 2), config=cfg)


def reference_pct() -> dict[str, float]:
    total = sum(REFERENCE_COUNTS.values())
    return {s: 100.0 * c / total for s, c in REFERENCE_COUNTS.items()}
