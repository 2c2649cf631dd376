"""A program's effect on nociceptive transmission through the ganglion: the C-type neurons of each DRG lead's
population, driven by ongoing peripheral spikes, with and without the program's pulse train.

Every C neuron a lead drives to at least ``SCREEN_RATIO`` of its threshold (the threshold tables: a spike
reaching the cord) is simulated for ``duration_s`` in its own field (``neurons.transmission.cells_transmission``:
ongoing spikes alone, the program alone, both); the others are counted as transmitting unchanged. The screen
rests on the single-neuron sweeps (``drgsim filter``): a drg_c neuron's transmission is unchanged up to 0.75 x
its threshold at 20 Hz and falls to nothing by 0.8 x, where the pulses start spikes in the peripheral axon that
collide with the ongoing ones; 0.5 leaves a margin [project choice]. The share of C neurons transmitting is the
mean over the population of each neuron's transmitted fraction.

SCS does not act on the ganglion: its populations hold dorsal-column and dorsal-root fibres, no DRG neuron, so
the twin predicts transmission through the T-junction unchanged for it, 100% by construction (``UNCHANGED``).

Cost: each of a simulated C neuron's three runs takes about 2-5 s of kernel time per simulated second (``drgsim
filter`` reports it: 4.6 s on a shared core); a program that drives no C neuron past the screen costs nothing
beyond its threshold table.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim import fingerprint
from drgsim.anatomy.posture import Posture
from drgsim.devices.program import LeadSettings
from drgsim.fields.solve import cache_dir
from drgsim.neurons.solver import SimulationSettings
from drgsim.neurons.transmission import (
    FilterConfig,
    SweepPoint,
    cells_transmission,
    frequency_sweep,
    peripheral_compartment,
    peripheral_onsets_ms,
)
from drgsim.therapy.model import TherapyModel

SCREEN_RATIO = 0.5
C_KIND = "c"
SWEEP_HZ = (4.0, 10.0, 20.0, 40.0, 80.0)


class LeadTransmission(BaseModel):
    model_config = ConfigDict(frozen=True)

    lead: int
    c_neurons: int
    simulated: int = Field(description="C neurons at or above SCREEN_RATIO x their threshold, simulated")
    transmitted_pct: float = Field(description="mean transmitted share of peripheral spikes, all C neurons")
    transmitted_pct_without: float
    c_ratio_max: float = Field(0.0, description="the highest amplitude / threshold over the lead's C neurons; one "
                                                "silent up to the table's ceiling counts at the ceiling (a bound)")


class NociceptiveTransmission(BaseModel):
    """Transmission of ongoing peripheral spikes to the cord through the C neurons of every DRG lead."""

    model_config = ConfigDict(frozen=True)

    posture: Posture
    ongoing_hz: float
    duration_s: float
    basis: Literal["simulated", "by construction"] = "simulated"
    transmitted_pct: float | None = Field(description="over every lead's C neurons; None without any")
    transmitted_pct_without: float | None
    leads: list[LeadTransmission]


def unchanged(posture: Posture, ongoing_hz: float, duration_s: float) -> NociceptiveTransmission:
    """SCS's prediction: it does not act on the ganglion, so transmission is unchanged (100%) by construction."""
    return NociceptiveTransmission(posture=posture, ongoing_hz=ongoing_hz, duration_s=duration_s,
                                   basis="by construction", transmitted_pct=100.0, transmitted_pct_without=100.0,
                                   leads=[])


def combine(posture: Posture, ongoing_hz: float, duration_s: float,
            leads: list[LeadTransmission]) -> NociceptiveTransmission:
    """The leads' transmission over all their C neurons (each lead weighted by its count)."""
    n = sum(x.c_neurons for x in leads)
    with_, without = ((round(sum(getattr(x, key) * x.c_neurons for x in leads) / n, 2) if n else None)
                      for key in ("transmitted_pct", "transmitted_pct_without"))
    return NociceptiveTransmission(posture=posture, ongoing_hz=ongoing_hz, duration_s=duration_s,
                                   transmitted_pct=with_, transmitted_pct_without=without, leads=leads)


def lead_transmission(model: TherapyModel, k: int, s: LeadSettings, posture: Posture, c_threshold_ma: np.ndarray,
                      ceiling_ma: float, duration_s: float = 3.0, ongoing_hz: float = 5.0, dt_us: float = 25.0,
                      screen_ratio: float = SCREEN_RATIO) -> LeadTransmission:
    """One lead's C neurons (``c_threshold_ma``: their thresholds in a table up to ``ceiling_ma``, in the site's
    order of C cells): those the screen keeps simulated, the others transmitting unchanged."""
    site = model.site(k, posture)
    c_idx = np.flatnonzero(site.kinds == C_KIND)
    thr = np.asarray(c_threshold_ma, dtype=float)
    ratio = np.nan_to_num(s.amplitude_ma / thr, nan=0.0)  # silent up to the ceiling: 0
    near = c_idx[ratio >= screen_ratio]
    with_, without = np.ones(len(c_idx)), np.ones(len(c_idx))
    if len(near):
        onsets = peripheral_onsets_ms(ongoing_hz, duration_s * 1e3)
        batch, v = site.configuration_potentials(s.contacts)
        cells = [site.population.cells[i] for i in near]
        wf = model.lead_waveform(s, site.impedance_ohm(s.contacts), max(1, int(np.floor(duration_s * s.frequency_hz))))
        res = cells_transmission(cells, [v[batch.offsets[i]:batch.offsets[i + 1]] for i in near],
                                 np.full(len(near), s.amplitude_ma), wf, duration_s * 1e3, onsets,
                                 np.array([peripheral_compartment(c, 4.1) for c in cells]),
                                 SimulationSettings(dt_us=dt_us))
        for p, r in zip(np.searchsorted(c_idx, near), res):
            with_[p], without[p] = r.fractions(len(onsets))
    pct = (lambda x: round(100 * float(x.mean()), 2) if len(x) else 100.0)  # noqa: E731
    bound = s.amplitude_ma / np.where(np.isfinite(thr), thr, ceiling_ma) if len(thr) else np.zeros(1)
    return LeadTransmission(lead=k, c_neurons=len(c_idx), simulated=len(near), transmitted_pct=pct(with_),
                            transmitted_pct_without=pct(without), c_ratio_max=round(float(np.max(bound)), 4))


class ProgramSweep(BaseModel):
    """Transmission against stimulation frequency for a representative drg_c neuron driven at the program's
    highest C amplitude ratio (``FilterConfig``: a point source 1 mm from its T-junction, the program's pulse)."""

    config: FilterConfig
    points: list[SweepPoint]


def program_sweep(amplitude_ratio: float, pulse_width_us: float, duration_s: float, ongoing_hz: float,
                  frequencies_hz: tuple[float, ...] = SWEEP_HZ) -> ProgramSweep:
    """``neurons.transmission.frequency_sweep`` at the program's ratio, read from the content-hash cache
    (``DRGSIM_CACHE_DIR``/transmission) when the same sweep of the same code was run before."""
    cfg = FilterConfig(cell="drg_c", amplitude_ratio=amplitude_ratio, pulse_width_us=pulse_width_us,
                       duration_s=duration_s, ongoing_hz=ongoing_hz)
    text = json.dumps({"config": cfg.model_dump(mode="json"), "hz": list(frequencies_hz),
                       "code": fingerprint.code_fingerprint(("drgsim.neurons.transmission",))}, sort_keys=True)
    path = cache_dir() / "transmission" / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    if path.exists():
        return ProgramSweep.model_validate_json(path.read_text())
    out = ProgramSweep(config=cfg, points=frequency_sweep(cfg, frequencies_hz))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(out.model_dump_json())
    tmp.replace(path)
    return out
