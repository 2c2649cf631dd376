"""Generate the stored NEURON reference values for drgsim's cable solver.

Run from the repository root::

    python tests/reference/generate_neuron_reference.py [--workers 2]

Needs ``neuron`` and ``pyfibers`` (pip) and a C compiler (PyFibers' MOD files
are compiled on first use).  Writes, next to this script:

* ``neuron_reference.json``  -- threshold cases (inputs, outputs, search history,
  timings), the PyFibers regression point and a timing summary;
* ``neuron_geometry.json``   -- ``section_geometry`` of four fibres;
* ``neuron_traces.json``     -- v(t) at the middle and detection nodes for one MRG
  and one Sundt suprathreshold run (1.2 x threshold, every 4th step).

All conventions (geometry, point source, initialisation, stepping, AP
detection, threshold search) are documented in ``neuron_oracle.py``.  Cases are
distributed over ``--workers`` processes (each with its own NEURON); the
timing summary at the end runs alone, after the pool has finished.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_REFERENCE = os.path.join(HERE, "..", "..", "src", "drgsim", "data", "reference")
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import neuron_oracle as oracle  # noqa: E402

REL_TOL = 0.001
RESISTIVITY = 500.0  # ohm cm (sigma = 0.2 S/m)
BRACKET_FACTOR = 1.2  # initial bracket [est / 1.2, est * 1.2]

MRG = {
    "n_nodes": 41,
    "dt_ms": 0.0025,
    "tstop_rule": "tstop = max(5 ms, pulse_end + 3 ms)",
    "discrete_diameters_um": [5.7, 7.3, 8.7, 10.0, 11.5, 12.8, 14.0, 15.0, 16.0],
    "interpolated_diameters_um": [3.0, 6.5, 13.3],
    "distances_mm": [0.5, 1.0, 2.0, 3.0],
    "pw_ms": [0.02, 0.1, 0.3, 1.0],
}
SUNDT = {
    "diameter_um": 0.8,
    "n_nodes": 1201,  # sections of 8.333 um -> 10.008 mm
    "dt_ms": 0.005,
    "tstop_ms": 30.0,
    "tstop_note": (
        "lengthened from 20 ms: with tstop 20 ms the AP at threshold reached the detection node (0.9) as late as "
        "18.9 ms (1 mm, 300 us cathodic; initiation at the middle node ~10 ms after the pulse near threshold, then "
        "~8.8 ms conduction over 4 mm). See 'sundt_tstop_check' for a 2 x tstop run at the sub-threshold bound."
    ),
    "distances_mm": [0.5, 1.0, 2.0],
    "pw_ms": [0.1, 0.3, 1.0],
}
REGRESSION = {
    "description": (
        "PyFibers' published regression point (tests/integration/test_extra_thresholds.py::test_mrg_discrete): "
        "MRG_DISCRETE 5.7 um, 133 sections (13 nodes), point source 100 um from the fibre at z = L/2 "
        "(L = total length), sigma = 10 S/m, symmetric biphasic 200 us per phase, dt 1 us, tstop 20 ms; "
        "published threshold -0.2691015625 mA (PyFibers' waveform +1 then -1 times a negative amplitude, "
        "i.e. cathodic phase first; PyFibers' search stops at 1 % relative bracket width)"
    ),
    "published_threshold_ma": 0.2691015625,
    "published_rel_tol": 0.01,
    "diameter_um": 5.7,
    "n_nodes": 13,
    "distance_mm": 0.1,
    "resistivity_ohm_cm": 10.0,
    "pw_ms": 0.2,
    "dt_ms": 0.001,
    "tstop_ms": 20.0,
}


# --------------------------------------------------------------------------- #
# Initial brackets                                                             #
# --------------------------------------------------------------------------- #
def estimate_mrg_ma(diameter_um: float, distance_mm: float, pw_ms: float, kind: str, polarity: str) -> float:
    """Coarse MRG threshold estimate (only used to place the initial bracket).

    Strength-duration form ``rheo * (1 + c / pw)`` with ``c = 0.14 ms * r^0.5``
    and a log-linear rheobase in (log r, log d, anodic); fitted to a pilot run
    of 24 coarse (5 %) oracle thresholds (d 5.7/10/16 um, r 0.5/2 mm, pw
    20/300 us, both polarities); max error in the pilot 19 %.  Symmetric
    biphasic: cathodic-leading 1.1 x the cathodic estimate, anodic-leading 1 x.
    """
    lr, ld = np.log(distance_mm), np.log(diameter_um)
    anodic = float(kind == "monophasic" and polarity == "anodic")
    log_rheo = -1.378 + 2.4097 * lr - 0.6784 * ld - 0.4849 * lr * ld + 1.5822 * anodic - 0.2105 * anodic * lr
    est = float(np.exp(log_rheo) * (1.0 + 0.14 * np.sqrt(distance_mm) / pw_ms))
    if kind == "biphasic" and polarity == "cathodic":
        est *= 1.1
    return est


def estimate_sundt_ma(distance_mm: float, pw_ms: float, polarity: str) -> float:
    """Coarse Sundt (0.8 um) estimate: 1.788 mA * r^2.685 * pw^-0.980, anodic x 3.2 (fit to 5 pilot thresholds)."""
    est = 1.788 * distance_mm**2.685 * pw_ms**-0.980
    return est * (3.2 if polarity == "anodic" else 1.0)


# Sundt simulations are expensive (~5 s each), so their brackets are tighter: centred on the
# thresholds of an earlier oracle run (tstop 20 ms, brackets from estimate_sundt_ma) rounded to
# 3 significant figures, bracket factor 1.03 -> 8 instead of 11 simulations per case.
SUNDT_PRIOR_MA = {
    (0.5, 0.1, "cathodic"): 2.56,
    (0.5, 0.3, "cathodic"): 0.882,
    (0.5, 1.0, "cathodic"): 0.296,
    (1.0, 0.1, "cathodic"): 15.9,
    (1.0, 0.3, "cathodic"): 5.38,
    (1.0, 1.0, "cathodic"): 1.70,
    (2.0, 0.1, "cathodic"): 108.0,
    (2.0, 1.0, "cathodic"): 11.3,
    (0.5, 0.3, "anodic"): 3.69,
    (1.0, 1.0, "anodic"): 7.42,
}
SUNDT_BRACKET_FACTOR = 1.03


def bracket(est: float, factor: float = BRACKET_FACTOR) -> tuple[float, float]:
    lo, hi = est / factor, est * factor
    return float(f"{lo:.4g}"), float(f"{hi:.4g}")


# --------------------------------------------------------------------------- #
# Case lists                                                                   #
# --------------------------------------------------------------------------- #
def mrg_cases() -> list[dict]:
    """~66 MRG cases: every level of every factor >= 3 times, plus corners.

    (distance, pw) pairs are drawn from a 16-entry cycle that visits every pair
    once: pair k = (R[k % 4], P[(k + k // 4) % 4]).  Diameter i gets 3
    monophasic cathodic cases (pairs 3i .. 3i+2), one monophasic anodic case
    (pair 5i+6) and one symmetric biphasic case (pair 7i+2; cathodic-leading
    when i + i // 4 is even, anodic-leading otherwise).  Corner cases are appended.
    """
    R, P = MRG["distances_mm"], MRG["pw_ms"]
    pairs = [(R[k % 4], P[(k + k // 4) % 4]) for k in range(16)]
    diameters = MRG["discrete_diameters_um"] + MRG["interpolated_diameters_um"]
    spec = []
    for i, d in enumerate(diameters):
        for k in (3 * i, 3 * i + 1, 3 * i + 2):
            spec.append((d, *pairs[k % 16], "monophasic", "cathodic"))
        spec.append((d, *pairs[(5 * i + 6) % 16], "monophasic", "anodic"))
        spec.append((d, *pairs[(7 * i + 2) % 16], "biphasic", "cathodic" if (i + i // 4) % 2 == 0 else "anodic"))
    corners = [
        (5.7, 3.0, 0.02, "monophasic", "anodic"),
        (5.7, 3.0, 0.02, "monophasic", "cathodic"),
        (5.7, 0.5, 1.0, "monophasic", "cathodic"),
        (16.0, 0.5, 1.0, "monophasic", "cathodic"),
        (16.0, 0.5, 0.02, "monophasic", "cathodic"),
        (16.0, 3.0, 0.02, "monophasic", "anodic"),
        (3.0, 3.0, 0.02, "monophasic", "anodic"),
        (3.0, 0.5, 1.0, "monophasic", "cathodic"),
    ]
    for c in corners:
        if c not in spec:
            spec.append(c)
    cases = []
    for d, r, pw, kind, pol in spec:
        pulse_end = pw * (2 if kind == "biphasic" else 1)
        lo, hi = bracket(estimate_mrg_ma(d, r, pw, kind, pol))
        cases.append(
            {
                "group": "mrg_grid",
                "model": "mrg",
                "diameter_um": float(d),
                "n_nodes": MRG["n_nodes"],
                "distance_mm": float(r),
                "resistivity_ohm_cm": RESISTIVITY,
                "waveform_kind": kind,
                "polarity": pol,
                "pw_ms": float(pw),
                "pulse_end_ms": pulse_end,
                "dt_ms": MRG["dt_ms"],
                "tstop_ms": max(5.0, round(pulse_end + 3.0, 9)),
                "lo_ma": lo,
                "hi_ma": hi,
                "bracket_source": "estimate_mrg_ma (pilot fit) / 1.2 .. * 1.2",
            }
        )
    return cases


def sundt_cases() -> list[dict]:
    # 3 x 3 cathodic grid without (2 mm, 300 us) -- runtime -- plus 2 anodic
    spec = [(r, pw, "cathodic") for r in SUNDT["distances_mm"] for pw in SUNDT["pw_ms"] if (r, pw) != (2.0, 0.3)]
    spec += [(0.5, 0.3, "anodic"), (1.0, 1.0, "anodic")]
    cases = []
    for r, pw, pol in spec:
        if (r, pw, pol) in SUNDT_PRIOR_MA:
            lo, hi = bracket(SUNDT_PRIOR_MA[(r, pw, pol)], SUNDT_BRACKET_FACTOR)
            source = "SUNDT_PRIOR_MA (earlier oracle run, 3 s.f.) / 1.03 .. * 1.03"
        else:
            lo, hi = bracket(estimate_sundt_ma(r, pw, pol))
            source = "estimate_sundt_ma (pilot fit) / 1.2 .. * 1.2"
        cases.append(
            {
                "group": "sundt_grid",
                "model": "sundt",
                "diameter_um": SUNDT["diameter_um"],
                "n_nodes": SUNDT["n_nodes"],
                "distance_mm": float(r),
                "resistivity_ohm_cm": RESISTIVITY,
                "waveform_kind": "monophasic",
                "polarity": pol,
                "pw_ms": float(pw),
                "pulse_end_ms": float(pw),
                "dt_ms": SUNDT["dt_ms"],
                "tstop_ms": SUNDT["tstop_ms"],
                "lo_ma": lo,
                "hi_ma": hi,
                "bracket_source": source,
            }
        )
    return cases


def regression_cases() -> list[dict]:
    g = REGRESSION
    out = []
    for pol in ("cathodic", "anodic"):
        out.append(
            {
                "group": "pyfibers_regression",
                "model": "mrg",
                "diameter_um": g["diameter_um"],
                "n_nodes": g["n_nodes"],
                "distance_mm": g["distance_mm"],
                "resistivity_ohm_cm": g["resistivity_ohm_cm"],
                "source_z": "L/2",
                "waveform_kind": "biphasic",
                "polarity": pol,
                "pw_ms": g["pw_ms"],
                "pulse_end_ms": 2 * g["pw_ms"],
                "dt_ms": g["dt_ms"],
                "tstop_ms": g["tstop_ms"],
                "lo_ma": 0.2,
                "hi_ma": 0.4,
                "bracket_source": "around the published value",
            }
        )
    return out


# --------------------------------------------------------------------------- #
# Workers                                                                      #
# --------------------------------------------------------------------------- #
def run_case(case: dict) -> dict:
    wf = oracle.make_waveform(case["waveform_kind"], case["polarity"], case["pw_ms"], case["dt_ms"], case["tstop_ms"])
    fiber = None
    source_z = None
    if case.get("source_z") == "L/2":
        fiber = oracle.build_fiber(case["model"], case["diameter_um"], case["n_nodes"])
        source_z = float(np.sum([s.L for s in fiber.sections]) / 2.0)
    t0 = time.perf_counter()
    r = oracle.run_threshold(
        case["model"],
        case["diameter_um"],
        case["n_nodes"],
        case["distance_mm"],
        case["resistivity_ohm_cm"],
        wf,
        case["dt_ms"],
        case["tstop_ms"],
        case["lo_ma"],
        case["hi_ma"],
        REL_TOL,
        use_play=True,
        source_z_um=source_z,
        fiber=fiber,
    )
    if fiber is not None:
        oracle.delete_fiber(fiber)
        r["seconds"] = time.perf_counter() - t0
    out = dict(case)
    out.update(r)
    out["worker_pid"] = os.getpid()
    return out


def _cost(case: dict) -> float:
    n_sec = case["n_nodes"] if case["model"] == "sundt" else 11 * (case["n_nodes"] - 1) + 1
    return n_sec * case["tstop_ms"] / case["dt_ms"]


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if np.isnan(x) else float(x)  # strict JSON: NaN -> null
    return x


def geometry_payload() -> dict:
    out = {}
    for key, model, d, n in (
        ("mrg_5.7_discrete_41", "mrg", 5.7, 41),
        ("mrg_10_discrete_41", "mrg", 10.0, 41),
        ("mrg_6.5_interpolation_41", "mrg", 6.5, 41),
        ("sundt_0.8_51", "sundt", 0.8, 51),
    ):
        fiber = oracle.build_fiber(model, d, n)
        g = oracle.section_geometry(fiber)
        g.update(
            {
                "model": model,
                "fiber_model": oracle.mrg_submodel(d) if model == "mrg" else "SUNDT",
                "diameter_um": d,
                "n_nodes": n,
                "n_sections": len(fiber.sections),
                "delta_z_um": float(fiber.delta_z),
                "total_length_um": float(np.sum(g["length_um"])),
                "v_rest_mv": oracle.V_REST_MV[model],
            }
        )
        out[key] = _jsonable(g)
        oracle.delete_fiber(fiber)
    return out


def traces_payload(case: dict, every: int = 4) -> dict:
    fiber = oracle.build_fiber(case["model"], case["diameter_um"], case["n_nodes"])
    amp = 1.2 * case["threshold_ma"]
    wf = oracle.make_waveform(case["waveform_kind"], case["polarity"], case["pw_ms"], case["dt_ms"], case["tstop_ms"])
    mid = oracle.middle_node_index(case["n_nodes"])
    r = oracle.run_once(
        fiber,
        amp,
        case["distance_mm"],
        case["resistivity_ohm_cm"],
        wf,
        case["dt_ms"],
        case["tstop_ms"],
        use_play=True,
        record_nodes=(mid,),
    )
    det = r["detect_node"]
    n_steps = int(round(case["tstop_ms"] / case["dt_ms"]))
    idx = np.arange(0, n_steps + 1, every)
    out = {
        "case": {k: case[k] for k in case if k not in ("history",)},
        "amplitude_ma": amp,
        "amplitude_over_threshold": 1.2,
        "every_nth_step": every,
        "step_index": idx.tolist(),
        "t_ms": (idx * case["dt_ms"]).tolist(),
        "middle_node": mid,
        "detect_node": det,
        "v_middle_mv": r["traces"][mid][idx].tolist(),
        "v_detect_mv": r["traces"][det][idx].tolist(),
        "fired": r["fired"],
        "n_ap": r["n_ap"],
        "first_ap_ms": r["first_ap_ms"],
        "steady_state_v_middle_mv": r["steady_state_v_mid"],
        "note": "v at t_k = k * dt after step k (k = 0 is the state at t = 0 after the steady-state period)",
    }
    oracle.delete_fiber(fiber)
    return out


def timing_summary(mrg_amp: float, sundt_amp: float) -> dict:
    """Seconds per NEURON simulation, measured alone (no other worker running)."""
    out = {}
    fiber = oracle.build_fiber("mrg", 10.0, 41)
    dt, tstop = 0.0025, 5.0
    wf = oracle.make_waveform("monophasic", "cathodic", 0.1, dt, tstop)
    for use_play, reps in ((True, 5), (False, 3)):
        secs = []
        for _ in range(reps):
            t = time.perf_counter()
            oracle.run_once(fiber, mrg_amp, 1.0, RESISTIVITY, wf, dt, tstop, use_play=use_play)
            secs.append(time.perf_counter() - t)
        out[f"mrg10_41nodes_dt2.5us_tstop5ms_{'vector_play' if use_play else 'python_loop'}"] = {
            "n_sections": len(fiber.sections),
            "n_steps": 2000,
            "seconds": secs,
            "median_s": float(np.median(secs)),
        }
    oracle.delete_fiber(fiber)
    fiber = oracle.build_fiber("sundt", SUNDT["diameter_um"], SUNDT["n_nodes"])
    dt, tstop = SUNDT["dt_ms"], SUNDT["tstop_ms"]
    wf = oracle.make_waveform("monophasic", "cathodic", 0.3, dt, tstop)
    secs = []
    for _ in range(2):
        t = time.perf_counter()
        oracle.run_once(fiber, sundt_amp, 1.0, RESISTIVITY, wf, dt, tstop, use_play=True)
        secs.append(time.perf_counter() - t)
    out[f"sundt0.8_{SUNDT['n_nodes']}sections_dt5us_tstop{tstop:g}ms_vector_play"] = {
        "n_sections": len(fiber.sections),
        "n_steps": int(round(tstop / dt)),
        "seconds": secs,
        "median_s": float(np.median(secs)),
    }
    oracle.delete_fiber(fiber)
    return out


def pyfibers_crosscheck() -> dict:
    """Run PyFibers' own ScaledStim.find_threshold at the published regression settings (its defaults:
    bounds -0.01 .. -1 mA, bisection to 1 %, early exit), once per leading phase.

    PyFibers scales ``potentials * waveform(t) * stimamp`` with a negative ``stimamp``, so waveform
    +1 then -1 is cathodic-leading.  The waveform callable is evaluated at ``step * dt``; its edges are
    put half a step early so that exactly 200 steps per phase result.
    """
    pf = oracle._pyfibers()
    g = REGRESSION
    half = g["dt_ms"] / 2.0
    out = {}
    for lead, sign in (("cathodic", 1.0), ("anodic", -1.0)):
        t0 = time.perf_counter()
        fiber = pf.build_fiber(pf.FiberModel.MRG_DISCRETE, diameter=g["diameter_um"], temperature=37,
                               n_nodes=g["n_nodes"])
        fiber.potentials = fiber.point_source_potentials(
            0, g["distance_mm"] * 1000.0, fiber.length / 2, 1, 100.0 / g["resistivity_ohm_cm"]
        )

        def waveform(t, sign=sign):
            if t < g["pw_ms"] - half:
                return sign
            if t < 2 * g["pw_ms"] - half:
                return -sign
            return 0.0

        stim = pf.ScaledStim(waveform=waveform, dt=g["dt_ms"], tstop=g["tstop_ms"])
        amp, (n_ap, t_ap) = stim.find_threshold(fiber)
        out[f"{lead}_leading"] = {
            "stimamp_ma": float(amp),
            "threshold_ma": abs(float(amp)),
            "n_ap": float(n_ap),
            "ap_time_ms": t_ap,
            "seconds": time.perf_counter() - t0,
        }
        del stim
        oracle.delete_fiber(fiber)
    out["note"] = pyfibers_crosscheck.__doc__.strip()
    return out


def sundt_tstop_check(case: dict, factor: float = 2.0) -> dict:
    """Run the Sundt case with the latest AP arrival at its sub-threshold bound (lo_final_ma) for factor x tstop.

    No AP within the longer run means the stored threshold is not limited by the detection deadline.
    """
    tstop = factor * case["tstop_ms"]
    wf = oracle.make_waveform(case["waveform_kind"], case["polarity"], case["pw_ms"], case["dt_ms"], tstop)
    fiber = oracle.build_fiber(case["model"], case["diameter_um"], case["n_nodes"])
    t0 = time.perf_counter()
    r = oracle.run_once(
        fiber, case["lo_final_ma"], case["distance_mm"], case["resistivity_ohm_cm"], wf, case["dt_ms"], tstop
    )
    oracle.delete_fiber(fiber)
    return {
        "case_id": case["id"],
        "first_ap_ms_at_threshold": case["first_ap_ms_at_threshold"],
        "amplitude_ma": case["lo_final_ma"],
        "tstop_ms": tstop,
        "fired": r["fired"],
        "first_ap_ms": r["first_ap_ms"],
        "seconds": time.perf_counter() - t0,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out-dir", default=HERE, help="for neuron_geometry/traces.json; neuron_reference.json goes to "
                    "the package's data/reference (drgsim validate reads it)")
    ap.add_argument(
        "--skip-pyfibers-crosscheck",
        action="store_true",
        help="do not run PyFibers' own find_threshold at the regression point (~30 s)",
    )
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    oracle.ensure_mechanisms()

    cases = regression_cases() + sundt_cases() + mrg_cases()
    for i, c in enumerate(cases):
        c["id"] = i
    order = sorted(cases, key=_cost, reverse=True)  # longest first
    print(
        f"{len(cases)} cases ({sum(c['group'] == 'mrg_grid' for c in cases)} MRG, "
        f"{sum(c['group'] == 'sundt_grid' for c in cases)} Sundt, 2 regression) on {args.workers} workers",
        flush=True,
    )
    results: dict[int, dict] = {}
    t_cases = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers, maxtasksperchild=None) as pool:
        for r in pool.imap_unordered(run_case, order):
            results[r["id"]] = r
            print(
                f"[{len(results):3d}/{len(cases)}] {r['group']:19s} {r['model']:5s} d={r['diameter_um']:5.1f} "
                f"r={r['distance_mm']:.1f}mm {r['waveform_kind'][:4]} {r['polarity'][:4]} "
                f"pw={r['pw_ms'] * 1000:5.0f}us "
                f"thr={r['threshold_ma']:.6g} mA  n={r['n_simulations']:2d}  {r['seconds']:6.1f}s",
                flush=True,
            )
    seconds_cases = time.perf_counter() - t_cases
    ordered = [_jsonable(results[i]) for i in range(len(cases))]

    # PyFibers regression point summary
    reg = {c["polarity"]: c for c in ordered if c["group"] == "pyfibers_regression"}
    pub = REGRESSION["published_threshold_ma"]
    regression = dict(REGRESSION)
    regression.update(
        {
            f"{pol}_leading": {
                "threshold_ma": reg[pol]["threshold_ma"],
                "rel_diff_to_published": reg[pol]["threshold_ma"] / pub - 1.0,
                "case_id": reg[pol]["id"],
            }
            for pol in reg
        }
    )
    # PyFibers' search brackets the threshold in (lo, hi] with hi = published value and
    # (hi - lo) / hi < 1 %: an oracle threshold in that window is consistent with it.
    regression["published_window_ma"] = [pub * (1 - REGRESSION["published_rel_tol"]), pub]
    for pol in reg:
        regression[f"{pol}_leading"]["within_published_window"] = bool(
            pub * (1 - REGRESSION["published_rel_tol"]) < reg[pol]["threshold_ma"] <= pub
        )
    if not args.skip_pyfibers_crosscheck:
        regression["pyfibers_find_threshold"] = pyfibers_crosscheck()

    # geometry and traces
    geometry = geometry_payload()
    mrg_trace_case = next(
        c
        for c in ordered
        if c["group"] == "mrg_grid"
        and c["diameter_um"] == 10.0
        and c["waveform_kind"] == "monophasic"
        and c["polarity"] == "cathodic"
    )
    sundt_trace_case = next(
        (c for c in ordered if c["group"] == "sundt_grid" and c["distance_mm"] == 1.0 and c["pw_ms"] == 0.3),
        next(c for c in ordered if c["group"] == "sundt_grid"),
    )
    traces = {"mrg": traces_payload(mrg_trace_case), "sundt": traces_payload(sundt_trace_case)}

    # is the Sundt threshold limited by tstop? (latest-arriving case, sub-threshold bound, 2 x tstop)
    latest = max((c for c in ordered if c["model"] == "sundt"), key=lambda c: c["first_ap_ms_at_threshold"])
    tstop_check = sundt_tstop_check(latest)

    # timing summary (alone)
    timing = timing_summary(mrg_trace_case["threshold_ma"], sundt_trace_case["threshold_ma"])
    total = time.perf_counter() - t_start

    sim_per_case = {
        grp: float(np.median([c["seconds_per_simulation"] for c in ordered if c["group"] == grp]))
        for grp in ("mrg_grid", "sundt_grid", "pyfibers_regression")
    }
    meta = {
        "generated_by": "tests/reference/generate_neuron_reference.py",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": oracle.versions(),
        "platform": {"machine": platform.machine(), "system": platform.system(), "cpu": _cpu_name(),
                     "cpus": os.cpu_count()},
        "workers": args.workers,
        "settings": {
            "rel_tol": REL_TOL,
            "resistivity_ohm_cm": RESISTIVITY,
            "temperature_c": oracle.TEMPERATURE_C,
            "v_rest_mv": oracle.V_REST_MV,
            "steady_state": {
                "t_init_ms": oracle.T_INIT_SS_MS,
                "dt_ms": oracle.DT_INIT_SS_MS,
                "n_steps": oracle.N_STEADY_STATE_STEPS,
            },
            "ap_threshold_mv": -30.0,
            "detect_fraction": 0.9,
            "driver": "vector_play (bit-identical to the python loop; see neuron_oracle._PlayDriver)",
            "passive_end_nodes": "PyFibers default: 1 per end (Ra 1e10 ohm cm, cm 1 uF/cm2, pas g 1e-4 S/cm2 "
                                 "e = v_rest)",
            "waveforms": "see neuron_oracle.make_waveform; waveform[k] = value at t_k + dt/2; pulse starts at t = 0",
            "mrg": MRG,
            "sundt": SUNDT,
            "bracket_factor": BRACKET_FACTOR,
            "bracket_estimates": {
                "mrg": estimate_mrg_ma.__doc__.strip(),
                "sundt": estimate_sundt_ma.__doc__.strip(),
            },
            "case_timing_note": (
                f"'seconds' per case were measured with {args.workers} worker processes running side by side "
                "(fibre construction included); see 'timing' for simulations measured alone"
            ),
        },
        "conventions": oracle.__doc__,
        "pyfibers_regression": regression,
        "sundt_tstop_check": tstop_check,
        "timing": timing,
        "median_seconds_per_simulation_in_cases": sim_per_case,
        "seconds_cases": seconds_cases,
        "seconds_total": total,
        "cases": ordered,
    }
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(PACKAGE_REFERENCE, "neuron_reference.json"), "w") as fh:
        json.dump(_jsonable(meta), fh, indent=1)
    with open(os.path.join(args.out_dir, "neuron_geometry.json"), "w") as fh:
        json.dump(
            {"generated_by": meta["generated_by"], "date_utc": meta["date_utc"], "versions": meta["versions"],
             "fibers": geometry},
            fh,
            indent=1,
        )
    with open(os.path.join(args.out_dir, "neuron_traces.json"), "w") as fh:
        json.dump(
            _jsonable({"generated_by": meta["generated_by"], "date_utc": meta["date_utc"], "versions": meta["versions"],
                       **traces}),
            fh,
        )

    print("\nPyFibers regression point (published 0.2691015625 mA, 1 % search):")
    for pol in reg:
        print(f"  oracle {pol}-leading: {reg[pol]['threshold_ma']:.6f} mA ({reg[pol]['threshold_ma'] / pub - 1:+.4%})")
    for key, v in regression.get("pyfibers_find_threshold", {}).items():
        if isinstance(v, dict):
            print(f"  PyFibers find_threshold {key}: {v['threshold_ma']:.10g} mA ({v['seconds']:.0f} s)")
    print("\nNEURON seconds per simulation (measured alone):")
    for k, v in timing.items():
        print(f"  {k:55s} median {v['median_s']:.3f} s  ({', '.join(f'{s:.3f}' for s in v['seconds'])})")
    print("Median seconds per simulation inside the threshold searches (2 workers side by side):")
    for k, v in sim_per_case.items():
        print(f"  {k:20s} {v:.3f} s")
    sundt_first = [c["first_ap_ms_at_threshold"] for c in ordered if c["model"] == "sundt"]
    print(f"Sundt: latest AP arrival at the detection node at threshold {max(sundt_first):.2f} ms "
          f"(tstop {SUNDT['tstop_ms']} ms)")
    print(
        f"  case {tstop_check['case_id']} at its sub-threshold bound {tstop_check['amplitude_ma']:.6g} mA with tstop "
        f"{tstop_check['tstop_ms']} ms: fired={tstop_check['fired']}"
    )
    n_sims = sum(c["n_simulations"] for c in ordered)
    print(f"\n{len(ordered)} cases, {n_sims} simulations; cases {seconds_cases:.0f} s, total {total:.0f} s")


if __name__ == "__main__":
    main()
