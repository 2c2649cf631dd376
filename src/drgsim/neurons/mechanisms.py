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
* ``SUNDT_SLOW``: ``SUNDT`` with the slow outward conductances Sundt et al. 2015 place near the T-junction
  (ModelDB 187473, Figures 5d and 8c): the M current (KCNQ; Yamada, Koch & Adams 1989, in Methods in Neuronal
  Modeling, MIT Press), an L-type calcium current (Migliore et al. 1995, J Neurophysiol 73:1157) and a small
  conductance Ca-activated K current (SK; Aradi & Holmes 1999, J Comput Neurosci 6:215) driven by a calcium
  pool that the L current fills and that decays with its own time constant.

Every compartment has ``N_STATES`` state slots: the first ``N_GATES`` are voltage gates (steady state and
time constant from ``gate_rates``, tabulated by the kernel); the rest are slow states that
``advance_slow`` integrates (gates of rarely placed channels and concentrations, which a voltage table
cannot hold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)
_inline = numba.njit(cache=True, nogil=True, inline="always")  # kernel hot path: inlined into the step


class Mechanism(IntEnum):
    PASSIVE = 0
    MRG_NODE = 1
    SUNDT = 2
    SUNDT_SLOW = 3


# Each mechanism's parameters by name: the rows of the kernel's parameter block (``p[MRGParam.GNABAR, j]``).
class PassiveParam(IntEnum):
    G, E = range(2)  # leak S/cm2, its reversal mV


class MRGParam(IntEnum):
    GL, EL, GNAPBAR, GNABAR, GKBAR, ENA, EK, Q10_1, Q10_2, Q10_3 = range(10)


class SundtParam(IntEnum):
    G_PAS, E_PAS, GNABAR, GKDRBAR, MSHIFT, HSHIFT, ENA, EK, Q10, CELSIUS = range(10)


class SundtSlowParam(IntEnum):
    """``SundtParam``'s rows, then the M current (S/cm2, its voltage shift mV, its temperature factor), the L-type
    calcium current (S/cm2, its reversal mV), SK (S/cm2), the calcium pool's decay (ms), its gain (mM per
    mA/cm2 per ms: B x cascale of ModelDB's SK.mod) and its resting concentration (mM)."""

    (G_PAS, E_PAS, GNABAR, GKDRBAR, MSHIFT, HSHIFT, ENA, EK, Q10, CELSIUS, GKMBAR, KM_VSHIFT, KM_TADJ, GCALBAR, E_CA,
     GSKBAR, CA_TAU, CA_GAIN, CA0) = range(19)


N_GATES = 4  # voltage gates per compartment (tabulated)
N_STATES = 8  # all state slots: the gates, then the slow states
# Slow state slots of SUNDT_SLOW.
KM_M, CAL_M, CA_I, SK_Q = 4, 5, 6, 7


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
                                                          SundtParam.CELSIUS)),
              Mechanism.SUNDT_SLOW: MechanismSpec(SundtSlowParam)}  # no gate table: the kernel's rate path advances
# its slow states with its gates (few compartments, near the T-junction)
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


def sundt_slow_params(temperature_c: float, gkmbar: float = 0.0, km_vshift: float = -5.0, gcalbar: float = 0.0,
                      gskbar: float = 0.0, ca_tau_ms: float = 20.0, ek: float = -90.0, **sundt: float) -> np.ndarray:
    """Sundt 2015 densities plus the slow conductances of ModelDB 187473: M current 0.0004 S/cm2 shifted -5 mV
    in the T-junction, stem and soma (Figure 5d), CaL 0.00025 and SK 0.001 S/cm2 with a 500 ms pool in the
    soma (Figure 8c); all default to 0 here, the cell models place them. The L current's reversal is the
    Nernst potential of 2 mM outside over 70 nM inside at cal.mod's fixed 25 C (131.8 mV); the pool's gain
    is SK.mod's B 0.26 x cascale 0.1 and its rest 70 nM. The M current's rates scale by 3^((T - 23.5)/10)."""
    e_ca = 1e3 * 8.314462 * (25.0 + 273.15) / (2 * 96485.332) * math.log(2.0 / 7e-5)
    slow = MECHANISMS[Mechanism.SUNDT_SLOW].values(
        gkmbar=gkmbar, km_vshift=km_vshift, km_tadj=3.0 ** ((temperature_c - 23.5) / 10.0), gcalbar=gcalbar,
        e_ca=e_ca, gskbar=gskbar, ca_tau=ca_tau_ms, ca_gain=0.26 * 0.1, ca0=7e-5)
    return sundt_params(temperature_c, ek=ek, **sundt) + slow  # the Sundt rows are shared, the slow rows follow


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
    if kind == Mechanism.SUNDT or kind == Mechanism.SUNDT_SLOW:  # the same rows in both
        return sundt_rates(v, p[SundtParam.MSHIFT, j], p[SundtParam.HSHIFT, j], p[SundtParam.Q10, j],
                           p[SundtParam.CELSIUS, j])
    return 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0


@_inline
def membrane_current(kind, v, g0, g1, g2, g3, p, j):
    """Ionic current density (mA/cm2) and its slope conductance at fixed gates ``g0..g3`` (S/cm2); SUNDT_SLOW's
    slow currents are ``slow_current``'s."""
    if kind == Mechanism.MRG_NODE:  # gates mp, m, h, s
        gnap = p[MRGParam.GNAPBAR, j] * g0 * g0 * g0
        gna = p[MRGParam.GNABAR, j] * g1 * g1 * g1 * g2
        gk = p[MRGParam.GKBAR, j] * g3
        gl = p[MRGParam.GL, j]
        ena = p[MRGParam.ENA, j]
        i = gnap * (v - ena) + gna * (v - ena) + gk * (v - p[MRGParam.EK, j]) + gl * (v - p[MRGParam.EL, j])
        return i, gnap + gna + gk + gl
    if kind == Mechanism.SUNDT or kind == Mechanism.SUNDT_SLOW:  # gates m, h, n, l
        gna = p[SundtParam.GNABAR, j] * g0 * g0 * g0 * g1
        gk = p[SundtParam.GKDRBAR, j] * g2 * g2 * g2 * g3
        gl = p[SundtParam.G_PAS, j]
        i = gna * (v - p[SundtParam.ENA, j]) + gk * (v - p[SundtParam.EK, j]) + gl * (v - p[SundtParam.E_PAS, j])
        return i, gna + gk + gl
    return p[PassiveParam.G, j] * (v - p[PassiveParam.E, j]), p[PassiveParam.G, j]


@_inline
def slow_current(v, s, p, j):
    """SUNDT_SLOW's M, SK and L-type calcium currents (mA/cm2) and their slope conductance (S/cm2) at fixed states."""
    gkm = p[SundtSlowParam.GKMBAR, j] * s[KM_M, j]
    q = s[SK_Q, j]
    gsk = p[SundtSlowParam.GSKBAR, j] * q * q
    gca = p[SundtSlowParam.GCALBAR, j] * s[CAL_M, j] * s[CAL_M, j]
    return (gkm + gsk) * (v - p[SundtSlowParam.EK, j]) + gca * (v - p[SundtSlowParam.E_CA, j]), gkm + gsk + gca


@_jit
def _km_rates(v, vshift, tadj):
    """M current (Yamada, Koch & Adams 1989; ModelDB 187473 im.mod): (m_inf, tau_m ms)."""
    x = v + vshift + 35.0
    return 1.0 / (1.0 + _exp(-x / 10.0)), 1000.0 / (3.3 * (_exp(x / 20.0) + _exp(-x / 20.0))) / tadj


@_jit
def _cal_rates(v):
    """L-type calcium activation (Migliore et al. 1995; ModelDB 187473 cal.mod): (m_inf, tau_m ms)."""
    a = 15.69 * _expm1_ratio(81.5 - v, 10.0)
    b = 0.29 * _exp(-v / 10.86)
    return a / (a + b), 1.0 / (a + b)


@_jit
def _sk_rates(ca_mm):
    """SK activation by calcium (Aradi & Holmes 1999; ModelDB 187473 SK.mod, calcium in uM cubed):
    (q_inf, tau_q ms)."""
    x = 12.0 * math.log10(max(ca_mm * 1e3, 1e-12) ** 3)
    a = 0.00246 / _exp((x + 28.48) / -4.5)
    b = 0.006 / _exp((x + 60.4) / 35.0)
    return a / (a + b), 1.0 / (a + b)


@_jit
def rest_slow(kind, v, s, p, j):
    """Set the slow states of compartment ``j`` to their steady state at ``v`` (calcium at its rest)."""
    if kind == Mechanism.SUNDT_SLOW:
        s[KM_M, j] = _km_rates(v, p[SundtSlowParam.KM_VSHIFT, j], p[SundtSlowParam.KM_TADJ, j])[0]
        s[CAL_M, j] = _cal_rates(v)[0]
        s[CA_I, j] = p[SundtSlowParam.CA0, j]
        s[SK_Q, j] = _sk_rates(p[SundtSlowParam.CA0, j])[0]


@_jit
def advance_slow(kind, v, dt, s, p, j):
    """Advance the slow states of compartment ``j`` over dt at ``v`` by exponential Euler, as NEURON's cnexp does:
    the pool from the L current at the present gate (ModelDB's SK.mod: ca' = -gain ica - (ca - ca0)/tau),
    then the gates."""
    if kind != Mechanism.SUNDT_SLOW:
        return
    m = s[CAL_M, j]
    ica = p[SundtSlowParam.GCALBAR, j] * m * m * (v - p[SundtSlowParam.E_CA, j])
    tau = p[SundtSlowParam.CA_TAU, j]
    ca_inf = p[SundtSlowParam.CA0, j] - p[SundtSlowParam.CA_GAIN, j] * ica * tau
    s[CA_I, j] = ca_inf + (s[CA_I, j] - ca_inf) * math.exp(-dt / tau)
    inf, tau = _km_rates(v, p[SundtSlowParam.KM_VSHIFT, j], p[SundtSlowParam.KM_TADJ, j])
    s[KM_M, j] += (1.0 - math.exp(-dt / tau)) * (inf - s[KM_M, j])
    inf, tau = _cal_rates(v)
    s[CAL_M, j] += (1.0 - math.exp(-dt / tau)) * (inf - s[CAL_M, j])
    inf, tau = _sk_rates(s[CA_I, j])
    s[SK_Q, j] += (1.0 - math.exp(-dt / tau)) * (inf - s[SK_Q, j])


def resting_leak_reversal(kind: int, params: np.ndarray, v_mv: float) -> float:
    """The leak reversal (mV) at which a compartment of mechanism ``kind`` rests at ``v_mv`` with every state at
    its steady state there: e_pas = v + (ionic currents other than the leak) / g_pas, as Sundt et al.'s ModelDB
    187473 ``init()`` sets it (their C-fibre neuron rests at -60 mV in every section)."""
    if kind not in (Mechanism.SUNDT, Mechanism.SUNDT_SLOW):
        raise ValueError(f"resting_leak_reversal: mechanism {Mechanism(kind).name} has no Sundt leak")
    p = params.reshape(-1, 1).astype(float).copy()
    s = np.zeros((N_STATES, 1))
    r = gate_rates(kind, v_mv, p, 0)
    s[:N_GATES, 0] = r[0], r[2], r[4], r[6]
    rest_slow(kind, v_mv, s, p, 0)
    g_pas = p[SundtParam.G_PAS, 0]
    p[SundtParam.G_PAS, 0] = 0.0
    i_other, _ = membrane_current(kind, v_mv, s[0, 0], s[1, 0], s[2, 0], s[3, 0], p, 0)
    if kind == Mechanism.SUNDT_SLOW:
        i_other += slow_current(v_mv, s, p, 0)[0]
    return v_mv + i_other / g_pas

