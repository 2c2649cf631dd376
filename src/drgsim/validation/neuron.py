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
from drgsim.neurons import models
from drgsim.neurons.solver import CellBatch, SimulationSettings, find_thresholds
from drgsim.neurons.stimulus import point_source_potentials
from drgsim.validation.cases import ValidationCase, case


@cache
def neuron_reference(name: str) -> dict:
    """``neuron_reference`` or ``neuron_windows``, as stored."""
    return json.loads(resources.files("drgsim.data").joinpath(f"reference/{name}.json").read_text())


def _cell(case: dict):
    spec = models.get(case["model"])
    cell = spec.cell(case["diameter_um"], case["n_nodes"])
    return cell, cell.position_mm[spec.centre(cell)]


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


SOURCE = "NEURON 9.0.2 + PyFibers 0.13.0"
TOLERANCE = {"mrg": 0.02, "sundt": 0.03}  # issue 2's agreement targets; measured: < 0.1%


def _label(c: dict) -> str:
    return (f"{c['model']}_{c['diameter_um']:g}um_{c['distance_mm']:g}mm_{c['pw_ms'] * 1e3:g}us_{c['waveform_kind']}_"
            f"{c['polarity']}")


def cases(quick: bool = False) -> list[ValidationCase]:
    """Every stored NEURON threshold (MRG strength-duration grid, Sundt, PyFibers' published regression
    point) and every firing window (threshold and block); ``quick`` takes every fourth MRG grid case, the
    first Sundt case and every third window."""
    grid = neuron_reference("neuron_reference")["cases"]
    if quick:
        first_sundt = next(c["id"] for c in grid if c["model"] == "sundt")
        grid = [c for c in grid if c["group"] == "pyfibers_regression" or c["id"] == first_sundt or
                (c["model"] == "mrg" and c["id"] % 4 == 0)]
    thr, _ = thresholds(grid)
    out = []
    for c, t in zip(grid, thr):
        src = f"{SOURCE} ({'PyFibers regression point' if c['group'] == 'pyfibers_regression' else c['group']})"
        out.append(case(f"neuron_threshold_{_label(c)}", "code verification", src, c["threshold_ma"], t, "mA",
                        TOLERANCE[c["model"]]))
    windows = neuron_reference("neuron_windows")
    ceiling = windows["grid"]["stop_ma"]
    wcases = windows["cases"][::3] if quick else windows["cases"]
    thr, block = thresholds([dict(c, model="mrg") for c in wcases], max_ma=ceiling)
    for c, t, b in zip(wcases, thr, block):
        name = f"neuron_window_{c['n_nodes']}nodes_{_label(dict(c, model='mrg'))}"
        src = f"{SOURCE} (firing window on a 1.1x amplitude grid, no bracket)"
        out.append(case(f"{name}_threshold", "code verification", src, c["threshold_ma"], t, "mA", 0.02))
        if c["block_ma"] is not None:
            out.append(case(f"{name}_block", "code verification", src, c["block_ma"], b, "mA", 0.03,
                            note="upper edge of the first firing window"))
        else:
            out.append(case(f"{name}_block", "code verification", src, ceiling, b, "mA", 0.0, "at_least",
                            note="no block up to the end of NEURON's grid"))
    return out
