"""drgsim's cable solver against NEURON: the stored references and the comparisons ``drgsim validate`` runs.

The references (package data, ``drgsim/data/reference``) were produced by NEURON 9 with fibres built
by PyFibers (McIntyre et al. 2002's MRG, Sundt et al. 2015's C fibre), by the scripts in the
repository's ``tests/reference`` (their docstrings are the conventions contract): a strength-duration
grid (``neuron_reference``) and firing windows near the electrode and with long pulses
(``neuron_windows``, found by NEURON on a fine amplitude grid, no bracket).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np

from drgsim.devices.waveform import Waveform
from drgsim.neurons.models import mrg, sundt
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds
from drgsim.neurons.stimulus import point_source_potentials


@cache
def neuron_reference(name: str) -> dict:
    """``neuron_reference`` or ``neuron_windows``, as stored."""
    return json.loads(resources.files("drgsim.data").joinpath(f"reference/{name}.json").read_text())


def _cell(case: dict):
    if case["model"] == "sundt":
        cell = sundt.build(case["diameter_um"], case["n_nodes"])
        return cell, cell.position_mm[(case["n_nodes"] - 1) // 2]
    cell = mrg.build(case["diameter_um"], case["n_nodes"])
    return cell, cell.position_mm[mrg.node_indices(cell)[(case["n_nodes"] - 1) // 2]]


def thresholds(cases: list[dict], max_ma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """drgsim's threshold and block (mA) of each stored case, from the search's defaults: one batch per
    time grid and waveform, the reference's point source, time step and stop time, no bracket."""
    thr, block = np.full(len(cases), np.nan), np.full(len(cases), np.nan)
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(cases):
        key = (c["dt_ms"], c["tstop_ms"], c["waveform_kind"], c["polarity"], c["pw_ms"], c["rel_tol"])
        groups.setdefault(key, []).append(i)
    for (dt, tstop, kind, polarity, pw, tol), idx in groups.items():
        cells, vs = [], []
        for i in idx:
            cell, centre = _cell(cases[i])
            if cases[i].get("source_z_um") is not None:
                centre = np.array([0.0, 0.0, cases[i]["source_z_um"] * 1e-3])
            cells.append(cell)
            vs.append(point_source_potentials(cell.position_mm, centre + [cases[i]["distance_mm"], 0, 0],
                                              cases[i]["resistivity_ohm_cm"]))
        wf = Waveform(shape=kind, polarity=polarity, pulse_width_us=pw * 1e3)
        res = find_thresholds(CellBatch.pack(cells), np.concatenate(vs), wf,
                              SimulationSettings(dt_us=dt * 1e3, tstop_ms=tstop), rel_tol=max(tol, 0.001),
                              max_ma=max_ma)
        thr[idx], block[idx] = res.threshold_ma, res.block_ma
    return thr, block
