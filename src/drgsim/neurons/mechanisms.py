"""Membrane mechanisms: codes, parameter layouts and scalar kinetics.

The kinetics are plain scalar functions of floats (``math`` only), so they are compiled with numba.njit
for the CPU kernel; their ``py_func`` sources are what a GPU backend would compile as device functions.

Mechanisms (all currents in mA/cm2, conductances in S/cm2, voltages in mV, time in ms):

* ``PASSIVE``: leak g (v - e).
* ``MRG_NODE``: node of Ranvier of McIntyre, Richardson & Grill 2002 (J Neurophysiol 87:995,
  appendix; ModelDB 3810): fast Na (m^3 h), persistent Na (mp^3), slow K (s), leak; Q10 factors
  2.2, 2.9 (ref. 20 C) and 3.0 (ref. 36 C).
* ``SUNDT``: unmyelinated C fibre of Sundt, Gamper & Jaffe 2015 (J Neurophysiol 114:3140;
  ModelDB 187473): Traub-Miles Na (m^3 h) with NaV1.7/1.8 voltage shifts, Borg-Graham delayed
  rectifier K (n^3 l) and leak; Q10 3 (ref. 30 C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)


class Mechanism(IntEnum):
    PASSIVE = 0
    MRG_NODE = 1
    SUNDT = 2


# Each mechanism's parameters by name: the rows of the kernel's parameter block (``p[MRGParam.GNABAR, j]``).
class PassiveParam(IntEnum):
    G, E = range(2)  # leak S/cm2, its reversal mV


class MRGParam(IntEnum):
    GL, EL, GNAPBAR, GNABAR, GKBAR, ENA, EK, Q10_1, Q10_2, Q10_3 = range(10)


class SundtParam(IntEnum):
    G_PAS, E_PAS, GNABAR, GKDRBAR, MSHIFT, HSHIFT, ENA, EK, Q10, CELSIUS = range(10)


@dataclass(frozen=True)
class MechanismSpec:
    """A mechanism's named parameters and those its gate rates read (``gate_rates``): compartments that
    agree on the latter share one gate table in the kernel."""

    params: type[IntEnum]
    rate_params: tuple[IntEnum, ...] = ()

    def values(self, **named: float) -> np.ndarray:
        """A compartment's parameter vector (N_PARAMS; unnamed rows 0) from values named as in ``params``."""
        p = np.zeros(N_PARAMS)
        for name, value in named.items():
            p[self.params[name.upper()]] = value
        return p


MECHANISMS = {Mechanism.PASSIVE: MechanismSpec(PassiveParam),
              Mechanism.MRG_NODE: MechanismSpec(MRGParam, (MRGParam.Q10_1, MRGParam.Q10_2, MRGParam.Q10_3)),
              Mechanism.SUNDT: MechanismSpec(SundtParam, (SundtParam.MSHIFT, SundtParam.HSHIFT, SundtParam.Q10,
                                                          SundtParam.CELSIUS))}
N_PARAMS = max(len(m.params) for m in MECHANISMS.values())


def passive_params(g_s_per_cm2: float, e_mv: float) -> np.ndarray:
    return MECHANISMS[Mechanism.PASSIVE].values(g=g_s_per_cm2, e=e_mv)


def mrg_node_params(temperature_c: float, gnabar: float = 3.0, gnapbar: float = 0.01, gkbar: float = 0.08,
                    gl: float = 0.007, ena: float = 50.0, ek: float = -90.0, el: float = -90.0) -> np.ndarray:
    """MRG 2002 node densities (S/cm2) and reversal potentials (mV), Q10 factors at ``temperature_c``."""
    return MECHANISMS[Mechanism.MRG_NODE].values(
        gl=gl, el=el, gnapbar=gnapbar, gnabar=gnabar, gkbar=gkbar, ena=ena, ek=ek,
        q10_1=2.2 ** ((temperature_c - 20.0) / 10.0), q10_2=2.9 ** ((temperature_c - 20.0) / 10.0),
        q10_3=3.0 ** ((temperature_c - 36.0) / 10.0))


def sundt_params(temperature_c: float, g_pas: float = 1e-4, e_pas: float = -60.0, gnabar: float = 0.04,
                 gkdrbar: float = 0.04, mshift: float = -6.0, hshift: float = 6.0, ena: float = 50.0,
                 ek: float = -90.0) -> np.ndarray:
    """Sundt 2015 densities: Na 0.04 and Kdr 0.04 S/cm2, Rm 10 kohm cm2, Na shifts -6/+6 mV."""
    return MECHANISMS[Mechanism.SUNDT].values(
        g_pas=g_pas, e_pas=e_pas, gnabar=gnabar, gkdrbar=gkdrbar, mshift=mshift, hshift=hshift, ena=ena, ek=ek,
        q10=3.0 ** ((temperature_c - 30.0) / 10.0), celsius=temperature_c)


# ---------------------------------------------------------------------------------------------
# Scalar kinetics. Each rate function returns (steady state, time constant in ms).

@_jit
def _exp(x):
    """exp with MRG's underflow guard (0 below -100) and an overflow clamp (far outside physiology)."""
    return 0.0 if x < -100.0 else math.exp(min(x, 700.0))


@_jit
def _linexp(a, x, c):
    """a*x / (1 - exp(-x/c)) with its removable singularity at x = 0."""
    if abs(x / c) < 1e-6:
        return a * c
    return a * x / (1.0 - _exp(-x / c))


@_jit
def mrg_rates(v, q1, q2, q3):
    """MRG 2002 gates at v: (mp_inf, tau_mp, m_inf, tau_m, h_inf, tau_h, s_inf, tau_s).

    Rate constants (1/ms) follow the paper's appendix; the fixed values below -150 / above 150 mV
    are the published implementation's guards against overflow.
    """
    a = q1 * (0.00086725 if v < -150.0 else _linexp(0.01, v + 27.0, 10.2))
    b = q1 * (1.5855e-05 if v > 150.0 else _linexp(0.00025, -(v + 34.0), 10.0))
    mp_inf, tau_mp = a / (a + b), 1.0 / (a + b)
    a = q1 * (0.15733 if v < -150.0 else _linexp(1.86, v + 21.4, 10.3))
    b = q1 * (0.0057268 if v > 150.0 else _linexp(0.086, -(v + 25.7), 9.16))
    m_inf, tau_m = a / (a + b), 1.0 / (a + b)
    a = q2 * (0.0032594 if v > 150.0 else _linexp(0.062, -(v + 114.0), 11.0))
    b = q2 * (0.0014054 if v < -150.0 else 2.3 / (1.0 + _exp(-(v + 31.8) / 13.4)))
    h_inf, tau_h = a / (a + b), 1.0 / (a + b)
    a = q3 * (3.3484e-05 if v < -150.0 else 0.3 / (_exp((v + 80.0 - 27.0) / -5.0) + 1.0))
    b = q3 * (3.3484e-06 if v < -150.0 else 0.03 / (_exp((v + 80.0 + 10.0) / -1.0) + 1.0))
    s_inf, tau_s = a / (a + b), 1.0 / (a + b)
    return mp_inf, tau_mp, m_inf, tau_m, h_inf, tau_h, s_inf, tau_s


@_jit
def _expm1_ratio(x, y):
    """x / (exp(x/y) - 1) with its removable singularity (Sundt's expM1)."""
    if abs(x / y) < 1e-6:
        return y * (1.0 - x / y / 2.0)
    return x / (_exp(x / y) - 1.0)


@_jit
def sundt_rates(v, mshift, hshift, q10, celsius):
    """Sundt 2015 gates at v: (m_inf, tau_m, h_inf, tau_h, n_inf, tau_n, l_inf, tau_l)."""
    vm = v + 65.0 + mshift
    a = q10 * 0.32 * _expm1_ratio(13.1 - vm, 4.0)
    b = q10 * 0.28 * _expm1_ratio(vm - 40.1, 5.0)
    m_inf, tau_m = a / (a + b), 1.0 / (a + b)
    vh = v + 65.0 + hshift
    a = q10 * 0.128 * _exp((17.0 - vh) / 18.0)
    b = q10 * 4.0 / (_exp((40.0 - vh) / 5.0) + 1.0)
    h_inf, tau_h = a / (a + b), 1.0 / (a + b)
    # Borg-Graham delayed rectifier (zeta n -5, l 2; gamma n 0.4, l 1; vhalf n -32, l -61 mV).
    f = 1e-3 * 9.648e4 / (8.315 * (273.16 + celsius))
    an = _exp(-5.0 * (v + 32.0) * f)
    bn = _exp(-5.0 * 0.4 * (v + 32.0) * f)
    n_inf, tau_n = 1.0 / (1.0 + an), bn / (q10 * 0.03 * (1.0 + an))
    al = _exp(2.0 * (v + 61.0) * f)
    bl = _exp(2.0 * 1.0 * (v + 61.0) * f)
    l_inf, tau_l = 1.0 / (1.0 + al), bl / (q10 * 0.001 * (1.0 + al))
    return m_inf, tau_m, h_inf, tau_h, n_inf, tau_n, l_inf, tau_l


@_jit
def gate_rates(kind, v, p, j):
    """Steady states and time constants of the four gate slots of mechanism ``kind``; ``p[:, j]`` holds
    the compartment's parameters (parameter-major, read in place)."""
    if kind == Mechanism.MRG_NODE:
        return mrg_rates(v, p[MRGParam.Q10_1, j], p[MRGParam.Q10_2, j], p[MRGParam.Q10_3, j])
    if kind == Mechanism.SUNDT:
        return sundt_rates(v, p[SundtParam.MSHIFT, j], p[SundtParam.HSHIFT, j], p[SundtParam.Q10, j],
                           p[SundtParam.CELSIUS, j])
    return 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0


@_jit
def membrane_current(kind, v, g0, g1, g2, g3, p, j):
    """Ionic current density (mA/cm2) and its slope conductance at fixed gates (S/cm2)."""
    if kind == Mechanism.MRG_NODE:  # gates mp, m, h, s
        gnap = p[MRGParam.GNAPBAR, j] * g0 * g0 * g0
        gna = p[MRGParam.GNABAR, j] * g1 * g1 * g1 * g2
        gk = p[MRGParam.GKBAR, j] * g3
        gl = p[MRGParam.GL, j]
        ena = p[MRGParam.ENA, j]
        i = gnap * (v - ena) + gna * (v - ena) + gk * (v - p[MRGParam.EK, j]) + gl * (v - p[MRGParam.EL, j])
        return i, gnap + gna + gk + gl
    if kind == Mechanism.SUNDT:  # gates m, h, n, l
        gna = p[SundtParam.GNABAR, j] * g0 * g0 * g0 * g1
        gk = p[SundtParam.GKDRBAR, j] * g2 * g2 * g2 * g3
        gl = p[SundtParam.G_PAS, j]
        i = gna * (v - p[SundtParam.ENA, j]) + gk * (v - p[SundtParam.EK, j]) + gl * (v - p[SundtParam.E_PAS, j])
        return i, gna + gk + gl
    return p[PassiveParam.G, j] * (v - p[PassiveParam.E, j]), p[PassiveParam.G, j]
