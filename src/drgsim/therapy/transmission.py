"""A program's effect on nociceptive transmission through the ganglion: the C-type neurons of each DRG lead's
population, driven by ongoing peripheral spikes, with and without the program's pulse train.

Every C neuron the program drives to at least ``SCREEN_RATIO`` of its threshold (the threshold tables: a spike
reaching the cord) is simulated for ``duration_s`` in its own field (``neurons.transmission.cells_transmission``:
ongoing spikes alone, the program alone, both); the others are counted as transmitting unchanged. The screen
rests on the single-neuron sweeps (``drgsim filter``): a drg_c neuron's transmission is unchanged up to 0.75 x
its threshold at 20 Hz and falls to nothing by 0.8 x, where the pulses start spikes in the peripheral axon that
collide with the ongoing ones; 0.5 leaves a margin [project choice]. The share of C neurons transmitting is the
mean over the population of each neuron's transmitted fraction.

SCS does not act on the ganglion: its populations hold dorsal-column and dorsal-root fibres, no DRG neuron, so
the twin predicts no change of transmission through the T-junction for it (``None`` here; the report says so).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drgsim.anatomy.posture import Posture
from drgsim.devices.program import Program
from drgsim.neurons.solver import SimulationSettings
from drgsim.neurons.transmission import cells_transmission, peripheral_compartment, peripheral_onsets_ms
from drgsim.therapy.model import System, TherapyModel
from drgsim.therapy.outcomes import lead_tables

SCREEN_RATIO = 0.5
C_KIND = "c"


class LeadTransmission(BaseModel):
    model_config = ConfigDict(frozen=True)

    lead: int
    c_neurons: int
    simulated: int = Field(description="C neurons at or above SCREEN_RATIO x their threshold, simulated")
    transmitted_pct: float = Field(description="mean transmitted share of peripheral spikes, all C neurons")
    transmitted_pct_without: float


class NociceptiveTransmission(BaseModel):
    """Transmission of ongoing peripheral spikes to the cord through the C neurons of every DRG lead."""

    model_config = ConfigDict(frozen=True)

    posture: Posture
    ongoing_hz: float
    duration_s: float
    transmitted_pct: float | None = Field(description="over every lead's C neurons; None without any")
    transmitted_pct_without: float | None
    leads: list[LeadTransmission]


def nociceptive_transmission(model: TherapyModel, program: Program, posture: Posture | str = Posture.SUPINE,
                             duration_s: float = 3.0, ongoing_hz: float = 5.0, dt_us: float = 25.0,
                             screen_ratio: float = SCREEN_RATIO) -> NociceptiveTransmission | None:
    """The program's C-neuron transmission in ``posture``; None for SCS (it does not act on the ganglion)."""
    if model.system != System.DRG:
        return None
    posture = Posture(posture)
    onsets = peripheral_onsets_ms(ongoing_hz, duration_s * 1e3)
    leads = [_lead(model, program, k, posture, table, onsets, duration_s, dt_us, screen_ratio)
             for k, (table, _) in lead_tables(model, program, posture).items()]
    n = sum(x.c_neurons for x in leads)
    with_, without = ((round(sum(getattr(x, key) * x.c_neurons for x in leads) / n, 2) if n else None)
                      for key in ("transmitted_pct", "transmitted_pct_without"))
    return NociceptiveTransmission(posture=posture, ongoing_hz=ongoing_hz, duration_s=duration_s,
                                   transmitted_pct=with_, transmitted_pct_without=without, leads=leads)


def _lead(model: TherapyModel, program: Program, k: int, posture: Posture, table, onsets: np.ndarray,
          duration_s: float, dt_us: float, screen_ratio: float) -> LeadTransmission:
    """One lead's C neurons: those the screen keeps simulated, the others transmitting unchanged."""
    s = program.leads[k]
    site = model.site(k, posture)
    c_idx = np.flatnonzero(site.kinds == C_KIND)
    ratio = np.nan_to_num(s.amplitude_ma / table.threshold_ma[c_idx], nan=0.0)  # an infinite threshold: 0
    near = c_idx[ratio >= screen_ratio]
    with_, without = np.ones(len(c_idx)), np.ones(len(c_idx))
    if len(near):
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
    return LeadTransmission(lead=k, c_neurons=len(c_idx), simulated=len(near), transmitted_pct=pct(with_),
                            transmitted_pct_without=pct(without))
