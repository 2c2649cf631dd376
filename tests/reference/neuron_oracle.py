"""Independent NEURON reference ("oracle") for drgsim's cable solver.

The fibres are built by PyFibers (imported, not copied) inside NEURON; everything
that happens *after* construction -- initialisation, stimulus application, time
stepping, AP detection and the threshold search -- is implemented here so that
every convention is explicit.  drgsim's own solver implements exactly the same
conventions; they are a contract:

Geometry
    Fibre axis = z.  Section ``i`` has length ``L_i``; its centre lies at the
    arc-length position ``center_um[i] = cumsum(L)[i] - L_i / 2`` (first section
    starts at 0).  This equals PyFibers' ``Fiber.longitudinal_coordinates``.

Point source
    A monopolar point source in an infinite homogeneous medium of resistivity
    ``rho`` (ohm cm), ``sigma = 100 / rho`` (S/m).  By default it sits at the
    centre of the middle node (node index ``(n_nodes - 1) // 2``), offset
    perpendicular to the fibre by ``distance_mm``; ``source_z_um`` overrides the
    axial position.  For a unit current of 1 mA the extracellular potential at
    section ``i`` is ``V_unit[i] = 1000 / (4 pi sigma r_i)`` mV with ``r_i`` the
    distance (mm) from the source to the centre of section ``i``.

Initialisation (as PyFibers' ``Stimulation.pre_run_setup`` does it)
    ``h.celsius = 37``; every ``e_extracellular = 0``; ``h.finitialize(v_rest)``
    (MRG -80 mV, Sundt -60 mV); steady-state period: ``h.t = -200``,
    ``h.dt = 5``, 40 calls of ``h.fadvance()`` with zero stimulus (t reaches 0);
    then ``h.t = 0``, ``h.dt = dt_ms``, ``h.fcurrent()``, ``h.frecord_init()``.

Time stepping
    ``n_steps = round(tstop_ms / dt_ms)``.  Step ``k`` (``k = 0 .. n_steps-1``)
    advances ``t_k -> t_k + dt`` with
    ``e_extracellular[i] = amplitude * waveform[k] * V_unit[i]``.  The amplitude
    is a positive magnitude (mA); the sign lives in the waveform (cathodic =
    negative potential).  ``waveform[k]`` is the waveform's value at
    ``t_k + dt / 2``.

AP detection
    ``v`` (membrane potential, recorded after every step, plus the value at
    t = 0) at node index ``int(detect_fraction * (n_nodes - 1))`` (for Sundt the
    nodes are the sections).  An AP is an upward crossing
    ``v_j < ap_threshold_mv <= v_{j+1}`` (the same test as NEURON's APCount).
    The run always goes to ``tstop`` (no early exit).

Threshold search
    see :func:`threshold_search`.

Two drivers are implemented: ``use_play=False`` is an explicit Python loop that
sets every section's ``e_extracellular`` and then calls ``h.fadvance()`` (ground
truth); ``use_play=True`` lets NEURON apply the stimulus through ``Vector.play``
(see :class:`_PlayDriver` for the alignment, verified in ``test_oracle.py``).
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

MRG_DISCRETE_DIAMETERS = (5.7, 7.3, 8.7, 10.0, 11.5, 12.8, 14.0, 15.0, 16.0)
V_REST_MV = {"mrg": -80.0, "sundt": -60.0}
TEMPERATURE_C = 37.0
T_INIT_SS_MS = -200.0
DT_INIT_SS_MS = 5.0
N_STEADY_STATE_STEPS = 40  # (0 - (-200)) / 5

_pyfibers_module = None


# --------------------------------------------------------------------------- #
# Mechanisms                                                                   #
# --------------------------------------------------------------------------- #
def pyfibers_mod_dir() -> str:
    """Folder holding PyFibers' MOD files (found without importing pyfibers)."""
    spec = importlib.util.find_spec("pyfibers")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyfibers is not installed (pip install pyfibers)")
    return os.path.join(list(spec.submodule_search_locations)[0], "MOD")


def _mechanism_library(mod_dir: str) -> str | None:
    import neuron

    libname = f"{neuron.mechanism_prefix}nrnmech{neuron.mechanism_suffix}"
    for arch in (platform.machine(), "x86_64", "arm64", "aarch64", "i686"):
        path = os.path.join(mod_dir, arch, libname)
        if os.path.exists(path):
            return path
    return None


def mechanisms_compiled() -> bool:
    return _mechanism_library(pyfibers_mod_dir()) is not None


def ensure_mechanisms() -> str:
    """Compile PyFibers' NEURON mechanisms if needed (idempotent); return the MOD folder.

    Runs PyFibers' own compile entry point (``pyfibers_compile`` ->
    ``pyfibers.compile:main``, i.e. ``nrnivmodl`` in the MOD folder) in a
    subprocess, under a file lock so that parallel test workers do not compile
    twice.  If pyfibers was imported in this process before the mechanisms
    existed, the freshly built library is loaded now.
    """
    mod_dir = pyfibers_mod_dir()
    if _mechanism_library(mod_dir) is None:
        lock_path = os.path.join(tempfile.gettempdir(), "drgsim_pyfibers_compile.lock")
        with open(lock_path, "w") as lock_file:
            with contextlib.suppress(ImportError):
                import fcntl

                fcntl.flock(lock_file, fcntl.LOCK_EX)
            if _mechanism_library(mod_dir) is None:
                script = shutil.which("pyfibers_compile")
                if script is not None:
                    cmd = [script]
                else:  # console script not on PATH: same entry point via the interpreter
                    cmd = [
                        sys.executable,
                        "-c",
                        "import sys; sys.argv[0] = 'pyfibers_compile'; "
                        "from pyfibers.compile import main; main([])",
                    ]
                proc = subprocess.run(cmd, cwd=mod_dir, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(
                        f"PyFibers mechanism compilation failed ({' '.join(cmd)}):\n{proc.stdout[-4000:]}\n"
                        f"{proc.stderr[-4000:]}"
                    )
        if _mechanism_library(mod_dir) is None:
            raise RuntimeError(f"compiling PyFibers mechanisms in {mod_dir} failed")
    if "pyfibers" in sys.modules:
        import neuron

        neuron.load_mechanisms(mod_dir, warn_if_already_loaded=False)
    return mod_dir


def _pyfibers():
    global _pyfibers_module
    if _pyfibers_module is None:
        ensure_mechanisms()
        import pyfibers

        _pyfibers_module = pyfibers
    return _pyfibers_module


def versions() -> dict[str, str]:
    import neuron

    pf = _pyfibers()
    return {
        "neuron": neuron.__version__,
        "neuron_build": str(neuron.h.nrnversion()),
        "pyfibers": pf.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------- #
# Fibres and geometry                                                          #
# --------------------------------------------------------------------------- #
def mrg_submodel(diameter_um: float) -> str:
    return "MRG_DISCRETE" if float(diameter_um) in MRG_DISCRETE_DIAMETERS else "MRG_INTERPOLATION"


def build_fiber(model: str, diameter_um: float, n_nodes: int):
    """Build a PyFibers fibre at 37 C with PyFibers' default passive end nodes (1 per end).

    ``model``: ``"mrg"`` (MRG_DISCRETE for table diameters, MRG_INTERPOLATION
    otherwise; ``n_nodes`` nodes of Ranvier, ``11 * (n_nodes - 1) + 1``
    sections) or ``"sundt"`` (SundtFiber, delta_z = 8.333 um, ``n_nodes`` =
    number of sections).  ``n_nodes`` must be odd (PyFibers would silently drop
    one node otherwise).
    """
    pf = _pyfibers()
    n_nodes = int(n_nodes)
    if n_nodes % 2 == 0:
        raise ValueError("n_nodes must be odd")
    if model == "mrg":
        fiber_model = getattr(pf.FiberModel, mrg_submodel(diameter_um))
    elif model == "sundt":
        fiber_model = pf.FiberModel.SUNDT
    else:
        raise ValueError(f"unknown model {model!r}")
    fiber = pf.build_fiber(fiber_model, diameter=float(diameter_um), n_nodes=n_nodes, temperature=TEMPERATURE_C)
    if len(fiber.nodes) != n_nodes:
        raise RuntimeError(f"PyFibers built {len(fiber.nodes)} nodes, expected {n_nodes}")
    fiber._drgsim_model = model
    return fiber


def _node_indices(fiber) -> np.ndarray:
    node_names = {s.name() for s in fiber.nodes}
    return np.array([i for i, s in enumerate(fiber.sections) if s.name() in node_names], dtype=int)


def section_geometry(fiber) -> dict[str, np.ndarray]:
    """Per-section electrical geometry of a (PyFibers-built) fibre.

    Required keys: center_um, length_um, diam_um, Ra_ohm_cm, cm_uf_per_cm2,
    g_pas_s_per_cm2 (0 where no pas), xraxial0_mohm_per_cm, xg0_s_per_cm2,
    xc0_uf_per_cm2, is_node, is_active_node.  Extras: e_pas_mv (nan where no
    pas), nseg, the second extracellular layer (xraxial1/xg1/xc1; NEURON's
    extracellular mechanism has ``nlayer`` layers and ``e_extracellular``
    connects to the outermost one through ``xg[nlayer-1]``), nlayer and names.
    """
    from neuron import h

    secs = list(fiber.sections)
    length = np.array([s.L for s in secs], dtype=float)
    node_idx = _node_indices(fiber)
    is_node = np.zeros(len(secs), dtype=bool)
    is_node[node_idx] = True
    is_active = np.array([bool(n) and "passive" not in s.name() for n, s in zip(is_node, secs)])
    nlayer = int(h.nlayer_extracellular())

    def has(sec, mech):
        return bool(sec.has_membrane(mech))

    geo = {
        "center_um": np.cumsum(length) - length / 2.0,
        "length_um": length,
        "diam_um": np.array([s(0.5).diam for s in secs], dtype=float),
        "Ra_ohm_cm": np.array([s.Ra for s in secs], dtype=float),
        "cm_uf_per_cm2": np.array([s(0.5).cm for s in secs], dtype=float),
        "g_pas_s_per_cm2": np.array([s(0.5).g_pas if has(s, "pas") else 0.0 for s in secs], dtype=float),
        "e_pas_mv": np.array([s(0.5).e_pas if has(s, "pas") else np.nan for s in secs], dtype=float),
        "xraxial0_mohm_per_cm": np.array([s(0.5).xraxial[0] for s in secs], dtype=float),
        "xg0_s_per_cm2": np.array([s(0.5).xg[0] for s in secs], dtype=float),
        "xc0_uf_per_cm2": np.array([s(0.5).xc[0] for s in secs], dtype=float),
        "is_node": is_node,
        "is_active_node": is_active,
        "nseg": np.array([s.nseg for s in secs], dtype=int),
        "nlayer": nlayer,
        "names": [s.name() for s in secs],
    }
    if nlayer > 1:
        geo["xraxial1_mohm_per_cm"] = np.array([s(0.5).xraxial[1] for s in secs], dtype=float)
        geo["xg1_s_per_cm2"] = np.array([s(0.5).xg[1] for s in secs], dtype=float)
        geo["xc1_uf_per_cm2"] = np.array([s(0.5).xc[1] for s in secs], dtype=float)
    return geo


def point_source_unit_potentials_mv(
    center_um: np.ndarray, source_z_um: float, distance_mm: float, resistivity_ohm_cm: float
) -> np.ndarray:
    """mV at each section centre for +1 mA from a point source (contract formula)."""
    sigma_s_per_m = 100.0 / resistivity_ohm_cm
    dz_mm = (np.asarray(center_um, dtype=float) - source_z_um) / 1000.0
    r_mm = np.sqrt(distance_mm**2 + dz_mm**2)
    return 1000.0 * 1.0 / (4.0 * math.pi * sigma_s_per_m * r_mm)


def middle_node_index(n_nodes: int) -> int:
    return (int(n_nodes) - 1) // 2


def detect_node_index(n_nodes: int, detect_fraction: float) -> int:
    return int(detect_fraction * (int(n_nodes) - 1))


# --------------------------------------------------------------------------- #
# Waveforms                                                                    #
# --------------------------------------------------------------------------- #
def make_waveform(kind: str, polarity: str, pw_ms: float, dt_ms: float, tstop_ms: float) -> np.ndarray:
    """Rectangular waveforms sampled at ``t_k + dt/2`` (pulse starts at t = 0).

    kind "monophasic": polarity "cathodic" -> -1 on [0, pw), "anodic" -> +1.
    kind "biphasic" (symmetric, no interphase gap): "cathodic" = cathodic-leading:
    -1 on [0, pw), +1 on [pw, 2 pw), 0 after; "anodic" = anodic-leading (mirror).
    """
    n_steps = int(round(tstop_ms / dt_ms))
    t_mid = (np.arange(n_steps) + 0.5) * dt_ms
    lead = {"cathodic": -1.0, "anodic": 1.0}[polarity]
    w = np.zeros(n_steps)
    w[t_mid < pw_ms] = lead
    if kind == "biphasic":
        w[(t_mid >= pw_ms) & (t_mid < 2 * pw_ms)] = -lead
    elif kind != "monophasic":
        raise ValueError(f"unknown waveform kind {kind!r}")
    return w


# --------------------------------------------------------------------------- #
# Simulation                                                                   #
# --------------------------------------------------------------------------- #
class _Setup:
    """A fibre plus everything a run needs (potentials, recorders)."""

    def __init__(
        self,
        fiber,
        distance_mm: float,
        resistivity_ohm_cm: float,
        waveform: np.ndarray,
        dt_ms: float,
        tstop_ms: float,
        ap_threshold_mv: float,
        detect_fraction: float,
        source_z_um: float | None,
        extra_record_nodes: tuple[int, ...] = (),
    ) -> None:
        from neuron import h

        self.h = h
        self.fiber = fiber
        self.model = fiber._drgsim_model
        self.sections = list(fiber.sections)
        n_total = sum(1 for _ in h.allsec())
        if n_total != len(self.sections):
            raise RuntimeError(
                f"NEURON holds {n_total} sections but the fibre has {len(self.sections)}: "
                "delete other fibres first (they would be integrated too)"
            )
        self.segments = [s(0.5) for s in self.sections]
        self.n_nodes = len(fiber.nodes)
        self.geometry = section_geometry(fiber)
        self.node_idx = _node_indices(fiber)
        self.mid_node = middle_node_index(self.n_nodes)
        if source_z_um is None:
            source_z_um = float(self.geometry["center_um"][self.node_idx[self.mid_node]])
        self.source_z_um = float(source_z_um)
        self.v_unit = point_source_unit_potentials_mv(
            self.geometry["center_um"], self.source_z_um, distance_mm, resistivity_ohm_cm
        )
        self.dt = float(dt_ms)
        self.tstop = float(tstop_ms)
        self.n_steps = int(round(tstop_ms / dt_ms))
        w = np.asarray(waveform, dtype=float).ravel()
        if len(w) > self.n_steps:
            if np.any(w[self.n_steps :] != 0):
                raise ValueError("waveform is longer than round(tstop/dt) and non-zero beyond it")
            w = w[: self.n_steps]
        elif len(w) < self.n_steps:
            w = np.concatenate([w, np.zeros(self.n_steps - len(w))])
        self.waveform = w
        self.ap_threshold = float(ap_threshold_mv)
        self.detect_node = detect_node_index(self.n_nodes, detect_fraction)
        self.v_rest = V_REST_MV[self.model]
        # recorders (every step; reset by frecord_init() at t = 0)
        self.rec_nodes = tuple(dict.fromkeys((self.detect_node, *extra_record_nodes)))
        self.rec = {}
        for n in self.rec_nodes:
            sec = self.sections[self.node_idx[n]]
            self.rec[n] = h.Vector().record(sec(0.5)._ref_v, sec=sec)
        self.steady_state_v_mid: list[float] = []

    # -- initialisation ----------------------------------------------------- #
    def initialize(self) -> None:
        h = self.h
        h.cvode_active(0)
        h.celsius = TEMPERATURE_C
        for seg in self.segments:
            seg.e_extracellular = 0.0
        h.finitialize(self.v_rest)
        for seg in self.segments:
            seg.e_extracellular = 0.0
        mid_seg = self.segments[self.node_idx[self.mid_node]]
        vs = [mid_seg.v]
        h.t = T_INIT_SS_MS
        h.dt = DT_INIT_SS_MS
        for _ in range(N_STEADY_STATE_STEPS):
            h.fadvance()
            vs.append(mid_seg.v)
        self.steady_state_v_mid = vs
        h.t = 0.0
        h.dt = self.dt
        h.fcurrent()
        h.frecord_init()

    def result(self) -> dict[str, Any]:
        v = self.rec[self.detect_node].as_numpy()
        if len(v) != self.n_steps + 1:
            raise RuntimeError(f"recorded {len(v)} samples, expected {self.n_steps + 1}")
        if not np.all(np.isfinite(v)):
            raise RuntimeError("non-finite membrane potential")
        up = (v[:-1] < self.ap_threshold) & (v[1:] >= self.ap_threshold)
        n_ap = int(np.count_nonzero(up))
        first = float((np.argmax(up) + 1) * self.dt) if n_ap else None
        return {"fired": n_ap > 0, "n_ap": n_ap, "first_ap_ms": first, "t_end": float(self.h.t)}

    def traces(self) -> dict[int, np.ndarray]:
        return {n: self.rec[n].as_numpy().copy() for n in self.rec_nodes}


class _LoopDriver:
    """Ground truth: Python sets every section's e_extracellular before each fadvance."""

    name = "python_loop"

    def __init__(self, setup: _Setup) -> None:
        self.s = setup

    def run(self, amplitude: float) -> dict[str, Any]:
        s, h = self.s, self.s.h
        s.initialize()
        segs = s.segments
        v_unit = s.v_unit
        n_sec = len(segs)
        for k in range(s.n_steps):
            e = (amplitude * s.waveform[k]) * v_unit
            for i in range(n_sec):
                segs[i].e_extracellular = e[i]
            h.fadvance()
        return s.result()

    def close(self) -> None:
        pass


class _PlayDriver:
    """Native driver: ``Vector.play`` into every section's ``_ref_e_extracellular``.

    Alignment (verified bit-for-bit against :class:`_LoopDriver` in
    ``test_oracle.py``): continuous play (``continuous=1``) with an explicit
    time vector.  NEURON's fixed-step ``fadvance`` evaluates continuous play
    at ``t + dt/2`` (before the matrix is assembled -- this is the value the
    step uses) and again at ``t + dt`` (end of step, not used by the
    extracellular mechanism).  Each step ``k`` therefore gets two knots,
    ``(k + 1/4) dt`` and ``(k + 3/4) dt``, both holding
    ``amplitude * waveform[k] * V_unit[i]``: the mid-step evaluation falls on a
    flat segment, so the accumulated round-off in ``h.t`` cannot leak the
    neighbouring step's value in.  A leading knot ``(t = 0, value 0)`` keeps
    the stimulus at exactly zero during ``finitialize`` and the steady-state
    period (t <= 0; play clamps to the first value before the first knot).
    Knots stop one all-zero step after the last non-zero waveform sample:
    beyond its last knot continuous play holds the last value (0).  (Playing
    the full 2 n + 1 knots gives the same bits but, for the 1201-section Sundt
    fibre, 77 MB of play vectors and ~6.0 instead of ~5.0 s per simulation.)

    Alternatives tried while building this (not used):

    * one knot per step at ``(k + 1/2) dt`` (continuous): differs from the
      loop by ~5e-11 mV (~1e-12 relative) -- round-off in the accumulated h.t
      leaks a sliver of the neighbouring step's value into the interpolation;
    * one knot per step at ``(k + 3/2) dt`` (one step late): clearly wrong
      (``test_vector_play_knot_placement_matters``);
    * step play ``vec.play(ref, Dt=dt)`` (``continuous=0``, value k at
      ``t = k dt``): event driven; the event at ``t = k dt`` is delivered at
      the start of step k, so value k is used by step k -- but
      the t = 0 event is consumed inside ``finitialize``, before the zero
      stimulus steady-state period.  It matches the loop bit for bit only if
      ``e_extracellular`` is zeroed after ``finitialize`` and the step-0
      values are set by hand after the steady state; shifting the vector by
      +-1 step instead gives errors of several mV.  ~6 % faster than the
      continuous version, but easier to get wrong.
    """

    name = "vector_play"

    def __init__(self, setup: _Setup) -> None:
        h = setup.h
        self.s = setup
        nz = np.flatnonzero(setup.waveform)
        # trailing zeros are not played: past its last knot continuous play
        # holds the last value (0), which keeps the play vectors small
        n = min(setup.n_steps, int(nz[-1]) + 2) if len(nz) else 1
        dt = setup.dt
        t = np.empty(2 * n + 1)
        t[0] = 0.0
        k = np.arange(n)
        t[1::2] = (k + 0.25) * dt
        t[2::2] = (k + 0.75) * dt
        self.tvec = h.Vector(t)
        w2 = np.zeros(2 * n + 1)
        w2[1::2] = setup.waveform[:n]
        w2[2::2] = setup.waveform[:n]
        self.w2 = w2
        self.n_played_steps = n
        self.vecs = []
        for seg in setup.segments:
            vec = h.Vector(len(t))
            vec.play(seg._ref_e_extracellular, self.tvec, 1)
            self.vecs.append(vec)
        self.views = [v.as_numpy() for v in self.vecs]

    def run(self, amplitude: float) -> dict[str, Any]:
        s, h = self.s, self.s.h
        aw = amplitude * self.w2  # same operation order as the loop: (amplitude * waveform[k]) * V_unit[i]
        for view, vu in zip(self.views, s.v_unit):
            np.multiply(aw, vu, out=view)  # in place: play keeps the Vector
        s.initialize()
        fadvance = h.fadvance
        for _ in range(s.n_steps):
            fadvance()
        return s.result()

    def close(self) -> None:
        for vec in self.vecs:
            vec.play_remove()
        self.vecs = []
        self.views = []


def make_driver(setup: _Setup, use_play: bool):
    return _PlayDriver(setup) if use_play else _LoopDriver(setup)


# --------------------------------------------------------------------------- #
# Threshold search                                                             #
# --------------------------------------------------------------------------- #
def threshold_search(fires, lo: float, hi: float, rel_tol: float, max_runs: int = 200) -> dict[str, Any]:
    """Bracket expansion then bisection (the contract algorithm).

    ``fires(amplitude) -> bool``.  Start with [lo, hi].  Run hi; while it does
    not fire: lo = hi, hi = 2 hi (run again).  Then, unless lo is already known
    to be sub-threshold, run lo; while lo fires: hi = lo, lo = lo / 2 (run
    again).  Then bisect with the arithmetic midpoint until
    (hi - lo) / hi < rel_tol; threshold = hi.  An amplitude is never run twice;
    every run counts in n_simulations.
    """
    if not (0 < lo < hi):
        raise ValueError("need 0 < lo < hi")
    known: dict[float, bool] = {}
    history: list[tuple[float, bool]] = []

    def run(a: float) -> bool:
        if a not in known:
            if len(history) >= max_runs:
                raise RuntimeError("threshold search did not converge")
            known[a] = bool(fires(a))
            history.append((a, known[a]))
        return known[a]

    lo_is_sub = False
    while not run(hi):
        lo, hi = hi, 2.0 * hi
        lo_is_sub = True
    if not lo_is_sub:
        while run(lo):
            hi, lo = lo, lo / 2.0
    while (hi - lo) / hi >= rel_tol:
        mid = 0.5 * (lo + hi)
        if run(mid):
            hi = mid
        else:
            lo = mid
    return {
        "threshold_ma": hi,
        "lo_final_ma": lo,
        "hi_final_ma": hi,
        "n_simulations": len(history),
        "history": history,
    }


def delete_fiber(fiber) -> None:
    """Drop a fibre's NEURON sections (others would be integrated along with the next fibre)."""
    from neuron import h

    for attr in ("apc", "vm", "im", "vext", "gating", "time"):
        if hasattr(fiber, attr):
            setattr(fiber, attr, None)
    fiber.sections = []
    fiber.nodes = []
    gc.collect()
    left = sum(1 for _ in h.allsec())
    if left:
        # PyFibers keeps no global references; anything left belongs to a live object
        raise RuntimeError(f"{left} NEURON sections still alive after deleting the fibre")


def run_threshold(
    model: str,
    diameter_um: float,
    n_nodes: int,
    distance_mm: float,
    resistivity_ohm_cm: float,
    waveform: np.ndarray,
    dt_ms: float,
    tstop_ms: float,
    lo_ma: float,
    hi_ma: float,
    rel_tol: float,
    ap_threshold_mv: float = -30.0,
    detect_fraction: float = 0.9,
    use_play: bool = True,
    source_z_um: float | None = None,
    fiber=None,
) -> dict[str, Any]:
    """Threshold (mA, positive magnitude) of a point-source stimulus; see module docstring.

    Builds the fibre (unless ``fiber`` is given; it is then reused and kept),
    runs :func:`threshold_search` and returns the threshold, the number of
    simulations, wall-clock seconds (fibre construction included), the search
    history and an echo of every setting.
    """
    t0 = time.perf_counter()
    own_fiber = fiber is None
    if own_fiber:
        fiber = build_fiber(model, diameter_um, n_nodes)
    t_built = time.perf_counter()
    setup = _Setup(
        fiber, distance_mm, resistivity_ohm_cm, waveform, dt_ms, tstop_ms, ap_threshold_mv, detect_fraction, source_z_um
    )
    driver = make_driver(setup, use_play)
    sim_seconds: list[float] = []
    last: dict[str, Any] = {}
    results: dict[float, dict[str, Any]] = {}

    def fires(a: float) -> bool:
        ts = time.perf_counter()
        r = driver.run(a)
        sim_seconds.append(time.perf_counter() - ts)
        results[a] = r
        last.update(r)
        return r["fired"]

    try:
        search = threshold_search(fires, lo_ma, hi_ma, rel_tol)
    finally:
        driver.close()
    ss = np.asarray(setup.steady_state_v_mid)
    out = {
        "model": model,
        "fiber_model": mrg_submodel(diameter_um) if model == "mrg" else "SUNDT",
        "diameter_um": float(diameter_um),
        "n_nodes": int(n_nodes),
        "n_sections": len(setup.sections),
        "distance_mm": float(distance_mm),
        "resistivity_ohm_cm": float(resistivity_ohm_cm),
        "source_z_um": setup.source_z_um,
        "dt_ms": float(dt_ms),
        "tstop_ms": float(tstop_ms),
        "n_steps": setup.n_steps,
        "lo_ma": float(lo_ma),
        "hi_ma": float(hi_ma),
        "rel_tol": float(rel_tol),
        "ap_threshold_mv": float(ap_threshold_mv),
        "detect_fraction": float(detect_fraction),
        "detect_node": setup.detect_node,
        "use_play": bool(use_play),
        "driver": driver.name,
        "threshold_ma": float(search["threshold_ma"]),
        "lo_final_ma": float(search["lo_final_ma"]),
        "n_simulations": search["n_simulations"],
        "fired_at_threshold": bool(results[search["threshold_ma"]]["fired"]),
        "first_ap_ms_at_threshold": results[search["threshold_ma"]]["first_ap_ms"],
        "history": [[float(a), bool(f)] for a, f in search["history"]],
        "seconds": time.perf_counter() - t0,
        "seconds_build": t_built - t0,
        "seconds_per_simulation": float(np.mean(sim_seconds)),
        "steady_state_v_mid_start_mv": float(ss[0]),
        "steady_state_v_mid_end_mv": float(ss[-1]),
        "steady_state_v_mid_last_step_change_mv": float(ss[-1] - ss[-2]),
    }
    if own_fiber:
        del setup, driver
        delete_fiber(fiber)
    return out


def run_once(
    fiber,
    amplitude_ma: float,
    distance_mm: float,
    resistivity_ohm_cm: float,
    waveform: np.ndarray,
    dt_ms: float,
    tstop_ms: float,
    use_play: bool = True,
    record_nodes: tuple[int, ...] = (),
    ap_threshold_mv: float = -30.0,
    detect_fraction: float = 0.9,
    source_z_um: float | None = None,
) -> dict[str, Any]:
    """One simulation at a given amplitude; returns the detection result and v traces.

    ``traces`` maps node index -> v at t_0 .. t_n_steps (n_steps + 1 samples);
    the detection node is always recorded.
    """
    setup = _Setup(
        fiber,
        distance_mm,
        resistivity_ohm_cm,
        waveform,
        dt_ms,
        tstop_ms,
        ap_threshold_mv,
        detect_fraction,
        source_z_um,
        extra_record_nodes=tuple(record_nodes),
    )
    driver = make_driver(setup, use_play)
    try:
        r = driver.run(amplitude_ma)
    finally:
        driver.close()
    r["traces"] = setup.traces()
    r["detect_node"] = setup.detect_node
    r["steady_state_v_mid"] = list(setup.steady_state_v_mid)
    r["v_unit_mv_per_ma"] = setup.v_unit.copy()
    r["source_z_um"] = setup.source_z_um
    return r
