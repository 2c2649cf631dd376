"""Stimulus: extracellular potentials of a unit current.

Potentials are linear in the stimulating current, so a cell sees ``amplitude_ma * waveform[k] *
v_unit`` during time step k, where ``v_unit`` (mV per mA) comes from a point source here or from
the finite-element field solution of ``drgsim.fields``; the waveform is the device's pulse
(``drgsim.devices.waveform.Waveform``).
"""

from __future__ import annotations

import numpy as np


def point_source_potentials(points_mm: np.ndarray, source_mm, resistivity_ohm_cm: float) -> np.ndarray:
    """Potential (mV) of a 1 mA point source in an infinite homogeneous medium: V = I / (4 pi sigma r)."""
    sigma_s_per_m = 100.0 / resistivity_ohm_cm
    r_mm = np.linalg.norm(np.asarray(points_mm, dtype=float) - np.asarray(source_mm, dtype=float), axis=-1)
    if np.any(r_mm <= 0):
        raise ValueError("a compartment lies exactly on the point source (distance 0 mm)")
    return 1e3 / (4.0 * np.pi * sigma_s_per_m * r_mm)
